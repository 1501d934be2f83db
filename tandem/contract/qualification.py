"""MQL qualification: the contract's MQL rule moves people to MQL, citing the version and the evidence."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction

from tandem.audit.actors import Actor
from tandem.contract.models import ContractVersion
from tandem.crm.models import Person, StageChange
from tandem.crm.services import lifecycle_transition

BATCH_SIZE = 1000


@dataclass(frozen=True)
class MqlRule:
    """The MQL section of one contract version, ready to run."""

    version: int
    fit_score_at_least: int
    engagement_score_at_least: int
    from_stages: tuple[str, ...]

    @classmethod
    def of(cls, version: ContractVersion) -> "MqlRule":
        mql = version.document["mql"]
        return cls(
            version=version.number,
            fit_score_at_least=mql["fit_score_at_least"],
            engagement_score_at_least=mql["engagement_score_at_least"],
            from_stages=tuple(mql["from_stages"]),
        )

    def holds(self, person: Person) -> bool:
        return (
            person.lifecycle_stage_id in self.from_stages
            and person.fit_score >= self.fit_score_at_least
            and person.engagement_score >= self.engagement_score_at_least
        )

    def evidence(self, person: Person) -> dict:
        text = (
            f"fit {person.fit_score} >= {self.fit_score_at_least} and engagement {person.engagement_score} >= "
            f"{self.engagement_score_at_least}, contract v{self.version}"
        )
        return {
            "rule": "mql",
            "contract_version": self.version,
            "fit_score": person.fit_score,
            "fit_score_at_least": self.fit_score_at_least,
            "engagement_score": person.engagement_score,
            "engagement_score_at_least": self.engagement_score_at_least,
            "text": text,
        }


def _candidates(rule: MqlRule) -> Iterator[list[int]]:
    """Ids of the people the rule holds for, in batches, read from the score indexes."""
    queryset = Person.objects.filter(
        lifecycle_stage_id__in=rule.from_stages,
        fit_score__gte=rule.fit_score_at_least,
        engagement_score__gte=rule.engagement_score_at_least,
    ).order_by("pk")
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return
        yield ids
        last = ids[-1]


def person_qualify(*, person: Person, version: ContractVersion) -> StageChange | None:
    """Move one person to MQL if the version's MQL rule holds for them now; None if it does not."""
    rule = MqlRule.of(version)
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        if not rule.holds(person):
            return None
        evidence = rule.evidence(person)
        return lifecycle_transition(
            person=person,
            to_stage="mql",
            by=Actor.rule(f"MQL rule, contract v{rule.version}"),
            reason=f"MQL because {evidence['text']}",
            evidence=evidence,
            contract_version=rule.version,
        )


def people_qualify_all(*, version: ContractVersion) -> int:
    """Move everyone the version's MQL rule holds for to MQL; returns how many moved."""
    rule = MqlRule.of(version)
    moved = 0
    for ids in _candidates(rule):
        for person in Person.objects.filter(pk__in=ids).order_by("pk"):
            if person_qualify(person=person, version=version) is not None:
                moved += 1
    return moved
