"""Bulk load of a large first import of people: stage the new records, then load them at once.

Writing a million new people row by row pays, per row, for some twenty index entries and eight
foreign key checks across the person, score, stage change and account match tables. Building
those indexes once after the rows are in, and checking each foreign key with one query, is
several times cheaper. So a run whose file is large next to the people table (decided when it
starts, and kept on the run, so a restarted run goes the same way) goes in two phases:

A. Reading, batch by batch and checkpointed as usual. The rows of NEW people (person, score,
   stage change, account match) go to tables of the run's own (`import_run_<id>_<kind>`;
   UNLOGGED on PostgreSQL), with no constraints and only the indexes the importer looks
   people up by. A later row of the file for one of them updates the staged record. Changes
   to people who existed before (and accounts the run creates) go to the real tables at once.
B. Finishing, in one transaction: lock the four tables, load the staged rows into them with
   their secondary indexes and foreign keys dropped, build the indexes again, add the keys
   back (each checked in one pass), drop the staging tables and mark the run done. If it fails
   nothing of it stays, and running the run again does it again. A person someone else added
   meanwhile with the same email or external id is not duplicated: the file's row is rejected
   with a message saying so (import it again to update that person).
"""

# The SQL here is built from table and column names of the models and the run's id, quoted; values go apart.
# ruff: noqa: S608

import copy
import itertools
import logging
from operator import itemgetter

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tandem.crm.models import AccountMatch, Person, StageChange
from tandem.imports.models import ImportPhase, ImportRun, ImportStatus, LoadPath
from tandem.lib.bulk_insert import BulkInserter
from tandem.lib.index_rebuild import foreign_keys_drop, indexes_drop
from tandem.lib.step_timer import StepTimer
from tandem.scoring.models import PersonScore

logger = logging.getLogger(__name__)

# The tables a people import stages, in the order they are loaded; the suffix names each staging table.
STAGED = {Person: "person", PersonScore: "score", StageChange: "stagechange", AccountMatch: "accountmatch"}
# Their rows are staged with the ids they will have; the others get theirs when loaded.
WITH_IDS = (Person, PersonScore)
# Records read to estimate a file's row count from its size.
ESTIMATE_SAMPLE = 2000


def staging_table(run_id: int, model) -> str:
    return f"import_run_{int(run_id)}_{STAGED[model]}"


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


# ------------------------------------------------------------------ deciding


def estimated_rows(source) -> int:
    """The file's data rows: counted for a workbook, estimated from the size of the first rows for a CSV."""
    total = source.info.progress_total
    if source.info.format != "csv":
        return total
    count = sum(1 for _ in itertools.islice(source.records(), ESTIMATE_SAMPLE))
    position = getattr(source, "position", 0)
    if not count or not position:
        return 0
    return int(total * count / position)


def choose_path(run: ImportRun, open_source) -> ImportRun:
    """Decide once how the run stores its rows (kept on the run); prepare the staging tables of a bulk load.

    `open_source` opens the run's file afresh (for the estimate). Raises StagingLost when a bulk run
    resumes and its staging tables no longer hold what its checkpoint counts.
    """
    if run.load_path == LoadPath.UNDECIDED:
        path = LoadPath.ORDINARY
        threshold = settings.IMPORT_BULK_MIN_ROWS
        if run.kind == "people" and threshold > 0 and run.line_done == 0 and connection.vendor in SUPPORTED:
            rows = estimated_rows(open_source())
            # Rebuilding the indexes costs in proportion to the whole table: worth it when most of it is new.
            if rows >= threshold and Person.objects.count() * 2 <= rows:
                path = LoadPath.BULK
        with transaction.atomic():
            if path == LoadPath.BULK:
                create_staging(run.pk)
            ImportRun.objects.filter(pk=run.pk).update(load_path=path)
        run.load_path = path
    elif run.load_path == LoadPath.BULK and run.phase != ImportPhase.FINISHING:
        with transaction.atomic():
            create_staging(run.pk)
    if run.load_path == LoadPath.BULK and run.created_count > 0 and staged_people(run.pk) <= 0:
        # PostgreSQL empties unlogged tables when it recovers from a crash.
        raise StagingLost(
            f"import #{run.pk} had staged {run.created_count:,} new people, and the database no longer holds "
            "them (it restarted after a crash); nothing of them was stored: start a new import of the file"
        )
    return run


SUPPORTED = ("postgresql", "sqlite")


class StagingLost(Exception):
    """A bulk run's staging tables no longer match its checkpoint."""


def create_staging(run_id: int) -> None:
    """The run's staging tables (if they are not there yet): the real tables' columns, no constraints."""
    with connection.cursor() as cursor:
        for model in STAGED:
            table = staging_table(run_id, model)
            real = _quote(model._meta.db_table)
            if connection.vendor == "postgresql":
                cursor.execute(f"CREATE UNLOGGED TABLE IF NOT EXISTS {_quote(table)} (LIKE {real} INCLUDING DEFAULTS)")
                if model not in WITH_IDS:
                    cursor.execute(f"ALTER TABLE {_quote(table)} ALTER COLUMN id DROP NOT NULL")
            else:
                cursor.execute(f"CREATE TABLE IF NOT EXISTS {_quote(table)} AS SELECT * FROM {real} WHERE 0")
        person = _quote(staging_table(run_id, Person))
        score = _quote(staging_table(run_id, PersonScore))
        if connection.vendor == "postgresql":
            # Byte-order keys: the importer's lookups need equality only, and "C" compares fastest.
            cursor.execute(
                f'ALTER TABLE {person} ALTER COLUMN email TYPE varchar(254) COLLATE "C", '
                'ALTER COLUMN external_id TYPE varchar(100) COLLATE "C"'
            )
        # Lookups of staged people: by id (updates), by key (later rows of the file), scores by person.
        for name, target, columns in (
            ("id", person, "id"),
            ("email", person, "lower(email)"),
            ("xid", person, "external_id"),
            ("score", score, "person_id"),
        ):
            index = _quote(f"import_run_{int(run_id)}_by_{name}")
            unique = "UNIQUE " if name in ("id", "score") else ""
            cursor.execute(f"CREATE {unique}INDEX IF NOT EXISTS {index} ON {target} ({columns})")


def drop_staging(run_id: int) -> None:
    with connection.cursor() as cursor:
        for model in STAGED:
            cursor.execute(f"DROP TABLE IF EXISTS {_quote(staging_table(run_id, model))}")


def staging_exists(run_id: int) -> bool:
    return staging_table(run_id, Person) in connection.introspection.table_names()


def staged_people(run_id: int) -> int:
    if not staging_exists(run_id):
        return -1
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {_quote(staging_table(run_id, Person))}")
        return cursor.fetchone()[0]


# ------------------------------------------------------------------ phase A: staging


def on_staging(query, tables: dict[str, str]):
    """The same query (a QuerySet) reading the staging tables in place of the real ones.

    Each table of the query keeps its alias (the real table's name), so every column reference
    and every conversion of the values stays as Django compiled them; only FROM and JOIN change.
    """
    query = query._chain()
    aliases = query.query.alias_map
    for alias, join in list(aliases.items()):
        if join.table_name in tables:
            moved = copy.copy(join)
            moved.table_name = tables[join.table_name]
            aliases[alias] = moved
    return query


class StagingInserter(BulkInserter):
    """A BulkInserter that stages new people and what belongs to them; the rest goes where it always goes."""

    def __init__(self, run_id: int):
        super().__init__()
        self.run_id = run_id
        self.tables = {model: staging_table(run_id, model) for model in STAGED}
        self.new_ids: set[int] = set()  # people staged by the current batch

    def tables_of(self, model):
        return [model._meta.db_table, self.tables[model]] if model in STAGED else [model._meta.db_table]

    def read(self, query):
        """Rows of `query` (over people and their scores) from the real tables, then from the staging ones."""
        staged = on_staging(query, {model._meta.db_table: table for model, table in self.tables.items()})
        return itertools.chain(query, staged)

    def write(self, model, rows, *, table=None):
        if table is not None or model not in STAGED:
            super().write(model, rows, table=table)
            return
        if model is Person:
            # Only new people are inserted: all of them are staged.
            self.new_ids = {row["id"] for row in rows}
            super().write(model, rows, table=self.tables[Person])
            if rows and connection.vendor == "sqlite":
                self._reserve_sqlite_ids(max(self.new_ids))
            return
        for target, part in self.tables_for(model, rows, itemgetter("person_id")):
            super().write(model, part, table=target)

    def update(self, model, fields, rows, *, table=None):
        if table is not None or model is not Person:
            super().update(model, fields, rows, table=table)
            return
        for target, part in self.tables_for(model, rows, itemgetter("id")):
            super().update(model, fields, part, table=target)

    def upsert(self, model, rows, *, unique_fields, update_fields):
        if model is not PersonScore:
            super().upsert(model, rows, unique_fields=unique_fields, update_fields=update_fields)
            return
        for target, part in self.tables_for(model, rows, itemgetter("person_id")):
            if target == model._meta.db_table:
                super().upsert(model, part, unique_fields=unique_fields, update_fields=update_fields)
            else:
                # A staged person always has a staged row of scores.
                self._update_by_person(target, update_fields, part)

    def tables_for(self, model, rows, person_id):
        """The rows split between the model's staging table (their person is staged) and its own table."""
        if not rows:
            return []
        ids = {person_id(row) for row in rows}
        ids.discard(None)
        staged = (ids & self.new_ids) | self._staged_among(ids - self.new_ids)
        if not staged:
            return [(model._meta.db_table, rows)]
        if staged == ids:
            return [(self.tables[model], rows)]
        return [
            (self.tables[model], [row for row in rows if person_id(row) in staged]),
            (model._meta.db_table, [row for row in rows if person_id(row) not in staged]),
        ]

    def _staged_among(self, ids: set[int]) -> set[int]:
        if not ids:
            return set()
        found = set()
        table = _quote(self.tables[Person])
        ordered = sorted(ids)
        with connection.cursor() as cursor:
            for start in range(0, len(ordered), 5000):
                chunk = ordered[start : start + 5000]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"SELECT id FROM {table} WHERE id IN ({marks})", chunk)
                found.update(row[0] for row in cursor.fetchall())
        return found

    def _update_by_person(self, table, fields, rows):
        assignments = ", ".join(f"{_quote(name)} = %s" for name in fields)
        sql = f"UPDATE {_quote(table)} SET {assignments} WHERE person_id = %s"
        with connection.cursor() as cursor:
            cursor.executemany(sql, [[row[name] for name in fields] + [row["person_id"]] for row in rows])

    @staticmethod
    def _reserve_sqlite_ids(highest: int) -> None:
        """SQLite hands out ids past the table's highest and its sequence: count the staged people in."""
        table = Person._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute("UPDATE sqlite_sequence SET seq = MAX(seq, %s) WHERE name = %s", [highest, table])
            if cursor.rowcount == 0:
                cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, highest])


def people_inserter(run) -> BulkInserter:
    """The inserter a people writer uses for this run: staging for a bulk load, else the plain one."""
    if getattr(run, "load_path", "") == LoadPath.BULK:
        return StagingInserter(run.pk)
    return BulkInserter()


# ------------------------------------------------------------------ phase B: finishing


def finish(run_id: int, *, header: list[str], open_source, final_status: str = ImportStatus.DONE) -> ImportRun:
    """Load the run's staged records into the real tables in one transaction, and mark the run `final_status`."""
    step = StepTimer(last_step_seconds)
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run_id)
        if not staging_exists(run.pk):
            raise StagingLost(f"import #{run.pk} has no staging tables to finish from; start a new import of the file")
        tables = [model._meta.db_table for model in STAGED]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Checks deferred by earlier statements of the transaction would keep the tables from being altered.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(
                    "SELECT set_config('maintenance_work_mem', %s, true)", [settings.IMPORT_BULK_INDEX_MEMORY]
                )
                # Other writers wait until the run is done; readers too (the indexes are being rebuilt).
                cursor.execute(f"LOCK TABLE {', '.join(_quote(t) for t in tables)} IN ACCESS EXCLUSIVE MODE")
            rejected = _set_aside_conflicts(cursor, run.pk)
            _clear_lost_references(cursor, run.pk)
            step("conflicts")
            saved = _drop_indexes_and_keys(cursor, tables)
            step("drop")
            for model in STAGED:
                _load(cursor, run.pk, model)
            step("load")
            _restore_indexes_and_keys(cursor, saved)
            step("restore")
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        drop_staging(run.pk)
        step("drop staging")
        if rejected:
            _report_rejected(run, rejected, header, open_source)
            run.created_count -= len(rejected)
            run.rejected_count += len(rejected)
        run.phase = ImportPhase.READING
        run.status = final_status
        run.finished_at = timezone.now()
        run.heartbeat_at = run.finished_at
        if final_status == ImportStatus.DONE:
            run.position = run.progress_total
            run.failure = ""
        run.save()
    step("commit")
    logger.info(
        "import #%s loaded %s staged people in %.1f s (%s)",
        run.pk,
        f"{run.created_count:,}",
        sum(last_step_seconds.values()),
        ", ".join(f"{name} {seconds:.1f} s" for name, seconds in last_step_seconds.items()),
    )
    return run


# Seconds of each step of the latest finishing in this process, for benchmarks and logs.
last_step_seconds: dict[str, float] = {}


def _set_aside_conflicts(cursor, run_id: int) -> dict[int, str]:
    """Staged people whose email or external id someone else stored meanwhile: removed; {line: (column, why)}."""
    person = _quote(staging_table(run_id, Person))
    real = _quote(Person._meta.db_table)
    # Each stored person probes the staging table's indexes (byte-order on PostgreSQL, hence the collation):
    # the table holds at most half as many people as the file, usually none. SQLite's CROSS JOIN keeps that order.
    same = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    found: dict[int, tuple[str, str]] = {}
    for condition, what in (
        (f"s.external_id = p.external_id{same}", "external id"),
        (f"lower(s.email) = lower(p.email){same}", "email"),
    ):
        cursor.execute(
            f"SELECT s.id, p.id, s.email, s.external_id FROM {real} p CROSS JOIN {person} s WHERE {condition}"
        )
        for staged_id, other_id, email, external_id in cursor.fetchall():
            value = email if what == "email" else external_id
            found.setdefault(
                staged_id,
                (
                    what.capitalize(),
                    f"{what} '{value}' was given to person #{other_id} by someone else while this file was "
                    "importing; this row and its repeats in the file were not imported (import them again "
                    "to update that person)",
                ),
            )
    if not found:
        return {}
    ids = sorted(found)
    marks = ", ".join(["%s"] * len(ids))
    changes = _quote(staging_table(run_id, StageChange))
    line = "(evidence->>'line')::int" if connection.vendor == "postgresql" else "json_extract(evidence, '$.line')"
    cursor.execute(
        f"SELECT person_id, {line} FROM {changes} WHERE from_stage_id IS NULL AND person_id IN ({marks})",
        ids,
    )
    lines = {line_number: found[staged_id] for staged_id, line_number in cursor.fetchall()}
    for model in STAGED:
        column = "id" if model is Person else "person_id"
        cursor.execute(
            f"DELETE FROM {_quote(staging_table(run_id, model))} WHERE {column} IN ({marks})",
            ids,
        )
    return lines


def _clear_lost_references(cursor, run_id: int) -> None:
    """What deleting an account or a user meanwhile would have done to the staged rows, had they been stored."""
    account = _quote(Person._meta.get_field("account").related_model._meta.db_table)
    user = _quote(Person._meta.get_field("owner").related_model._meta.db_table)
    person = _quote(staging_table(run_id, Person))
    matches = _quote(staging_table(run_id, AccountMatch))
    changes = _quote(staging_table(run_id, StageChange))
    statements = [
        f"UPDATE {person} SET account_id = NULL WHERE account_id IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {account} a WHERE a.id = account_id)",
        f"UPDATE {person} SET owner_id = NULL WHERE owner_id IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {user} u WHERE u.id = owner_id)",
        f"DELETE FROM {matches} WHERE NOT EXISTS (SELECT 1 FROM {account} a WHERE a.id = account_id)",
        f"UPDATE {matches} SET previous_account_id = NULL WHERE previous_account_id IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {account} a WHERE a.id = previous_account_id)",
        f"UPDATE {matches} SET matched_by_id = NULL WHERE matched_by_id IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {user} u WHERE u.id = matched_by_id)",
        f"UPDATE {changes} SET actor_user_id = NULL WHERE actor_user_id IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {user} u WHERE u.id = actor_user_id)",
    ]
    for statement in statements:
        cursor.execute(statement)


def _load(cursor, run_id: int, model) -> None:
    columns = [field.column for field in model._meta.concrete_fields if model in WITH_IDS or not field.primary_key]
    names = ", ".join(_quote(column) for column in columns)
    source = _quote(staging_table(run_id, model))
    cursor.execute(f"INSERT INTO {_quote(model._meta.db_table)} ({names}) SELECT {names} FROM {source}")


def _drop_indexes_and_keys(cursor, tables: list[str]) -> list[tuple[str, str]]:
    """Drop the tables' secondary indexes, the primary keys no other table refers to, and (PostgreSQL) the foreign keys.

    Returns what `_restore_indexes_and_keys` runs to make them again: (kind, SQL).
    """
    saved = []
    if connection.vendor == "sqlite":
        marks = ", ".join(["%s"] * len(tables))
        cursor.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
            tables,
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f"DROP INDEX {_quote(name)}")
            saved.append(("index", definition))
        return saved
    for table in tables:
        saved += [("key", statement) for statement in foreign_keys_drop(cursor, table)]
    for table in tables:
        # A primary key no other table refers to goes too (made again first): the rows load faster without it.
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = %s::regclass)", [table])
        referred_to = cursor.fetchone()[0]
        saved += [("index", statement) for statement in indexes_drop(cursor, table, primary_key=not referred_to)]
    return saved


def _restore_indexes_and_keys(cursor, saved) -> None:
    # Indexes first: adding a foreign key checks every row against the referenced table's key.
    for kind in ("index", "key"):
        for saved_kind, statement in saved:
            if saved_kind == kind:
                cursor.execute(statement)


def _report_rejected(run: ImportRun, rejected: dict[int, tuple[str, str]], header: list[str], open_source) -> None:
    """Add the rows set aside to the run's error report (read again from the file)."""
    from pathlib import Path

    from tandem.imports.reading import Record
    from tandem.imports.services import ErrorReport, ParsedRow

    rows = []
    for record in open_source().records():
        if record.line in rejected and isinstance(record, Record):
            row = ParsedRow(line=record.line, raw=record.values)
            row.error(*rejected[record.line])
            rows.append(row)
            if len(rows) == len(rejected):
                break
    report = ErrorReport(Path(run.error_file), header, resume_at=run.error_file_bytes)
    try:
        run.error_file_bytes = report.write(rows)
    finally:
        report.close()
