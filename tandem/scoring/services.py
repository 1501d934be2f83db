"""Writes of engagement scores: the full rescore and the one-person refresh a new touchpoint triggers."""

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from tandem.audit.actors import Actor
from tandem.audit.services import audit_record, audit_record_many
from tandem.crm.models import Person
from tandem.engagement.models import Touchpoint
from tandem.scoring import engine
from tandem.scoring.models import ScoreLedgerEntry, ScoringRun
from tandem.scoring.rules import EngagementRules

READ_CHUNK = 20_000
WRITE_CHUNK = 5_000


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


def _entry_rows(rules: EngagementRules, result: engine.ScoreResult, *, scored_at, contract_version: int):
    lines = result.lines
    names = [rule.name for rule in rules.rules]
    for index in range(len(lines)):
        yield (
            int(lines.person_id[index]),
            int(lines.touchpoint_id[index]),
            names[lines.rule_index[index]],
            int(lines.points[index]),
            int(lines.capped_by[index]),
            engine.from_microseconds(lines.given_at_us[index]),
            float(lines.value[index]),
            scored_at,
            contract_version,
            rules.decay.half_life_days,
            rules.decay.window_days,
        )


ENTRY_COLUMNS = (
    "person_id",
    "touchpoint_id",
    "rule_name",
    "points",
    "capped_by",
    "given_at",
    "value",
    "scored_at",
    "contract_version",
    "half_life_days",
    "window_days",
)


def _insert_entries(rows) -> None:
    """executemany in canonical order: ids ascend in the order the engine summed the values."""
    table = ScoreLedgerEntry._meta.db_table
    placeholders = ", ".join(["%s"] * len(ENTRY_COLUMNS))
    statement = f"INSERT INTO {table} ({', '.join(ENTRY_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
    # Datetimes go through Django's adapter so SQLite stores them as Django reads them back.
    adapt = connection.ops.adapt_datetimefield_value
    batch = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append((*row[:5], adapt(row[5]), row[6], adapt(row[7]), *row[8:]))
            if len(batch) >= WRITE_CHUNK:
                cursor.executemany(statement, batch)
                batch.clear()
        if batch:
            cursor.executemany(statement, batch)


def _recompute_all_portable(rules, *, as_of, contract_version, fit) -> tuple[engine.ScoreResult, int]:
    batch = engine.TouchpointBatch.from_rows(_touchpoint_rows(rules, as_of=as_of))
    result = engine.score_touchpoints(rules, as_of=as_of, batch=batch)
    scored_at = as_of
    ScoreLedgerEntry.objects.all().delete()
    _insert_entries(_entry_rows(rules, result, scored_at=scored_at, contract_version=contract_version))
    current = dict(Person.objects.values_list("id", "engagement_score").iterator(chunk_size=READ_CHUNK))
    new_scores = dict.fromkeys(current, 0)
    new_scores.update(zip(result.person_id.tolist(), result.engagement_score.tolist(), strict=True))
    changes = [(score, person_id) for person_id, score in new_scores.items() if current.get(person_id) != score]
    table = Person._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET engagement_score = %s WHERE id = %s", changes)  # noqa: S608
        if fit is not None:
            cursor.executemany(
                f"UPDATE {table} SET fit_score = %s WHERE id = %s",  # noqa: S608
                list(zip(fit.fit_score.tolist(), fit.person_id.tolist(), strict=True)),
            )
    return result, len(changes)


def scores_recompute_all(
    *,
    rules: EngagementRules,
    as_of: dt.datetime,
    contract_version: int,
    fit: FitScores | None = None,
    by=None,
) -> ScoringRun:
    """Rescore every person as of `as_of`: replace the whole ledger and update engagement scores in place.

    PostgreSQL matches the rules in SQL and moves lines and scores with binary COPY; other
    databases read the touchpoints and write with executemany. Both give the same ledger.
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
                "ledger_lines": run.ledger_lines,
                "fit_scores_written": 0 if fit is None else len(fit.person_id),
            },
            summary=f"Rescored engagement under contract v{contract_version}: {changed:,} scores changed",
        )
    return run


def score_person_refresh(*, person_id: int, rules: EngagementRules, as_of: dt.datetime, contract_version: int) -> int:
    """Rebuild one person's ledger and engagement score as of `as_of`; return the score."""
    scores = scores_refresh_people(person_ids=[person_id], rules=rules, as_of=as_of, contract_version=contract_version)
    return scores.get(person_id, 0)


def scores_refresh_people(
    *, person_ids, rules: EngagementRules, as_of: dt.datetime, contract_version: int
) -> dict[int, int]:
    """Rebuild the ledgers and engagement scores of some people as of `as_of`; return {person id: score}.

    One pass for many people, so touchpoints arriving quickly can be scored in batches. Idempotent:
    running it twice gives the same ledgers. The people's rows are locked (in id order, so two
    batches never deadlock) and refreshes of one person run one after the other.
    """
    wanted = sorted({int(person_id) for person_id in person_ids})
    actor = Actor.rule(f"contract v{contract_version} engagement scoring")
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Take the ledger before the people, in the order a full rescore does (TRUNCATE, then
            # UPDATE people): the other order would deadlock a refresh against a running rescore.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {ScoreLedgerEntry._meta.db_table} IN ROW EXCLUSIVE MODE")
        people = list(
            Person.objects.select_for_update().filter(pk__in=wanted).order_by("pk").only("id", "engagement_score")
        )
        if not people:
            return {}
        found = [person.pk for person in people]
        batch = engine.TouchpointBatch.from_rows(_touchpoint_rows(rules, as_of=as_of, person_ids=found))
        result = engine.score_touchpoints(rules, as_of=as_of, batch=batch)
        ScoreLedgerEntry.objects.filter(person_id__in=found).delete()
        if connection.vendor == "postgresql":
            from tandem.scoring import postgres

            postgres.append_ledger(rules, result, scored_at=as_of, version=contract_version)
        else:
            _insert_entries(_entry_rows(rules, result, scored_at=as_of, contract_version=contract_version))
        scores = {}
        changes = []
        for person in people:
            score = result.score_of(person.pk)
            scores[person.pk] = score
            if person.engagement_score != score:
                before = person.engagement_score
                person.engagement_score = score
                summary = f"Engagement score {before} → {score} (contract v{contract_version})"
                changes.append((person, {"engagement_score": before}, {"engagement_score": score}, summary))
        if changes:
            Person.objects.bulk_update([change[0] for change in changes], ["engagement_score"], batch_size=1000)
            audit_record_many(by=actor, action="engagement_score_change", changes=changes)
    return scores


LEDGER_EXPORT_COLUMNS = (
    "rule",
    "touchpoint_id",
    "touchpoint_type",
    "touchpoint_url",
    "given_at",
    "points",
    "capped_by",
    "value_at_scoring",
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
                line.touchpoint_id if line.touchpoint_id is not None else "",
                neutralise(line.touchpoint_type),
                neutralise(line.touchpoint_url),
                iso_datetime(line.given_at),
                line.points,
                line.capped_by.lower().removesuffix(" cap"),
                repr(line.value_at_scoring),
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
        after={"lines": len(ledger.lines), "engagement_score": ledger.stored_score},
        summary=f"Exported the engagement-score ledger ({len(ledger.lines)} lines)",
    )
    return len(ledger.lines)


def score_refresh_queue(*, person_id: int) -> None:
    """Queue a refresh of the person's engagement score once the current transaction commits.

    Whatever records a touchpoint calls this; the refresh runs on the worker under the contract
    in force, so the score follows within the queue's delay.
    """
    from tandem.scoring.tasks import touchpoint_recorded

    transaction.on_commit(lambda: touchpoint_recorded(person_id))
