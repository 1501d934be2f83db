"""What-if backtest: replay past months under two contract versions and compare who would have become MQL.

For each version, every week of the window is a checkpoint. At each checkpoint a person counts as a
would-be MQL the first time they are in one of the MQL rule's starting stages (from the real stage
history), their fit score under that version reaches its threshold, and their engagement score under
that version, from the touchpoints up to that moment with its decay and caps, reaches its threshold.
What happened to those people afterwards is read from the real history: how many reached SQL, an
opportunity, customer, and how many sales turned down, with the reasons given.

Fit, MQL segments and the MQL rule's extra condition are judged on each person's and account's data as
it is now (attribute history is not kept); touchpoint aggregates inside them are taken at the end of
the window.

How it stays fast at a million people: fit does not change over the window, so only the people whose
fit (in the fit rules' SQL form, which gives the Python evaluator's answers) reaches a version's lowest
fit bar can qualify, and only their touchpoints are read, once for both versions (on PostgreSQL each
with a bit per distinct rule condition, matched in SQL by parallel workers); the stage history is read
once too, all as arrays. Between two checkpoints at which nothing happens to a person (no new touchpoint, none
leaving a window, no stage change) their score only decays and their stage stays, so they cannot
newly qualify there: only checkpoints with an event are candidates. An upper bound of the score at
each checkpoint (every positive point, without caps) is kept for everyone in one pass over the
checkpoints; only the candidates whose bound reaches the bar are scored exactly, with the scoring
engine on their own lines up to that checkpoint, which gives each person the same score as scoring
everyone. Fit is then computed exactly, in Python, for the people whose engagement qualified.
tests/test_backtest_reference.py checks the result against scoring everyone at every checkpoint.
"""

import datetime as dt
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction
from django.db.models import Case, IntegerField, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from tandem.contract.models import ContractVersion
from tandem.contract.qualification import MqlRule
from tandem.crm.models import LifecycleStage, Person, StageChange
from tandem.engagement.models import Touchpoint
from tandem.lib.rules import facts_for_people, fit_rules_parse, fit_score, to_q
from tandem.lib.step_timer import StepTimer
from tandem.scoring.engine import MICROSECONDS_PER_DAY, TouchpointBatch, match_touchpoints, score_lines, to_microseconds
from tandem.scoring.rules import EngagementRules, engagement_rules_parse

OUTCOME_STAGES = ("sal", "sql", "opportunity", "customer")
REJECTED_FROM = ("mql", "sal")
REJECTED_TO = ("recycled", "disqualified")
CHECKPOINT_DAYS = 7
# Touchpoints older than this before the window still count towards scores at its start (decay).
LOOKBACK_DAYS = 365
MAX_MONTHS = 36
# Touchpoints are read from PostgreSQL this many days at a time (one bytea each, far under its 1 GB).
READ_DAYS = 366
# Slack for the float sums of the upper bound: it only decides who is scored exactly.
BOUND_SLACK = 1e-6
NO_REASON = "no reason given"
HOUR_US = 3_600_000_000

# Seconds of each step of the latest backtest in this process, for benchmarks and logs.
last_step_seconds: dict[str, float] = {}


@dataclass
class Outcome:
    """What one version would have done over the window."""

    version: int
    fit_score_at_least: int
    engagement_score_at_least: int
    mqls: int = 0
    reached: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    reasons: list[tuple[str, int]] = field(default_factory=list)
    by_month: dict[str, int] = field(default_factory=dict)

    def share(self, count: int) -> float | None:
        return count / self.mqls if self.mqls else None


@dataclass
class Backtest:
    """Two versions side by side over the same months."""

    start: dt.datetime
    end: dt.datetime
    months: int
    current: Outcome
    proposed: Outcome
    people: int
    touchpoints: int
    seconds: float

    @property
    def month_labels(self) -> list[str]:
        return sorted(set(self.current.by_month) | set(self.proposed.by_month))

    @property
    def rows(self) -> list[tuple[str, int, int]]:
        """(label, current, proposed) for the comparison table."""
        rows = [("Would have become MQL", self.current.mqls, self.proposed.mqls)]
        for stage in OUTCOME_STAGES:
            rows.append(
                (
                    f"… then reached {stage.upper() if stage in ('sal', 'sql') else stage}",
                    self.current.reached.get(stage, 0),
                    self.proposed.reached.get(stage, 0),
                )
            )
        rows.append(("… then rejected by sales", self.current.rejected, self.proposed.rejected))
        return rows


@dataclass
class _Touchpoints:
    """The touchpoints of the period as arrays, shared by both versions."""

    touchpoint_id: np.ndarray
    person_id: np.ndarray
    occurred_at_us: np.ndarray


@dataclass
class _Lines:
    """One version's matched (touchpoint, rule) lines: positions in _Touchpoints and rule indexes."""

    position: np.ndarray
    rule_index: np.ndarray


def _condition_key(rule) -> tuple:
    """What decides whether a touchpoint matches a rule; rules with the same key match the same touchpoints."""
    return (
        rule.touchpoint,
        rule.url.glob if rule.url is not None else None,
        rule.campaign,
        tuple((key, type(value).__name__, value) for key, value in rule.properties),
    )


def _fitting_people(versions: list[ContractVersion], end: dt.datetime) -> np.ndarray | None:
    """Ids of the people whose fit at the end of the window reaches the lowest fit bar of a version, worked
    out in the database (the rules' SQL form gives the Python evaluator's answers); None when a bar of 0
    lets everyone through. Only their touchpoints can make anyone a would-be MQL."""
    lowest: dict[str, int] = {}
    for version in versions:
        key = json.dumps(version.document["fit"]["rules"], sort_keys=True)
        bar = MqlRule.of(version).lowest.fit_score_at_least
        lowest[key] = min(bar, lowest.get(key, bar))
    if min(lowest.values()) <= 0:
        return None
    found = []
    for key, bar in lowest.items():
        rules = fit_rules_parse(json.loads(key))
        total = Value(0, output_field=IntegerField())
        for rule in rules.rules:
            total = total + Case(
                When(to_q(rule.when, as_of=end), then=Value(rule.points)),
                default=Value(0),
                output_field=IntegerField(),
            )
        # The score is the total clamped to 0..100, so for a bar of 1..100 "score >= bar" is "total >= bar".
        people = Person.objects.order_by().filter(created_at__lte=end).alias(fit=total).filter(fit__gte=bar)
        if connection.vendor == "postgresql":
            query, params = people.values("pk").query.sql_with_params()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute(f"SELECT string_agg(int8send(s.pk), ''::bytea) FROM ({query}) s", params)  # noqa: S608
                data = cursor.fetchone()[0]
            found.append(np.frombuffer(bytes(data or b""), dtype=">i8").astype(np.int64))
        else:
            found.append(np.fromiter(people.values_list("pk", flat=True), dtype=np.int64))
    return np.unique(np.concatenate(found))


def _lines_from_batch(
    rule_sets: list[EngagementRules], since: dt.datetime, end: dt.datetime, people: np.ndarray | None
):
    rows = (
        Touchpoint.objects.filter(person_id__isnull=False, occurred_at__gte=since, occurred_at__lte=end)
        .order_by()
        .values_list("id", "person_id", "type", "url", "campaign__name", "occurred_at", "properties")
    )
    batch = TouchpointBatch.from_rows(rows.iterator(chunk_size=50_000))
    touchpoints = _Touchpoints(batch.touchpoint_id, batch.person_id, batch.occurred_at_us)
    line_sets = []
    for rules in rule_sets:
        positions, rule_index = match_touchpoints(rules, batch)
        if people is not None:
            kept = np.isin(batch.person_id[positions], people)
            positions, rule_index = positions[kept], rule_index[kept]
        line_sets.append(_Lines(positions, rule_index))
    return touchpoints, line_sets, len(batch.touchpoint_id)


def _lines_from_postgres(
    rule_sets: list[EngagementRules], since: dt.datetime, end: dt.datetime, people: np.ndarray | None
):
    """Both versions' lines from one read: each touchpoint in the period with a bit per distinct rule
    condition (matched in SQL as the full rescore matches), as fixed-size binary records."""
    import psycopg
    from psycopg import sql

    from tandem.campaigns.models import Campaign
    from tandem.scoring.postgres import POSTGRES_EPOCH_US, rule_match_condition

    campaigns = list(Campaign.objects.values_list("id", "name"))
    conditions: dict[tuple, int] = {}
    sources = []
    bits_of = []
    for rules in rule_sets:
        bits = []
        for rule in rules.rules:
            key = _condition_key(rule)
            if key not in conditions:
                conditions[key] = len(conditions)
                sources.append(rule)
            bits.append(conditions[key])
        bits_of.append(bits)
    words = max(1, math.ceil(len(sources) / 63))
    masks = []
    for word in range(words):
        # One CASE on the type, then only the conditions of that type's rules with a URL, campaign or property.
        by_type: dict[str, list] = {}
        for index, rule in enumerate(sources):
            if index // 63 == word:
                by_type.setdefault(rule.touchpoint, []).append((rule, sql.Literal(1 << (index % 63))))
        branches = []
        for touchpoint, items in by_type.items():
            parts = [
                sql.SQL("CASE WHEN {} THEN {}::int8 ELSE 0::int8 END").format(
                    rule_match_condition(rule, campaigns), bit
                )
                if rule.url is not None or rule.campaign or rule.properties
                else sql.SQL("{}::int8").format(bit)
                for rule, bit in items
            ]
            branches.append(sql.SQL("WHEN {} THEN {}").format(sql.Literal(touchpoint), sql.SQL(" | ").join(parts)))
        masks.append(sql.SQL("CASE t.type {} ELSE 0::int8 END").format(sql.SQL(" ").join(branches)))
    record = sql.SQL(" || ").join(
        [
            sql.SQL("int8send(t.id)"),
            sql.SQL("int8send(t.person_id)"),
            sql.SQL("timestamptz_send(t.occurred_at)"),
            *(sql.SQL("int8send({})").format(mask) for mask in masks),
        ]
    )
    # Touchpoints of a scored type (of the people who fit) come back as a record. OFFSET 0 keeps the
    # subquery whole, so that parallel workers build the records and the leader only appends them.
    query = sql.SQL(
        "SELECT string_agg(t.record, ''::bytea) FROM ("
        "SELECT {record} AS record FROM {table} t "
        "WHERE t.person_id IS NOT NULL AND t.occurred_at >= {low} AND t.occurred_at {upper} {high} "
        "AND t.type = ANY({types}) {who} OFFSET 0) t"
    )
    # The people go as a bitmap over their id range, tested in the parallel workers with get_bit: a
    # list of a hundred thousand ids would take long to plan, and a join would run in one process.
    who = sql.SQL("")
    # Leaving people out only saves work (fit is checked again later), so very spread ids are all read.
    if people is not None and (not len(people) or people[-1] - people[0] < 1 << 27):
        low = int(people[0]) if len(people) else 0
        bits = np.zeros(int(people[-1]) - low + 1 if len(people) else 1, dtype=bool)
        bits[people - low] = True
        who = sql.SQL(
            "AND t.person_id BETWEEN {low} AND {high} AND get_bit({bitmap}, (t.person_id - {low})::int) = 1"
        ).format(
            low=sql.Literal(low),
            high=sql.Literal(low + len(bits) - 1),
            bitmap=sql.Literal(np.packbits(bits, bitorder="little").tobytes()),
        )
    types = sorted({rule.touchpoint for rule in sources})
    width = 3 + words  # int8 words a record: id, person, occurred at, the masks
    chunks = []
    bounds = [since]
    while bounds[-1] + dt.timedelta(days=READ_DAYS) < end:
        bounds.append(bounds[-1] + dt.timedelta(days=READ_DAYS))
    bounds.append(end)
    # Django's cursors bind on the client, which cannot ask for binary results; this one can.
    with transaction.atomic(), psycopg.Cursor(connection.connection) as raw:
        # Sending the records from the workers costs little next to building them.
        raw.execute("SET LOCAL jit = off")
        raw.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE person_id IS NOT NULL AND occurred_at >= {} AND occurred_at <= {}"
            ).format(sql.Identifier(Touchpoint._meta.db_table), sql.Literal(since), sql.Literal(end))
        )
        total = raw.fetchone()[0]
        raw.execute("SET LOCAL parallel_tuple_cost = 0")
        for index in range(len(bounds) - 1):
            upper = "<=" if index == len(bounds) - 2 else "<"
            statement = query.format(
                types=sql.Literal(types),
                record=record,
                table=sql.Identifier(Touchpoint._meta.db_table),
                low=sql.Literal(bounds[index]),
                upper=sql.SQL(upper),
                high=sql.Literal(bounds[index + 1]),
                who=who,
            )
            # The LIKE patterns hold % signs: the statement is complete, with no parameters.
            raw.execute(statement, binary=True)
            data = raw.fetchone()[0]
            if data:
                chunks.append(np.frombuffer(data, dtype=">i8").reshape(-1, width))
    # Each big-endian column is copied once, native, into its array; masks in the narrowest type that holds them.
    rows = sum(len(chunk) for chunk in chunks)
    mask_type = np.uint16 if len(sources) <= 16 else np.uint32 if len(sources) <= 32 else np.int64
    columns = [np.empty(rows, dtype=np.int64) for _ in range(3)] + [np.empty(rows, mask_type) for _ in range(words)]
    offset = 0
    for chunk in chunks:
        for index, column in enumerate(columns):
            np.copyto(column[offset : offset + len(chunk)], chunk[:, index], casting="unsafe")
        offset += len(chunk)
    del chunks
    touchpoint_id, person_id, occurred_at_us, *mask_words = columns
    occurred_at_us += POSTGRES_EPOCH_US
    found = []
    hits: dict[int, np.ndarray] = {}  # a condition both versions have is looked up once
    for bits in bits_of:
        positions, rule_indexes = [], []
        for rule_index, bit in enumerate(bits):
            if bit not in hits:
                hits[bit] = np.flatnonzero(mask_words[bit // 63] & mask_words[bit // 63].dtype.type(1 << (bit % 63)))
            hit = hits[bit]
            positions.append(hit)
            rule_indexes.append(np.full(len(hit), rule_index, dtype=np.int32))
        found.append(
            _Lines(
                position=np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64),
                rule_index=np.concatenate(rule_indexes) if rule_indexes else np.zeros(0, dtype=np.int32),
            )
        )
    return _Touchpoints(touchpoint_id, person_id, occurred_at_us), found, total


@dataclass
class _History:
    """Every stage change of a person, as arrays in (person, at, id) order; codes index `stages` and `reasons`."""

    person_id: np.ndarray
    at_us: np.ndarray
    from_stage: np.ndarray
    to_stage: np.ndarray
    reason: np.ndarray  # rejections only (0: not a rejection)
    stages: list  # code -> stage key; code 0 is no stage
    reasons: list  # code -> reason as given; code 0 unused


def _rejection_filter() -> dict:
    return {"from_stage_id__in": REJECTED_FROM, "to_stage_id__in": REJECTED_TO}


def _history(start: dt.datetime) -> _History:
    stages = [None, *LifecycleStage.objects.order_by("key").values_list("key", flat=True)]
    code_of = {key: code for code, key in enumerate(stages)}
    changes = StageChange.objects.filter(person_id__isnull=False)
    # Only rejections inside the window are ever reported, so only their reasons are read.
    rejections = dict(changes.filter(at__gte=start, **_rejection_filter()).values_list("id", "reason"))
    reasons = [None, *sorted(set(rejections.values()))]  # code 0: not a rejection
    reason_of = {reason: code for code, reason in enumerate(reasons) if code}
    if connection.vendor == "postgresql":
        import psycopg
        from psycopg import sql

        from tandem.scoring.postgres import POSTGRES_EPOCH_US

        # One group per move (from, to): the stage codes are given per group, not per row.
        query = sql.SQL(
            "SELECT from_stage_id, to_stage_id, "
            "string_agg(int8send(id) || int8send(person_id) || timestamptz_send(at), ''::bytea) "
            "FROM {} WHERE person_id IS NOT NULL GROUP BY from_stage_id, to_stage_id"
        ).format(sql.Identifier(StageChange._meta.db_table))
        connection.ensure_connection()
        record = np.dtype([("id", ">i8"), ("person_id", ">i8"), ("at", ">i8")])
        parts = []
        with psycopg.Cursor(connection.connection) as raw:
            raw.execute(query, binary=True)
            for from_stage, to_stage, data in raw.fetchall():
                rows = np.frombuffer(data, dtype=record)
                parts.append((rows, code_of[from_stage], code_of[to_stage]))
        change_id = np.concatenate([rows["id"] for rows, _, _ in parts] or [[]]).astype(np.int64)
        person_id = np.concatenate([rows["person_id"] for rows, _, _ in parts] or [[]]).astype(np.int64)
        at_us = np.concatenate([rows["at"] for rows, _, _ in parts] or [[]]).astype(np.int64) + POSTGRES_EPOCH_US
        from_stage = np.concatenate([np.full(len(rows), code, np.int16) for rows, code, _ in parts] or [[]])
        to_stage = np.concatenate([np.full(len(rows), code, np.int16) for rows, _, code in parts] or [[]])
        from_stage, to_stage = from_stage.astype(np.int16), to_stage.astype(np.int16)
    else:
        rows = list(changes.values_list("id", "person_id", "at", "from_stage_id", "to_stage_id"))
        change_id = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        person_id = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
        at_us = np.fromiter((to_microseconds(row[2]) for row in rows), dtype=np.int64, count=len(rows))
        from_stage = np.fromiter((code_of[row[3]] for row in rows), dtype=np.int16, count=len(rows))
        to_stage = np.fromiter((code_of[row[4]] for row in rows), dtype=np.int16, count=len(rows))
    reason = np.zeros(len(change_id), dtype=np.int32)
    if rejections:
        ids = np.fromiter(rejections, dtype=np.int64, count=len(rejections))
        codes = np.fromiter((reason_of[text] for text in rejections.values()), dtype=np.int32, count=len(ids))
        sorter = np.argsort(ids)
        position = np.minimum(np.searchsorted(ids[sorter], change_id), len(ids) - 1)
        hit = ids[sorter][position] == change_id
        reason[hit] = codes[sorter][position[hit]]
    order = np.lexsort((change_id, at_us, person_id))
    return _History(
        person_id=person_id[order],
        at_us=at_us[order],
        from_stage=from_stage[order],
        to_stage=to_stage[order],
        reason=reason[order],
        stages=stages,
        reasons=reasons,
    )


class _People:
    """Numbers 0..n-1 for the people who have lines, to index dense per-person arrays."""

    def __init__(self, person_ids: np.ndarray):
        self.low = int(person_ids.min()) if len(person_ids) else 0
        high = int(person_ids.max()) if len(person_ids) else -1
        self.is_range = high - self.low < 4 * len(person_ids) + 1_000_000
        if self.is_range:
            self.size = high - self.low + 1
            self.ids = None
        else:
            self.ids = np.unique(person_ids)
            self.size = len(self.ids)

    def index(self, person_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index, known): the number of each id, and whether it has one (unknown ids get 0)."""
        person_ids = np.asarray(person_ids, dtype=np.int64)
        if self.is_range:
            index = person_ids - self.low
            known = (index >= 0) & (index < self.size)
        else:
            index = np.minimum(np.searchsorted(self.ids, person_ids), max(self.size - 1, 0))
            known = self.ids[index] == person_ids if self.size else np.zeros(len(person_ids), dtype=bool)
        return np.where(known, index, 0), known

    def id_of(self, index: np.ndarray) -> np.ndarray:
        return index + self.low if self.is_range else self.ids[index]


def _grouped(keys: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, bounds): positions sorted by key (stable), and where each key 0..groups-1 starts and ends."""
    order = np.argsort(keys, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=groups + 1)[: groups + 1])])
    return order, bounds[: groups + 1]


@dataclass
class _Timeline:
    """What both versions share: the checkpoints, the people numbered, each touchpoint's person and the first
    checkpoint it counts at (grouped by it), and the stage changes grouped by the checkpoint they are in force from."""

    checkpoints_us: np.ndarray
    people: _People
    person: np.ndarray
    entered: np.ndarray
    hours_to_entry: np.ndarray
    in_order: np.ndarray
    in_bounds: np.ndarray
    change_person: np.ndarray
    change_order: np.ndarray
    change_bounds: np.ndarray
    decays: dict = field(default_factory=dict)

    def decay_to_entry(self, half_life: float) -> np.ndarray:
        """Each touchpoint's decay from when it happened to its first checkpoint, by whole hours of age: a
        little more than the exact value, as a bound may be, and a table lookup instead of a power each."""
        if half_life not in self.decays:
            table = 0.5 ** (np.arange(int(self.hours_to_entry.max(initial=0)) + 1) / 24 / half_life)
            self.decays[half_life] = table[self.hours_to_entry]
        return self.decays[half_life]


def _timeline(touchpoints: _Touchpoints, history: _History, checkpoints_us: np.ndarray) -> _Timeline:
    count = len(checkpoints_us)
    people = _People(touchpoints.person_id)
    person, _ = people.index(touchpoints.person_id)
    entered = np.searchsorted(checkpoints_us, touchpoints.occurred_at_us, side="left").astype(np.int16)
    hours_to_entry = ((checkpoints_us[entered] - touchpoints.occurred_at_us) // HOUR_US).astype(np.int32)
    in_order, in_bounds = _grouped(entered, count)
    # Within a checkpoint's changes each person's stay in (person, at, id) order: their last one is last.
    change_person, change_known = people.index(history.person_id)
    change_step = np.searchsorted(checkpoints_us, history.at_us, side="left")
    change_order, change_bounds = _grouped(np.where(change_known, change_step, count), count + 1)
    return _Timeline(
        checkpoints_us=checkpoints_us,
        people=people,
        person=person,
        entered=entered,
        hours_to_entry=hours_to_entry,
        in_order=in_order,
        in_bounds=in_bounds,
        change_person=change_person,
        change_order=change_order,
        change_bounds=change_bounds,
    )


@dataclass
class _Bar:
    """One version's part of the replay: its lines, each touchpoint's bound and line count, when its
    touchpoints leave the window, everyone's engagement bar and the stages they may qualify from."""

    rules: EngagementRules
    lines: _Lines
    line_entered: np.ndarray
    bound_of: np.ndarray
    lines_of: np.ndarray
    left: np.ndarray | None
    out_order: np.ndarray
    out_bounds: np.ndarray
    bar: np.ndarray
    starting: np.ndarray


def _bar(
    rules: EngagementRules,
    touchpoints: _Touchpoints,
    lines: _Lines,
    history: _History,
    timeline: _Timeline,
    *,
    bar: np.ndarray,
    from_stages: set[str],
) -> _Bar:
    checkpoints_us = timeline.checkpoints_us
    count = len(checkpoints_us)
    size = len(touchpoints.touchpoint_id)
    line_entered = timeline.entered[lines.position]
    # A touchpoint counts at checkpoints entered <= k < left.
    window = rules.decay.window_days
    left = None
    out_order = out_bounds = np.zeros(0, dtype=np.int64)
    if window is not None:
        left = np.searchsorted(
            checkpoints_us, touchpoints.occurred_at_us + window * MICROSECONDS_PER_DAY, side="right"
        ).astype(np.int16)
        # A touchpoint already out of the window at the first checkpoint after it never counts.
        counts = left[lines.position] > line_entered
        if not counts.all():
            lines = _Lines(lines.position[counts], lines.rule_index[counts])
            line_entered = line_entered[counts]
    points = np.array([rule.points for rule in rules.rules] or [0], dtype=np.float64)
    caps = np.array([rule.cap or np.inf for rule in rules.rules] or [np.inf], dtype=np.float64)
    # No line gives more than its points, nor more than its rule's cap; negative lines only take away.
    values = np.clip(np.minimum(points, caps), 0, None)
    bound_of = np.zeros(size)
    # Whether a touchpoint has lines: they all come and leave together, so people are followed by how many
    # of their touchpoints with lines count.
    lines_of = np.zeros(size, dtype=bool)
    # Lines come rule by rule, and a rule holds a touchpoint once: each rule's positions are distinct.
    starts = np.searchsorted(lines.rule_index, np.arange(len(rules.rules) + 1))
    for index, value in enumerate(values[: len(rules.rules)]):
        positions = lines.position[starts[index] : starts[index + 1]]
        if value > 0:
            bound_of[positions] += value
        lines_of[positions] = True
    half_life = rules.decay.half_life_days
    if half_life is not None:
        bound_of *= timeline.decay_to_entry(half_life)
    if left is not None:
        scored = np.flatnonzero(lines_of)
        out_order, out_bounds = _grouped(left[scored], count + 1)
        out_order = scored[out_order]
    return _Bar(
        rules=rules,
        lines=lines,
        line_entered=line_entered,
        bound_of=bound_of,
        lines_of=lines_of,
        left=left,
        out_order=out_order,
        out_bounds=out_bounds,
        bar=bar,
        starting=np.array([stage in from_stages for stage in history.stages], dtype=bool),
    )


def _candidates(bars: list[_Bar], history: _History, timeline: _Timeline) -> list[list[np.ndarray]]:
    """For each version, for each checkpoint: the people with an event there, in a starting stage, with lines,
    whose bound reaches their bar. Steps through the checkpoints touching only the people something
    happens to; a bound is brought up to date (decayed) when its person is touched."""
    checkpoints_us = timeline.checkpoints_us
    size = timeline.people.size
    empty = np.zeros(0, dtype=np.int64)
    stage = np.zeros(size, dtype=np.int16)
    stamp = np.zeros(size, dtype=np.int64)
    bound = [np.zeros(size) for _ in bars]
    bound_step = [np.zeros(size, dtype=np.int64) for _ in bars]
    # Lines counted where touchpoints leave a window; elsewhere whether there are any is enough.
    lines_now = [np.zeros(size, dtype=np.int32 if one.left is not None else bool) for one in bars]
    found: list[list[np.ndarray]] = [[] for _ in bars]
    for step in range(len(checkpoints_us)):
        coming = timeline.in_order[timeline.in_bounds[step] : timeline.in_bounds[step + 1]]
        coming_people = timeline.person[coming]
        going = [
            one.out_order[one.out_bounds[step] : one.out_bounds[step + 1]] if one.left is not None else empty
            for one in bars
        ]
        going_people = [timeline.person[positions] for positions in going]
        changed = timeline.change_order[timeline.change_bounds[step] : timeline.change_bounds[step + 1]]
        touched = np.concatenate([coming_people, *going_people, timeline.change_person[changed]])
        if not len(touched):
            for each in found:
                each.append(empty)
            continue
        # Each person once: the one place whose number sticks in `stamp` keeps them.
        places = np.arange(len(touched))
        stamp[touched] = places
        touched = touched[stamp[touched] == places]
        if len(changed):
            who = timeline.change_person[changed]
            last = np.append(who[1:] != who[:-1], True)
            stage[who[last]] = history.to_stage[changed[last]]
        stage_now = stage[touched]
        for index, one in enumerate(bars):
            half_life = one.rules.decay.half_life_days
            if half_life is not None:
                since_us = checkpoints_us[step] - checkpoints_us[bound_step[index][touched]]
                bound[index][touched] *= np.exp2(-(since_us / MICROSECONDS_PER_DAY) / half_life)
                bound_step[index][touched] = step
            np.add.at(bound[index], coming_people, one.bound_of[coming])
            if one.left is not None:
                np.add.at(lines_now[index], coming_people, one.lines_of[coming].astype(np.int32))
            else:
                lines_now[index][coming_people[one.lines_of[coming]]] = True
            if len(going[index]):
                np.subtract.at(bound[index], going_people[index], one.bound_of[going[index]])
                np.subtract.at(lines_now[index], going_people[index], one.lines_of[going[index]].astype(np.int32))
            bars_now = one.bar[touched]
            hit = (
                one.starting[stage_now]
                & (lines_now[index][touched] > 0)
                & ((bars_now <= 0) | (bound[index][touched] + BOUND_SLACK >= bars_now - 0.5))
            )
            found[index].append(touched[hit])
    return found


def _exact_crossings(
    one: _Bar, candidates: list[np.ndarray], touchpoints: _Touchpoints, timeline: _Timeline
) -> dict[int, int]:
    """{person id: index of the first checkpoint at which they were in a starting stage and their engagement
    score reached their bar}: the candidates scored exactly, checkpoint by checkpoint, on their own lines up
    to then, with the scoring engine, as scoring everyone at every checkpoint would find it."""
    checkpoints_us = timeline.checkpoints_us
    count = len(checkpoints_us)
    people = timeline.people
    lines, line_entered, left = one.lines, one.line_entered, one.left
    is_candidate = np.zeros(people.size, dtype=bool)
    for found in candidates:
        is_candidate[found] = True
    line_person = timeline.person[lines.position]
    mine = np.flatnonzero(is_candidate[line_person])
    order = mine[np.lexsort((line_entered[mine], line_person[mine]))]
    key = line_person[order].astype(np.int64) * (count + 1) + line_entered[order]
    first = np.searchsorted(key, np.arange(people.size, dtype=np.int64) * (count + 1))
    crossed: dict[int, int] = {}
    done = np.zeros(people.size, dtype=bool)
    for step, found in enumerate(candidates):
        found = found[~done[found]]
        if not len(found):
            continue
        starts = first[found]
        ends = np.searchsorted(key, found.astype(np.int64) * (count + 1) + step, side="right")
        sizes = ends - starts
        offsets = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
        taken = order[offsets]
        position = lines.position[taken]
        if left is not None:
            still = left[position] > step
            taken, position = taken[still], position[still]
        result = score_lines(
            one.rules,
            as_of_us=int(checkpoints_us[step]),
            person_id=touchpoints.person_id[position],
            touchpoint_id=touchpoints.touchpoint_id[position],
            rule_index=lines.rule_index[taken],
            occurred_at_us=touchpoints.occurred_at_us[position],
        )
        index, _ = people.index(result.person_id)
        above = result.engagement_score >= one.bar[index]
        for person_id in result.person_id[above].tolist():
            crossed[person_id] = step
        done[index[above]] = True
    return crossed


def _people_among(person_ids: list[int]):
    """The people with these ids, passed to the database as one parameter however many there are."""
    if connection.vendor == "postgresql":
        return Person.objects.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", [person_ids]))
    return Person.objects.filter(pk__in=RawSQL("SELECT value FROM json_each(%s)", [json.dumps(person_ids)]))


def _fit_scores(fit_rules: list, person_ids: set[int], end: dt.datetime) -> dict[int, int]:
    """The fit score at the end of the window of each of these people (those created by then)."""
    if not person_ids:
        return {}
    rules = fit_rules_parse(fit_rules)
    people = _people_among(sorted(person_ids)).filter(created_at__lte=end)
    return {
        person_id: fit_score(rules, facts)[0] for person_id, facts in facts_for_people(rules, as_of=end, people=people)
    }


def _outcome(version: ContractVersion, qualified: dict[int, int], history: _History, checkpoints) -> Outcome:
    mql = version.document["mql"]
    outcome = Outcome(
        version=version.number,
        fit_score_at_least=mql["fit_score_at_least"],
        engagement_score_at_least=mql["engagement_score_at_least"],
    )
    # The order a replay checkpoint by checkpoint meets them in: by checkpoint, then by person.
    ordered = sorted(qualified.items(), key=lambda item: (item[1], item[0]))
    outcome.mqls = len(ordered)
    if not ordered:
        return outcome
    person_ids = np.array([person_id for person_id, _ in ordered], dtype=np.int64)
    moments = np.array([to_microseconds(checkpoints[step]) for _, step in ordered], dtype=np.int64)
    sorter = np.argsort(person_ids)
    position = np.searchsorted(person_ids[sorter], history.person_id)
    position = np.minimum(position, len(person_ids) - 1)
    mine = person_ids[sorter][position] == history.person_id
    rank = sorter[position]
    later = np.flatnonzero(mine & (history.at_us >= moments[rank]))
    stage_names = history.stages
    for stage in OUTCOME_STAGES:
        if stage in stage_names:
            reached = later[history.to_stage[later] == stage_names.index(stage)]
            count = len(np.unique(rank[reached]))
            if count:
                outcome.reached[stage] = count
    rejections = later[history.reason[later] > 0]
    # The first rejection after qualifying is each person's: history is in (person, at, id) order.
    first = (
        rejections[np.append(True, rank[rejections][1:] != rank[rejections][:-1])] if len(rejections) else rejections
    )
    reason_by_rank = dict(zip(rank[first].tolist(), history.reason[first].tolist(), strict=True))
    reasons: Counter = Counter()
    by_month: Counter = Counter()
    for index, (_, step) in enumerate(ordered):
        by_month[checkpoints[step].astimezone(dt.UTC).strftime("%Y-%m")] += 1
        code = reason_by_rank.get(index)
        if code is not None:
            reasons[history.reasons[code].strip() or NO_REASON] += 1
    outcome.rejected = sum(reasons.values())
    outcome.reasons = reasons.most_common(8)
    outcome.by_month = dict(by_month)
    return outcome


@dataclass
class _Replay:
    """One version's MQL rule, its segments and whose engagement crossed the bar when."""

    version: ContractVersion
    rule: MqlRule
    segment_of: dict
    crossed: dict[int, int]


def _segments(rule: MqlRule, end: dt.datetime) -> dict:
    """Each person's segment (the first that holds), judged on today's data like fit."""
    segment_of = {}
    for segment in rule.segments:
        for person_id in rule.members(segment.when, None, as_of=end):
            segment_of.setdefault(person_id, segment)
    return segment_of


def _engagement_bars(rule: MqlRule, segment_of: dict, people: _People) -> np.ndarray:
    bar = np.full(people.size, rule.thresholds.engagement_score_at_least, dtype=np.int64)
    if segment_of:
        index, known = people.index(np.fromiter(segment_of, dtype=np.int64, count=len(segment_of)))
        values = np.array([segment.engagement_score_at_least for segment in segment_of.values()])
        bar[index[known]] = values[known]
    return bar


def _qualified(replay: _Replay, fits: dict[int, int], end) -> dict[int, int]:
    """{person id: checkpoint index} of those whose engagement crossed and who also met the fit bar and the
    extra condition at the end of the window."""
    rule, crossed = replay.rule, replay.crossed
    allowed = None
    if rule.when is not None and crossed:
        allowed = set(_people_among(sorted(crossed)).filter(to_q(rule.when, as_of=end)).values_list("pk", flat=True))
    return {
        person_id: step
        for person_id, step in crossed.items()
        if person_id in fits
        and fits[person_id] >= replay.segment_of.get(person_id, rule.thresholds).fit_score_at_least
        and (allowed is None or person_id in allowed)
    }


def backtest_window(
    *, proposed: ContractVersion, current: ContractVersion, months: int, end: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime, list[dt.datetime]]:
    """Check a backtest's versions and length; returns its start, end and checkpoints (the last is the end)."""
    if not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months: expected 1 to {MAX_MONTHS}, got {months}.")
    for version in (proposed, current):
        if not version.is_valid:
            raise ValueError(f"v{version.number} has problems; fix them before a backtest.")
    end = end or timezone.now()
    start = end - dt.timedelta(days=round(months * 365.25 / 12))
    checkpoints = []
    moment = start + dt.timedelta(days=CHECKPOINT_DAYS)
    while moment < end:
        checkpoints.append(moment)
        moment += dt.timedelta(days=CHECKPOINT_DAYS)
    checkpoints.append(end)
    return start, end, checkpoints


def contract_backtest(
    *, proposed: ContractVersion, current: ContractVersion, months: int = 12, end: dt.datetime | None = None
) -> Backtest:
    """Replay the last `months` under the current and the proposed version, side by side."""
    started = time.perf_counter()
    start, end, checkpoints = backtest_window(proposed=proposed, current=current, months=months, end=end)

    rule_sets = [engagement_rules_parse(version.document["engagement"]) for version in (current, proposed)]
    since = start - dt.timedelta(days=LOOKBACK_DAYS)
    step = StepTimer(last_step_seconds)
    fitting = _fitting_people([current, proposed], end)
    step("fit")
    read = _lines_from_postgres if connection.vendor == "postgresql" else _lines_from_batch
    touchpoints, line_sets, touchpoint_count = read(rule_sets, since, end, fitting)
    step("touchpoints")
    history = _history(start)
    people = Person.objects.filter(created_at__lte=end).count()
    step("history")
    checkpoints_us = np.array([to_microseconds(moment) for moment in checkpoints], dtype=np.int64)
    timeline = _timeline(touchpoints, history, checkpoints_us)
    step("engagement")
    rules_of = [MqlRule.of(version) for version in (current, proposed)]
    segments = [_segments(rule, end) for rule in rules_of]
    bars = [
        _bar(
            rules,
            touchpoints,
            lines,
            history,
            timeline,
            bar=_engagement_bars(rule, segment_of, timeline.people),
            from_stages=set(rule.from_stages),
        )
        for rules, lines, rule, segment_of in zip(rule_sets, line_sets, rules_of, segments, strict=True)
    ]
    del line_sets
    candidates = _candidates(bars, history, timeline)
    replays = [
        _Replay(
            version=version,
            rule=rule,
            segment_of=segment_of,
            crossed=_exact_crossings(one, found, touchpoints, timeline),
        )
        for version, rule, segment_of, one, found in zip(
            (current, proposed), rules_of, segments, bars, candidates, strict=True
        )
    ]
    step("engagement")
    # Fit only for those whose engagement crossed; once for both versions when their fit rules agree.
    fits_by_rules: dict[str, dict[int, int]] = {}
    for replay in replays:
        key = json.dumps(replay.version.document["fit"]["rules"], sort_keys=True)
        if key not in fits_by_rules:
            wanted = set().union(
                *(
                    other.crossed
                    for other in replays
                    if json.dumps(other.version.document["fit"]["rules"], sort_keys=True) == key
                )
            )
            fits_by_rules[key] = _fit_scores(replay.version.document["fit"]["rules"], wanted, end)
    qualified = [
        _qualified(replay, fits_by_rules[json.dumps(replay.version.document["fit"]["rules"], sort_keys=True)], end)
        for replay in replays
    ]
    step("fit")
    current_outcome, proposed_outcome = (
        _outcome(replay.version, found, history, checkpoints) for replay, found in zip(replays, qualified, strict=True)
    )
    step("outcomes")
    return Backtest(
        start=start,
        end=end,
        months=months,
        current=current_outcome,
        proposed=proposed_outcome,
        people=people,
        touchpoints=touchpoint_count,
        seconds=time.perf_counter() - started,
    )


def month_bars(backtest: Backtest, *, width: int = 640, height: int = 180) -> dict:
    """Geometry of a grouped bar chart of would-be MQLs per month (current vs proposed), for an inline SVG."""
    labels = backtest.month_labels
    top = max([1, *backtest.current.by_month.values(), *backtest.proposed.by_month.values()])
    slot = width / max(1, len(labels))
    bar = max(2.0, slot * 0.38)
    bars = []
    for index, label in enumerate(labels):
        for offset, (series, counts) in enumerate(
            (("current", backtest.current.by_month), ("proposed", backtest.proposed.by_month))
        ):
            value = counts.get(label, 0)
            bar_height = (height - 20) * value / top
            bars.append(
                {
                    "series": series,
                    "label": label,
                    "value": value,
                    "x": round(index * slot + slot * 0.1 + offset * bar, 1),
                    "y": round(height - 20 - bar_height, 1),
                    "width": round(bar, 1),
                    "height": round(bar_height, 1),
                }
            )
    ticks = [{"label": label[2:], "x": round(index * slot + slot / 2, 1)} for index, label in enumerate(labels)]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks, "top": top}
