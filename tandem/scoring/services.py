"""Writes of engagement scores: the full rescore and the one-person refresh a new touchpoint triggers."""

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from tandem.audit.actors import Actor
from tandem.audit.services import audit_record, audit_record_rows
from tandem.crm.models import Person
from tandem.engagement.models import Touchpoint
from tandem.scoring import engine
from tandem.scoring.models import PersonScore, ScoringRun
from tandem.scoring.rules import EngagementRules

READ_CHUNK = 20_000
WRITE_CHUNK = 2_000


@dataclass
class FitScores:
    """Fit scores computed by the fit rules, written in the same pass; people not listed keep theirs."""

    person_id: np.ndarray
    fit_score: np.ndarray


def _touchpoint_rows(rules: EngagementRules, *, as_of: dt.datetime, person_ids: list[int] | None = None):
    """The touchpoints any rule could match, as tuples for engine.TouchpointBatch.from_rows."""
    types = sorted({rule.touchpoint for rule in rules.rules})
    queryset = Touchpoint.objects.filter(person__isnull=False, type__in=types, occurred_at__lte=as_of)
    if rules.decay.window_days is not None:
        queryset = queryset.filter(occurred_at__gte=as_of - dt.timedelta(days=rules.decay.window_days))
    if person_ids is not None:
        queryset = queryset.filter(person_id__in=person_ids)
    return (
        queryset.order_by()
        .values_list("id", "person_id", "type", "url", "campaign__name", "occurred_at", "properties")
        .iterator(chunk_size=READ_CHUNK)
    )


def _recompute_all_portable(rules, *, as_of, contract_version, fit) -> tuple[engine.ScoreResult, int]:
    batch = engine.TouchpointBatch.from_rows(_touchpoint_rows(rules, as_of=as_of))
    result = engine.score_touchpoints(rules, as_of=as_of, batch=batch)
    current = {
        person_id: (fit_score, engagement_score)
        for person_id, fit_score, engagement_score in PersonScore.objects.values_list(
            "person_id", "fit_score", "engagement_score"
        ).iterator(chunk_size=READ_CHUNK)
    }
    engagement = dict(zip(result.person_id.tolist(), result.engagement_score.tolist(), strict=True))
    fits = {} if fit is None else dict(zip(fit.person_id.tolist(), fit.fit_score.tolist(), strict=True))
    people = list(Person.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=READ_CHUNK))
    rows = []
    changed = 0
    for person_id in people:
        fit_before, engagement_before = current.get(person_id, (0, 0))
        score = engagement.get(person_id, 0)
        changed += score != engagement_before
        rows.append(
            PersonScore(
                person_id=person_id,
                fit_score=fits.get(person_id, fit_before),
                engagement_score=score,
                contract_version=contract_version,
                computed_at=as_of,
            )
        )
    PersonScore.objects.exclude(person_id__in=Person.objects.values("pk")).delete()
    PersonScore.objects.bulk_create(
        rows,
        batch_size=WRITE_CHUNK,
        update_conflicts=True,
        unique_fields=["person"],
        update_fields=["fit_score", "engagement_score", "contract_version", "computed_at"],
    )
    return result, changed


def scores_recompute_all(
    *,
    rules: EngagementRules,
    as_of: dt.datetime,
    contract_version: int,
    fit: FitScores | None = None,
    by=None,
) -> ScoringRun:
    """Rescore every person as of `as_of`: rewrite the narrow score table (PersonScore) whole.

    Engagement scores come from `rules`; fit scores from `fit` when given (people not in it keep
    theirs). PostgreSQL matches the rules in SQL and reloads the table by binary COPY; other
    databases read the touchpoints and upsert in batches. Both give the same scores. No ledger is
    stored: a person's ledger is worked out from the rules and their touchpoints when asked for.
    """
    started_at = timezone.now()
    started = time.perf_counter()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            from tandem.scoring import postgres

            result, changed = postgres.recompute_all(rules, as_of=as_of, contract_version=contract_version, fit=fit)
        else:
            result, changed = _recompute_all_portable(rules, as_of=as_of, contract_version=contract_version, fit=fit)
        run = ScoringRun.objects.create(
            contract_version=contract_version,
            as_of=as_of,
            started_at=started_at,
            seconds=round(time.perf_counter() - started, 3),
            people_scored=len(result.person_id),
            people_changed=changed,
            ledger_lines=len(result.lines),
        )
        audit_record(
            by=by or Actor.rule(f"contract v{contract_version} engagement scoring"),
            action="engagement_rescore",
            instance=run,
            after={
                "contract_version": contract_version,
                "as_of": as_of.isoformat(),
                "people_scored": run.people_scored,
                "people_changed": changed,
                "lines": run.ledger_lines,
                "fit_scores_written": 0 if fit is None else len(fit.person_id),
            },
            summary=f"Rescored engagement under contract v{contract_version}: {changed:,} scores changed",
        )
    return run


def score_person_refresh(*, person_id: int, rules: EngagementRules, as_of: dt.datetime, contract_version: int) -> int:
    """Recompute one person's engagement score as of `as_of`; return the score."""
    scores = scores_refresh_people(person_ids=[person_id], rules=rules, as_of=as_of, contract_version=contract_version)
    return scores.get(person_id, 0)


def scores_refresh_people(
    *, person_ids, rules: EngagementRules, as_of: dt.datetime, contract_version: int
) -> dict[int, int]:
    """Recompute the engagement scores of some people as of `as_of`; return {person id: score}.

    One pass for many people, so touchpoints arriving quickly are scored in batches: one read of
    their touchpoints, one update of the scores that change and one insert of their audit entries.
    Idempotent: running it twice gives the same scores. The people's rows are locked in id order,
    so two batches never deadlock, and refreshes of one person run one after the other.
    """
    wanted = sorted({int(person_id) for person_id in person_ids})
    if not wanted:
        return {}
    actor = Actor.rule(f"contract v{contract_version} engagement scoring")
    with transaction.atomic():
        found = list(Person.objects.filter(pk__in=wanted).order_by("pk").values_list("pk", flat=True))
        if not found:
            return {}
        # The score rows are locked in id order, so two batches never deadlock.
        current = dict(
            PersonScore.objects.select_for_update()
            .filter(person_id__in=found)
            .order_by("person_id")
            .values_list("person_id", "engagement_score")
        )
        if connection.vendor == "postgresql":
            from tandem.scoring import postgres

            # Matched in SQL and read as binary columns, as the full rescore does.
            matches = postgres.read_matches(rules, as_of=as_of, person_ids=found)
            result = engine.score_lines(rules, as_of_us=engine.to_microseconds(as_of), **matches)
        else:
            batch = engine.TouchpointBatch.from_rows(_touchpoint_rows(rules, as_of=as_of, person_ids=found))
            result = engine.score_touchpoints(rules, as_of=as_of, batch=batch)
        scores = {person_id: result.score_of(person_id) for person_id in found}
        changed = [
            (person_id, score)
            for person_id, score in scores.items()
            if person_id not in current or current[person_id] != score
        ]
        if changed:
            PersonScore.objects.bulk_create(
                [
                    PersonScore(
                        person_id=person_id,
                        engagement_score=score,
                        contract_version=contract_version,
                        computed_at=as_of,
                    )
                    for person_id, score in changed
                ],
                update_conflicts=True,
                unique_fields=["person"],
                update_fields=["engagement_score", "contract_version", "computed_at"],
            )
            audited = [(person_id, score) for person_id, score in changed if current.get(person_id, 0) != score]
        if changed and audited:
            audit_record_rows(
                by=actor,
                action="engagement_score_change",
                entity_type=Person._meta.label_lower,
                rows=[
                    (
                        person_id,
                        {"engagement_score": current.get(person_id, 0)},
                        {"engagement_score": score},
                        f"Engagement score {current.get(person_id, 0)} → {score} (contract v{contract_version})",
                    )
                    for person_id, score in audited
                ],
            )
    return scores


LEDGER_EXPORT_COLUMNS = (
    "rule",
    "touchpoint_id",
    "touchpoint_type",
    "touchpoint_url",
    "given_at",
    "points",
    "capped_by",
    "value_now",
    "decay",
    "contract_version",
)


def score_ledger_export(*, by, person_id: int, out, now: dt.datetime | None = None) -> int:
    """Write one person's ledger as CSV to `out` (formula cells neutralised) and audit it; returns the line count."""
    import csv

    from tandem.exports.cells import iso_datetime, neutralise
    from tandem.scoring.selectors import person_score_ledger

    ledger = person_score_ledger(person_id=person_id, now=now)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LEDGER_EXPORT_COLUMNS)
    for line in ledger.lines:
        writer.writerow(
            [
                neutralise(line.rule_name),
                line.touchpoint_id,
                neutralise(line.touchpoint_type),
                neutralise(line.touchpoint_url),
                iso_datetime(line.given_at),
                line.points,
                line.capped_by.lower().removesuffix(" cap"),
                repr(line.value_now),
                line.decay,
                line.contract_version,
            ]
        )
    person = Person(pk=person_id)
    audit_record(
        by=by,
        action="score_ledger_export",
        instance=person,
        after={"lines": len(ledger.lines), "engagement_score": ledger.stored_score, "score_now": ledger.score_now},
        summary=f"Exported the engagement-score ledger ({len(ledger.lines)} lines)",
    )
    return len(ledger.lines)


def score_refresh_queue(*, person_ids: Iterable[int]) -> None:
    """Queue one refresh of these people's engagement scores once the current transaction commits.

    Whatever records touchpoints calls this once per transaction with everyone it touched; the
    refresh runs on the worker under the contract in force as one batch (one read of their
    touchpoints, one write of their scores, one qualification pass), so a worker keeps up with
    touchpoints arriving by the thousand a second and each score follows within the queue's delay.
    """
    from tandem.scoring.tasks import touchpoints_recorded

    wanted = sorted({int(person_id) for person_id in person_ids})
    if wanted:
        transaction.on_commit(lambda: touchpoints_recorded(wanted))
