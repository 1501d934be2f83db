"""CSV exports on SQLite: the database builds every cell, so rows arrive as finished text.

Django's per-value conversions (text to datetime, to Decimal, JSON parsing) cost more than the
rest of an export together; here SQLite turns its stored text straight into the cells that
tandem/exports/cells.py describes, and the csv module writes the rows as they come. What SQL
cannot shape alike — text to neutralise (rare), JSON — goes through the same Python functions as
the portable path; tests hold the two to the same cells.
"""

import json
from collections.abc import Iterator

from django.db import connection
from django.db.models import DecimalField, F, Model

from tandem.exports.cells import BOOLEAN, DATE, DATETIME, JSON, NUMBER, TEXT, custom_cell, neutralise
from tandem.exports.selectors import ExportRows

FETCH_ROWS = 2_000

_FORMULA_CODES = "61, 43, 45, 64, 9, 13"  # = + - @ tab CR
_NEUTRALISED = f"CASE WHEN unicode({{0}}) IN ({_FORMULA_CODES}) THEN tandem_neutralise({{0}}) ELSE {{0}} END"
_CELLS = {
    NUMBER: "{0}",
    TEXT: _NEUTRALISED,
    BOOLEAN: "CASE {0} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END",
    # Django stores UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]'; the cell drops a fraction's trailing zeros.
    DATETIME: "replace(CASE WHEN instr({0}, '.') THEN rtrim({0}, '0') ELSE {0} END, ' ', 'T') || '+00:00'",
    DATE: "{0}",
    JSON: "tandem_json_cell({0})",
}


def _json_cell(text: str | None) -> str | None:
    if text is None:
        return None
    return neutralise(json.dumps(json.loads(text), ensure_ascii=False))


def _field(model: type[Model], source: str):
    *relations, name = source.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(name)


def _number_cell(model: type[Model], source: str) -> str:
    field = _field(model, source)
    if isinstance(field, DecimalField):
        # Stored as an SQLite number: written back with the field's places, 1234.5 as 1234.50.
        return f"CASE WHEN {{0}} IS NOT NULL THEN printf('%.{field.decimal_places}f', {{0}}) END"
    return "{0}"


def cells_select(rows: ExportRows) -> tuple[str, list]:
    """A SELECT whose rows are the finished cells of `rows`, in id order, and its parameters."""
    values = {f"c{index}": F(source) for index, source in enumerate(rows.sources)}
    if rows.custom_keys:
        values["custom"] = F("custom_fields")
    inner_sql, params = rows.queryset.values(**values).query.sql_with_params()
    model = rows.queryset.model
    cells = []
    for index, (kind, source) in enumerate(zip(rows.kinds, rows.sources, strict=True)):
        template = _number_cell(model, source) if kind == NUMBER else _CELLS[kind]
        cells.append(template.format(f"rows.c{index}"))
    cells += ["tandem_custom_cell(rows.custom, %s)"] * len(rows.custom_keys)
    # Parameters: the custom keys come first in the statement, then the inner query's. Every
    # export's first column is the id (c0), its order.
    select = f"SELECT {', '.join(cells)} FROM ({inner_sql}) AS rows ORDER BY rows.c0"  # noqa: S608
    return select, [*rows.custom_keys, *params]


class _CustomCells:
    """The cell of one custom field; a row's fields are parsed once for all its keys."""

    def __init__(self):
        self.text = None
        self.values = None

    def __call__(self, custom_fields: str | None, key: str):
        if custom_fields != self.text:
            self.text = custom_fields
            self.values = json.loads(custom_fields) if custom_fields else None
        return custom_cell(self.values.get(key)) if isinstance(self.values, dict) else None


def _register_functions() -> None:
    connection.ensure_connection()
    database = connection.connection
    database.create_function("tandem_neutralise", 1, neutralise, deterministic=True)
    database.create_function("tandem_json_cell", 1, _json_cell, deterministic=True)
    database.create_function("tandem_custom_cell", 2, _CustomCells())


def cell_rows(rows: ExportRows) -> Iterator[tuple]:
    """The rows of cells, fetched FETCH_ROWS at a time."""
    _register_functions()
    sql, params = cells_select(rows)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH_ROWS):
            yield from batch
