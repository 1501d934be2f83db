"""Reads of the engagement-score ledger: what the record page shows and the export writes."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from tandem.crm.models import Person
from tandem.scoring.engine import score_from_total
from tandem.scoring.models import CappedBy, ScoreLedgerEntry, ScoringRun
from tandem.scoring.rules import Decay


@dataclass(frozen=True)
class LedgerLine:
    """One ledger entry with its value at scoring time and now."""

    entry_id: int
    rule_name: str
    touchpoint_id: int | None
    touchpoint_type: str
    touchpoint_url: str
    given_at: dt.datetime
    points: int
    capped_by: str
    value_at_scoring: float
    value_now: float
    decay: str
    contract_version: int


@dataclass(frozen=True)
class PersonLedger:
    """A person's ledger: lines newest first, and totals that explain the stored score."""

    person_id: int
    stored_score: int
    lines: list[LedgerLine]
    total_at_scoring: float
    score_at_scoring: int
    total_now: float
    score_now: int
    scored_at: dt.datetime | None
    contract_version: int | None

    @property
    def explains_stored_score(self) -> bool:
        return self.score_at_scoring == self.stored_score


def _decay_of(entry: ScoreLedgerEntry) -> Decay:
    return Decay(half_life_days=entry.half_life_days, window_days=entry.window_days)


def person_score_ledger(*, person_id: int, now: dt.datetime | None = None) -> PersonLedger:
    """The ledger of one person in two queries; totals are summed in id order, as the engine summed."""
    now = now or timezone.now()
    stored_score = Person.objects.filter(pk=person_id).values_list("engagement_score", flat=True).first() or 0
    entries = list(
        ScoreLedgerEntry.objects.filter(person_id=person_id)
        .select_related("touchpoint")
        .only(
            "id",
            "rule_name",
            "touchpoint_id",
            "touchpoint__type",
            "touchpoint__url",
            "given_at",
            "points",
            "capped_by",
            "value",
            "scored_at",
            "contract_version",
            "half_life_days",
            "window_days",
        )
        .order_by("id")
    )
    total_at_scoring = 0.0
    total_now = 0.0
    lines = []
    for entry in entries:
        decay = _decay_of(entry)
        age_days = (now - entry.given_at) / dt.timedelta(days=1)
        value_now = entry.points * decay.factor(age_days)
        total_at_scoring += entry.value
        total_now += value_now
        touchpoint = entry.touchpoint
        lines.append(
            LedgerLine(
                entry_id=entry.pk,
                rule_name=entry.rule_name,
                touchpoint_id=entry.touchpoint_id,
                touchpoint_type=touchpoint.get_type_display() if touchpoint else "(deleted)",
                touchpoint_url=touchpoint.url if touchpoint else "",
                given_at=entry.given_at,
                points=entry.points,
                capped_by=CappedBy(entry.capped_by).label if entry.capped_by else "",
                value_at_scoring=entry.value,
                value_now=value_now,
                decay=decay.describe(),
                contract_version=entry.contract_version,
            )
        )
    lines.sort(key=lambda line: (line.given_at, line.entry_id), reverse=True)
    return PersonLedger(
        person_id=person_id,
        stored_score=stored_score,
        lines=lines,
        total_at_scoring=total_at_scoring,
        score_at_scoring=score_from_total(total_at_scoring),
        total_now=total_now,
        score_now=score_from_total(total_now),
        scored_at=max((entry.scored_at for entry in entries), default=None),
        contract_version=entries[0].contract_version if entries else None,
    )


def latest_scoring_run() -> ScoringRun | None:
    return ScoringRun.objects.first()
