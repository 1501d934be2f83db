"""The hand-off: one MQL passed to sales, who it was routed to and why, and what sales decided."""

from django.conf import settings
from django.db import models


class HandoffStatus(models.TextChoices):
    QUEUED = "queued", "Waiting in the team queue"
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


OPEN_STATUSES = (HandoffStatus.QUEUED, HandoffStatus.PENDING)


class SlaStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    MET = "met", "Met"
    BREACHED = "breached", "Breached"


class RejectionOutcome(models.TextChoices):
    RECYCLED = "recycled", "Recycled"
    DISQUALIFIED = "disqualified", "Disqualified"


class Handoff(models.Model):
    """One MQL passed to sales: routed to a rep (or waiting in a team queue) until accepted or rejected.

    The segment, ICP tier, source and campaign are the person's when the hand-off was made, so that
    reports keep attributing a decision to where the lead came from even after the record changes.
    """

    person = models.ForeignKey("crm.Person", on_delete=models.CASCADE, related_name="handoffs")
    account = models.ForeignKey("crm.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    team = models.ForeignKey("users.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs")
    status = models.CharField(max_length=20, choices=HandoffStatus.choices, default=HandoffStatus.QUEUED)
    # Why it went where it went: the routing rule that matched and, in words, how the rep was chosen.
    routing_rule = models.CharField(max_length=100, blank=True)
    routing_reason = models.CharField(max_length=500, blank=True)
    contract_version = models.PositiveIntegerField(null=True, blank=True)
    segment = models.CharField(max_length=80, blank=True, help_text="The MQL segment the person qualified in.")
    icp_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=100, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    mql_stage_change = models.OneToOneField(
        "crm.StageChange", null=True, blank=True, on_delete=models.SET_NULL, related_name="handoff"
    )
    created_at = models.DateTimeField()
    routed_at = models.DateTimeField(null=True, blank=True, help_text="When the current assignee got it.")
    accepted_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejection_reason = models.CharField(max_length=40, blank=True, help_text="A key of the contract's list.")
    rejection_outcome = models.CharField(max_length=20, choices=RejectionOutcome.choices, blank=True)
    rejection_note = models.TextField(blank=True)
    # The clock, driven by the SLA policies of the contract.
    sla_policy = models.CharField(max_length=100, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    sla_status = models.CharField(max_length=20, choices=SlaStatus.choices, null=True, blank=True)
    # Stored when the first response is logged, so compliance reports are a plain aggregate.
    response_business_minutes = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open hand-off per person: routing the same MQL twice finds the first.
            models.UniqueConstraint(
                fields=["person"],
                condition=models.Q(status__in=["queued", "pending"]),
                name="handoff_one_open_per_person",
            ),
        ]
        indexes = [
            models.Index(fields=["assignee", "status", "due_at"], name="handoff_assignee_queue"),
            models.Index(fields=["team", "status", "created_at"], name="handoff_team_queue"),
            models.Index(fields=["status", "due_at"], name="handoff_status_due"),
            models.Index(fields=["created_at"], name="handoff_created"),
        ]

    def __str__(self) -> str:
        return f"Hand-off of person {self.person_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class LedgerKind(models.TextChoices):
    ROUTED = "routed", "Routed"
    EXPECTED = "expected", "Share by weight"
    REASSIGNED_IN = "reassigned_in", "Reassigned to"
    REASSIGNED_OUT = "reassigned_out", "Reassigned away"


class RoutingLedgerEntry(models.Model):
    """One line of a rep's fairness ledger in one routing pool.

    The rep a lead is routed to gets a line with `assigned` 1. Every rep who could have taken a lead is
    credited their share by weight among those available (`expected`), summed per routing call into one
    line per pool and rep (a call routing one lead links that line to its hand-off). A reassignment
    moves the lead (-1 from one rep, +1 to the other) without changing what was expected. A rep's
    fairness is the sum over their lines, whichever team they were in at the time.
    """

    pool = models.CharField(max_length=100, help_text="The routing rule whose reps shared the lead.")
    # An append-only ledger written in bulk: its foreign keys carry no database constraint (a burst of
    # 10,000 leads skips their trigger checks at commit); deleting a user or hand-off still reaches it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_constraint=False, related_name="routing_ledger"
    )
    handoff = models.ForeignKey(
        Handoff, null=True, blank=True, on_delete=models.SET_NULL, db_constraint=False, related_name="ledger"
    )
    team = models.ForeignKey(
        "users.Team", null=True, blank=True, on_delete=models.SET_NULL, db_constraint=False, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=LedgerKind.choices)
    weight = models.FloatField(default=1)
    expected = models.FloatField(default=0)
    assigned = models.SmallIntegerField(default=0)
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "routing ledger entries"
        indexes = [models.Index(fields=["user", "pool", "at"], name="routing_ledger_user_pool")]

    def __str__(self) -> str:
        return f"{self.pool}: {self.kind} {self.user_id} ({self.assigned:+d}, expected {self.expected:.3f})"


class RoutingBalance(models.Model):
    """A rep's running totals in one pool: the sum of their ledger lines, kept so routing reads one row."""

    pool = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    assigned = models.IntegerField(default=0)
    expected = models.FloatField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pool", "user"], name="routing_balance_pool_user")]

    def __str__(self) -> str:
        return f"{self.pool}: user {self.user_id} assigned {self.assigned}, expected {self.expected:.2f}"

    @property
    def deficit(self) -> float:
        """Leads the rep is owed (positive) or has had beyond their share (negative)."""
        return self.expected - self.assigned


class TimeOff(models.Model):
    """A period a user is away: routing skips them, and their business hours stop."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["starts_at", "id"]
        verbose_name_plural = "time off"
        indexes = [models.Index(fields=["user", "ends_at"], name="time_off_user_end")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="time_off_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} away {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """An in-app message to one user; the dedupe key makes sending the same news twice a no-op."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    text = models.CharField(max_length=500)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}: {self.text[:40]}"


class MqlGoal(models.Model):
    """How many MQLs marketing commits to pass to sales in a period, overall or for one segment."""

    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    segment = models.CharField(max_length=80, blank=True, help_text="An MQL segment; blank for all.")
    target = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-period_start", "segment"]
        constraints = [
            models.UniqueConstraint(fields=["period_start", "period_end", "segment"], name="mql_goal_period_segment"),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")), name="mql_goal_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target} MQLs {self.period_start}–{self.period_end} {self.segment or 'all segments'}"
