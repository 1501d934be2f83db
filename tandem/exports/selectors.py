"""Reads for exports: the rows of a list, with the list's filters, in id order, streamed in chunks.

Rows come from one `values_list` query per export with its joins (never one query per row) and
are read through a database cursor `CHUNK_ROWS` at a time, so memory stays flat at any size.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet

from tandem.campaigns.models import Channel
from tandem.crm import selectors as crm_selectors
from tandem.crm.models import ForecastCategory
from tandem.crm.selectors import AccountFilters, OpportunityFilters, PersonFilters
from tandem.engagement.models import Touchpoint, TouchpointType
from tandem.exports.cells import BOOLEAN, DATE, DATETIME, JSON, NUMBER, TEXT
from tandem.exports.models import ExportKind

CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class Column:
    """One exported column: its header, the ORM path it reads and how its values are written."""

    header: str
    source: str
    kind: str = TEXT


def _columns(*specs) -> list[Column]:
    return [Column(*spec) if isinstance(spec, tuple) else Column(spec, spec) for spec in specs]


# The importer maps these header names automatically: keep names and order stable.
COLUMNS = {
    ExportKind.ACCOUNTS: _columns(
        ("id", "id", NUMBER),
        "external_id",
        "name",
        "domain",
        "industry",
        ("employee_count", "employee_count", NUMBER),
        ("annual_revenue", "annual_revenue", NUMBER),
        "country",
        "region",
        ("owner_email", "owner__email"),
        ("icp_tier", "icp_tier", NUMBER),
        ("is_target_account", "is_target_account", BOOLEAN),
        ("lifecycle_stage", "lifecycle_stage_id"),
        ("created_at", "created_at", DATETIME),
    ),
    ExportKind.PEOPLE: _columns(
        ("id", "id", NUMBER),
        "external_id",
        "email",
        "first_name",
        "last_name",
        "title",
        "phone",
        ("account_external_id", "account__external_id"),
        ("account_domain", "account__domain"),
        ("account_name", "account__name"),
        ("lifecycle_stage", "lifecycle_stage_id"),
        ("lead_status", "lead_status_id"),
        ("owner_email", "owner__email"),
        "source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        ("fit_score", "scores__fit_score", NUMBER),
        ("engagement_score", "scores__engagement_score", NUMBER),
        ("predictive_score", "predictive_score", NUMBER),
        "buying_role",
        ("consent_email", "consent_email", BOOLEAN),
        ("consent_tracking", "consent_tracking", BOOLEAN),
        ("created_at", "created_at", DATETIME),
    ),
    ExportKind.OPPORTUNITIES: _columns(
        ("id", "id", NUMBER),
        "external_id",
        "name",
        ("account_external_id", "account__external_id"),
        ("account_domain", "account__domain"),
        ("account_name", "account__name"),
        ("primary_person_email", "primary_person__email"),
        ("amount", "amount", NUMBER),
        "currency",
        ("stage", "stage_id"),
        ("probability", "probability", NUMBER),
        "forecast_category",
        ("close_date", "close_date", DATE),
        ("owner_email", "owner__email"),
        "lost_reason",
        ("source_campaign", "source_campaign__name"),
        ("created_at", "created_at", DATETIME),
    ),
    ExportKind.TOUCHPOINTS: _columns(
        ("id", "id", NUMBER),
        "client_event_id",
        ("person_email", "person__email"),
        ("person_external_id", "person__external_id"),
        "anonymous_id",
        "type",
        "channel",
        ("campaign", "campaign__name"),
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "url",
        "referrer",
        ("occurred_at", "occurred_at", DATETIME),
        ("properties", "properties", JSON),
    ),
}
KINDS_WITH_CUSTOM_FIELDS = {ExportKind.ACCOUNTS, ExportKind.PEOPLE, ExportKind.OPPORTUNITIES}
CUSTOM_PREFIX = "custom."


@dataclass
class TouchpointFilters:
    """Filters of a touchpoint export; empty values filter nothing."""

    person_id: int | None = None
    campaign_id: int | None = None
    type: str = ""
    channel: str = ""
    occurred_from: dt.datetime | None = None
    occurred_until: dt.datetime | None = None


Filters = PersonFilters | AccountFilters | OpportunityFilters | TouchpointFilters
FILTER_CLASSES = {
    ExportKind.ACCOUNTS: AccountFilters,
    ExportKind.PEOPLE: PersonFilters,
    ExportKind.OPPORTUNITIES: OpportunityFilters,
    ExportKind.TOUCHPOINTS: TouchpointFilters,
}


@dataclass(frozen=True)
class ExportRows:
    """What an export writes: its header, and its rows of typed values in header order.

    `values` is the `values_list` query of the rows, in id order; `custom_keys` are the
    custom-field keys present in them, whose values arrive as one dict at the end of each row
    (`kinds` describes the columns before it).
    """

    header: list[str]
    kinds: list[str]
    custom_keys: list[str]
    values: QuerySet = field(repr=False)
    # The filtered records in id order, and the ORM paths of the columns, for other row shapes.
    queryset: QuerySet = field(repr=False)
    sources: list[str] = field(repr=False)

    def iterate(self) -> Iterator[tuple]:
        """The rows, read through a database cursor CHUNK_ROWS at a time."""
        return self.values.iterator(chunk_size=CHUNK_ROWS)


def _check_known(values: list[str], known: list[str], name: str) -> None:
    unknown = [value for value in values if value not in known]
    if unknown:
        raise ValidationError({name: f"Unknown {name} '{unknown[0]}'; expected one of {', '.join(known)}."})


def check_filters(kind: str, filters: Filters) -> None:
    """Refuse unknown keys in the filters (a stage, status, type...), naming the field."""
    if not isinstance(filters, FILTER_CLASSES[ExportKind(kind)]):
        raise TypeError(f"{type(filters).__name__} are not the filters of {kind}")
    if isinstance(filters, PersonFilters):
        stage_keys = [stage.key for stage in crm_selectors.lifecycle_stages()]
        _check_known(filters.stages, stage_keys, "stage")
        _check_known([key for key in (filters.entered_stage, filters.reached_stage) if key], stage_keys, "entered")
        if filters.lead_status:
            _check_known([filters.lead_status], [status.key for status in crm_selectors.lead_statuses()], "lead_status")
    elif isinstance(filters, OpportunityFilters):
        _check_known(filters.stages, [stage.key for stage in crm_selectors.opportunity_stages()], "stage")
        if filters.forecast_category:
            _check_known([filters.forecast_category], list(ForecastCategory.values), "forecast_category")
    elif isinstance(filters, TouchpointFilters):
        if filters.type:
            _check_known([filters.type], list(TouchpointType.values), "type")
        if filters.channel:
            _check_known([filters.channel], list(Channel.values), "channel")


def filters_summary(filters: Filters) -> dict:
    """The filters that are set, as JSON-ready values: what the audit log records."""
    summary = {}
    for item in fields(filters):
        value = getattr(filters, item.name)
        if value in (None, "", [], False):
            continue
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        summary[item.name] = value
    return summary


def _accounts(filters: AccountFilters) -> QuerySet:
    # The conditions of the accounts list, without its sort and page.
    return crm_selectors.account_queryset(filters)


def _opportunities(filters: OpportunityFilters) -> QuerySet:
    # The conditions of the opportunities list, without its sort and page.
    return crm_selectors.opportunity_queryset(filters)


def _touchpoints(filters: TouchpointFilters) -> QuerySet:
    query = Touchpoint.objects.all()
    if filters.person_id is not None:
        query = query.filter(person_id=filters.person_id)
    if filters.campaign_id is not None:
        query = query.filter(campaign_id=filters.campaign_id)
    if filters.type:
        query = query.filter(type=filters.type)
    if filters.channel:
        query = query.filter(channel=filters.channel)
    if filters.occurred_from is not None:
        query = query.filter(occurred_at__gte=filters.occurred_from)
    if filters.occurred_until is not None:
        query = query.filter(occurred_at__lt=filters.occurred_until)
    return query


def export_queryset(kind: str, filters: Filters) -> QuerySet:
    """The records of one list with its filters, in id order: stable, and the order they were created."""
    kind = ExportKind(kind)
    if kind == ExportKind.PEOPLE:
        query = crm_selectors.person_queryset(filters)
    elif kind == ExportKind.ACCOUNTS:
        query = _accounts(filters)
    elif kind == ExportKind.OPPORTUNITIES:
        query = _opportunities(filters)
    else:
        query = _touchpoints(filters)
    return query.order_by("id")


def export_count(kind: str, filters: Filters) -> int:
    return export_queryset(kind, filters).count()


# Each database enumerates the keys of the JSON objects itself; ROWS is the filtered list's query.
_CUSTOM_KEYS_SQL = {
    "postgresql": (
        "SELECT DISTINCT key FROM (ROWS) AS exported CROSS JOIN LATERAL jsonb_object_keys("
        "CASE WHEN jsonb_typeof(exported.custom_fields) = 'object' THEN exported.custom_fields ELSE '{}'::jsonb END"
        ") AS key"
    ),
    "sqlite": (
        "SELECT DISTINCT entry.key FROM (ROWS) AS exported, json_each("
        "CASE WHEN json_type(exported.custom_fields) = 'object' THEN exported.custom_fields ELSE '{}' END"
        ") AS entry"
    ),
}


def custom_field_keys(queryset: QuerySet) -> list[str]:
    """The keys used in the `custom_fields` of the rows of `queryset`, sorted; one query, no rows read here."""
    rows_sql, params = queryset.order_by().values("custom_fields").query.sql_with_params()
    # The inner query is compiled by the ORM and its values travel as parameters.
    sql = _CUSTOM_KEYS_SQL[connection.vendor].replace("ROWS", rows_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(str(row[0]) for row in cursor.fetchall())


def export_rows(kind: str, filters: Filters) -> ExportRows:
    """The header and the rows of one list; iterate the rows inside `read_snapshot()`."""
    kind = ExportKind(kind)
    columns = COLUMNS[kind]
    queryset = export_queryset(kind, filters)
    custom_keys = custom_field_keys(queryset) if kind in KINDS_WITH_CUSTOM_FIELDS else []
    sources = [column.source for column in columns]
    return ExportRows(
        header=[column.header for column in columns] + [CUSTOM_PREFIX + key for key in custom_keys],
        kinds=[column.kind for column in columns],
        custom_keys=custom_keys,
        values=queryset.values_list(*sources, *(["custom_fields"] if custom_keys else [])),
        queryset=queryset,
        sources=sources,
    )


@contextmanager
def read_snapshot():
    """One consistent view of the data for a whole export: its count, custom-field keys and rows agree.

    On PostgreSQL a read-only repeatable-read transaction (which also lets the cursor stream rather
    than materialise its result). On SQLite a deferred transaction: Django opens SQLite transactions
    IMMEDIATE, which would hold the write lock for as long as the export runs.
    """
    if connection.vendor == "postgresql":
        is_outermost = not connection.in_atomic_block
        # Inside a caller's transaction this is a savepoint, so an export cut short leaves it usable.
        with transaction.atomic():
            with connection.cursor() as cursor:
                if is_outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # Rows stream out in id order through simple expressions: compiling them (JIT) and
                # merging parallel workers' rows back into order cost more than they save.
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                # The text form of dates and times that tandem/exports/postgres.py builds cells from.
                cursor.execute("SET LOCAL DateStyle = 'ISO'")
                cursor.execute("SET LOCAL TimeZone = 'UTC'")
            yield
    elif connection.in_atomic_block:
        with transaction.atomic():
            yield
    elif connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")
    else:  # pragma: no cover
        yield
