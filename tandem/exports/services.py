"""Exports: write a list, with its filters, to CSV or XLSX, and record who exported what.

Every export — from the web UI, the API or `tandem export` — ends in an `Export` record and an
audit entry (who, which list, which filters, how many rows), also when it stops early: the rows
already sent have left Tandem.
"""

import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from django.db import connection
from django.utils import timezone

from tandem.audit.actors import as_actor
from tandem.audit.services import audit_record
from tandem.exports import postgres, selectors, sqlite
from tandem.exports.cells import row_formatter
from tandem.exports.models import Export, ExportFormat, ExportKind
from tandem.exports.selectors import Filters
from tandem.exports.writers import XLSX_MAX_DATA_ROWS, ExportTooLargeError, Progress, csv_chunks, csv_line, write_xlsx

WRITE_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class ExportResult:
    export: Export
    row_count: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.row_count / self.seconds if self.seconds > 0 else float(self.row_count)


class _Tally:
    """Counts the rows written, for the record, and passes the count on to a progress callback."""

    def __init__(self, progress: Progress | None = None):
        self.rows = 0
        self.progress = progress

    def __call__(self, rows: int) -> None:
        self.rows = rows
        if self.progress:
            self.progress(rows)


def export_record(
    *,
    by,
    kind: str,
    file_format: str,
    filters: Filters,
    row_count: int,
    is_complete: bool,
    started_at,
) -> Export:
    """Record one export and write its audit entry."""
    actor = as_actor(by)
    export = Export.objects.create(
        kind=ExportKind(kind),
        file_format=ExportFormat(file_format),
        filters=selectors.filters_summary(filters),
        row_count=row_count,
        is_complete=is_complete,
        actor=actor.user if actor.user is not None and actor.user.pk else None,
        actor_label=actor.display[:200],
        started_at=started_at,
        finished_at=timezone.now(),
    )
    after = {
        "kind": export.kind,
        "format": export.file_format,
        "filters": export.filters,
        "row_count": row_count,
        "is_complete": is_complete,
    }
    stopped = "" if is_complete else " (stopped early)"
    summary = f"Exported {row_count:,} {kind} as {export.get_file_format_display()}{stopped}"
    audit_record(by=by, action="export", instance=export, after=after, summary=summary)
    return export


@contextmanager
def _snapshot_rows(kind: str, filters: Filters, *, max_rows: int | None = None) -> Iterator[selectors.ExportRows]:
    """The rows of one list, all read in one snapshot of the data.

    With `max_rows`, more rows than that are refused (ExportTooLargeError) before any is read.
    """
    with selectors.read_snapshot():
        if max_rows is not None:
            count = selectors.export_count(kind, filters)
            if count > max_rows:
                raise ExportTooLargeError(
                    f"An XLSX sheet holds at most {max_rows:,} rows; these {kind} are {count:,}. "
                    "Export to CSV, or narrow the filters."
                )
        yield selectors.export_rows(kind, filters)


def _cells(rows: selectors.ExportRows) -> Iterator[list]:
    formatted = row_formatter(rows.kinds, rows.custom_keys)
    with closing(rows.iterate()) as values:
        yield from map(formatted, values)


def _csv_chunks(kind: str, filters: Filters, *, progress: Progress) -> Iterator[bytes]:
    """The CSV of one list as UTF-8 chunks, header first."""
    with _snapshot_rows(kind, filters) as rows:
        yield csv_line(rows.header)
        # The database builds the cells: PostgreSQL writes the CSV lines too, SQLite hands over rows.
        if connection.vendor == "postgresql":
            statement, params = postgres.copy_statement(rows)
            yield from postgres.copy_csv_chunks(statement, params, progress=progress)
        elif connection.vendor == "sqlite":
            yield from csv_chunks(sqlite.cell_rows(rows), progress=progress)
        else:
            yield from csv_chunks(_cells(rows), progress=progress)


def export_write(
    *,
    by,
    kind: str,
    filters: Filters,
    file_format: str,
    target: str | BinaryIO,
    progress: Progress | None = None,
) -> ExportResult:
    """Write one list to `target` (a path, or a binary file) and record the export.

    Raises ExportTooLargeError, before writing anything, for more rows than XLSX holds.
    """
    kind, file_format = ExportKind(kind), ExportFormat(file_format)
    selectors.check_filters(kind, filters)
    started_at, started = timezone.now(), time.perf_counter()
    tally = _Tally(progress)
    is_complete = False
    try:
        if file_format == ExportFormat.CSV:
            with _open_binary(target) as out:
                for chunk in _csv_chunks(kind, filters, progress=tally):
                    out.write(chunk)
        else:
            with _snapshot_rows(kind, filters, max_rows=XLSX_MAX_DATA_ROWS) as rows:
                write_xlsx(target, rows.header, _cells(rows), sheet_title=kind.label, progress=tally)
        is_complete = True
    finally:
        # A refusal before the first row leaves nothing to record; anything else is on the record.
        if is_complete or tally.rows:
            export = export_record(
                by=by, kind=kind, file_format=file_format, filters=filters, row_count=tally.rows,
                is_complete=is_complete, started_at=started_at,
            )  # fmt: skip
    return ExportResult(export=export, row_count=tally.rows, seconds=time.perf_counter() - started)


@contextmanager
def _open_binary(target: str | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(target, str):
        with open(target, "wb", buffering=WRITE_BUFFER_BYTES) as out:
            yield out
    else:
        yield target


def export_csv_stream(*, by, kind: str, filters: Filters) -> Iterator[bytes]:
    """The CSV of one list as UTF-8 chunks for a streamed response; recorded when the stream ends.

    Filters are checked here, before the first chunk, so that a bad filter is an error answer
    rather than a broken download.
    """
    kind = ExportKind(kind)
    selectors.check_filters(kind, filters)
    return _csv_stream(by=by, kind=kind, filters=filters)


def _csv_stream(*, by, kind: ExportKind, filters: Filters) -> Iterator[bytes]:
    started_at = timezone.now()
    tally = _Tally()
    is_complete = False
    try:
        yield from _csv_chunks(kind, filters, progress=tally)
        is_complete = True
    finally:
        # Also when the client went away mid-download: what was sent is on the record.
        export_record(
            by=by, kind=kind, file_format=ExportFormat.CSV, filters=filters, row_count=tally.rows,
            is_complete=is_complete, started_at=started_at,
        )  # fmt: skip
