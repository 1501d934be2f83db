"""Write exported rows as CSV (UTF-8, comma, header row) or as an XLSX workbook with one sheet.

Both stream: CSV in chunks of rows, XLSX through openpyxl's write-only mode, so memory stays
flat however many rows there are. Cells arrive already formatted (tandem/exports/cells.py).
"""

import contextlib
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from itertools import islice
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

# A worksheet has 1,048,576 rows; one holds the header.
XLSX_MAX_DATA_ROWS = 1_048_575
XLSX_MAX_CELL_CHARACTERS = 32_767
# Excel keeps 15 significant digits of a number; larger ones are written as text to stay exact.
XLSX_MAX_NUMBER_DIGITS = 15
BATCH_ROWS = 2_000
# PostgreSQL's COPY ends lines with \n; the CSV is the same whichever database wrote it.
CSV_LINE_END = "\n"

Progress = Callable[[int], None]
"""Called with the number of rows written so far, after every batch."""


class ExportTooLargeError(ValueError):
    """The rows do not fit the chosen format."""


def _batches(rows: Iterable[list]) -> Iterator[list[list]]:
    rows = iter(rows)
    while batch := list(islice(rows, BATCH_ROWS)):
        yield batch


def csv_line(cells: Sequence) -> bytes:
    """One CSV line, e.g. the header."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=CSV_LINE_END).writerow(cells)
    return buffer.getvalue().encode()


def csv_chunks(rows: Iterable[list], *, progress: Progress | None = None) -> Iterator[bytes]:
    """The rows as UTF-8 CSV lines, a few thousand rows to a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=CSV_LINE_END)
    count = 0
    for batch in _batches(rows):
        writer.writerows(batch)
        count += len(batch)
        if progress:
            progress(count)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


def _too_many_digits(value: int | Decimal) -> bool:
    if isinstance(value, int):
        return abs(value) >= 10**XLSX_MAX_NUMBER_DIGITS
    return len(value.as_tuple().digits) > XLSX_MAX_NUMBER_DIGITS


class _XlsxCells:
    """Turns formatted cells into what openpyxl writes, keeping every text a text cell."""

    def __init__(self, sheet, header: Sequence[str]):
        self.sheet = sheet
        self.header = header

    def text(self, value: str, column: int, row: list):
        if len(value) > XLSX_MAX_CELL_CHARACTERS:
            raise ExportTooLargeError(
                f"The {self.header[column]} of the row with id {row[0]} has {len(value):,} characters; "
                f"an XLSX cell holds at most {XLSX_MAX_CELL_CHARACTERS:,}. Export to CSV instead."
            )
        # XLSX cannot hold control characters other than tab and line breaks.
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if value in ERROR_CODES:
            # openpyxl would write '#N/A' and friends as error cells; keep them text.
            cell = WriteOnlyCell(self.sheet, value)
            cell.data_type = "s"
            return cell
        return value

    def row(self, row: list) -> list:
        cells = []
        for column, value in enumerate(row):
            if isinstance(value, str):
                value = self.text(value, column, row)
            elif isinstance(value, int | Decimal) and not isinstance(value, bool) and _too_many_digits(value):
                value = str(value)
            cells.append(value)
        return cells


def write_xlsx(
    target: str | BinaryIO,
    header: Sequence[str],
    rows: Iterable[list],
    *,
    sheet_title: str,
    progress: Progress | None = None,
) -> int:
    """Write the header and the rows to one sheet of a new workbook at `target`; return the row count.

    Refuses (ExportTooLargeError) more rows than a sheet holds or a text longer than a cell holds.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title)
    cells = _XlsxCells(sheet, header)
    sheet.append(list(header))
    count = 0
    try:
        for batch in _batches(rows):
            if count + len(batch) > XLSX_MAX_DATA_ROWS:
                raise ExportTooLargeError(
                    f"An XLSX sheet holds at most {XLSX_MAX_DATA_ROWS:,} rows; this export has more. "
                    "Export to CSV, or narrow the filters."
                )
            for row in batch:
                sheet.append(cells.row(row))
            count += len(batch)
            if progress:
                progress(count)
    except BaseException:
        # Saving is what removes openpyxl's temporary file of the sheet; save into nothing.
        with contextlib.suppress(Exception):
            workbook.save(_Discard())
        raise
    workbook.save(target)
    return count


class _Discard(io.RawIOBase):
    """A binary sink that keeps nothing."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)
