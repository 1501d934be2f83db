"""MQL qualification: the contract's MQL rule moves people to MQL, citing the version and the evidence.

The rule is the thresholds of the first segment whose condition holds for the person (the section's
own thresholds when none does), and, when the section has one, its extra `when` condition.
"""

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tandem.audit.actors import Actor
from tandem.contract.models import ContractVersion
from tandem.crm.models import Person, StageChange
from tandem.crm.services import lifecycle_transition
from tandem.lib.rules import Rule, parse, to_q
from tandem.lib.rules.contract_sections import document_catalogue

BATCH_SIZE = 1000


@dataclass(frozen=True)
class Thresholds:
    """The scores a person must reach: the section's own, or one segment's."""

    fit_score_at_least: int
    engagement_score_at_least: int
    segment: str = ""
    when: Rule | None = None


@dataclass(frozen=True)
class MqlRule:
    """The MQL section of one contract version, ready to run."""

    version: int
    thresholds: Thresholds
    segments: tuple[Thresholds, ...]
    from_stages: tuple[str, ...]
    when: Rule | None
    recycled_cooling_off_days: int = 0

    @classmethod
    def of(cls, version: ContractVersion) -> "MqlRule":
        mql = version.document["mql"]
        catalogue = document_catalogue(version.document)
        return cls(
            version=version.number,
            thresholds=Thresholds(mql["fit_score_at_least"], mql["engagement_score_at_least"]),
            segments=tuple(
                Thresholds(
                    segment["fit_score_at_least"],
                    segment["engagement_score_at_least"],
                    segment=segment["name"],
                    when=parse(segment["when"], catalogue=catalogue),
                )
                for segment in mql.get("segments") or []
            ),
            from_stages=tuple(mql["from_stages"]),
            when=parse(mql["when"], catalogue=catalogue) if "when" in mql else None,
            recycled_cooling_off_days=mql.get("recycled_cooling_off_days", 0),
        )

    def cooling_off_until(self, person: Person) -> dt.datetime | None:
        """When a recycled person may qualify again, if that is still ahead of now; None otherwise."""
        if person.lifecycle_stage_id != "recycled" or not self.recycled_cooling_off_days:
            return None
        until = person.stage_entered_at + dt.timedelta(days=self.recycled_cooling_off_days)
        return until if until > timezone.now() else None

    def members(self, rule: Rule, person_ids: Iterable[int] | None, *, as_of: dt.datetime) -> set[int]:
        """Which of these people (None: everyone) a condition holds for, asked of the database."""
        people = Person.objects.all() if person_ids is None else Person.objects.filter(pk__in=list(person_ids))
        return set(people.filter(to_q(rule, as_of=as_of)).values_list("pk", flat=True))

    def thresholds_by_person(self, person_ids: Iterable[int], *, as_of: dt.datetime) -> dict[int, Thresholds]:
        """Each person's thresholds: the first segment they belong to, else the section's own."""
        remaining = set(person_ids)
        chosen: dict[int, Thresholds] = {}
        for segment in self.segments:
            for person_id in self.members(segment.when, remaining, as_of=as_of) if remaining else ():
                chosen[person_id] = segment
            remaining -= chosen.keys()
        chosen.update(dict.fromkeys(remaining, self.thresholds))
        return chosen

    @property
    def lowest(self) -> Thresholds:
        """The lowest bar of any segment: nobody below it can qualify."""
        every = (self.thresholds, *self.segments)
        return Thresholds(
            min(item.fit_score_at_least for item in every), min(item.engagement_score_at_least for item in every)
        )

    def evidence(self, person: Person, thresholds: Thresholds) -> dict | None:
        """The evidence that the rule holds for the person, or None when it does not.

        A recycled person still in their cooling-off period does not qualify, whatever their scores.
        """
        if self.cooling_off_until(person) is not None:
            return None
        if not (
            person.lifecycle_stage_id in self.from_stages
            and person.fit_score >= thresholds.fit_score_at_least
            and person.engagement_score >= thresholds.engagement_score_at_least
        ):
            return None
        text = (
            f"fit {person.fit_score} >= {thresholds.fit_score_at_least} and engagement {person.engagement_score} >= "
            f"{thresholds.engagement_score_at_least}"
        )
        if thresholds.segment:
            text += f" (segment {thresholds.segment})"
        if self.when is not None:
            text += f" and {self.when.text}"
        text += f", contract v{self.version}"
        return {
            "rule": "mql",
            "contract_version": self.version,
            "segment": thresholds.segment or None,
            "fit_score": person.fit_score,
            "fit_score_at_least": thresholds.fit_score_at_least,
            "engagement_score": person.engagement_score,
            "engagement_score_at_least": thresholds.engagement_score_at_least,
            "text": text,
        }


def _candidates(rule: MqlRule, *, as_of: dt.datetime) -> Iterator[list[int]]:
    """Ids of the people who may qualify, in batches, read from the score indexes."""
    lowest = rule.lowest
    queryset = Person.objects.filter(
        lifecycle_stage_id__in=rule.from_stages,
        scores__fit_score__gte=lowest.fit_score_at_least,
        scores__engagement_score__gte=lowest.engagement_score_at_least,
    )
    if rule.when is not None:
        queryset = queryset.filter(to_q(rule.when, as_of=as_of))
    if rule.recycled_cooling_off_days:
        cooling_since = as_of - dt.timedelta(days=rule.recycled_cooling_off_days)
        queryset = queryset.exclude(lifecycle_stage_id="recycled", stage_entered_at__gt=cooling_since)
    queryset = queryset.order_by("pk")
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _qualify(person: Person, rule: MqlRule, thresholds: Thresholds) -> StageChange | None:
    with transaction.atomic():
        person = Person.objects.select_for_update(of=("self",)).select_related("scores").get(pk=person.pk)
        evidence = rule.evidence(person, thresholds)
        if evidence is None:
            return None
        return lifecycle_transition(
            person=person,
            to_stage="mql",
            by=Actor.rule(f"MQL rule, contract v{rule.version}"),
            reason=f"MQL because {evidence['text']}",
            evidence=evidence,
            contract_version=rule.version,
        )


def person_qualify(*, person: Person, version: ContractVersion) -> StageChange | None:
    """Move one person to MQL if the version's MQL rule holds for them now; None if it does not."""
    rule = MqlRule.of(version)
    now = timezone.now()
    if rule.when is not None and not rule.members(rule.when, [person.pk], as_of=now):
        return None
    return _qualify(person, rule, rule.thresholds_by_person([person.pk], as_of=now)[person.pk])


def people_qualify(*, person_ids: Iterable[int], version: ContractVersion) -> int:
    """Move those of these people whom the version's MQL rule holds for now to MQL; returns how many moved.

    What a batch of new touchpoints runs after their scores are refreshed: the rule's conditions and
    thresholds are asked of the database once for the whole batch, and only the people who pass
    them are locked and moved one by one through the lifecycle service.
    """
    rule = MqlRule.of(version)
    now = timezone.now()
    ids = sorted({int(person_id) for person_id in person_ids})
    if rule.when is not None and ids:
        ids = sorted(rule.members(rule.when, ids, as_of=now))
    if not ids:
        return 0
    thresholds = rule.thresholds_by_person(ids, as_of=now)
    moved = 0
    people = Person.objects.filter(pk__in=ids, lifecycle_stage_id__in=rule.from_stages).select_related("scores")
    for person in people.order_by("pk"):
        if rule.evidence(person, thresholds[person.pk]) is None:
            continue
        if _qualify(person, rule, thresholds[person.pk]) is not None:
            moved += 1
    return moved


def people_qualify_all(*, version: ContractVersion) -> int:
    """Move everyone the version's MQL rule holds for to MQL; returns how many moved."""
    rule = MqlRule.of(version)
    now = timezone.now()
    moved = 0
    for ids in _candidates(rule, as_of=now):
        thresholds = rule.thresholds_by_person(ids, as_of=now)
        for person in Person.objects.filter(pk__in=ids).order_by("pk"):
            if _qualify(person, rule, thresholds[person.pk]) is not None:
                moved += 1
    return moved
