"""Reads of engagement scores: a person's ledger, worked out from the rules and their touchpoints."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from tandem.engagement.models import Touchpoint, TouchpointType
from tandem.scoring import engine
from tandem.scoring.models import CappedBy, PersonScore, ScoringRun
from tandem.scoring.rules import EngagementRules

CAPPED_BY_LABELS = {
    engine.CAPPED_NONE: "",
    engine.CAPPED_BY_RULE: CappedBy.RULE.label,
    engine.CAPPED_BY_GROUP: CappedBy.GROUP.label,
}
TOUCHPOINT_TYPE_LABELS = dict(TouchpointType.choices)


@dataclass(frozen=True)
class LedgerLine:
    """Points one rule gives the person for one touchpoint, and what they are worth now."""

    rule_name: str
    touchpoint_id: int
    touchpoint_type: str
    touchpoint_url: str
    given_at: dt.datetime
    points: int
    capped_by: str
    value_now: float
    decay: str
    contract_version: int | None


@dataclass(frozen=True)
class PersonLedger:
    """A person's ledger as of `now`: lines newest first, their total and the score it gives."""

    person_id: int
    stored_score: int
    lines: list[LedgerLine]
    total_now: float
    score_now: int
    now: dt.datetime
    contract_version: int | None

    @property
    def explains_stored_score(self) -> bool:
        """Whether the stored score is the score now (it falls behind as points decay between refreshes)."""
        return self.score_now == self.stored_score


def rules_in_force() -> tuple[EngagementRules, int]:
    """The engagement rules of the contract version in force, and its number."""
    from tandem.contract.selectors import active_version
    from tandem.scoring.rules import engagement_rules_parse

    version = active_version()
    return engagement_rules_parse(version.document["engagement"]), version.number


def person_score_ledger(
    *,
    person_id: int,
    now: dt.datetime | None = None,
    rules: EngagementRules | None = None,
    contract_version: int | None = None,
) -> PersonLedger:
    """One person's ledger, worked out now from the rules (those in force unless given) and their touchpoints.

    The engine that scores everyone runs over this person's touchpoints alone, so the lines are
    exactly what the person's score is made of at `now`, and always current. Two queries when the
    rules are given.
    """
    now = now or timezone.now()
    if rules is None:
        rules, contract_version = rules_in_force()
    stored_score = PersonScore.objects.filter(pk=person_id).values_list("engagement_score", flat=True).first() or 0
    types = sorted({rule.touchpoint for rule in rules.rules})
    rows = list(
        Touchpoint.objects.filter(person_id=person_id, type__in=types, occurred_at__lte=now)
        .order_by()
        .values_list("id", "person_id", "type", "url", "campaign__name", "occurred_at", "properties")
    )
    result = engine.score_touchpoints(rules, as_of=now, batch=engine.TouchpointBatch.from_rows(rows))
    by_id = {row[0]: row for row in rows}
    names = [rule.name for rule in rules.rules]
    decay = rules.decay.describe()
    found = result.lines
    lines = [
        LedgerLine(
            rule_name=names[found.rule_index[index]],
            touchpoint_id=int(found.touchpoint_id[index]),
            touchpoint_type=TOUCHPOINT_TYPE_LABELS.get(by_id[found.touchpoint_id[index]][2], ""),
            touchpoint_url=by_id[found.touchpoint_id[index]][3] or "",
            given_at=by_id[found.touchpoint_id[index]][5],
            points=int(found.points[index]),
            capped_by=CAPPED_BY_LABELS[int(found.capped_by[index])],
            value_now=float(found.value[index]),
            decay=decay,
            contract_version=contract_version,
        )
        for index in range(len(found))
    ]
    # Newest first; ties in the reverse of the engine's order (rule, then oldest first).
    lines = [line for _, line in sorted(enumerate(lines), key=lambda pair: (pair[1].given_at, pair[0]), reverse=True)]
    total_now = float(result.total[0]) if len(result.total) else 0.0
    return PersonLedger(
        person_id=person_id,
        stored_score=stored_score,
        lines=lines,
        total_now=total_now,
        score_now=result.score_of(person_id),
        now=now,
        contract_version=contract_version,
    )


def latest_scoring_run() -> ScoringRun | None:
    return ScoringRun.objects.first()
