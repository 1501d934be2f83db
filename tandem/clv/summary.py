"""From transactions to the per-customer summary the models take, and reading analysts' files.

A customer's summary over a calibration period ending on `calibration_end` (inclusive):
- frequency: repeat purchases, i.e. distinct purchase days after the first (purchases on one
  day count as one, their amounts summed), as in the lifetimes library and Fader-Hardie-Lee;
- recency: time from the first to the last purchase; T: time from the first purchase to the
  end of the calibration period; both in days or weeks (days / 7);
- monetary_value: mean value of the repeat purchase days (0 without repeat purchases).
"""

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNIT_DAYS = {"days": 1.0, "weeks": 7.0}

CUSTOMER_COLUMNS = ["customer_id", "customer", "customerid", "client_id", "account_id", "person_id", "id", "email"]
DATE_COLUMNS = ["date", "order_date", "transaction_date", "purchase_date", "close_date", "invoice_date", "timestamp"]
AMOUNT_COLUMNS = [
    "amount",
    "dollar_value",
    "value",
    "revenue",
    "sales",
    "spend",
    "total",
    "price",
    "monetary_value",
]
# One row per customer: the lifetimes library's names, then Hardie's.
SUMMARY_NAMINGS = [
    {"frequency": "frequency", "recency": "recency", "T": "T", "monetary_value": "monetary_value"},
    {"frequency": "x", "recency": "t_x", "T": "T", "monetary_value": "zbar"},
]
SUMMARY_ID_COLUMNS = ["customer_id", "id", "customer", "cust"]


class FileError(ValueError):
    """A transactions or summary file that cannot be read; the message names the column or row."""


@dataclass
class CustomerSummary:
    """Parallel arrays, one entry per customer; `monetary_value` is None when no amounts were given."""

    customer_ids: list[str]
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray | None
    # From transactions only: ordinal days of the first and last purchase, and the sum of all amounts.
    first_day: np.ndarray | None = None
    last_day: np.ndarray | None = None
    total_value: np.ndarray | None = None


def summarize_transactions(
    customer_ids,
    days,
    amounts,
    *,
    calibration_end: dt.date,
    unit: str = "weeks",
) -> CustomerSummary:
    """Summaries from transactions; `days` are dates or ordinal day numbers, `amounts` may be None.

    Transactions after `calibration_end` are left out; customers whose first purchase is after it
    are not in the result.
    """
    if unit not in UNIT_DAYS:
        raise ValueError(f"unit must be one of {', '.join(UNIT_DAYS)}, not {unit!r}")
    days = np.asarray([d.toordinal() if isinstance(d, dt.date) else int(d) for d in days], dtype=np.int64)
    ids = np.asarray(customer_ids, dtype=object) if not isinstance(customer_ids, np.ndarray) else customer_ids
    values = None if amounts is None else np.asarray(amounts, dtype=float)
    if not (len(ids) == len(days) and (values is None or len(values) == len(days))):
        raise ValueError("customer ids, dates and amounts must have the same length")
    end = calibration_end.toordinal()
    kept = days <= end
    ids, days = ids[kept], days[kept]
    values = None if values is None else values[kept]
    if days.size == 0:
        return CustomerSummary([], *(np.zeros(0) for _ in range(3)), None if values is None else np.zeros(0))

    names, customer = np.unique(ids.astype(str), return_inverse=True)
    # One entry per (customer, day), in customer then day order.
    order = np.lexsort((days, customer))
    customer, days = customer[order], days[order]
    is_new_day = np.ones(days.size, dtype=bool)
    is_new_day[1:] = (customer[1:] != customer[:-1]) | (days[1:] != days[:-1])
    day_start = np.flatnonzero(is_new_day)
    day_customer, day = customer[day_start], days[day_start]
    count = np.bincount(day_customer, minlength=names.size)
    first = np.full(names.size, np.iinfo(np.int64).max)
    last = np.zeros(names.size, dtype=np.int64)
    np.minimum.at(first, day_customer, day)
    np.maximum.at(last, day_customer, day)
    scale = UNIT_DAYS[unit]
    frequency = (count - 1).astype(float)
    monetary = total = None
    if values is not None:
        total = np.bincount(customer, weights=values[order], minlength=names.size)
        day_amount = np.add.reduceat(values[order], day_start)
        is_first_day = np.ones(day.size, dtype=bool)
        is_first_day[1:] = day_customer[1:] != day_customer[:-1]
        repeat_total = np.bincount(day_customer[~is_first_day], weights=day_amount[~is_first_day], minlength=names.size)
        monetary = np.divide(repeat_total, frequency, out=np.zeros(names.size), where=frequency > 0)
    return CustomerSummary(
        customer_ids=[str(name) for name in names],
        frequency=frequency,
        recency=(last - first) / scale,
        T=(end - first) / scale,
        monetary_value=monetary,
        first_day=first,
        last_day=last,
        total_value=total,
    )


# ---------------------------------------------------------------------------------------------
# Files


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _read_rows(path: Path) -> tuple[list[str] | None, list[list[str]]]:
    """The header (None when the first row is all numbers) and the data rows of a delimited file.

    Commas, semicolons or tabs are detected from the first line; otherwise fields are separated
    by runs of whitespace (as in the CDNOW files).
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise FileError(f"file not found: {path}") from error
    except UnicodeDecodeError as error:
        raise FileError(f"{path} is not a UTF-8 text file") from error
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise FileError(f"{path} is empty")
    first = lines[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    if delimiter:
        rows = [row for row in csv.reader(lines, delimiter=delimiter) if any(cell.strip() for cell in row)]
    else:
        rows = [line.split() for line in lines if line.strip()]
    rows = [[cell.strip() for cell in row] for row in rows]
    if all(_is_number(cell) for cell in rows[0]):
        return None, rows
    return rows[0], rows[1:]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _pick_column(header: list[str], wanted: str | None, candidates: list[str], role: str) -> int | None:
    """Index of the column named `wanted` (or a 1-based position), else the first known name."""
    names = [_normalise(name) for name in header]
    if wanted:
        if wanted.isdigit() and 1 <= int(wanted) <= len(header):
            return int(wanted) - 1
        if _normalise(wanted) in names:
            return names.index(_normalise(wanted))
        raise FileError(f"no {role} column named '{wanted}' (columns: {', '.join(header)})")
    for candidate in candidates:
        if candidate in names:
            return names.index(candidate)
    return None


_DATE_PATTERNS = [
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$"), (1, 2, 3)),
]


def parse_day(text: str) -> int | None:
    """An ordinal day from YYYY-MM-DD (time allowed after it), YYYY/MM/DD or YYYYMMDD; None if not a date."""
    for pattern, (year, month, day) in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return dt.date(int(match[year]), int(match[month]), int(match[day])).toordinal()
            except ValueError:
                return None
    return None


def read_transactions(
    path,
    *,
    customer_column: str | None = None,
    date_column: str | None = None,
    amount_column: str | None = None,
) -> tuple[list[str], list[int], list[float] | None]:
    """(customer ids, ordinal days, amounts or None) from a file of one transaction per row.

    Columns are found by name (customer_id, date, amount and their usual synonyms) or named by
    the caller (a name or a 1-based position). A file without a header uses column 1 as the
    customer, the first column holding dates as the date and the last column as the amount.
    """
    header, rows = _read_rows(Path(path))
    if not rows:
        raise FileError(f"{path} has no transactions")
    width = len(rows[0])
    if header is None:
        header = [f"column {index + 1}" for index in range(width)]
        customer_index = _pick_column(header, customer_column, [], "customer") or 0
        date_index = _pick_column(header, date_column, [], "date")
        if date_index is None:
            date_index = next((i for i in range(1, width) if parse_day(rows[0][i]) is not None), None)
        amount_index = _pick_column(header, amount_column, [], "amount")
        if amount_index is None and width > 2:
            amount_index = width - 1
        line_offset = 1
    else:
        customer_index = _pick_column(header, customer_column, CUSTOMER_COLUMNS, "customer")
        date_index = _pick_column(header, date_column, DATE_COLUMNS, "date")
        amount_index = _pick_column(header, amount_column, AMOUNT_COLUMNS, "amount")
        line_offset = 2
    if customer_index is None:
        raise FileError(f"no customer column found (columns: {', '.join(header)}); name it with --customer-column")
    if date_index is None:
        raise FileError(f"no date column found (columns: {', '.join(header)}); name it with --date-column")

    ids, days, amounts = [], [], [] if amount_index is not None else None
    day_cache: dict[str, int | None] = {}
    for number, row in enumerate(rows, start=line_offset):
        if len(row) != len(header):
            raise FileError(f"line {number}: {len(row)} fields where the header has {len(header)}")
        customer = row[customer_index]
        if not customer:
            raise FileError(f"line {number}: column '{header[customer_index]}' (customer) is empty")
        text = row[date_index]
        day = day_cache.get(text)
        if day is None:
            day = day_cache[text] = parse_day(text)
            if day is None:
                raise FileError(
                    f"line {number}: column '{header[date_index]}' has {text!r}, not a date (YYYY-MM-DD or YYYYMMDD)"
                )
        ids.append(customer)
        days.append(day)
        if amounts is not None:
            try:
                amount = float(row[amount_index])
            except ValueError:
                raise FileError(
                    f"line {number}: column '{header[amount_index]}' has {row[amount_index]!r}, not a number"
                ) from None
            if not np.isfinite(amount):
                raise FileError(f"line {number}: column '{header[amount_index]}' must be a finite number")
            amounts.append(amount)
    return ids, days, amounts


def read_summary(path) -> CustomerSummary:
    """One row per customer with frequency, recency, T (and optionally monetary_value), or x, t_x, T, zbar."""
    header, rows = _read_rows(Path(path))
    if header is None:
        raise FileError(f"{path} has no header; expected columns frequency, recency, T (or x, t_x, T)")
    exact = [name.strip() for name in header]
    lowered = [name.lower() for name in exact]
    naming = next(
        (
            names
            for names in SUMMARY_NAMINGS
            if all(names[key].lower() in lowered for key in ("frequency", "recency", "T"))
        ),
        None,
    )
    if naming is None:
        raise FileError(
            f"{path} needs columns frequency, recency, T [monetary_value] or x, t_x, T [zbar]; "
            f"it has {', '.join(exact)}"
        )
    index = {key: lowered.index(name.lower()) for key, name in naming.items() if name.lower() in lowered}
    id_index = next((lowered.index(name) for name in SUMMARY_ID_COLUMNS if name in lowered), None)
    columns = {key: np.zeros(len(rows)) for key in index}
    ids = []
    for row_number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise FileError(f"line {row_number}: {len(row)} fields where the header has {len(header)}")
        for key, column in index.items():
            try:
                columns[key][row_number - 2] = float(row[column])
            except ValueError:
                raise FileError(
                    f"line {row_number}: column '{exact[column]}' has {row[column]!r}, not a number"
                ) from None
        ids.append(row[id_index] if id_index is not None else str(row_number - 1))
    if not rows:
        raise FileError(f"{path} has no customers")
    return CustomerSummary(
        customer_ids=ids,
        frequency=columns["frequency"],
        recency=columns["recency"],
        T=columns["T"],
        monetary_value=columns.get("monetary_value"),
    )


def summary_column_names(path) -> dict[str, str]:
    """The file's own names for frequency, recency, T, monetary_value (to name them in errors)."""
    header, _ = _read_rows(Path(path))
    lowered = [name.strip().lower() for name in header or []]
    for names in SUMMARY_NAMINGS:
        if all(names[key].lower() in lowered for key in ("frequency", "recency", "T")):
            return dict(names)
    return dict(SUMMARY_NAMINGS[0])
