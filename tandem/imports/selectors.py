"""Reads for the import pages: past runs, and what the mapping step shows about an uploaded file."""

import re
from dataclasses import dataclass

from tandem.imports.choices import load_choice_lists
from tandem.imports.fields import CUSTOM_PREFIX, FIELDS, FIELDS_BY_NAME, KINDS
from tandem.imports.mapping import Mapping, MappingError
from tandem.imports.models import ImportRun, SavedMapping
from tandem.imports.reading import Record, open_source
from tandem.imports.services import compile_plan
from tandem.lib.keyset import Page, keyset_page

EXAMPLE_VALUES = 3
RUN_ORDER = ["-created_at", "-id"]


def import_run_list(*, cursor: str | None = None, limit: int = 25) -> Page:
    """Past and running imports, newest first, with who started them."""
    query = ImportRun.objects.select_related("created_by")
    return keyset_page(query, order=RUN_ORDER, cursor=cursor, limit=limit)


def saved_mappings(*, kinds: tuple[str, ...] = KINDS) -> list[SavedMapping]:
    return list(SavedMapping.objects.filter(kind__in=kinds).order_by("kind", "name"))


@dataclass
class ColumnChoice:
    """One column of an uploaded file on the mapping step: where it goes now and what it holds."""

    index: int
    header: str
    target: str  # a field name, "custom.<key>", or "" when the column is skipped
    custom_target: str  # the custom field this column would fill if chosen
    reading: str
    examples: list[str]


def custom_target_for(header: str) -> str:
    """The custom field a column keeps its values in when it matches no field: 'Shoe size' → custom.shoe_size."""
    key = re.sub(r"[^a-z0-9_]+", "_", header.strip().casefold()).strip("_")[:100] or "column"
    return CUSTOM_PREFIX + key


def field_options(kind: str) -> list[tuple[str, str]]:
    """The fields a column of this kind can fill, as (name, label)."""
    return [(target.name, target.label) for target in FIELDS[kind]]


def choice_options(kind: str, field_name: str) -> list[tuple[str, str]]:
    """The values a choice field takes, as (key, label); empty for open lists such as countries."""
    definition = FIELDS_BY_NAME[kind].get(field_name)
    if definition is None or definition.type != "choice":
        return []
    return list(load_choice_lists()[definition.choices].options)


def upload_columns(*, path, mapping: Mapping, encoding: str = "", delimiter: str = "", sheet: str = ""):
    """Each column of the file with its current target under `mapping`, and a MappingError message if any.

    When the mapping does not compile for this file (it names a column the file lacks, say), the
    columns are shown matched by header name so that the user can fix the mapping here.
    """
    source = open_source(path, encoding=encoding or None, delimiter=delimiter or None, sheet=sheet or None)
    problem = ""
    try:
        plan = compile_plan(mapping, source)
    except MappingError as error:
        problem = str(error)
        plan = compile_plan(Mapping(kind=mapping.kind, preset=mapping.preset), source)
    by_index = {column.index: column for column in plan.columns}
    examples: list[list[str]] = [[] for _ in plan.header]
    for number, record in enumerate(source.records()):
        if number >= 200 or all(len(values) >= EXAMPLE_VALUES for values in examples):
            break
        if not isinstance(record, Record):
            continue
        for index, text in enumerate(record.values):
            text = text.strip()
            if text and len(examples[index]) < EXAMPLE_VALUES and text not in examples[index]:
                examples[index].append(text[:80])
    columns = []
    for index, header in enumerate(plan.header):
        column = by_index.get(index)
        target = column.field if column else ""
        columns.append(
            ColumnChoice(
                index=index,
                header=header,
                target=target,
                custom_target=target if target.startswith(CUSTOM_PREFIX) else custom_target_for(header),
                reading=column.reading if column else "not imported",
                examples=examples[index],
            )
        )
    return source.info.description, columns, problem


@dataclass
class RunProgress:
    """How far a run is: rows done, and the rows the whole file holds (estimated from the bytes read)."""

    percent: int
    rows_done: int
    rows_total: int | None
    is_estimate: bool


def run_progress(run: ImportRun) -> RunProgress:
    """Rows done of the file's rows; a CSV's total is estimated from the share of its bytes read so far."""
    if run.status == "done":
        return RunProgress(percent=100, rows_done=run.rows_read, rows_total=run.rows_read, is_estimate=False)
    total = None
    if run.file_format == "xlsx" and run.progress_total:
        total = max(run.progress_total - 1, run.rows_read)  # the sheet's rows less its header
    elif run.position and run.progress_total and run.rows_read:
        total = max(run.rows_read, round(run.rows_read * run.progress_total / run.position))
    return RunProgress(
        percent=run.percent, rows_done=run.rows_read, rows_total=total, is_estimate=run.file_format != "xlsx"
    )
