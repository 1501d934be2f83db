"""Reads of the hand-off SLA: the section in force, first responses, time off, countdowns, reports."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db.models import Max, Min, QuerySet

from tandem.audit.models import AuditEntry
from tandem.contract.document import default_source, parse_source
from tandem.crm.models import Activity
from tandem.handoff.models import Handoff, SlaStatus, TimeOff
from tandem.lib.business_hours import Interval, add_business_days
from tandem.sla.models import SlaBreach, SlaMonthlyRollup, SlaRollupMonth
from tandem.sla.policy import SlaCalendar, SlaSection, sla_section_parse
from tandem.sla.rollup import histogram_percentile, histograms_from_bytes

TIME_OFF_HORIZON = dt.timedelta(days=400)


@functools.lru_cache(maxsize=1)
def _default_section() -> SlaSection:
    document, _ = parse_source(default_source())
    return sla_section_parse(document["sla"], document=document)


def sla_section_in_force() -> tuple[SlaSection, int]:
    """The sla section of the contract in force (the default one if that version has none) and its number."""
    from tandem.contract.selectors import active_version

    version = active_version()
    document = version.document
    if "sla" not in document:
        return _default_section(), version.number
    return sla_section_parse(document["sla"], document=document), version.number


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

GROUPINGS = {"rep": "assignee_id", "team": "team_id", "segment": "segment", "policy": "sla_policy"}
PERIODS = ("month", "quarter", "year")


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


def _period_of(month: dt.date, period: str | None) -> dt.date | None:
    if period is None:
        return None
    if period == "month":
        return month
    if period == "quarter":
        return month.replace(month=(month.month - 1) // 3 * 3 + 1)
    return month.replace(month=1)


def sla_compliance(
    *,
    group_by: str = "rep",
    period: str | None = None,
    first_month: dt.date | None = None,
    last_month: dt.date | None = None,
) -> list[ComplianceRow]:
    """SLA compliance per rep, team, segment or policy, optionally per month, quarter or year.

    Reads the monthly rollup of hand-offs created from `first_month` to `last_month` (inclusive);
    medians and p90s come from its response-time histograms (to the minute below two business hours,
    then to 5, 30 and 240 minutes).
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    rollups = SlaMonthlyRollup.objects.filter(dimension=group_by)
    if first_month is not None:
        rollups = rollups.filter(month__gte=first_month.replace(day=1))
    if last_month is not None:
        rollups = rollups.filter(month__lte=last_month.replace(day=1))
    found = list(rollups.values_list("month", "key", "handoffs", "met", "breached", "pending", "histogram"))
    if not found:
        return []
    histograms = histograms_from_bytes([row[6] for row in found])
    groups: dict[tuple, int] = {}
    index = np.array([groups.setdefault((key, _period_of(month, period)), len(groups)) for month, key, *_ in found])
    counts = np.zeros((len(groups), 4), dtype=np.int64)
    np.add.at(counts, index, np.array([row[2:6] for row in found], dtype=np.int64))
    summed = np.zeros((len(groups), histograms.shape[1]), dtype=np.int64)
    np.add.at(summed, index, histograms)
    rows = []
    for (key, period_start), position in groups.items():
        median = histogram_percentile(summed[position], 0.5)
        p90 = histogram_percentile(summed[position], 0.9)
        handoffs, met, breached, pending = (int(value) for value in counts[position])
        rows.append(
            ComplianceRow(
                key=_typed_key(group_by, key),
                period=period_start,
                handoffs=handoffs,
                met=met,
                breached=breached,
                pending=pending,
                median_response_hours=None if median is None else round(median / 60, 2),
                p90_response_hours=None if p90 is None else round(p90 / 60, 2),
            )
        )
    return sorted(rows, key=lambda row: (row.period or dt.date.min, row.key is None, str(row.key)))


def _typed_key(group_by: str, key: str):
    if group_by in ("rep", "team"):
        return int(key) if key else None
    return key


def rollup_as_of() -> dt.datetime | None:
    """When the rollup was last rebuilt (the report's "as of")."""
    return SlaRollupMonth.objects.aggregate(at=Max("refreshed_at"))["at"]


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


def months_with_handoffs() -> list[dt.date]:
    """The first day of every month (UTC) in which a hand-off with a clock was created."""
    from django.db.models.functions import TruncMonth

    months = (
        Handoff.objects.filter(sla_status__isnull=False)
        .annotate(month=TruncMonth("created_at", tzinfo=dt.UTC))
        .values_list("month", flat=True)
        .distinct()
    )
    return sorted({month.date() if isinstance(month, dt.datetime) else month for month in months})


@dataclass(frozen=True)
class AttemptsProgress:
    """The attempts rule of a hand-off's policy: how many contact attempts, by when."""

    required: int
    made: int
    deadline: dt.datetime

    @property
    def is_met(self) -> bool:
        return self.made >= self.required

    def is_overdue(self, now: dt.datetime) -> bool:
        return not self.is_met and now >= self.deadline


def handoff_attempts(handoff: Handoff) -> AttemptsProgress | None:
    """The assignee's contact attempts (calls, emails, meetings on the person) within the policy's business days."""
    if not handoff.sla_policy or handoff.assignee_id is None or handoff.routed_at is None:
        return None
    section, _ = sla_section_in_force()
    policy = next((policy for policy in section.policies if policy.key == handoff.sla_policy), None)
    if policy is None or policy.attempts is None:
        return None
    team_name = handoff.assignee.team.name if handoff.assignee.team_id else None
    calendar = team_calendar(section, team_name).calendar
    time_off = handoff_time_off(user_ids=[handoff.assignee_id], since=handoff.routed_at).get(handoff.assignee_id, ())
    deadline = add_business_days(calendar, handoff.routed_at, policy.attempts.within_business_days, time_off=time_off)
    made = Activity.objects.filter(
        person_id=handoff.person_id,
        user_id=handoff.assignee_id,
        kind__in=section.response_activities or ("call", "email", "meeting"),
        occurred_at__gte=handoff.routed_at,
        occurred_at__lte=deadline,
    ).count()
    return AttemptsProgress(required=policy.attempts.count, made=made, deadline=deadline)
