"""Reads of the hand-off: a rep's queue, a team's view, acceptance and rejection reasons, MQL goal progress."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from tandem.handoff.models import (
    OPEN_STATUSES,
    Handoff,
    HandoffStatus,
    MqlGoal,
    Notification,
    RoutingBalance,
    RoutingLedgerEntry,
    TimeOff,
)
from tandem.users.models import Role, Team, User

GROUPINGS = ("campaign", "source", "segment")


def _with_related(queryset: QuerySet[Handoff]) -> QuerySet[Handoff]:
    return queryset.select_related("person", "account", "assignee", "team", "campaign")


def handoff_get(pk: int) -> Handoff:
    return _with_related(Handoff.objects.all()).get(pk=pk)


def my_handoffs(user: User) -> QuerySet[Handoff]:
    """The rep's open hand-offs, the one due first on top (those without a due time after, oldest first)."""
    return _with_related(Handoff.objects.filter(assignee=user, status__in=OPEN_STATUSES)).order_by(
        F("due_at").asc(nulls_last=True), "created_at", "pk"
    )


def team_queue(team_id: int | None) -> QuerySet[Handoff]:
    """Hand-offs waiting in a team's queue for a rep to become available, oldest first."""
    return _with_related(Handoff.objects.filter(team_id=team_id, status=HandoffStatus.QUEUED)).order_by(
        "created_at", "pk"
    )


def person_handoffs(person_id: int) -> list[Handoff]:
    return list(_with_related(Handoff.objects.filter(person_id=person_id)).order_by("-created_at", "-pk")[:5])


def handoff_ledger(handoff: Handoff) -> list[RoutingLedgerEntry]:
    return list(handoff.ledger.select_related("user", "by").order_by("at", "pk"))


def unread_notifications(user: User, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(user=user, read_at__isnull=True).order_by("-created_at", "-pk")[:limit])


def notifications(user: User, limit: int = 100) -> list[Notification]:
    return list(Notification.objects.filter(user=user).order_by("-created_at", "-pk")[:limit])


def upcoming_time_off(user: User) -> list[TimeOff]:
    """The user's time off that has not ended yet, soonest first."""
    return list(TimeOff.objects.filter(user=user, ends_at__gt=timezone.now()).order_by("starts_at")[:20])


def managed_teams(user: User) -> QuerySet[Team]:
    """The teams whose hand-offs a user oversees: their own for a manager, every sales team for RevOps/leadership."""
    if user.role in (Role.REVOPS, Role.LEADERSHIP):
        return Team.objects.filter(side="sales").order_by("name")
    return Team.objects.filter(manager=user).order_by("name")


@dataclass
class RepRow:
    """One rep in the manager's view: their open hand-offs and their fairness in each pool."""

    user: User
    open: list[Handoff] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    balances: list[RoutingBalance] = field(default_factory=list)

    @property
    def overdue(self) -> int:
        now = timezone.now()
        return sum(1 for handoff in self.open if handoff.due_at is not None and handoff.due_at < now)


@dataclass
class TeamView:
    team: Team
    reps: list[RepRow]
    queued: list[Handoff]


def team_view(team: Team, *, since: dt.datetime) -> TeamView:
    """A team's reps with their open hand-offs, decisions since `since` and fairness balances; and the queue."""
    members = list(User.objects.filter(team=team, is_active=True, role__in=(Role.SDR, Role.AE)).order_by("full_name"))
    rows = {user.pk: RepRow(user=user) for user in members}
    for handoff in _with_related(Handoff.objects.filter(assignee__in=list(rows), status__in=OPEN_STATUSES)).order_by(
        F("due_at").asc(nulls_last=True), "created_at"
    ):
        rows[handoff.assignee_id].open.append(handoff)
    decided = (
        Handoff.objects.filter(assignee__in=list(rows))
        .filter(Q(accepted_at__gte=since) | Q(rejected_at__gte=since))
        .values("assignee_id")
        .annotate(
            accepted=Count("pk", filter=Q(status=HandoffStatus.ACCEPTED)),
            rejected=Count("pk", filter=Q(status=HandoffStatus.REJECTED)),
        )
    )
    for row in decided:
        rows[row["assignee_id"]].accepted = row["accepted"]
        rows[row["assignee_id"]].rejected = row["rejected"]
    for balance in RoutingBalance.objects.filter(user__in=list(rows)).order_by("pool"):
        rows[balance.user_id].balances.append(balance)
    return TeamView(team=team, reps=list(rows.values()), queued=list(team_queue(team.pk)))


# ---------------------------------------------------------------- acceptance and rejection reasons


@dataclass
class AcceptanceRow:
    """Decisions on the hand-offs of one campaign, source or segment in a period."""

    key: str
    label: str
    accepted: int = 0
    rejected: int = 0
    pending: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def decided(self) -> int:
        return self.accepted + self.rejected

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted / (accepted + rejected); None when nothing was decided."""
        return self.accepted / self.decided if self.decided else None

    def reasons_sorted(self) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))


def acceptance_by(
    grouping: str, *, start: dt.datetime, end: dt.datetime, reason_labels: dict[str, str] | None = None
) -> list[AcceptanceRow]:
    """Acceptance rate and rejection reasons by campaign, source or segment for hand-offs decided in [start, end).

    Pending: hand-offs made in the period that are still open. Rows with the most decisions come first.
    """
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}")
    column = {"campaign": "campaign_id", "source": "source", "segment": "segment"}[grouping]
    labels = reason_labels or {}
    rows: dict[str, AcceptanceRow] = {}
    names = {}
    if grouping == "campaign":
        from tandem.campaigns.models import Campaign

        names = dict(
            Campaign.objects.filter(
                pk__in=Handoff.objects.filter(campaign__isnull=False).values("campaign_id").distinct()
            ).values_list("pk", "name")
        )

    def row_for(value) -> AcceptanceRow:
        key = "" if value is None else str(value)
        if key not in rows:
            if grouping == "campaign":
                label = names.get(value, "No campaign") if value is not None else "No campaign"
            else:
                label = key or f"No {grouping}"
            rows[key] = AcceptanceRow(key=key, label=label)
        return rows[key]

    decided = (
        Handoff.objects.filter(
            Q(status=HandoffStatus.ACCEPTED, accepted_at__gte=start, accepted_at__lt=end)
            | Q(status=HandoffStatus.REJECTED, rejected_at__gte=start, rejected_at__lt=end)
        )
        .values(column, "status", "rejection_reason")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for item in decided:
        row = row_for(item[column])
        if item["status"] == HandoffStatus.ACCEPTED:
            row.accepted += item["count"]
        else:
            row.rejected += item["count"]
            label = labels.get(item["rejection_reason"], item["rejection_reason"])
            row.reasons[label] = row.reasons.get(label, 0) + item["count"]
    pending = (
        Handoff.objects.filter(status__in=OPEN_STATUSES, created_at__gte=start, created_at__lt=end)
        .values(column)
        .annotate(count=Count("pk"))
        .order_by()
    )
    for item in pending:
        row_for(item[column]).pending += item["count"]
    return sorted(rows.values(), key=lambda row: (-row.decided, -row.pending, row.label))


def acceptance_total(rows: list[AcceptanceRow]) -> AcceptanceRow:
    total = AcceptanceRow(key="", label="All hand-offs")
    for row in rows:
        total.accepted += row.accepted
        total.rejected += row.rejected
        total.pending += row.pending
        for reason, count in row.reasons.items():
            total.reasons[reason] = total.reasons.get(reason, 0) + count
    return total


# ---------------------------------------------------------------- MQL goals


@dataclass
class GoalProgress:
    goal: MqlGoal
    actual: int
    expected_by_now: float

    @property
    def share(self) -> float:
        return self.actual / self.goal.target if self.goal.target else 0.0

    @property
    def is_on_track(self) -> bool:
        return self.actual >= self.expected_by_now


def mql_goal_progress(*, today: dt.date | None = None, limit: int = 24) -> list[GoalProgress]:
    """Each goal with the hand-offs made in its period (of its segment), and where a straight line says it should be.

    Every MQL makes a hand-off, so hand-offs made are MQLs passed to sales; days count in UTC.
    """
    today = today or timezone.now().date()
    goals = list(MqlGoal.objects.order_by("-period_start", "segment")[:limit])
    counts: dict[int, int] = defaultdict(int)
    for goal in goals:
        start = dt.datetime.combine(goal.period_start, dt.time.min, tzinfo=dt.UTC)
        end = dt.datetime.combine(goal.period_end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        queryset = Handoff.objects.filter(created_at__gte=start, created_at__lt=end)
        if goal.segment:
            queryset = queryset.filter(segment=goal.segment)
        counts[goal.pk] = queryset.count()
    progress = []
    for goal in goals:
        days = (goal.period_end - goal.period_start).days + 1
        elapsed = min(max((today - goal.period_start).days + 1, 0), days)
        progress.append(GoalProgress(goal=goal, actual=counts[goal.pk], expected_by_now=goal.target * elapsed / days))
    return progress


def segments_in_use() -> list[str]:
    return sorted(set(Handoff.objects.exclude(segment="").values_list("segment", flat=True).distinct()[:200]))
