"""Write many rows quickly: COPY on PostgreSQL, one prepared executemany on SQLite.

Rows are plain dicts keyed by field attribute names (`owner_id`, not `owner`), so that a loader
does not pay for building a model instance per row. Callers that need the new rows' ids ask
for them first with `allocate_ids` and put them in the rows.

On PostgreSQL the rows go to a binary COPY, typed by the table's own column types, so the driver
turns each value into its binary form in C and the server parses no text; on SQLite they go as
tuples of what Django itself would have stored, turned into that text once, here.
"""

import datetime as dt
import json
from contextlib import contextmanager
from decimal import Decimal

import orjson
from django.db import connection, models

# Formatted times are looked up rather than formatted again: an import repeats the same few
# (the batch's `now`, a file's creation dates) many times.
_TEXT_CACHE_LIMIT = 100_000
# PostgreSQL's type oids (pg_type) for the columns whose values go to COPY already encoded.
JSON_OID, JSONB_OID, BYTEA_OID = 114, 3802, 17


def _remember(cache: dict, key, value):
    """Keep `value` under `key` in a memo of at most _TEXT_CACHE_LIMIT entries (emptied when full); returns it."""
    if len(cache) >= _TEXT_CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


class _TimeText:
    """Datetimes as SQLite stores them (UTC, without zone, space-separated), memoised."""

    def __init__(self):
        self.cache: dict = {}
        # The last two values turned into text, checked by identity first: a row repeats the same
        # objects (a batch's `now`; a created_at that is also the stage and activity time), and
        # hashing an aware datetime asks its zone for the offset.
        self.recent = [(None, None), (None, None)]

    def __call__(self, value):
        if value is None:
            return None
        recent = self.recent
        if value is recent[0][0]:
            return recent[0][1]
        if value is recent[1][0]:
            return recent[1][1]
        text = self.cache.get(value)
        if text is None:
            utc = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value
            text = _remember(self.cache, value, utc.isoformat(sep=" "))
        recent[1] = recent[0]
        recent[0] = (value, text)
        return text


def _json_text(value):
    return None if value is None else json.dumps(value)


class _JsonText:
    """`_json_text` for many rows, memoised for flat objects of strings (an import's custom fields repeat)."""

    def __init__(self):
        self.cache: dict = {}

    def __call__(self, value):
        if type(value) is not dict or not _all_text(value):
            return _json_text(value)
        key = tuple(value.items())
        text = self.cache.get(key)
        if text is None:
            text = _remember(self.cache, key, json.dumps(value))
        return text


def _all_text(value: dict) -> bool:
    return all(type(item) is str for item in value.values())


_FLAT_TYPES = (str, int)


class _JsonWire:
    """JSON values as a binary COPY carries them to a json or jsonb column: the text, after a version byte for jsonb.

    A flat object of strings and whole numbers (custom fields, evidence) is dumped by orjson, and
    a flat object of strings remembered: the server keeps the same value as from `json.dumps`,
    which dumps everything else (floats and nested values included, so nothing reads differently).
    """

    def __init__(self, prefix: bytes):
        self.prefix = prefix
        self.cache: dict = {}

    def __call__(self, value) -> bytes:
        if type(value) is dict:
            if _all_text(value):
                key = tuple(value.items())
                data = self.cache.get(key)
                if data is None:
                    data = _remember(self.cache, key, self._flat(value))
                return data
            if all(type(item) in _FLAT_TYPES for item in value.values()):
                return self._flat(value)
        return self.prefix + json.dumps(value).encode()

    def _flat(self, value: dict) -> bytes:
        try:
            return self.prefix + orjson.dumps(value)
        except TypeError:  # keys that are not strings, or a number beyond 64 bits
            return self.prefix + json.dumps(value).encode()


def _date_text(value):
    return None if value is None else value.isoformat()


def _decimal_text(value):
    return None if value is None else str(Decimal(value))


def _adapter(field: models.Field, *, times: _TimeText, json_text=_json_text):
    """A function that turns a Python value into the text stored for `field`, or None to pass it as is."""
    if isinstance(field, models.JSONField):
        return json_text
    if isinstance(field, models.DateTimeField):
        return times
    if isinstance(field, models.DateField):
        return _date_text
    if isinstance(field, models.DecimalField):
        return _decimal_text
    return None


def _sqlite_adapter(field: models.Field):
    """A function that turns a Python value into what Django stores for `field` on SQLite (None: as is)."""
    return _adapter(field, times=_TimeText())


class BulkInserter:
    """Writes lists of row dicts into a model's table."""

    def __init__(self, *, use_copy: bool | None = None):
        if use_copy is None:
            use_copy = connection.vendor == "postgresql"
        self.use_copy = use_copy
        self._layouts: dict[tuple, tuple] = {}
        self._times = _TimeText()
        self._json = _JsonText()
        self._copy_types: dict[tuple, tuple] = {}

    def write(self, model: type[models.Model], rows: list[dict], *, table: str | None = None) -> None:
        """Insert the rows into the model's table, or into `table`, a table with the same columns."""
        if not rows:
            return
        if self.use_copy:
            self._copy(model, rows, table or model._meta.db_table)
        elif connection.vendor == "sqlite":
            self._executemany(model, rows, table or model._meta.db_table)
        else:
            model.objects.bulk_create([model(**row) for row in rows])

    def _layout(self, model, with_id: bool):
        """The columns to fill: names, a getter for a full row dict, the defaults, and per-column adapters."""
        key = (model, with_id)
        if key not in self._layouts:
            fields = [field for field in model._meta.concrete_fields if with_id or not field.primary_key]
            adapters = [
                (index, _adapter(field, times=self._times, json_text=self._json)) for index, field in enumerate(fields)
            ]
            self._layouts[key] = (
                [field.column for field in fields],
                tuple(field.attname for field in fields),
                tuple(field.get_default() for field in fields),
                [(index, adapter) for index, adapter in adapters if adapter is not None],
            )
        return self._layouts[key]

    def _values(self, model, rows: list[dict]):
        """Each row as a list of column values in table order, defaults filled in (they are only ever read)."""
        columns, attnames, defaults, adapters = self._layout(model, model._meta.pk.attname in rows[0])
        return columns, adapters, [list(map(row.get, attnames, defaults)) for row in rows]

    def _copy(self, model, rows: list[dict], table: str) -> None:
        # Binary COPY: psycopg turns each value into the column's binary form in C, and the server
        # stores it without parsing text. JSON goes encoded already (see _column_types); every other value as it is.
        columns, _, values = self._values(model, rows)
        key = (model, tuple(columns), table)
        if key not in self._copy_types:
            self._copy_types[key] = self._column_types(model, columns, table)
        types, json_columns = self._copy_types[key]
        for index, wire in json_columns:
            for row in values:
                if row[index] is not None:
                    row[index] = wire(row[index])
        quote = connection.ops.quote_name
        names = ", ".join(quote(column) for column in columns)
        sql = f"COPY {quote(table)} ({names}) FROM STDIN (FORMAT BINARY)"  # noqa: S608
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            copy.set_types(types)
            write_row = copy.write_row
            for row in values:
                write_row(row)

    @staticmethod
    def _column_types(model, columns: list[str], table: str) -> tuple[list[int], list[tuple]]:
        """The type of each column as psycopg is to send it, and (index, encoder) of the columns that hold JSON.

        JSON goes already encoded, as bytes (psycopg writes them as they are): the binary COPY format
        of a json column is its text, of a jsonb column a version byte and the text.
        """
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
                [connection.ops.quote_name(table)],
            )
            by_name = dict(cursor.fetchall())
        types, json_columns = [], []
        for index, column in enumerate(columns):
            type_oid = by_name[column]
            if type_oid in (JSON_OID, JSONB_OID):
                json_columns.append((index, _JsonWire(b"\x01" if type_oid == JSONB_OID else b"")))
                type_oid = BYTEA_OID
            types.append(type_oid)
        return types, json_columns

    def _executemany(self, model, rows: list[dict], table: str) -> None:
        columns, adapters, values = self._values(model, rows)
        for row in values:
            for index, adapter in adapters:
                row[index] = adapter(row[index])
        quote = connection.ops.quote_name
        names = ", ".join(quote(column) for column in columns)
        marks = ", ".join(["?"] * len(columns))
        sql = f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})"  # noqa: S608
        connection.ensure_connection()
        raw = connection.connection.cursor()
        try:
            raw.executemany(sql, values)
        finally:
            raw.close()

    def tables_of(self, model: type[models.Model]) -> list[str]:
        """The tables that hold the model's records as this inserter writes them."""
        return [model._meta.db_table]

    def read(self, query):
        """The rows of a query over the records this inserter writes (a loader that stages them adds those)."""
        return query

    def tables_for(self, model: type[models.Model], rows: list, person_id) -> list[tuple[str, list]]:
        """The rows grouped by the table that holds their person: here always the model's own table.

        A loader that keeps new records elsewhere until it finishes (tandem.imports.bulkload) routes them.
        """
        return [(model._meta.db_table, rows)] if rows else []

    def upsert(
        self, model: type[models.Model], rows: list[dict], *, unique_fields: list[str], update_fields: list[str]
    ):
        """Insert the rows, or update `update_fields` of the rows already there with the same `unique_fields`."""
        if rows:
            model.objects.bulk_create(
                [model(**row) for row in rows],
                update_conflicts=True,
                unique_fields=unique_fields,
                update_fields=update_fields,
            )

    def update(
        self, model: type[models.Model], fields: list[str], rows: list[dict], *, table: str | None = None
    ) -> None:
        """Set `fields` (attribute names) on the rows with the given `id`s, one statement for all."""
        if not rows:
            return
        quote = connection.ops.quote_name
        meta = model._meta
        by_attname = {field.attname: field for field in meta.concrete_fields}
        assignments = ", ".join(f"{quote(by_attname[name].column)} = %s" for name in fields)
        sql = f"UPDATE {quote(table or meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
        adapters = []
        for name in fields:
            field = by_attname[name]
            if connection.vendor == "sqlite":
                adapters.append(_adapter(field, times=self._times))
            elif isinstance(field, models.JSONField):
                adapters.append(_json_text)
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


# SQLite settings while a loader writes: a page cache that holds the tables' busy index pages (the
# default 2 MiB makes every insert into a many-indexed table read pages back), and checkpoints of
# the write-ahead log every 64 MiB instead of every 4 MiB. Durability is unchanged.
SQLITE_LOADER_CACHE_KIB = 128 * 1024
SQLITE_LOADER_CHECKPOINT_PAGES = 16_384


@contextmanager
def loading():
    """Database settings for writing many rows in this block; the connection's own come back after."""
    if connection.vendor == "postgresql":
        with _postgresql_loading():
            yield
        return
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache_size = cursor.fetchone()[0]
        cursor.execute("PRAGMA wal_autocheckpoint")
        checkpoint_pages = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = {-SQLITE_LOADER_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_LOADER_CHECKPOINT_PAGES}")
    try:
        yield
    finally:
        if connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size = {int(cache_size)}")
                cursor.execute(f"PRAGMA wal_autocheckpoint = {int(checkpoint_pages)}")


@contextmanager
def _postgresql_loading():
    # Commits do not wait for the write-ahead log to reach the disk. A crash may lose the last
    # transactions, never half of one: a loader that commits its checkpoint with its rows (as the
    # importer does) starts again from the last checkpoint that survived.
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        if connection.connection is not None and not connection.needs_rollback:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [synchronous_commit])


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
            # The sequence is named first: looked up in each row, it cost ten times the ids themselves.
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
            sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count])
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
