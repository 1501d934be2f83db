"""Print rows as an aligned table, CSV or JSON: the `--format` option of Tandem's commands."""

import csv
import json
from collections.abc import Sequence
from typing import Any, TextIO

FORMATS = ("table", "csv", "json")

# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """Prefix a quote so a spreadsheet shows the text instead of running it as a formula."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _text(value: Any, *, for_reading: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if for_reading and hasattr(value, "hour"):
        return value.strftime("%Y-%m-%d %H:%M")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def write_rows(out: TextIO, rows: Sequence[dict[str, Any]], columns: Sequence[str], output_format: str) -> None:
    """Write `rows` (dicts keyed by `columns`) to `out` in the chosen format."""
    if output_format == "json":
        plain = [
            {column: _text(row[column]) if hasattr(row[column], "isoformat") else row[column] for column in columns}
            for row in rows
        ]
        out.write(json.dumps(plain, indent=2, default=str) + "\n")
    elif output_format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralise_formula(_text(row[column])) for column in columns])
    elif output_format == "table":
        cells = [[_text(row[column], for_reading=True) for column in columns] for row in rows]
        widths = [max([len(column), *(len(line[index]) for line in cells)]) for index, column in enumerate(columns)]
        header = "  ".join(
            column.replace("_", " ").upper().ljust(width) for column, width in zip(columns, widths, strict=True)
        )
        out.write(header.rstrip() + "\n")
        for line in cells:
            out.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n")
    else:
        raise ValueError(f"Unknown format '{output_format}'; expected one of {', '.join(FORMATS)}.")
