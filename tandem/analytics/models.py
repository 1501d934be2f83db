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
    is_rebuilt = models.BooleanField(
        default=False, help_text="Derived afterwards from the opportunities' stage history, not taken that day."
    )

    class Meta:
        ordering = ["as_of", "stage__position", "forecast_category"]
        indexes = [models.Index(fields=["as_of"], name="pipeline_snapshot_day")]

    def __str__(self) -> str:
        return f"{self.as_of} {self.stage_id}/{self.forecast_category}: {self.count}"


class StageEntry(models.Model):
    """One person's entry into a main lifecycle stage, with where the person went from there.

    A rollup of StageChange kept by services.stage_entries_*: the funnel, conversion, cohort and trend
    views read it instead of walking each person's stage history per request. The segment columns copy
    the person's owner, the owner's team and the account's ICP tier, industry and region, so that a
    filtered view needs no join.
    """

    stage_change = models.OneToOneField("crm.StageChange", on_delete=models.CASCADE, primary_key=True, related_name="+")
    person = models.ForeignKey("crm.Person", on_delete=models.CASCADE, related_name="+", db_index=False)
    stage = models.CharField(max_length=40)
    entered_at = models.DateTimeField()
    previous_entry_at = models.DateTimeField(
        null=True, blank=True, help_text="The person's previous entry into the same stage; empty for the first."
    )
    furthest_position = models.PositiveSmallIntegerField(
        help_text="The highest main-stage position the person entered at or after this entry."
    )
    next_reached_at = models.DateTimeField(
        null=True, blank=True, help_text="First entry at or after this one into the next main stage or a later one."
    )
    customer_reached_at = models.DateTimeField(
        null=True, blank=True, help_text="First entry at or after this one into Customer or a later main stage."
    )
    owner_id = models.BigIntegerField(null=True, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True)
    icp_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=50, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["stage", "entered_at"], name="stage_entry_window"),
            models.Index(fields=["person"], name="stage_entry_person"),
            models.Index(fields=["owner_id", "stage", "entered_at"], name="stage_entry_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} entered {self.stage} at {self.entered_at:%Y-%m-%d}"


class StageEntryBlock(models.Model):
    """The stage entries of one main stage and one calendar month, as packed arrays (numpy, little-endian).

    The analysis views read whole blocks and filter and count in numpy: a year of entries is a few dozen
    rows rather than millions. Rebuilt from StageEntry whenever one of its entries changes. Times are
    seconds since the epoch (NaN: none), durations days; owner, team and tier are -1 when unknown;
    industry and region are numbered by `labels`.
    """

    stage = models.CharField(max_length=40)
    month = models.DateField(help_text="The first day of the month (in the reporting time zone).")
    size = models.PositiveIntegerField()
    labels = models.JSONField(default=dict, help_text="{'industry': [...], 'region': [...]}: names of the codes.")
    person_ids = models.BinaryField()
    entered = models.BinaryField()
    previous = models.BinaryField()
    next_days = models.BinaryField()
    customer_days = models.BinaryField()
    furthest = models.BinaryField()
    owner_ids = models.BinaryField()
    team_ids = models.BinaryField()
    icp_tiers = models.BinaryField()
    industries = models.BinaryField()
    regions = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage", "month"], name="stage_entry_block_key")]

    def __str__(self) -> str:
        return f"{self.stage} {self.month:%Y-%m}: {self.size}"


class RollupState(models.Model):
    """How far a rollup has read its source: the last stage change id counted, and when."""

    name = models.CharField(max_length=40, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    stages = models.CharField(
        max_length=500, blank=True, help_text="The main stages and positions it was built with; a change rebuilds it."
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_id}"


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
