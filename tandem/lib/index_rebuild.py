"""Drop a PostgreSQL table's indexes before loading many rows into it, and make them again after.

Building an index once after a load is several times faster than updating it row by row. The
indexes (and the unique or primary key constraints they back) are made again from their own
definitions in the catalogue, so nothing here repeats a model's index list.
"""

from django.db import connection


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def indexes_drop(cursor, table: str, *, primary_key: bool = True) -> list[str]:
    """Drop the table's indexes (the primary key too, unless `primary_key` is False).

    Returns the SQL that makes them again.
    """
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.conrelid = x.indrelid "
        "WHERE x.indrelid = %s::regclass AND (%s OR NOT x.indisprimary) ORDER BY i.relname",
        [table, primary_key],
    )
    restore = []
    for index_name, definition, constraint_name, constraint_definition in cursor.fetchall():
        if constraint_name:
            cursor.execute(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT {_quote(constraint_name)}")
            restore.append(
                f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(constraint_name)} {constraint_definition}"
            )
        else:
            cursor.execute(f"DROP INDEX {_quote(index_name)}")
            restore.append(definition)
    return restore


def foreign_keys_drop(cursor, table: str) -> list[str]:
    """Drop the table's foreign keys; returns the SQL that adds them again (each checked in one pass)."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )
    restore = []
    for name, definition in cursor.fetchall():
        cursor.execute(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT {_quote(name)}")
        restore.append(f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}")
    return restore
