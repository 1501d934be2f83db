"""The what-if backtest written the straightforward way, kept to check the fast one against.

Every weekly checkpoint rescores everyone from their touchpoints up to that moment with the scoring
engine, one person at a time is judged in Python, and the stage history is walked person by person.
tandem.contract.backtest must give exactly the same Backtest on the same data.

For each version, every week of the window is a checkpoint. At each checkpoint a person counts as a
would-be MQL the first time they are in one of the MQL rule's starting stages (from the real stage
history), their fit score under that version reaches its threshold, and their engagement score under
that version, from the touchpoints up to that moment with its decay and caps, reaches its threshold.
What happened to those people afterwards is read from the real history: how many reached SQL, an
opportunity, customer, and how many sales turned down, with the reasons given.

Fit, MQL segments and the MQL rule's extra condition are judged on each person's and account's data as
it is now (attribute history is not kept); touchpoint aggregates inside them are taken at the end of
the window.
"""

import bisect
import datetime as dt
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from tandem.contract.backtest import (
    LOOKBACK_DAYS,
    OUTCOME_STAGES,
    REJECTED_FROM,
    REJECTED_TO,
    Backtest,
    Outcome,
    backtest_window,
)
from tandem.contract.models import ContractVersion
from tandem.contract.qualification import MqlRule, Thresholds
from tandem.crm.models import Account, Person, StageChange
from tandem.engagement.models import Touchpoint
from tandem.lib.rules import Facts, aggregate_values, fit_rules_parse, fit_score
from tandem.scoring.engine import MICROSECONDS_PER_DAY, TouchpointBatch, match_touchpoints, score_lines, to_microseconds
from tandem.scoring.rules import engagement_rules_parse


@dataclass
class _History:
    """Everyone's stage history, for the stage at any moment and what came after."""

    times: dict[int, list[float]]
    stages: dict[int, list[str]]
    changes: dict[int, list[tuple[float, str, str, str]]]

    def stage_at(self, person_id: int, moment: float) -> str | None:
        times = self.times.get(person_id)
        if not times:
            return None
        index = bisect.bisect_right(times, moment) - 1
        return self.stages[person_id][index] if index >= 0 else None


def _history(start_seconds: float) -> _History:
    times: dict[int, list[float]] = defaultdict(list)
    stages: dict[int, list[str]] = defaultdict(list)
    changes: dict[int, list[tuple[float, str, str, str]]] = defaultdict(list)
    rows = (
        StageChange.objects.filter(person_id__isnull=False)
        .order_by("person_id", "at", "id")
        .values_list("person_id", "at", "from_stage_id", "to_stage_id", "reason")
    )
    for person_id, at, from_stage, to_stage, reason in rows.iterator(chunk_size=20_000):
        moment = at.timestamp()
        times[person_id].append(moment)
        stages[person_id].append(to_stage)
        if moment >= start_seconds:
            changes[person_id].append((moment, from_stage or "", to_stage, reason))
    return _History(times=times, stages=stages, changes=changes)


def _fit_scores(document: dict, people: dict[int, dict], accounts: dict[int, dict], end: dt.datetime) -> dict[int, int]:
    rules = fit_rules_parse(document["fit"]["rules"])
    found = aggregate_values(rules.aggregates, as_of=end)
    defaults = {aggregate.key: 0 if aggregate.function == "count" else None for aggregate in rules.aggregates}
    scores = {}
    for person_id, values in people.items():
        account = accounts.get(values["account_id"]) if values["account_id"] else None
        aggregates = {key: found[key].get(person_id, default) for key, default in defaults.items()}
        facts = Facts(person=values, account=account, aggregates=aggregates, as_of=end)
        scores[person_id] = fit_score(rules, facts)[0]
    return scores


def _replay(
    version: ContractVersion,
    *,
    people: dict[int, dict],
    accounts: dict[int, dict],
    batch: TouchpointBatch,
    history: _History,
    checkpoints: list[dt.datetime],
    end: dt.datetime,
) -> Outcome:
    document = version.document
    mql = document["mql"]
    outcome = Outcome(
        version=version.number,
        fit_score_at_least=mql["fit_score_at_least"],
        engagement_score_at_least=mql["engagement_score_at_least"],
    )
    # Segments and the extra condition are judged on today's data, like fit.
    rule = MqlRule.of(version)
    segment_of: dict[int, Thresholds] = {}
    for segment in rule.segments:
        for person_id in rule.members(segment.when, None, as_of=end):
            segment_of.setdefault(person_id, segment)
    allowed = rule.members(rule.when, None, as_of=end) if rule.when is not None else None
    fits = _fit_scores(document, people, accounts, end)
    fit_ok = {
        person_id
        for person_id, score in fits.items()
        if score >= segment_of.get(person_id, rule.thresholds).fit_score_at_least
        and (allowed is None or person_id in allowed)
    }
    lowest_engagement = rule.lowest.engagement_score_at_least
    from_stages = set(rule.from_stages)
    rules = engagement_rules_parse(document["engagement"])
    positions, rule_index = match_touchpoints(rules, batch)
    person_ids = batch.person_id[positions]
    touchpoint_ids = batch.touchpoint_id[positions]
    occurred = batch.occurred_at_us[positions]
    qualified: dict[int, float] = {}
    for checkpoint in checkpoints:
        checkpoint_us = to_microseconds(checkpoint)
        # Lines after the checkpoint do not count; with a window, neither do lines older than it.
        keep = occurred <= checkpoint_us
        if rules.decay.window_days:
            keep &= occurred >= checkpoint_us - rules.decay.window_days * MICROSECONDS_PER_DAY
        if not keep.any():
            continue
        result = score_lines(
            rules,
            as_of_us=checkpoint_us,
            person_id=person_ids[keep],
            touchpoint_id=touchpoint_ids[keep],
            rule_index=rule_index[keep],
            occurred_at_us=occurred[keep],
        )
        above = result.engagement_score >= lowest_engagement
        moment = checkpoint.timestamp()
        for person_id, score in zip(
            result.person_id[above].tolist(), result.engagement_score[above].tolist(), strict=True
        ):
            if person_id in qualified or person_id not in fit_ok:
                continue
            if score < segment_of.get(person_id, rule.thresholds).engagement_score_at_least:
                continue
            if history.stage_at(person_id, moment) in from_stages:
                qualified[person_id] = moment
    reached: Counter = Counter()
    reasons: Counter = Counter()
    by_month: Counter = Counter()
    for person_id, moment in qualified.items():
        by_month[dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m")] += 1
        later = [change for change in history.changes.get(person_id, ()) if change[0] >= moment]
        for stage in {to_stage for _, _, to_stage, _ in later if to_stage in OUTCOME_STAGES}:
            reached[stage] += 1
        rejection = next((change for change in later if change[1] in REJECTED_FROM and change[2] in REJECTED_TO), None)
        if rejection is not None:
            outcome.rejected += 1
            reasons[rejection[3].strip() or "no reason given"] += 1
    outcome.mqls = len(qualified)
    outcome.reached = dict(reached)
    outcome.reasons = reasons.most_common(8)
    outcome.by_month = dict(by_month)
    return outcome


def reference_backtest(
    *, proposed: ContractVersion, current: ContractVersion, months: int = 12, end: dt.datetime | None = None
) -> Backtest:
    """Replay the last `months` under the current and the proposed version, side by side."""
    started = time.perf_counter()
    start, end, checkpoints = backtest_window(proposed=proposed, current=current, months=months, end=end)

    person_fields = [field.attname for field in Person._meta.concrete_fields]
    people = {
        row["id"]: row for row in Person.objects.filter(created_at__lte=end).values(*person_fields).iterator(20_000)
    }
    account_fields = [field.attname for field in Account._meta.concrete_fields]
    accounts = {row["id"]: row for row in Account.objects.values(*account_fields).iterator(20_000)}
    rows = (
        Touchpoint.objects.filter(
            person_id__isnull=False,
            occurred_at__gte=start - dt.timedelta(days=LOOKBACK_DAYS),
            occurred_at__lte=end,
        )
        .order_by()
        .values_list("id", "person_id", "type", "url", "campaign__name", "occurred_at", "properties")
    )
    batch = TouchpointBatch.from_rows(rows.iterator(chunk_size=50_000))
    history = _history(start.timestamp())
    common = {
        "people": people,
        "accounts": accounts,
        "batch": batch,
        "history": history,
        "checkpoints": checkpoints,
        "end": end,
    }
    return Backtest(
        start=start,
        end=end,
        months=months,
        current=_replay(current, **common),
        proposed=_replay(proposed, **common),
        people=len(people),
        touchpoints=int(len(batch.touchpoint_id)),
        seconds=time.perf_counter() - started,
    )
