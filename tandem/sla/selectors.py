"""Reads of the hand-off SLA: the section in force, first responses, time off, countdowns, reports."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Min, QuerySet

from tandem.audit.models import AuditEntry
from tandem.contract.document import default_source, parse_source
from tandem.crm.models import Activity
from tandem.handoff.models import Handoff, SlaStatus, TimeOff
from tandem.lib.business_hours import Interval
from tandem.sla.models import SlaBreach
from tandem.sla.policy import SlaCalendar, SlaSection, sla_section_parse

TIME_OFF_HORIZON = dt.timedelta(days=400)


@functools.lru_cache(maxsize=1)
def _default_section() -> SlaSection:
    document, _ = parse_source(default_source())
    return sla_section_parse(document["sla"], document=document)


@functools.lru_cache(maxsize=8)
def _section_of(version_id: int, updated_at: dt.datetime) -> SlaSection | None:
    from tandem.contract.models import ContractVersion

    document = ContractVersion.objects.get(pk=version_id).document
    return sla_section_parse(document["sla"], document=document) if "sla" in document else None


def sla_section_in_force() -> tuple[SlaSection, int]:
    """The sla section of the contract in force (the default one if that version has none) and its number."""
    from tandem.contract.selectors import active_version

    version = active_version()
    section = _section_of(version.pk, version.updated_at)
    return (section or _default_section()), version.number


def team_calendar(section: SlaSection, team_name: str | None) -> SlaCalendar:
    """The calendar a team works by."""
    return section.calendar_for_team(team_name)


def handoff_time_off(*, user_ids: Iterable[int], since: dt.datetime | None) -> dict[int, list[Interval]]:
    """Each user's time off that ends after `since`, as (start, end) intervals."""
    ids = [user_id for user_id in user_ids if user_id is not None]
    if not ids or since is None:
        return {}
    found: dict[int, list[Interval]] = defaultdict(list)
    rows = TimeOff.objects.filter(user_id__in=ids, ends_at__gt=since, starts_at__lt=since + TIME_OFF_HORIZON)
    for user_id, starts_at, ends_at in rows.values_list("user_id", "starts_at", "ends_at"):
        found[user_id].append((starts_at, ends_at))
    return found


def first_responses(handoffs: Sequence[Handoff], section: SlaSection) -> dict[int, dt.datetime]:
    """The first response to each hand-off since its assignee got it, by hand-off id.

    A response is a logged activity of the kinds the contract names, a move of the person's lead
    status to one it names (from the audit log), or the hand-off being accepted or rejected.
    """
    starts = {handoff.pk: handoff.routed_at or handoff.created_at for handoff in handoffs}
    by_person: dict[int, list[Handoff]] = defaultdict(list)
    for handoff in handoffs:
        by_person[handoff.person_id].append(handoff)
    earliest: dict[int, dt.datetime] = {}

    def offer(handoff_id: int, at: dt.datetime) -> None:
        if at >= starts[handoff_id] and (handoff_id not in earliest or at < earliest[handoff_id]):
            earliest[handoff_id] = at

    for handoff in handoffs:
        for decided in (handoff.accepted_at, handoff.rejected_at):
            if decided is not None:
                offer(handoff.pk, decided)
    if not handoffs:
        return earliest
    since = min(starts.values())
    if section.response_activities:
        activities = Activity.objects.filter(
            person_id__in=list(by_person),
            kind__in=section.response_activities,
            occurred_at__gte=since,
            user__isnull=False,
        ).values_list("person_id", "occurred_at")
        for person_id, occurred_at in activities:
            for handoff in by_person[person_id]:
                offer(handoff.pk, occurred_at)
    if section.response_lead_statuses:
        moves = AuditEntry.objects.filter(
            entity_type="crm.person",
            entity_id__in=list(by_person),
            at__gte=since,
            after__lead_status__in=list(section.response_lead_statuses),
        ).values_list("entity_id", "at")
        for person_id, at in moves:
            for handoff in by_person[person_id]:
                offer(handoff.pk, at)
    return earliest


# ---------------------------------------------------------------- countdown


@dataclass(frozen=True)
class Countdown:
    """What the countdown shows for one hand-off at one moment."""

    status: str  # pending, met, breached, or "" when the hand-off has no clock
    due_at: dt.datetime | None
    seconds_left: int  # negative once overdue
    response_business_minutes: float | None

    @property
    def label(self) -> str:
        if self.status == SlaStatus.MET:
            return f"Met · answered in {_business_text(self.response_business_minutes)}"
        if self.status == SlaStatus.BREACHED:
            return f"Breached · overdue by {_duration_text(-self.seconds_left)}"
        if self.status == SlaStatus.PENDING:
            if self.seconds_left <= 0:
                return "Due now"
            return f"Due in {_duration_text(self.seconds_left)}"
        return "No SLA clock"


def _duration_text(seconds: int) -> str:
    seconds = max(0, seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def _business_text(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    if minutes < 60:
        return f"{minutes:.0f} business min"
    return f"{minutes / 60:.1f} business h"


def handoff_countdown(handoff: Handoff, *, now: dt.datetime) -> Countdown:
    """The countdown of one hand-off: wall-clock time left to its due time (business time is in due_at)."""
    seconds = int((handoff.due_at - now).total_seconds()) if handoff.due_at else 0
    return Countdown(
        status=handoff.sla_status or "",
        due_at=handoff.due_at,
        seconds_left=seconds,
        response_business_minutes=handoff.response_business_minutes,
    )


# ---------------------------------------------------------------- reports


GROUPINGS = {
    "rep": "assignee_id",
    "team": "team_id",
    "segment": "segment",
    "policy": "sla_policy",
}
PERIODS = ("day", "week", "month", "quarter")


@dataclass(frozen=True)
class ComplianceRow:
    """SLA compliance of one group: met / (met + breached), and response times in business hours."""

    key: object
    period: dt.date | None
    handoffs: int
    met: int
    breached: int
    pending: int
    median_response_hours: float | None
    p90_response_hours: float | None

    @property
    def compliance(self) -> float | None:
        decided = self.met + self.breached
        return self.met / decided if decided else None


def sla_compliance(
    *,
    group_by: str = "rep",
    period: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> list[ComplianceRow]:
    """SLA compliance per rep, team, segment or policy (optionally per period) of hand-offs created in [start, end).

    On PostgreSQL one aggregate query with percentile_cont; elsewhere the same figures computed in Python.
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    if connection.vendor == "postgresql":
        return _compliance_postgres(GROUPINGS[group_by], period, start, end)
    return _compliance_python(GROUPINGS[group_by], period, start, end)


def _compliance_postgres(column: str, period: str | None, start, end) -> list[ComplianceRow]:
    where, params = ["sla_status IS NOT NULL"], []
    if start is not None:
        where.append("created_at >= %s")
        params.append(start)
    if end is not None:
        where.append("created_at < %s")
        params.append(end)
    period_sql = f"date_trunc('{period}', created_at AT TIME ZONE 'UTC')::date" if period else "NULL::date"
    sql = f"""
        SELECT {column} AS key, {period_sql} AS period, count(*),
               count(*) FILTER (WHERE sla_status = 'met'),
               count(*) FILTER (WHERE sla_status = 'breached'),
               count(*) FILTER (WHERE sla_status = 'pending'),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY response_business_minutes),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY response_business_minutes)
        FROM handoff_handoff
        WHERE {" AND ".join(where)}
        GROUP BY 1, 2
        ORDER BY 2 NULLS FIRST, 1 NULLS LAST
    """  # noqa: S608 - column and period come from fixed tables above
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        ComplianceRow(
            key=key,
            period=period_value,
            handoffs=total,
            met=met,
            breached=breached,
            pending=pending,
            median_response_hours=None if median is None else round(median / 60, 2),
            p90_response_hours=None if p90 is None else round(p90 / 60, 2),
        )
        for key, period_value, total, met, breached, pending, median, p90 in rows
    ]


def _period_start(at: dt.datetime, period: str | None) -> dt.date | None:
    if period is None:
        return None
    day = at.astimezone(dt.UTC).date()
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear-interpolated percentile, as PostgreSQL's percentile_cont computes it."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _compliance_python(column: str, period: str | None, start, end) -> list[ComplianceRow]:
    handoffs = Handoff.objects.filter(sla_status__isnull=False)
    if start is not None:
        handoffs = handoffs.filter(created_at__gte=start)
    if end is not None:
        handoffs = handoffs.filter(created_at__lt=end)
    groups: dict[tuple, dict] = {}
    for key, created_at, status, minutes in handoffs.values_list(
        column, "created_at", "sla_status", "response_business_minutes"
    ).iterator(chunk_size=5000):
        group = groups.setdefault(
            (key, _period_start(created_at, period)), {"total": 0, "met": 0, "breached": 0, "pending": 0, "minutes": []}
        )
        group["total"] += 1
        group[status] += 1
        if minutes is not None:
            group["minutes"].append(minutes)
    rows = []
    for (key, period_value), group in groups.items():
        median, p90 = percentile(group["minutes"], 0.5), percentile(group["minutes"], 0.9)
        rows.append(
            ComplianceRow(
                key=key,
                period=period_value,
                handoffs=group["total"],
                met=group["met"],
                breached=group["breached"],
                pending=group["pending"],
                median_response_hours=None if median is None else round(median / 60, 2),
                p90_response_hours=None if p90 is None else round(p90 / 60, 2),
            )
        )
    return sorted(
        rows, key=lambda row: (row.period or dt.date.min, row.key is None, row.key if row.key is not None else "")
    )


def breach_log(*, team_id: int | None = None, assignee_id: int | None = None) -> QuerySet[SlaBreach]:
    """The breach log, newest first, with what a page shows joined in."""
    breaches = SlaBreach.objects.select_related("handoff__person", "assignee", "manager", "team", "reassigned_to")
    if team_id is not None:
        breaches = breaches.filter(team_id=team_id)
    if assignee_id is not None:
        breaches = breaches.filter(assignee_id=assignee_id)
    return breaches.order_by("-breached_at", "-id")


def earliest_pending_due() -> dt.datetime | None:
    """The next due time of any running clock (for the worker health page)."""
    return Handoff.objects.filter(sla_status=SlaStatus.PENDING).aggregate(due=Min("due_at"))["due"]
