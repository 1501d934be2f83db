"""The hand-off SLA's records: breaches and every notice sent about them, each at most once."""

from django.conf import settings
from django.db import models


class SlaBreach(models.Model):
    """A hand-off whose due time passed without a first response: the breach log."""

    handoff = models.ForeignKey("handoff.Handoff", on_delete=models.CASCADE, related_name="sla_breaches")
    policy = models.CharField(max_length=100)
    due_at = models.DateTimeField()
    breached_at = models.DateTimeField(help_text="When the clock noticed the breach.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sla_breaches"
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey("users.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    segment = models.CharField(max_length=80, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True, help_text="Escalated then unless answered first.")
    escalated_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True, help_text="The late first response, if any.")
    reassigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reassigned_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-breached_at", "-id"]
        constraints = [
            # The due-time task, the sweep and a restarted worker may all find the same breach.
            models.UniqueConstraint(fields=["handoff", "due_at"], name="sla_breach_once_per_due_time")
        ]
        indexes = [
            models.Index(fields=["breached_at"], name="sla_breach_breached"),
            models.Index(fields=["escalated_at", "escalate_at"], name="sla_breach_to_escalate"),
        ]

    def __str__(self) -> str:
        return f"Hand-off {self.handoff_id} breached {self.policy} (due {self.due_at:%Y-%m-%d %H:%M})"


class SlaEvent(models.TextChoices):
    BREACH = "breach", "Breach"
    ESCALATION = "escalation", "Escalation"


class Channel(models.TextChoices):
    IN_APP = "in_app", "In the app"
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed, will retry"
    ABANDONED = "abandoned", "Abandoned after retries"


class SlaDelivery(models.Model):
    """One notice about a breach to one recipient on one channel; the dedupe key makes it unique."""

    breach = models.ForeignKey(SlaBreach, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=20, choices=SlaEvent.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dedupe_key = models.CharField(max_length=200, unique=True)
    text = models.CharField(max_length=500)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "SLA deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="sla_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} {self.channel} of breach {self.breach_id} ({self.status})"


class SlaMonthlyRollup(models.Model):
    """One month's SLA figures for one rep, team, segment or policy, so reports read a few rows.

    Derived data: rebuilt from the hand-offs created in the month (see services.sla_rollup_refresh).
    `histogram` counts answered hand-offs per response-time bucket (rollup.RESPONSE_BUCKETS).
    """

    month = models.DateField(help_text="The first day of the month the hand-offs were created in (UTC).")
    dimension = models.CharField(max_length=10)
    key = models.CharField(max_length=100, blank=True)
    handoffs = models.PositiveIntegerField(default=0)
    met = models.PositiveIntegerField(default=0)
    breached = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0)
    histogram = models.BinaryField(help_text="Answered hand-offs per response bucket, uint32 each (sla.rollup).")

    class Meta:
        ordering = ["month", "dimension", "key"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "month", "key"], name="sla_rollup_dimension_month_key")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.dimension} {self.key}: {self.met} met, {self.breached} breached"


class SlaRollupMonth(models.Model):
    """A month whose rollup must be rebuilt (dirty) and when it last was."""

    month = models.DateField(primary_key=True)
    is_dirty = models.BooleanField(default=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} ({'dirty' if self.is_dirty else 'fresh'})"
