"""CSV exports on PostgreSQL: the database formats every cell and writes the CSV itself (COPY).

Reading a million rows into Python objects only to turn them back into text costs more than the
rest of an export together; on PostgreSQL the same cells are built in SQL, by the rules of
tandem/exports/cells.py, and `COPY ... TO STDOUT` hands over finished CSV lines. The portable
path (Python formatting) still writes XLSX, and CSV on SQLite; tests hold the two to the same
cells.
"""

from collections.abc import Callable, Iterator

from django.db import connection
from django.db.models.fields.json import KeyTransform

from tandem.exports.cells import BOOLEAN, DATE, DATETIME, JSON, NUMBER, TEXT
from tandem.exports.selectors import ExportRows

CHUNK_BYTES = 1 << 16

# The SQL of cells.neutralise: a leading quote before text a spreadsheet would run (= + - @ tab CR).
# ascii() reads the code of the first character without copying the text: far cheaper than left().
# Text that is just a number ("-5") is left alone, as in cells.neutralise.
_NEUTRALISED = (
    "CASE WHEN ascii({0}) IN (61, 43, 45, 64, 9, 13) AND {0} !~ '^-?[0-9]+([.][0-9]+)?$' THEN '''' || {0} ELSE {0} END"
)
_CELLS = {
    NUMBER: "{0}",
    TEXT: _NEUTRALISED,
    BOOLEAN: "{0}::text",  # true or false
    DATETIME: """to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""",
    DATE: "to_char({0}, 'YYYY-MM-DD')",
    JSON: _NEUTRALISED.format("({0})::text"),
}
# One custom-field value (a JSON value, extracted once by the inner query): strings neutralised,
# numbers and booleans as JSON writes them, missing or null empty, lists and objects as JSON text.
_CUSTOM_CELL = (
    "CASE jsonb_typeof({0}) WHEN 'string' THEN " + _NEUTRALISED.format("({0} #>> '{{}}')") + " "
    "WHEN 'number' THEN {0} #>> '{{}}' WHEN 'boolean' THEN {0} #>> '{{}}' WHEN 'null' THEN NULL "
    "ELSE " + _NEUTRALISED.format("({0})::text") + " END"
)


def copy_statement(rows: ExportRows) -> tuple[str, list]:
    """The COPY statement that writes the cells of `rows` as CSV lines, and its parameters."""
    custom_values = [KeyTransform(key, "custom_fields") for key in rows.custom_keys]
    rows_sql, params = rows.queryset.values_list(*rows.sources, *custom_values).query.sql_with_params()
    names = [f"c{index}" for index in range(len(rows.sources) + len(custom_values))]
    cells = [_CELLS[kind].format(f"rows.{name}") for kind, name in zip(rows.kinds, names, strict=False)]
    cells += [_CUSTOM_CELL.format(f"rows.{name}") for name in names[len(rows.kinds) :]]
    # The inner query is the ORM's and every value travels as a parameter.
    select = f"SELECT {', '.join(cells)} FROM ({rows_sql}) AS rows ({', '.join(names)})"  # noqa: S608
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", list(params)


def copy_csv_chunks(statement: str, params: list, *, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The CSV lines of a COPY statement, in chunks of about CHUNK_BYTES; `progress` gets the row count."""
    rows = 0
    with connection.cursor() as cursor, cursor.copy(statement, params) as copy:
        chunk: list = []
        size = 0
        # libpq hands over one row per read.
        for line in copy:
            chunk.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                rows += len(chunk)
                if progress:
                    progress(rows)
                yield b"".join(chunk)
                chunk, size = [], 0
        if chunk:
            rows += len(chunk)
            if progress:
                progress(rows)
            yield b"".join(chunk)
