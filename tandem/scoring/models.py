"""Engagement-score ledger: why each person's engagement score is what it is."""

from django.db import models


class CappedBy(models.IntegerChoices):
    NONE = 0, "—"
    RULE = 1, "Rule cap"
    GROUP = 2, "Group cap"


class ScoreLedgerEntry(models.Model):
    """Points one rule gave a person for one touchpoint, and their value after decay when scored.

    The ledger is derived data, rebuilt whole by a rescore and per person by a refresh, so the
    foreign keys carry no database constraint (bulk loads skip ten million trigger checks); a
    person's deletion still removes their lines. Lines are stored in the engine's canonical
    order, so summing `value` in id order gives exactly the stored score's total.
    """

    person = models.ForeignKey("crm.Person", on_delete=models.CASCADE, db_constraint=False, related_name="score_ledger")
    touchpoint = models.ForeignKey(
        "engagement.Touchpoint",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    rule_name = models.CharField(max_length=100)
    points = models.SmallIntegerField(help_text="Points given after caps.")
    capped_by = models.PositiveSmallIntegerField(choices=CappedBy.choices, default=CappedBy.NONE)
    given_at = models.DateTimeField(help_text="When the touchpoint happened.")
    value = models.FloatField(help_text="Points after decay at scored_at.")
    scored_at = models.DateTimeField()
    contract_version = models.PositiveIntegerField()
    half_life_days = models.FloatField(null=True, blank=True)
    window_days = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "score ledger entries"

    def __str__(self) -> str:
        return f"{self.rule_name}: {self.points} points for person {self.person_id}"


class ScoringRun(models.Model):
    """One full rescore of every person under one contract version."""

    contract_version = models.PositiveIntegerField()
    as_of = models.DateTimeField()
    started_at = models.DateTimeField()
    seconds = models.FloatField(default=0)
    people_scored = models.PositiveIntegerField(default=0, help_text="People with at least one ledger line.")
    people_changed = models.PositiveIntegerField(default=0)
    ledger_lines = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Rescore under contract v{self.contract_version} as of {self.as_of:%Y-%m-%d %H:%M}"
