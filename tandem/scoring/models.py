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
