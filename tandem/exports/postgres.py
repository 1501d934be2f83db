"""CSV exports on PostgreSQL: the database formats every cell and writes the CSV itself (COPY).

Reading a million rows into Python objects only to turn them back into text costs more than the
rest of an export together; on PostgreSQL the same cells are built in SQL, by the rules of
tandem/exports/cells.py, and `COPY ... TO STDOUT` hands over finished CSV lines. The portable
path (Python formatting) still writes XLSX; tests hold the two to the same cells.
"""

from collections.abc import Callable, Iterator

import psycopg
from django.db import connection
from django.db.models.fields.json import KeyTextTransform
from psycopg import pq

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
    # ISO 8601 from PostgreSQL's own text form (read_snapshot sets ISO dates and UTC), four times
    # cheaper than to_char: '2025-03-04 05:06:07.5+00' becomes '2025-03-04T05:06:07.5+00:00'.
    DATETIME: "replace({0}::text, ' ', 'T') || ':00'",
    DATE: "{0}::text",
    JSON: _NEUTRALISED.format("({0})::text"),
}


def copy_statement(rows: ExportRows) -> tuple[str, list]:
    """The COPY statement that writes the cells of `rows` as CSV lines, and its parameters."""
    # A custom field's text (->>) is already its cell: strings bare, numbers, true/false, JSON text.
    custom_values = [KeyTextTransform(key, "custom_fields") for key in rows.custom_keys]
    rows_sql, params = rows.queryset.values_list(*rows.sources, *custom_values).query.sql_with_params()
    names = [f"c{index}" for index in range(len(rows.sources) + len(custom_values))]
    kinds = [*rows.kinds, *[TEXT] * len(custom_values)]
    cells = [_CELLS[kind].format(f"rows.{name}") for kind, name in zip(kinds, names, strict=True)]
    # The inner query is the ORM's and every value travels as a parameter.
    select = f"SELECT {', '.join(cells)} FROM ({rows_sql}) AS rows ({', '.join(names)})"  # noqa: S608
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", list(params)


def copy_csv_chunks(statement: str, params: list, *, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The CSV lines of a COPY statement, in chunks of about CHUNK_BYTES; `progress` gets the row count."""
    rows = 0
    with connection.cursor() as cursor, cursor.copy(statement, params) as copy:
        chunk: list = []
        size = 0
        for line in _copied_lines(copy, cursor.connection):
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


def _copied_lines(copy, database) -> Iterator[bytes]:
    """The lines of a running COPY TO (on `database`, the psycopg connection), one per row.

    libpq hands over one row per call. psycopg's `copy.read()` waits for the network and notices
    the end, but costs a few microseconds a row; so after each read, the rows libpq has already
    received are taken straight from it (`get_copy_data` without waiting): a third less client
    time at a million rows. When that meets the end of the data, it collects the final result
    itself, as `copy.read()` would have.
    """
    pgconn = database.pgconn
    get_copy_data = pgconn.get_copy_data
    while line := copy.read():
        yield line
        while True:
            size, data = get_copy_data(1)
            if size > 0:
                yield data
                continue
            if size == -1:
                _finish_copy(pgconn, database.info.encoding)
                return
            break  # nothing received yet: wait in copy.read()


def _finish_copy(pgconn, encoding: str) -> None:
    # Every result is read before raising, so that the connection is free for the rollback.
    failures = []
    while (result := pgconn.get_result()) is not None:
        if result.status != pq.ExecStatus.COMMAND_OK:
            failures.append(psycopg.errors.error_from_result(result, encoding=encoding))
    if failures:
        raise failures[0]
