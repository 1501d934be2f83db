"""How one value is written into an exported cell, the same for CSV and XLSX.

- Text that a spreadsheet would run as a formula — starting with `=`, `+`, `-`, `@`, a tab or a
  carriage return — gets a leading single quote (`=SUM(A1)` → `'=SUM(A1)`). The importer removes
  that quote again, so an export imports back unchanged. Numbers (`-5`, `-12.50`), and text that
  is just such a number, are never prefixed: a spreadsheet reads them as numbers.
- Dates and times are ISO 8601, times with their UTC offset and any fraction of a second; booleans
  `true`/`false`; decimals plain (`1234.50`); a missing value is an empty cell.
- Custom-field values keep their JSON type: numbers stay numbers, lists and objects are JSON text.
"""

import json
import re
from collections.abc import Callable, Sequence

# How a column's values are written.
TEXT = "text"
NUMBER = "number"
BOOLEAN = "boolean"
DATETIME = "datetime"
DATE = "date"
JSON = "json"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST_CHARACTERS = frozenset(FORMULA_STARTS)


# A plain number written as text (a custom field "-5") is read as that number, never run: no quote.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def neutralise(text: str) -> str:
    """The text with a leading quote if a spreadsheet would otherwise run it as a formula."""
    if text[:1] in _FORMULA_FIRST_CHARACTERS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _json_text(value) -> str:
    # Spaced like PostgreSQL prints JSON, so the text is the same whichever database wrote the file.
    return json.dumps(value, ensure_ascii=False)


def iso_datetime(value) -> str:
    """ISO 8601 with the offset; a fraction of a second without trailing zeros, as PostgreSQL writes it."""
    text = value.isoformat()
    if value.microsecond and value.microsecond % 10 == 0:
        # 'YYYY-MM-DDTHH:MM:SS.ffffff' is 26 characters; the offset follows.
        text = text[:26].rstrip("0") + text[26:]
    return text


def custom_cell(value):
    """A custom-field value (any JSON value) as a cell."""
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return neutralise(value)
    return neutralise(_json_text(value))


def row_formatter(kinds: Sequence[str], custom_keys: Sequence[str]) -> Callable[[tuple], list]:
    """A function turning one row of typed values into its list of cells.

    A row holds the values of the columns described by `kinds`, then, if there are custom keys,
    the record's custom-field dict.

    It runs once per exported row, so it touches only the columns that need work: numbers pass
    through untouched and text is only looked at for its first character.
    """
    width = len(kinds)
    text_positions = [index for index, kind in enumerate(kinds) if kind == TEXT]
    boolean_positions = [index for index, kind in enumerate(kinds) if kind == BOOLEAN]
    datetime_positions = [index for index, kind in enumerate(kinds) if kind == DATETIME]
    date_positions = [index for index, kind in enumerate(kinds) if kind == DATE]
    json_positions = [index for index, kind in enumerate(kinds) if kind == JSON]
    unknown = set(kinds) - {TEXT, NUMBER, BOOLEAN, DATETIME, DATE, JSON}
    if unknown:
        raise ValueError(f"Unknown column kind {sorted(unknown)[0]!r}")
    formula_first = _FORMULA_FIRST_CHARACTERS
    no_custom_values = [None] * len(custom_keys)

    def formatted(row: tuple) -> list:
        cells = list(row[:width]) if custom_keys else list(row)
        for index in text_positions:
            value = cells[index]
            if value and value[0] in formula_first:
                cells[index] = neutralise(value)
        for index in boolean_positions:
            value = cells[index]
            if value is not None:
                cells[index] = "true" if value else "false"
        for index in datetime_positions:
            value = cells[index]
            if value is not None:
                cells[index] = iso_datetime(value)
        for index in date_positions:
            value = cells[index]
            if value is not None:
                cells[index] = value.isoformat()
        for index in json_positions:
            value = cells[index]
            if value is not None:
                cells[index] = neutralise(_json_text(value))
        if custom_keys:
            values = row[width]
            if values and isinstance(values, dict):
                cells += [custom_cell(values.get(key)) for key in custom_keys]
            else:
                cells += no_custom_values
        return cells

    return formatted
