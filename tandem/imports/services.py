"""Import files into the shared record: create a run, preview it, execute it in checkpointed batches.

A run reads its file as a stream, in batches. Each batch is validated row by row, deduplicated,
matched to existing records, and written in one transaction together with the run's checkpoint
(the last line done, the counts, the size of the error report), so a run that stops — cancelled,
or its worker killed — continues from the checkpoint without writing any row twice.
"""

import csv
import datetime as dt
import gc
import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tandem.audit.actors import Actor, as_actor
from tandem.audit.services import audit_record
from tandem.imports.choices import load_choice_lists
from tandem.imports.fields import CUSTOM_PREFIX, FIELDS_BY_NAME, REPORT_COLUMNS
from tandem.imports.mapping import Mapping, MappingError, Plan, build_plan, render_template
from tandem.imports.models import ImportPhase, ImportRun, ImportStatus, LoadPath, SavedMapping
from tandem.imports.reading import Record, RecordProblem, UnreadableFileError, open_source
from tandem.imports.values import CellError, unquote_formula
from tandem.lib.bulk_insert import loading
from tandem.lib.tabular_output import neutralise_formula

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
# How many times larger a batch is after one whose rows were nearly all settled unchanged (a re-import).
SETTLED_BATCH_FACTOR = 4
SAMPLE_ROWS = 1000
PREVIEW_ROWS = 20
HEARTBEAT_SECONDS = 60


class ImportCancelled(Exception):
    """The run was asked to stop; what was committed stays."""


@dataclass
class ParsedRow:
    """One record after reading: typed values by field, custom fields, and what was wrong."""

    line: int
    raw: list[str]
    values: dict = field(default_factory=dict)
    custom: dict = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    is_duplicate: bool = False  # an earlier row of the same file has the same key
    person: dict | None = None  # set by the people writer: the record this row became
    key: tuple | None = None  # the first key token of the rows merged into this one (set when merging)

    def error(self, where: str, message: str) -> None:
        self.errors.append((where, message))


def parse_records(records: list, reader: "RowReader") -> list[ParsedRow]:
    """Records as ParsedRows, in order; a record that could not be split into columns becomes a rejected row."""
    readable = [record for record in records if type(record) is Record]
    if len(readable) == len(records):
        return reader.read_many(readable)
    parsed = iter(reader.read_many(readable))
    rows = []
    for record in records:
        if type(record) is Record:
            rows.append(next(parsed))
        else:
            row = ParsedRow(line=record.line, raw=record.values)
            row.error("row", record.message)
            rows.append(row)
    return rows


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    accounts_created: int = 0
    rejected: list[ParsedRow] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)


# ------------------------------------------------------------------ reading and validating rows


def data_dir() -> Path:
    path = Path(settings.DATA_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _source_for(run: ImportRun):
    return open_source(
        run.file_path,
        encoding=run.encoding or None,
        delimiter=run.delimiter or None,
        sheet=run.sheet or None,
    )


def _sample(source, count: int = SAMPLE_ROWS) -> list[list[str]]:
    """The first rows of the file; refuses a file that has a header and nothing else."""
    rows, problems = [], 0
    for record in source.records():
        if isinstance(record, Record):
            rows.append(record.values)
            if len(rows) >= count:
                break
        else:
            problems += 1
    if not rows and not problems:
        raise UnreadableFileError("the file has a header row but no data rows.")
    return rows


def compile_plan(mapping: Mapping, source) -> Plan:
    """The plan for this file; raises MappingError naming the bad part of the mapping."""
    return build_plan(mapping, source.info.header, _sample(source), load_choice_lists())


# Distinct texts remembered per column (a column of mostly distinct values reads the others afresh).
# Enough for the companies of a million-row file (tens of thousands), a few MiB per column at most.
CELL_CACHE_SIZE = 65_536
_UNREAD = object()


def rows_of(columns: list[tuple[str, list]], count: int) -> list[dict]:
    """One dict per row from (name, values per row) columns, keys in column order."""
    if not columns:
        return [{} for _ in range(count)]
    names = tuple(name for name, _ in columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*(values for _, values in columns), strict=True)]


_BLANK = object()
BLANK = _BLANK  # the outcome of a cell that counts as empty (see RowReader.read_columns)


class _Problem:
    """Why a cell's text cannot be read (remembered per column like a value)."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


class RowReader:
    """Turns records into ParsedRows under a plan: the hot loop of every import."""

    def __init__(self, plan: Plan, *, remember_cells: bool = True):
        """`remember_cells=False` reads every cell afresh: for columns of distinct values, such as keys."""
        self.plan = plan
        blank = {value.strip().casefold() for value in plan.mapping.blank_values}
        self.blank = blank
        known_fields = FIELDS_BY_NAME[plan.kind]
        self.columns = [
            (
                column.index,
                column.header,
                column.field[len(CUSTOM_PREFIX) :] if column.field.startswith(CUSTOM_PREFIX) else None,
                column.field,
                column.reader,
                column.value_map,
                # JSON values are dicts a row may change: read afresh every time.
                None if not remember_cells or getattr(known_fields.get(column.field), "type", "") == "json" else {},
            )
            for column in plan.columns
        ]
        self.header_keys = [name.strip().casefold() for name in plan.header]
        self.templates = list(plan.templates.items())
        self.defaults = list(plan.defaults.items())
        known = FIELDS_BY_NAME[plan.kind]
        self.template_readers = {}
        for target, _ in self.templates:
            column = next((c for c in plan.columns if c.field == target), None)
            self.template_readers[target] = column.reader if column else None
        self.known = known
        self.value_maps = {column.field: column.value_map for column in plan.columns}
        self.value_maps.update({t: plan.mapping.values.get(t, {}) for t, _ in self.templates})
        # Blank and faulty texts per column, remembered apart from the values (see `fill_columns`).
        self._specials = {column.index: {} for column in plan.columns}

    def read(self, record: Record) -> ParsedRow:
        row = ParsedRow(line=record.line, raw=record.values)
        self.fill(record.values, row.values, row.custom, row.errors)
        return row

    def read_many(self, records: list[Record]) -> list[ParsedRow]:
        """Records as ParsedRows, read column by column: what `read` gives for each, at a fraction of the cost."""
        count = len(records)
        if not count:
            return []
        cells = [record.values for record in records]
        try:
            by_column = list(zip(*cells, strict=True))
        except ValueError:  # rows of different widths (not from a source, which gives the header's)
            by_column = []
        if len(by_column) != len(self.header_keys):
            return [self.read(record) for record in records]
        read = self.read_columns(by_column)
        values = rows_of(
            [(target, outcomes) for custom_key, target, _, outcomes, _ in read if custom_key is None], count
        )
        customs = rows_of([(key, outcomes) for key, _, _, outcomes, _ in read if key is not None], count)
        errors = [[] for _ in range(count)]
        for custom_key, target, header, outcomes, odd in read:
            # Blank and unreadable cells leave their field out of the row, as `fill` does.
            into, name = (values, target) if custom_key is None else (customs, custom_key)
            for position in odd:
                del into[position][name]
                outcome = outcomes[position]
                if outcome is not _BLANK:
                    errors[position].append((header, outcome.message))
        if self.templates or self.defaults:
            for row_cells, row_values, row_custom, row_errors in zip(cells, values, customs, errors, strict=True):
                self._derived(row_cells, row_values, row_custom, row_errors)
        return [
            ParsedRow(record.line, record.values, row_values, row_custom, row_errors)
            for record, row_values, row_custom, row_errors in zip(records, values, customs, errors, strict=True)
        ]

    def read_columns(self, by_column: list) -> list[tuple]:
        """Read many rows' cells a column at a time: `by_column[i]` holds column i's cells, in row order.

        Per mapped column: (custom key or None, field, header, outcome per row, the rows whose
        outcome is blank or a problem). Each column's cells are looked up in its cache of distinct
        texts in one pass; only the texts not remembered are visited one by one.
        """
        read_cell = self._read_cell
        read = []
        for index, header, custom_key, target, reader, value_map, cache in self.columns:
            column = by_column[index]
            if cache is None:
                outcomes = [_BLANK if not text else read_cell(text, reader, value_map) for text in column]
                odd = [
                    position
                    for position, outcome in enumerate(outcomes)
                    if outcome is _BLANK or type(outcome) is _Problem
                ]
            else:
                outcomes = list(map(cache.get, column, repeat(_UNREAD, len(column))))
                odd = []
                if _UNREAD in outcomes:
                    for position in [position for position, outcome in enumerate(outcomes) if outcome is _UNREAD]:
                        outcome = self._read_uncached(column[position], index, reader, value_map, cache)
                        if outcome is _BLANK or type(outcome) is _Problem:
                            odd.append(position)
                        outcomes[position] = outcome
            read.append((custom_key, target, header, outcomes, odd))
        return read

    def _read_cell(self, text: str, reader, value_map):
        """One non-empty cell as its value, `_BLANK` when it counts as empty, or the `_Problem` saying why not."""
        if text[0] == "'":
            text = unquote_formula(text)
        if text[0] in " \t" or text[-1] in " \t":
            text = text.strip()
            if not text:
                return _BLANK
        if self.blank and text.casefold() in self.blank:
            return _BLANK
        if value_map:
            mapped = value_map.get(text)
            if mapped is not None:
                if mapped == "":
                    return _BLANK
                text = mapped
        try:
            return reader(text)
        except CellError as error:
            # The message alone: a kept exception would keep its traceback's frames, and their rows, alive.
            return _Problem(str(error))

    def _read_uncached(self, text: str, index: int, reader, value_map, cache: dict):
        """A cell whose text the column's cache of values does not hold: read it, or take the blank or problem
        remembered for it; a value goes to `cache`, a blank or a problem to the column's specials."""
        specials = self._specials[index]
        outcome = specials.get(text, _UNREAD)
        if outcome is _UNREAD:
            outcome = _BLANK if not text else self._read_cell(text, reader, value_map)
            remember = specials if outcome is _BLANK or type(outcome) is _Problem else cache
            if len(remember) < CELL_CACHE_SIZE:
                remember[text] = outcome
        return outcome

    def fill(self, cells: list[str], values: dict, custom: dict, errors: list) -> None:
        """Read one record's cells into values by field, custom fields, and (column, problem) errors."""
        read_cell = self._read_cell
        for index, header, custom_key, target, reader, value_map, cache in self.columns:
            text = cells[index]
            if not text:
                continue
            if cache is None:
                outcome = read_cell(text, reader, value_map)
            else:
                # A column's reading is a function of the cell's text alone, and most columns repeat
                # few values (stages, sources, names, dates): each distinct text is read once.
                outcome = cache.get(text, _UNREAD)
                if outcome is _UNREAD:
                    outcome = self._read_uncached(text, index, reader, value_map, cache)
            if outcome is _BLANK:
                continue
            if type(outcome) is _Problem:
                errors.append((header, outcome.message))
            elif custom_key is not None:
                custom[custom_key] = outcome
            else:
                values[target] = outcome
        self._derived(cells, values, custom, errors)

    def _derived(self, cells: list[str], values: dict, custom: dict, errors: list) -> None:
        """Fields made by templates and defaults, after the columns are read."""
        if self.templates:
            by_header = dict(zip(self.header_keys, cells, strict=False))
            for target, template in self.templates:
                text = render_template(template, by_header).strip()
                if not text or target in values:
                    continue
                text = self.value_maps.get(target, {}).get(text, text)
                definition = self.known.get(target)
                if target.startswith(CUSTOM_PREFIX):
                    custom[target[len(CUSTOM_PREFIX) :]] = text
                    continue
                try:
                    values[target] = _template_value(definition, text, self.template_readers.get(target))
                except CellError as error:
                    errors.append((f"template for {definition.label}", str(error)))
        for target, value in self.defaults:
            if target.startswith(CUSTOM_PREFIX):
                custom.setdefault(target[len(CUSTOM_PREFIX) :], value)
            else:
                values.setdefault(target, value)


def _template_value(definition, text: str, reader):
    if reader is not None:
        return reader(text)
    limit = definition.max_length or 10_000
    if len(text) > limit:
        raise CellError(f"is {len(text):,} characters long; at most {limit:,} fit")
    if definition.type == "email":
        from tandem.imports.values import parse_email

        return parse_email(text)
    return text


# ------------------------------------------------------------------ the error report


class ErrorReport:
    """The downloadable CSV of rejected rows: line, what was wrong, then the original values."""

    def __init__(self, path: Path, header: list[str], *, resume_at: int = 0):
        self.path = path
        is_new = resume_at == 0 or not path.exists()
        if is_new:
            self.handle = path.open("w", encoding="utf-8", newline="")
            csv.writer(self.handle).writerow(["tandem_error_line", "tandem_error", *header])
        else:
            self.handle = path.open("r+", encoding="utf-8", newline="")
            self.handle.seek(resume_at)
            self.handle.truncate()
        self.writer = csv.writer(self.handle)

    def write(self, rows: list[ParsedRow]) -> int:
        for row in rows:
            problems = "; ".join(f"{where}: {message}" for where, message in row.errors)
            self.writer.writerow([row.line, problems, *(neutralise_formula(value) for value in row.raw)])
        self.handle.flush()
        os.fsync(self.handle.fileno())
        return self.handle.tell()

    def close(self) -> None:
        self.handle.close()


# ------------------------------------------------------------------ runs


@transaction.atomic
def import_run_create(
    *,
    by,
    kind: str,
    path: str | Path,
    original_filename: str = "",
    mapping: Mapping | None = None,
    copy_file: bool = False,
    encoding: str = "",
    delimiter: str = "",
    sheet: str = "",
) -> ImportRun:
    """Register a file to import; raises UnreadableFileError or MappingError before anything is written."""
    actor = by if isinstance(by, Actor) else Actor.importer(label=str(by), user=by)
    path = Path(path)
    source = open_source(path, encoding=encoding or None, delimiter=delimiter or None, sheet=sheet or None)
    mapping = mapping or Mapping(kind=kind)
    if mapping.kind != kind:
        raise MappingError(f"kind: this mapping is for {mapping.kind}, not {kind}")
    plan = compile_plan(mapping, source)
    if not plan.columns:
        raise MappingError("no column of the file maps to a field; name the columns in a mapping")
    run = ImportRun.objects.create(
        kind=kind,
        status=ImportStatus.DRAFT,
        file_path=str(path.resolve()),
        original_filename=original_filename or path.name,
        file_format=source.info.format,
        encoding=getattr(source, "encoding", ""),
        delimiter=getattr(source, "delimiter", ""),
        sheet=source.info.sheet,
        mapping=mapping.as_dict(),
        created_by=actor.user if actor.user is not None and getattr(actor.user, "pk", None) else None,
        actor_label=actor.label or "import",
        created_at=timezone.now(),
        progress_total=source.info.progress_total,
    )
    if copy_file:
        folder = data_dir() / str(run.pk)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"source{path.suffix.lower() or '.csv'}"
        shutil.copyfile(path, target)
        run.file_path = str(target)
        run.save(update_fields=["file_path"])
    return run


def import_run_queue(*, run: ImportRun) -> ImportRun:
    """Hand a run to the worker."""
    from tandem.imports.tasks import run_import

    updated = ImportRun.objects.filter(pk=run.pk, status=ImportStatus.DRAFT).update(status=ImportStatus.QUEUED)
    if updated:
        transaction.on_commit(lambda: run_import(run.pk))
    run.refresh_from_db()
    return run


def import_run_cancel(*, run: ImportRun, by) -> ImportRun:
    """Ask a run to stop after its current batch; a run not started yet stops at once."""
    ImportRun.objects.filter(pk=run.pk, status__in=[ImportStatus.DRAFT, ImportStatus.QUEUED]).update(
        status=ImportStatus.CANCELLED, finished_at=timezone.now()
    )
    ImportRun.objects.filter(pk=run.pk, status=ImportStatus.RUNNING).update(status=ImportStatus.CANCELLING)
    run.refresh_from_db()
    audit_record(by=by, action="cancel", instance=run, summary=f"Asked to stop import #{run.pk}")
    return run


def import_run_execute(
    *, run_id: int, progress: Callable[[ImportRun], None] | None = None, batch_size: int = BATCH_SIZE
) -> ImportRun:
    """Import the run's file from its checkpoint to the end; safe to call again after any stop."""
    from tandem.imports import bulkload
    from tandem.imports.writers import writer_for

    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run_id)
        # A bulk load whose finishing failed (and was undone) finishes when run again.
        finish_again = run.status == ImportStatus.FAILED and run.phase == ImportPhase.FINISHING
        if run.status in (ImportStatus.DONE, ImportStatus.CANCELLED, ImportStatus.FAILED) and not finish_again:
            return run
        if run.status == ImportStatus.CANCELLING:
            run.status = ImportStatus.CANCELLED
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "finished_at"])
            return run
        run.status = ImportStatus.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.heartbeat_at = timezone.now()
        run.failure = ""
        run.save(update_fields=["status", "started_at", "heartbeat_at", "failure"])
    actor = Actor.importer(label=f"{run.original_filename} (import #{run.pk})", user=run.created_by)
    try:
        source = _source_for(run)
        mapping = Mapping.from_dict(run.mapping)
        plan = compile_plan(mapping, source)
    except (UnreadableFileError, MappingError, OSError) as error:
        return _fail(run, str(error))
    try:
        run = bulkload.choose_path(run, lambda: _source_for(run))
    except bulkload.StagingLost as error:
        return _fail(run, str(error))
    bulk = run.load_path == LoadPath.BULK
    reader = RowReader(plan)
    writer = writer_for(plan, run=run, actor=actor)
    error_path = Path(run.error_file) if run.error_file else data_dir() / f"run-{run.pk}-errors.csv"
    report = ErrorReport(error_path, plan.header, resume_at=run.error_file_bytes)
    if not run.error_file:
        run.error_file = str(error_path)
        ImportRun.objects.filter(pk=run.pk).update(error_file=run.error_file)
    try:
        if run.phase == ImportPhase.FINISHING:
            raise _AlreadyRead
        with loading(), _young_garbage_only():
            # Records go to the writer as read: it decides which it must parse (see PersonWriter.read_batch).
            batch: list[Record | RecordProblem] = []
            replayed: list[Record] = []
            last_line = run.line_done
            size = batch_size
            for record in source.records():
                if record.line <= run.line_done:
                    # Committed before a restart: the writer notes them, so duplicates of them are still recognised.
                    if isinstance(record, Record):
                        replayed.append(record)
                        if len(replayed) >= batch_size:
                            writer.remember_batch(replayed, reader)
                            replayed = []
                    continue
                if replayed:
                    writer.remember_batch(replayed, reader)
                    replayed = []
                batch.append(record)
                last_line = record.line
                if len(batch) >= size:
                    settled_before = run.unchanged_count + run.duplicate_count
                    run = _commit_batch(run, writer, reader, batch, report, last_line, source.position)
                    # Rows found unchanged cost little but their checkpoint: while most are, batches are larger.
                    settled = run.unchanged_count + run.duplicate_count - settled_before
                    size = batch_size * SETTLED_BATCH_FACTOR if settled >= 0.9 * len(batch) else batch_size
                    batch = []
                    gc.collect(1)
                    if progress:
                        progress(run)
            if replayed:
                writer.remember_batch(replayed, reader)
            run = _commit_batch(
                run, writer, reader, batch, report, last_line, source.position, final=True, finishing=bulk
            )
    except _AlreadyRead:
        pass
    except ImportCancelled:
        report.close()
        run.refresh_from_db()
        if bulk:
            # What was committed stays: the staged people are loaded too.
            run = _finish_bulk(run, plan, progress, final_status=ImportStatus.CANCELLED)
        return run
    except Exception as error:
        report.close()
        _fail(run, f"{type(error).__name__}: {error}")
        if bulk:
            _land_staged_after_failure(run, plan)
        raise
    report.close()
    if bulk:
        run = _finish_bulk(run, plan, progress)
    if progress:
        progress(run)
    audit_record(
        by=actor,
        action="import",
        instance=run,
        summary=(
            f"Imported {run.kind} from {run.original_filename}: {run.created_count:,} created, "
            f"{run.updated_count:,} updated, {run.unchanged_count:,} unchanged, {run.rejected_count:,} rejected"
        ),
        after=run.counts,
    )
    return run


@contextmanager
def _young_garbage_only():
    """No full garbage collections while a run holds its growing state (each would walk every object the
    run keeps, again and again as it grows: a third of a re-import's time); garbage cycles made by a batch
    are collected after it, and the full collections come back at the end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _AlreadyRead(Exception):
    """The run read its whole file before it stopped: only finishing is left."""


def _finish_bulk(run: ImportRun, plan: Plan, progress, *, final_status=ImportStatus.DONE) -> ImportRun:
    """Phase B of a bulk load (tandem.imports.bulkload): load the staged records in one transaction."""
    from tandem.imports import bulkload

    if progress:
        progress(run)  # the run shows its finishing phase
    try:
        # The loader's settings hold here too: SQLite sorts each index it builds within its page cache.
        with loading():
            return bulkload.finish(
                run.pk, header=plan.header, open_source=lambda: _source_for(run), final_status=final_status
            )
    except Exception as error:
        _fail(
            run,
            f"Finishing the import failed and was undone, so nothing of it was stored ({type(error).__name__}: "
            f"{error}). Run the import again to finish it.",
        )
        raise


def _land_staged_after_failure(run: ImportRun, plan: Plan) -> None:
    """A bulk load that failed while reading keeps what it committed, as the ordinary path does."""
    from tandem.imports import bulkload

    try:
        bulkload.finish(
            run.pk, header=plan.header, open_source=lambda: _source_for(run), final_status=ImportStatus.FAILED
        )
    except Exception:
        logger.exception("import #%s: the people it staged before failing could not be loaded", run.pk)


def _commit_batch(
    run, writer, reader, batch, report, last_line, position, *, final=False, finishing=False
) -> ImportRun:
    with transaction.atomic():
        current = ImportRun.objects.select_for_update().get(pk=run.pk)
        if current.status == ImportStatus.CANCELLING:
            current.status = ImportStatus.CANCELLED
            current.finished_at = timezone.now()
            current.save(update_fields=["status", "finished_at"])
    if current.status == ImportStatus.CANCELLED:
        raise ImportCancelled
    with transaction.atomic():
        current = ImportRun.objects.select_for_update().get(pk=run.pk)
        rows, skipped = writer.read_batch(batch, reader, final=final)
        result = writer.write(rows) if rows else BatchResult()
        result.unchanged += skipped["unchanged"]
        result.duplicates += skipped["duplicate"]
        current.error_file_bytes = report.write(result.rejected) if result.rejected else current.error_file_bytes
        current.rows_read += len(batch)
        current.created_count += result.created
        current.updated_count += result.updated
        current.unchanged_count += result.unchanged
        current.rejected_count += len(result.rejected)
        current.duplicate_count += result.duplicates
        current.accounts_created_count += result.accounts_created
        notes = Counter(current.notes)
        notes.update(result.notes)
        current.notes = dict(notes)
        current.line_done = max(current.line_done, last_line)
        current.position = position
        current.heartbeat_at = timezone.now()
        if final and finishing:
            # Every row is read; the staged records are loaded next (a restart goes straight there).
            current.phase = ImportPhase.FINISHING
            current.position = current.progress_total
        elif final:
            current.status = ImportStatus.DONE
            current.finished_at = timezone.now()
            current.position = current.progress_total
        current.save()
    return current


def _fail(run: ImportRun, message: str) -> ImportRun:
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportStatus.FAILED, failure=message[:5000], finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def import_runs_resume_stale(*, older_than: dt.timedelta = dt.timedelta(seconds=HEARTBEAT_SECONDS * 3)) -> list[int]:
    """Queue again every run whose worker stopped answering (killed, machine restarted)."""
    from tandem.imports.tasks import run_import

    cutoff = timezone.now() - older_than
    stale = list(
        ImportRun.objects.filter(
            status__in=[ImportStatus.RUNNING, ImportStatus.CANCELLING, ImportStatus.QUEUED], heartbeat_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for run_id in stale:
        run_import(run_id)
    return stale


# ------------------------------------------------------------------ preview


@dataclass
class Preview:
    """What the wizard shows before a run: detection, the mapping per column, sample rows, value maps."""

    source_description: str
    header: list[str]
    columns: list[dict]
    skipped: list[str]
    rows: list[dict]
    value_maps: list[dict]
    missing_keys: str = ""


def import_preview(*, run: ImportRun, rows: int = PREVIEW_ROWS, scan_rows: int = 100_000) -> Preview:
    """Parse the first rows under the run's mapping, and count how each choice value is mapped."""
    source = _source_for(run)
    mapping = Mapping.from_dict(run.mapping)
    plan = compile_plan(mapping, source)
    reader = RowReader(plan)
    choices = load_choice_lists()
    known = FIELDS_BY_NAME[run.kind]
    counted = {c.index: Counter() for c in plan.columns if c.field in known and known[c.field].type == "choice"}
    sample_rows = []
    for number, record in enumerate(source.records()):
        if number >= scan_rows:
            break
        if isinstance(record, RecordProblem):
            if len(sample_rows) < rows:
                sample_rows.append({"line": record.line, "cells": [], "errors": [("row", record.message)]})
            continue
        for index, counter in counted.items():
            text = record.values[index].strip()
            if text:
                counter[text] += 1
        if len(sample_rows) < rows:
            parsed = reader.read(record)
            cells = []
            for column in plan.columns:
                original = record.values[column.index]
                key = column.field[len(CUSTOM_PREFIX) :] if column.field.startswith(CUSTOM_PREFIX) else None
                value = parsed.custom.get(key) if key else parsed.values.get(column.field)
                cells.append({"original": original, "value": _display(value)})
            sample_rows.append({"line": record.line, "cells": cells, "errors": parsed.errors})
    value_maps = []
    for column in plan.columns:
        if column.index not in counted:
            continue
        choice_list = choices[known[column.field].choices]
        entries = []
        for text, count in counted[column.index].most_common(200):
            explicit = column.value_map.get(text)
            target = explicit if explicit is not None else choice_list.mapped_key(text)
            entries.append({"value": text, "count": count, "maps_to": target, "is_explicit": explicit is not None})
        value_maps.append({"column": column.header, "field": column.label, "entries": entries})
    from tandem.imports.fields import KEYS

    keys = KEYS[run.kind]
    missing = "" if set(keys) & plan.fields else f"No column maps to {' or '.join(keys)}, which identify {run.kind}."
    return Preview(
        source_description=source.info.description,
        header=plan.header,
        columns=[{"header": c.header, "field": c.field, "label": c.label, "reading": c.reading} for c in plan.columns],
        skipped=plan.skipped,
        rows=sample_rows,
        value_maps=value_maps,
        missing_keys=missing,
    )


def _display(value) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return " ".join(str(part) for part in value if part)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


# ------------------------------------------------------------------ saved mappings


@transaction.atomic
def saved_mapping_save(*, by, name: str, mapping: Mapping) -> SavedMapping:
    """Keep a mapping under a name for its kind (replacing one of the same name)."""
    name = (name or "").strip()
    if not name:
        raise MappingError("name: a saved mapping needs a name")
    actor = as_actor(by)
    user = actor.user if actor.user is not None and getattr(actor.user, "pk", None) else None
    saved, created = SavedMapping.objects.update_or_create(
        kind=mapping.kind,
        name=name[:100],
        defaults={"mapping": mapping.as_dict(), "updated_at": timezone.now(), "created_by": user},
    )
    audit_record(
        by=by,
        action="create" if created else "update",
        instance=saved,
        after=saved.mapping,
        summary=f"Saved mapping '{saved.name}' for {saved.kind}",
    )
    return saved


# ------------------------------------------------------------------ the web wizard


def import_run_start(*, run: ImportRun, by) -> ImportRun:
    """Queue a set-up run on the worker for the user who pressed Run, and audit it."""
    audit_record(
        by=by,
        action="queue",
        instance=run,
        summary=f"Started import #{run.pk} of {run.kind} from {run.original_filename}",
        after={"kind": run.kind, "file": run.original_filename, "mapping": run.mapping},
    )
    return import_run_queue(run=run)


__all__ = [
    "REPORT_COLUMNS",
    "ImportCancelled",
    "import_preview",
    "import_run_cancel",
    "import_run_create",
    "import_run_execute",
    "import_run_queue",
    "import_run_start",
    "import_runs_resume_stale",
    "saved_mapping_save",
]
