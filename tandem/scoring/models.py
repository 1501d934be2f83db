"""Records of engagement scoring; a person's ledger is worked out on demand (tandem.scoring.selectors)."""

from django.db import models


class CappedBy(models.IntegerChoices):
    """What cut a ledger line's points."""

    NONE = 0, "—"
    RULE = 1, "Rule cap"
    GROUP = 2, "Group cap"


class ScoringRun(models.Model):
    """One full rescore of every person under one contract version."""

    contract_version = models.PositiveIntegerField()
    as_of = models.DateTimeField()
    started_at = models.DateTimeField()
    seconds = models.FloatField(default=0)
    people_scored = models.PositiveIntegerField(default=0, help_text="People with at least one ledger line.")
    people_changed = models.PositiveIntegerField(default=0)
    ledger_lines = models.PositiveBigIntegerField(default=0, help_text="(touchpoint, rule) lines that counted.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Rescore under contract v{self.contract_version} as of {self.as_of:%Y-%m-%d %H:%M}"


class PersonScore(models.Model):
    """A person's rule scores: fit and engagement, and the contract version and time they were worked out.

    Kept apart from the wide, heavily indexed person row so that a rescore rewrites a narrow table
    (set-wise, in seconds) instead of updating every person row. The people list sorts and filters
    by score through this table's indexes. A person without a row has scores of 0. The key carries no
    database constraint, so a rescore can reload the table whole; a person's deletion still removes it.
    """

    person = models.OneToOneField(
        "crm.Person", primary_key=True, on_delete=models.CASCADE, db_constraint=False, related_name="scores"
    )
    fit_score = models.SmallIntegerField(default=0)
    engagement_score = models.SmallIntegerField(default=0)
    contract_version = models.PositiveIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["-fit_score", "-person"], name="person_score_fit"),
            models.Index(fields=["-engagement_score", "-person"], name="person_score_engagement"),
        ]

    def __str__(self) -> str:
        return f"Person {self.person_id}: fit {self.fit_score}, engagement {self.engagement_score}"
