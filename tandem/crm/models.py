"""The shared record: accounts, people, opportunities, activities and their stage history."""

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models.functions import Lower

from tandem.audit.actors import ActorType


class Side(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SALES = "sales", "Sales"
    BOTH = "both", "Both"


class LifecycleStage(models.Model):
    """One stage of the lifecycle; seeded data that the revenue contract owns."""

    key = models.SlugField(max_length=40, primary_key=True)
    name = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField()
    is_side_stage = models.BooleanField(default=False)
    side = models.CharField(max_length=20, choices=Side.choices, default=Side.BOTH)
    lead_status_on_entry = models.ForeignKey(
        "crm.LeadStatus", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class TransitionKind(models.TextChoices):
    FORWARD = "forward", "Forward"
    RECYCLE = "recycle", "Recycle"
    DISQUALIFY = "disqualify", "Disqualify"
    CHURN = "churn", "Churn"
    REOPEN = "reopen", "Re-open"


class LifecycleTransition(models.Model):
    """A move between two stages that the lifecycle allows."""

    from_stage = models.ForeignKey(LifecycleStage, on_delete=models.CASCADE, related_name="+")
    to_stage = models.ForeignKey(LifecycleStage, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=TransitionKind.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["from_stage", "to_stage"], name="unique_transition")]

    def __str__(self) -> str:
        return f"{self.from_stage_id} → {self.to_stage_id}"


class LeadStatus(models.Model):
    """Where a rep is in working a lead; seeded data."""

    key = models.SlugField(max_length=40, primary_key=True)
    name = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        verbose_name_plural = "lead statuses"

    def __str__(self) -> str:
        return self.name


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", "Pipeline"
    BEST_CASE = "best_case", "Best case"
    COMMIT = "commit", "Commit"
    CLOSED = "closed", "Closed"
    OMITTED = "omitted", "Omitted"


class OpportunityStage(models.Model):
    """A stage of the sales process with its default probability and forecast category."""

    key = models.SlugField(max_length=40, primary_key=True)
    name = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField()
    probability = models.PositiveSmallIntegerField()
    forecast_category = models.CharField(max_length=20, choices=ForecastCategory.choices)
    is_closed = models.BooleanField(default=False)
    is_won = models.BooleanField(default=False)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """A company."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    industry = models.CharField(max_length=100, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code")
    region = models.CharField(max_length=50, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
    )
    icp_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    is_target_account = models.BooleanField(default=False)
    custom_fields = models.JSONField(default=dict, blank=True)
    lifecycle_stage = models.ForeignKey(
        LifecycleStage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["name", "id"], name="account_name_idx"),
            models.Index(fields=["owner", "name"]),
        ]

    def __str__(self) -> str:
        return self.name


class AccountDomain(models.Model):
    """A web/email domain that belongs to an account; used to match people to it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)

    def __str__(self) -> str:
        return self.domain


class Person(models.Model):
    """One human, from first touch to customer: there is no separate lead or contact."""

    # Optional: people imported from systems that key on their own id may have no address.
    email = models.EmailField(max_length=254, null=True, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="people")
    # Indexes of the person row are chosen in Meta: every one of them is paid for on each write (imports,
    # rescoring), so single-column indexes that a composite one already leads with are left out.
    lifecycle_stage = models.ForeignKey(LifecycleStage, on_delete=models.PROTECT, related_name="+", db_index=False)
    lead_status = models.ForeignKey(
        LeadStatus, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_people",
        db_index=False,
    )
    source = models.CharField(max_length=100, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    # The fit and engagement scores live in tandem.scoring's narrow PersonScore table (`person.scores`),
    # so rescoring everyone never rewrites this wide row; `fit_score` and `engagement_score` below read them.
    predictive_score = models.SmallIntegerField(null=True, blank=True)
    buying_role = models.CharField(max_length=50, blank=True)
    consent_email = models.BooleanField(default=False)
    consent_tracking = models.BooleanField(default=False)
    custom_fields = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True)
    stage_entered_at = models.DateTimeField()
    last_activity_at = models.DateTimeField(help_text="Latest activity or touchpoint; creation time until then.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # What imports last wrote this record from: a hash of the file's rows for it (and of the mapping),
    # and how many rows that was. It holds while `updated_at` still equals `import_fingerprint_at`, so
    # that importing the same rows again skips the record without reading them (docs/import.md).
    import_fingerprint = models.BigIntegerField(null=True, blank=True, editable=False)
    import_fingerprint_at = models.DateTimeField(null=True, blank=True, editable=False)
    import_row_count = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        constraints = [
            # On PostgreSQL migration 0009 makes this index with text_pattern_ops, so that the one index
            # answers both equality (imports, sign-up checks) and prefix search (LIKE 'abc%').
            models.UniqueConstraint(Lower("email"), name="person_email_ci_unique"),
            # A constraint rather than unique=True: PostgreSQL then gets no extra pattern-matching index.
            models.UniqueConstraint(
                fields=["external_id"],
                name="person_external_id_unique",
                violation_error_message="A person with this external id already exists.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["lifecycle_stage", "owner", "-last_activity_at", "-id"],
                name="person_stage_owner_activity",
            ),
            models.Index(fields=["owner", "-last_activity_at", "-id"], name="person_owner_activity"),
            models.Index(fields=["-last_activity_at", "-id"], name="person_activity"),
            models.Index(fields=["lead_status"], name="person_lead_status"),
            models.Index(fields=["lifecycle_stage", "-last_activity_at", "-id"], name="person_stage_activity"),
            models.Index(fields=["-created_at", "-id"], name="person_created"),
            models.Index(fields=["owner", "-created_at", "-id"], name="person_owner_created"),
            models.Index(fields=["last_name", "first_name", "id"], name="person_name_idx"),
            # Search by prefix uses indexes on lower(email) (the unique one), lower(first_name) and lower(last_name),
            # made per database by migrations 0005 and 0009 because PostgreSQL needs text_pattern_ops there and
            # SQLite has none.
        ]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.full_name or self.email or f"Person #{self.pk}"

    def _scores(self):
        try:
            return self.scores
        except ObjectDoesNotExist:
            return None

    @property
    def fit_score(self) -> int:
        """The fit score under the contract (0 until the person is scored)."""
        scores = self._scores()
        return scores.fit_score if scores is not None else 0

    @property
    def engagement_score(self) -> int:
        """The engagement score under the contract (0 until the person is scored)."""
        scores = self._scores()
        return scores.engagement_score if scores is not None else 0

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class MatchMethod(models.TextChoices):
    EMAIL_DOMAIN = "email_domain", "Email domain"
    MANUAL = "manual", "Set by hand"
    IMPORT = "import", "Import"


class AccountMatch(models.Model):
    """How a person came to be linked to an account, so that the link can be explained and undone."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="account_matches")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    previous_account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    method = models.CharField(max_length=20, choices=MatchMethod.choices)
    matched_domain = models.CharField(max_length=253, blank=True)
    matched_at = models.DateTimeField()
    # No index on the users: an import writes a match for most people it creates, and nothing reads
    # matches by user (deleting a user, which is rare, clears these with one pass over the table).
    matched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["-matched_at", "-id"]

    def __str__(self) -> str:
        return f"{self.person_id} → {self.account_id} ({self.method})"


class StageChange(models.Model):
    """One move of a person or account between lifecycle stages: the source of every funnel number."""

    # Like the person row's, these indexes are paid for on every write (an import adds one per person): the
    # composite indexes in Meta lead with person, account and to_stage, so those get no index of their own,
    # and the stage keys get no pattern-matching (`_like`) index, which nothing searches by.
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.CASCADE, related_name="stage_changes", db_index=False
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="stage_changes", db_index=False
    )
    from_stage = models.ForeignKey(
        LifecycleStage, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    to_stage = models.ForeignKey(LifecycleStage, on_delete=models.PROTECT, related_name="+", db_index=False)
    at = models.DateTimeField()
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    reason = models.CharField(max_length=500, blank=True)
    contract_version = models.PositiveIntegerField(null=True, blank=True)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(person__isnull=False, account__isnull=True)
                    | models.Q(person__isnull=True, account__isnull=False)
                ),
                name="stage_change_one_subject",
            )
        ]
        indexes = [
            models.Index(fields=["person", "-at"]),
            models.Index(fields=["account", "-at"]),
            models.Index(fields=["to_stage", "at"]),
            # Deleting a lifecycle stage checks that no change comes from it.
            models.Index(fields=["from_stage"], name="stage_change_from_stage"),
        ]

    def __str__(self) -> str:
        return f"{self.from_stage_id} → {self.to_stage_id} at {self.at:%Y-%m-%d}"


class Opportunity(models.Model):
    """A deal with an account."""

    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="opportunities")
    primary_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    name = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    stage = models.ForeignKey(OpportunityStage, on_delete=models.PROTECT, related_name="+")
    probability = models.PositiveSmallIntegerField()
    forecast_category = models.CharField(max_length=20, choices=ForecastCategory.choices)
    close_date = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_opportunities",
    )
    is_closed = models.BooleanField(default=False)
    is_won = models.BooleanField(default=False)
    lost_reason = models.CharField(max_length=200, blank=True)
    source_campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sourced_opportunities",
    )
    custom_fields = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["close_date", "id"]
        verbose_name_plural = "opportunities"
        indexes = [
            models.Index(fields=["stage", "close_date"]),
            models.Index(fields=["owner", "close_date"]),
            models.Index(fields=["is_closed", "close_date"]),
        ]

    def __str__(self) -> str:
        return self.name


class OpportunityStageChange(models.Model):
    """One move of an opportunity between sales stages."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(OpportunityStage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(OpportunityStage, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=16, decimal_places=2)
    at = models.DateTimeField()
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["opportunity", "-at"]), models.Index(fields=["to_stage", "at"])]

    def __str__(self) -> str:
        return f"{self.from_stage_id} → {self.to_stage_id}"


class ActivityKind(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    NOTE = "note", "Note"
    TASK = "task", "Task"


class Activity(models.Model):
    """A call, email, meeting, note or task by a user about a person, account or opportunity."""

    kind = models.CharField(max_length=20, choices=ActivityKind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    is_done = models.BooleanField(default=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="activities")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="activities")
    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["person", "-occurred_at"]),
            models.Index(fields=["account", "-occurred_at"]),
            models.Index(fields=["opportunity", "-occurred_at"]),
            models.Index(fields=["user", "-occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"
