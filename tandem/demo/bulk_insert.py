"""Insert many rows quickly: bulk_create in batches, or COPY on PostgreSQL.

Rows are plain dicts keyed by field attribute names (`owner_id`, not `owner`), so that a loader
does not pay for building a model instance per row when it does not have to.
"""

import json

from django.db import connection, models


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
        else:
            model.objects.bulk_create([model(**row) for row in rows])

    def _layout(self, model, with_id: bool):
        """The columns to fill, each with its attribute name, default and whether it holds JSON."""
        key = (model, with_id)
        if key not in self._columns:
            fields = [field for field in model._meta.concrete_fields if with_id or not field.primary_key]
            self._columns[key] = tuple(
                (field.column, field.attname, field.get_default(), isinstance(field, models.JSONField))
                for field in fields
            )
        return self._columns[key]

    def _copy(self, model, rows: list[dict]) -> None:
        layout = self._layout(model, "id" in rows[0])
        quote = connection.ops.quote_name
        columns = ", ".join(quote(column) for column, _, _, _ in layout)
        sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"  # noqa: S608 - names from the model
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                values = []
                for _, attname, default, is_json in layout:
                    value = row.get(attname, default)
                    if is_json and value is not None:
                        value = json.dumps(value)
                    values.append(value)
                copy.write_row(values)
