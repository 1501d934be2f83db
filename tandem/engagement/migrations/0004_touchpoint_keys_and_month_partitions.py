"""Existing client event ids move into TouchpointKey; on PostgreSQL the touchpoint table becomes
partitioned by month of occurred_at (SQLite keeps one table).

The conversion renames the table, creates the partitioned one with the same columns, makes a
partition for every month that has rows (and this month and the next two) plus a default
partition, copies the rows, drops the old table, and recreates its indexes and foreign keys under
their own names, so later schema changes find them. The primary key becomes (id, occurred_at):
a partitioned table's unique constraints must include the partition key.
"""

import datetime as dt

from django.db import migrations

# ruff: noqa: S608 - every name spliced into SQL here is a constant of this migration

TABLE = "engagement_touchpoint"


def copy_keys(apps, schema_editor):
    Touchpoint = apps.get_model("engagement", "Touchpoint")
    TouchpointKey = apps.get_model("engagement", "TouchpointKey")
    keys = []
    for client_event_id, occurred_at in (
        Touchpoint.objects.exclude(client_event_id=None).values_list("client_event_id", "occurred_at").iterator()
    ):
        keys.append(TouchpointKey(client_event_id=client_event_id, occurred_at=occurred_at))
        if len(keys) >= 5000:
            TouchpointKey.objects.bulk_create(keys, ignore_conflicts=True)
            keys = []
    TouchpointKey.objects.bulk_create(keys, ignore_conflicts=True)


def _month_after(year, month):
    return (year + 1, 1) if month == 12 else (year, month + 1)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    cursor = schema_editor.connection.cursor()
    old = f"{TABLE}_unpartitioned"
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {old}")
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u'))",
        [old, old],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'f'",
        [old],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY) PARTITION BY RANGE (occurred_at)"
    )
    cursor.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id, occurred_at)")
    cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
    cursor.execute(f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') FROM {old}")
    months = {(row[0].year, row[0].month) for row in cursor.fetchall()}
    today = dt.datetime.now(dt.UTC)
    year, month = today.year, today.month
    for _ in range(3):
        months.add((year, month))
        year, month = _month_after(year, month)
    for year, month in sorted(months):
        start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        end = dt.datetime(*_month_after(year, month), 1, tzinfo=dt.UTC)
        cursor.execute(
            f"CREATE TABLE {TABLE}_p{year:04d}{month:02d} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
    cursor.execute(f"INSERT INTO {TABLE} OVERRIDING SYSTEM VALUE SELECT * FROM {old}")
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {old}")
    last_id = cursor.fetchone()[0]
    cursor.execute(f"DROP TABLE {old}")
    for _name, definition in indexes:
        cursor.execute(
            definition.replace(f" ON public.{old} ", f" ON public.{TABLE} ").replace(f" ON {old} ", f" ON {TABLE} ")
        )
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    sequence = cursor.fetchone()[0]
    if last_id:
        cursor.execute("SELECT setval(%s, %s)", [sequence, last_id])


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ("engagement", "0003_events_keys_visitors_merges"),
    ]

    operations = [
        migrations.RunPython(copy_keys, migrations.RunPython.noop),
        migrations.RunPython(partition, migrations.RunPython.noop, elidable=False),
    ]
