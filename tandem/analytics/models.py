"""The scorecard's own data: revenue targets, daily snapshots, saved views and digest subscriptions."""

from django.conf import settings
from django.db import models


class RevenueTarget(models.Model):
    """The shared revenue target for a period, set by RevOps or leadership."""

    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    amount = models.DecimalField(max_digits=16, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(fields=["period_start", "period_end"], name="revenue_target_period"),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")), name="revenue_target_period_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} for {self.period_start}–{self.period_end}"


class ScorecardSnapshot(models.Model):
    """The scorecard of one period as it stood on one day, for one view (blank for the unfiltered view).

    Written daily for the period in progress and when a closed period is first looked at, so that the
    previous period and the sparklines show what was true then rather than being recomputed from today's data.
    """

    view_key = models.CharField(max_length=64, blank=True, help_text="Hash of the filters; blank for none.")
    period_kind = models.CharField(max_length=10)
    period_start = models.DateField()
    period_end = models.DateField(help_text="Exclusive.")
    as_of = models.DateField()
    values = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["view_key", "period_start", "as_of"]
        constraints = [
            models.UniqueConstraint(
                fields=["view_key", "period_kind", "period_start", "period_end", "as_of"], name="scorecard_snapshot_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.view_key or 'all'} {self.period_kind} {self.period_start} as of {self.as_of}"


class PipelineSnapshot(models.Model):
    """Open pipeline by stage and forecast category as it stood at the end of one day."""

    as_of = models.DateField()
    stage = models.ForeignKey("crm.OpportunityStage", on_delete=models.CASCADE, related_name="+")
    forecast_category = models.CharField(max_length=20)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    count = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    weighted_amount = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        ordering = ["as_of", "stage__position", "forecast_category"]
        indexes = [models.Index(fields=["as_of"], name="pipeline_snapshot_day")]

    def __str__(self) -> str:
        return f"{self.as_of} {self.stage_id}/{self.forecast_category}: {self.count}"


class SavedView(models.Model):
    """A named set of scorecard filters, the user's own or shared with everyone."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scorecard_views")
    page = models.CharField(max_length=30, default="scorecard", help_text="Which scorecard page it opens.")
    query = models.CharField(max_length=1000, help_text="The page's query string.")
    is_shared = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="saved_view_owner_name")]

    def __str__(self) -> str:
        return self.name


class DigestSubscription(models.Model):
    """A user who receives the weekly scorecard digest by email, optionally of one saved view."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scorecard_digest")
    view = models.ForeignKey(SavedView, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    last_sent_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Digest for {self.user_id}"
