"""Write many rows quickly: COPY on PostgreSQL, one prepared executemany on SQLite.

Rows are plain dicts keyed by field attribute names (`owner_id`, not `owner`), so that a loader
does not pay for building a model instance per row. Callers that need the new rows' ids ask
for them first with `allocate_ids` and put them in the rows.
"""

import datetime as dt
import json
from decimal import Decimal

from django.db import connection, models


def _sqlite_adapter(field: models.Field):
    """A function that turns a Python value into what Django stores for `field` on SQLite."""
    if isinstance(field, models.JSONField):
        return lambda value: None if value is None else json.dumps(value)
    if isinstance(field, models.DateTimeField):

        def datetime_value(value):
            if value is None:
                return None
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.isoformat(sep=" ")

        return datetime_value
    if isinstance(field, models.DateField):
        return lambda value: None if value is None else value.isoformat()
    if isinstance(field, models.DecimalField):
        return lambda value: None if value is None else str(Decimal(value))
    return None


class BulkInserter:
    """Writes lists of row dicts into a model's table."""

    def __init__(self, *, use_copy: bool | None = None):
        if use_copy is None:
            use_copy = connection.vendor == "postgresql"
        self.use_copy = use_copy
        self._columns: dict[tuple, tuple] = {}

    def write(self, model: type[models.Model], rows: list[dict]) -> None:
        if not rows:
            return
        if self.use_copy:
            self._copy(model, rows)
        elif connection.vendor == "sqlite":
            self._executemany(model, rows)
        else:
            model.objects.bulk_create([model(**row) for row in rows])

    def _layout(self, model, with_id: bool):
        """The columns to fill, each with its attribute name, default, JSON flag and SQLite adapter."""
        key = (model, with_id)
        if key not in self._columns:
            fields = [field for field in model._meta.concrete_fields if with_id or not field.primary_key]
            self._columns[key] = tuple(
                (
                    field.column,
                    field.attname,
                    field.get_default(),
                    isinstance(field, models.JSONField),
                    _sqlite_adapter(field),
                )
                for field in fields
            )
        return self._columns[key]

    def _copy(self, model, rows: list[dict]) -> None:
        layout = self._layout(model, "id" in rows[0])
        quote = connection.ops.quote_name
        columns = ", ".join(quote(column) for column, *_ in layout)
        sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"  # noqa: S608 - names from the model
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                values = []
                for _, attname, default, is_json, _ in layout:
                    value = row.get(attname, default)
                    if is_json and value is not None:
                        value = json.dumps(value)
                    values.append(value)
                copy.write_row(values)

    def _executemany(self, model, rows: list[dict]) -> None:
        layout = self._layout(model, "id" in rows[0])
        quote = connection.ops.quote_name
        columns = ", ".join(quote(column) for column, *_ in layout)
        marks = ", ".join(["%s"] * len(layout))
        sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
        getters = [(attname, default, adapter) for _, attname, default, _, adapter in layout]
        values = []
        for row in rows:
            values.append(
                [
                    adapter(row.get(attname, default)) if adapter else row.get(attname, default)
                    for attname, default, adapter in getters
                ]
            )
        with connection.cursor() as cursor:
            cursor.executemany(sql, values)

    def update(self, model: type[models.Model], fields: list[str], rows: list[dict]) -> None:
        """Set `fields` (attribute names) on the rows with the given `id`s, one statement for all."""
        if not rows:
            return
        quote = connection.ops.quote_name
        meta = model._meta
        by_attname = {field.attname: field for field in meta.concrete_fields}
        assignments = ", ".join(f"{quote(by_attname[name].column)} = %s" for name in fields)
        sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
        adapters = []
        for name in fields:
            field = by_attname[name]
            if connection.vendor == "sqlite":
                adapters.append(_sqlite_adapter(field))
            elif isinstance(field, models.JSONField):
                adapters.append(lambda value: None if value is None else json.dumps(value))
            else:
                adapters.append(None)
        values = []
        for row in rows:
            item = [
                adapter(row[name]) if adapter else row[name] for name, adapter in zip(fields, adapters, strict=True)
            ]
            item.append(row["id"])
            values.append(item)
        with connection.cursor() as cursor:
            cursor.executemany(sql, values)


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Reserve `count` new primary keys for rows that will be written with explicit ids.

    PostgreSQL hands them out from the table's sequence, so concurrent writers never collide.
    SQLite has one writer at a time: call this inside the transaction that writes the rows.
    """
    if count <= 0:
        return []
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, count]
            )
            return [row[0] for row in cursor.fetchall()]
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT COALESCE(MAX({quote(column)}), 0) FROM {quote(table)}")  # noqa: S608
        highest = cursor.fetchone()[0]
        if connection.vendor == "sqlite":
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            if row and row[0] > highest:
                highest = row[0]
        return list(range(highest + 1, highest + 1 + count))
