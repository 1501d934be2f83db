"""Month partitions of the touchpoint table on PostgreSQL, and the retention that drops old months.

On PostgreSQL `engagement_touchpoint` is partitioned by range of `occurred_at`, one partition a
month (`engagement_touchpoint_p202605`) and a default partition for times no month partition
covers yet. Ingestion makes sure the months of a batch have their partitions before it writes
(remembered per process, so it costs a set lookup per batch). A month whose rows already sit in
the default partition is moved out of it when its partition is made. On SQLite the table is one
table and all of this does nothing but the retention's delete.

The primary key of a partitioned table must include the partition key, so it is (id, occurred_at);
ids still come from one sequence and stay unique. Client event ids are kept unique by
`TouchpointKey`, a plain table, for the same reason.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

TABLE = "engagement_touchpoint"
DEFAULT_PARTITION = f"{TABLE}_default"
LOCK_ID = 7_260_601  # an advisory lock: one process at a time changes the partitions

_known_months: set[tuple[int, int]] = set()
_partitioned: bool | None = None


def month_start(year: int, month: int) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def partition_name(year: int, month: int) -> str:
    return f"{TABLE}_p{year:04d}{month:02d}"


def is_partitioned() -> bool:
    """Whether the touchpoint table is partitioned here (PostgreSQL after the migration)."""
    global _partitioned
    if connection.vendor != "postgresql":
        return False
    if _partitioned is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [TABLE])
            _partitioned = cursor.fetchone() is not None
    return _partitioned


def forget() -> None:
    """Read the partitions afresh (after tests drop and create tables)."""
    global _partitioned
    _partitioned = None
    _known_months.clear()


def month_create(cursor, year: int, month: int) -> bool:
    """Make one month's partition if it is missing, moving its rows out of the default partition. True if made."""
    name = partition_name(year, month)
    cursor.execute("SELECT to_regclass(%s)", [name])
    if cursor.fetchone()[0] is not None:
        return False
    start, end = month_start(year, month), month_start(*next_month(year, month))
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE occurred_at >= %s AND occurred_at < %s)",  # noqa: S608
        [start, end],
    )
    if not cursor.fetchone()[0]:
        cursor.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)", [start, end])
        return True
    # Rows of this month are in the default partition: move them into a new table, then attach it.
    cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cursor.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at >= %s AND occurred_at < %s RETURNING *) "  # noqa: S608
        f"INSERT INTO {name} SELECT * FROM moved",
        [start, end],
    )
    cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])
    return True


def ensure_for(times) -> None:
    """Make sure every month of `times` has its partition; call before writing touchpoints of those times."""
    if connection.vendor != "postgresql":
        return
    # UTC months: a time given with another offset may fall in the neighbouring month.
    months = {(moment.year, moment.month) for moment in (t.astimezone(dt.UTC) for t in times)} - _known_months
    if not months:
        return
    if is_partitioned():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_ID])
            for year, month in sorted(months):
                month_create(cursor, year, month)
    _known_months.update(months)


def months_ahead_create(*, now: dt.datetime, months: int = 2) -> list[str]:
    """Make the partitions of this month and the next `months` (what the daily task does). Returns those made."""
    if not is_partitioned():
        return []
    made = []
    year, month = now.year, now.month
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_ID])
        for _ in range(months + 1):
            if month_create(cursor, year, month):
                made.append(partition_name(year, month))
            year, month = next_month(year, month)
    return made


def partition_list() -> list[tuple[str, int]]:
    """The partitions with their row estimates, oldest month first (empty on SQLite)."""
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, greatest(c.reltuples, 0)::bigint "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [TABLE],
        )
        return [(name, count) for name, count in cursor.fetchall()]


def months_drop_before(cursor, cutoff: dt.datetime) -> list[str]:
    """Drop the month partitions entirely before `cutoff` (a month's start); returns their names."""
    dropped = []
    for name, _count in partition_list():
        if name == DEFAULT_PARTITION:
            continue
        year, month = int(name[-6:-2]), int(name[-2:])
        if month_start(*next_month(year, month)) <= cutoff:
            cursor.execute(f"DROP TABLE {name}")
            _known_months.discard((year, month))
            dropped.append(name)
    return dropped
