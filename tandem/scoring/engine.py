"""The engagement-scoring engine: plain arrays in, ledger lines and scores out (no database).

Order of work, the same for one person or ten million touchpoints:
1. A touchpoint earns the points of every rule it matches (type, and URL glob, campaign and
   properties where the rule names them). Touchpoints after `as_of` do not count; with a window,
   neither do touchpoints older than the window.
2. Caps limit the raw points. Each person's lines of one rule are taken newest first and given
   points until the rule's cap is used up: the most recent activity is what counts, and a new
   touchpoint can only raise a capped rule's value. A cap on a negative rule limits how much it
   takes away. Group caps then limit the positive points of the group's rules the same way;
   negative points are never capped by a group and take no room in it.
3. Each line decays from when it was given: value = points x 0.5^(age days / half-life), or the
   full points inside the window.
4. The engagement score is the sum of the values, rounded half up and clamped to 0..100.

Lines come out in one canonical order (rule, person, given at, touchpoint) and each person's sum
is taken in that order, so the bulk and the one-person paths give bit-identical values, and a
store that numbers the lines in that order can replay the sum by id.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np

from tandem.scoring.rules import EngagementRules

MICROSECONDS_PER_DAY = 86_400_000_000
SCORE_MAX = 100
CAPPED_NONE, CAPPED_BY_RULE, CAPPED_BY_GROUP = 0, 1, 2
CAPPED_LABELS = {CAPPED_NONE: "", CAPPED_BY_RULE: "rule", CAPPED_BY_GROUP: "group"}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_microseconds(moment: dt.datetime) -> int:
    """An aware datetime as whole microseconds since 1970-01-01 UTC (exact, no float rounding)."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def from_microseconds(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=int(value))


@dataclass
class TouchpointBatch:
    """Touchpoints as parallel arrays; `campaign` holds campaign names ('' for none)."""

    touchpoint_id: np.ndarray
    person_id: np.ndarray
    occurred_at_us: np.ndarray
    type: list[str]
    url: list[str]
    campaign: list[str]
    properties: list

    @classmethod
    def from_rows(cls, rows) -> "TouchpointBatch":
        """From (touchpoint_id, person_id, type, url, campaign_name, occurred_at, properties) tuples."""
        rows = list(rows)
        return cls(
            touchpoint_id=np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
            person_id=np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows)),
            occurred_at_us=np.fromiter((to_microseconds(row[5]) for row in rows), dtype=np.int64, count=len(rows)),
            type=[row[2] for row in rows],
            url=[row[3] or "" for row in rows],
            campaign=[row[4] or "" for row in rows],
            properties=[row[6] for row in rows],
        )


@dataclass
class LedgerLines:
    """One line per (touchpoint, rule) that counts, in canonical order: rule, person, given at, touchpoint."""

    person_id: np.ndarray
    touchpoint_id: np.ndarray
    rule_index: np.ndarray
    given_at_us: np.ndarray
    points: np.ndarray  # after caps
    capped_by: np.ndarray  # CAPPED_NONE / CAPPED_BY_RULE / CAPPED_BY_GROUP
    value: np.ndarray  # after decay at as_of

    def __len__(self) -> int:
        return len(self.person_id)


@dataclass
class ScoreResult:
    """Ledger lines plus, for every person with at least one line, the decayed total and the score."""

    lines: LedgerLines
    person_id: np.ndarray
    total: np.ndarray
    engagement_score: np.ndarray

    def score_of(self, person_id: int) -> int:
        position = np.searchsorted(self.person_id, person_id)
        if position < len(self.person_id) and self.person_id[position] == person_id:
            return int(self.engagement_score[position])
        return 0


def score_from_total(total: float) -> int:
    """The stored score for a decayed total: rounded half up, clamped to 0..100."""
    return int(min(SCORE_MAX, max(0, np.floor(total + 0.5))))


def match_touchpoints(rules: EngagementRules, batch: TouchpointBatch) -> tuple[np.ndarray, np.ndarray]:
    """(touchpoint positions, rule indexes): one pair per rule a touchpoint matches."""
    types = np.asarray(batch.type, dtype=object)
    positions, rule_indexes = [], []
    for index, rule in enumerate(rules.rules):
        candidates = np.flatnonzero(types == rule.touchpoint)
        if rule.url is not None and len(candidates):
            urls = [batch.url[position] for position in candidates]
            distinct, inverse = np.unique(np.asarray(urls, dtype=object), return_inverse=True)
            url_ok = np.fromiter((rule.url.matches(url) for url in distinct), dtype=bool, count=len(distinct))
            candidates = candidates[url_ok[inverse]]
        if rule.campaign or rule.properties:
            candidates = np.asarray(
                [
                    position
                    for position in candidates
                    if rule.matches_campaign_and_properties(batch.campaign[position], batch.properties[position])
                ],
                dtype=np.int64,
            )
        positions.append(candidates.astype(np.int64))
        rule_indexes.append(np.full(len(candidates), index, dtype=np.int32))
    if not positions:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
    return np.concatenate(positions), np.concatenate(rule_indexes)


def _exclusive_segment_cumsum(values: np.ndarray, segment_start: np.ndarray) -> np.ndarray:
    """For each position, the sum of the earlier values in its segment (segments are contiguous)."""
    running = np.cumsum(values)
    starts = np.maximum.accumulate(np.where(segment_start, np.arange(len(values)), 0))
    return running - values - (running[starts] - values[starts])


def _exclusive_segment_suffix_sum(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For each position, the sum of the later values with the same key (equal keys are contiguous)."""
    reverse = slice(None, None, -1)
    return _exclusive_segment_cumsum(values[reverse], _segment_starts(keys[reverse]))[reverse]


def _segment_starts(*keys: np.ndarray) -> np.ndarray:
    start = np.zeros(len(keys[0]), dtype=bool)
    if len(start):
        start[0] = True
        for key in keys:
            start[1:] |= key[1:] != key[:-1]
    return start


def _bits_for(count: int) -> int:
    """Bits that hold the numbers 0..count-1."""
    return max(1, int(count - 1).bit_length())


def _dense_key(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Values as small non-negative integers in the same order, and the bits they need."""
    if not len(values):
        return values, 1
    low, high = int(values.min()), int(values.max())
    if high - low < 4 * len(values) + 1024:
        return values - low, _bits_for(high - low + 1)
    distinct, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(np.int64), _bits_for(len(distinct))


def _order_by(keys: list[tuple[np.ndarray, int]], *, fallback) -> np.ndarray:
    """Indexes that sort by the keys (most significant first), packed into one int64 when they fit."""
    if sum(bits for _, bits in keys) > 62:
        return fallback()
    packed = np.zeros(len(keys[0][0]), dtype=np.int64)
    for values, bits in keys:
        packed <<= bits
        packed |= values.astype(np.int64)
    # The last key is a line's unique place, so the packed keys are unique and any sort is exact.
    return np.argsort(packed)


def _newest_first_order(occurred_at_us: np.ndarray, touchpoint_id: np.ndarray, rule_index: np.ndarray) -> np.ndarray:
    """Indexes ordering lines by time descending, touchpoint id descending, rule ascending."""
    touchpoint_key, touchpoint_bits = _dense_key(touchpoint_id)
    rule_bits = _bits_for(int(rule_index.max()) + 1) if len(rule_index) else 1
    count = len(occurred_at_us)
    if touchpoint_bits + rule_bits <= 62 and _bits_for(count) + touchpoint_bits + rule_bits <= 62:
        tie_key = ((touchpoint_key.max(initial=0) - touchpoint_key) << rule_bits) | rule_index
        # Sort by time alone, then put in order only the runs of lines sharing a moment (a touchpoint
        # that several rules match, or touchpoints at the same microsecond): few, so one small sort by
        # (run, tie key) does it, where a stable sort of every line by time costs far more.
        order = np.argsort(-occurred_at_us)
        moments = occurred_at_us[order]
        starts = _segment_starts(moments)
        run = np.cumsum(starts) - 1
        run_length = np.bincount(run)
        tied = np.flatnonzero(run_length[run] > 1)
        if len(tied):
            key = (run[tied].astype(np.int64) << (touchpoint_bits + rule_bits)) | tie_key[order[tied]]
            order[tied] = order[tied][np.argsort(key)]  # unique keys: any sort gives the same order
        return order
    if touchpoint_bits + rule_bits <= 62:
        tie_key = ((touchpoint_key.max(initial=0) - touchpoint_key) << rule_bits) | rule_index
        order = np.argsort(tie_key)  # unique keys: any sort gives the same order
    else:
        order = np.argsort(rule_index, kind="stable")
        order = order[np.argsort(-touchpoint_id[order], kind="stable")]
    return order[np.argsort(-occurred_at_us[order], kind="stable")]


def _sum_by_person(person_id: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(people with lines ascending, their totals), each total summed in the lines' order."""
    if not len(person_id):
        return np.empty(0, dtype=np.int64), np.zeros(0)
    low, high = int(person_id.min()), int(person_id.max())
    if high - low < 4 * len(person_id) + 1024:
        offset = person_id - low
        present = np.bincount(offset, minlength=high - low + 1) > 0
        totals = np.bincount(offset, weights=value, minlength=high - low + 1)
        return np.flatnonzero(present) + low, totals[present]
    people, inverse = np.unique(person_id, return_inverse=True)
    return people, np.bincount(inverse, weights=value, minlength=len(people))


def score_lines(
    rules: EngagementRules,
    *,
    as_of_us: int,
    person_id: np.ndarray,
    touchpoint_id: np.ndarray,
    rule_index: np.ndarray,
    occurred_at_us: np.ndarray,
) -> ScoreResult:
    """Apply caps, decay and the clamp to matched (person, touchpoint, rule, time) lines."""
    person_id = np.asarray(person_id, dtype=np.int64)
    touchpoint_id = np.asarray(touchpoint_id, dtype=np.int64)
    rule_index = np.asarray(rule_index, dtype=np.int32)
    occurred_at_us = np.asarray(occurred_at_us, dtype=np.int64)
    age_us = as_of_us - occurred_at_us
    keep = age_us >= 0
    if rules.decay.window_days is not None:
        keep &= age_us <= rules.decay.window_days * MICROSECONDS_PER_DAY
    if not keep.all():
        person_id, touchpoint_id, rule_index = person_id[keep], touchpoint_id[keep], rule_index[keep]
        occurred_at_us, age_us = occurred_at_us[keep], age_us[keep]

    rule_points = np.array([rule.points for rule in rules.rules] or [0], dtype=np.int64)
    rule_caps = np.array([rule.cap or 0 for rule in rules.rules] or [0], dtype=np.int64)
    group_names = [group.name for group in rules.groups]
    rule_groups = np.array(
        [group_names.index(rule.group) if rule.group else -1 for rule in rules.rules] or [-1], dtype=np.int64
    )
    group_caps = np.array([group.cap for group in rules.groups] or [0], dtype=np.int64)

    points = rule_points[rule_index]
    capped_by = np.zeros(len(points), dtype=np.int8)
    count = len(points)
    # newest[i]: the line's place when all lines are taken newest first (ties: higher touchpoint id
    # first, then contract order of the rules). Every ordering below packs its keys with it into one
    # int64, because numpy sorts one integer key many times faster than lexsort sorts several.
    newest = np.empty(count, dtype=np.int64)
    newest[_newest_first_order(occurred_at_us, touchpoint_id, rule_index)] = np.arange(count)
    person_key, person_bits = _dense_key(person_id)
    oldest = count - 1 - newest
    # One sort puts every person's lines oldest first; a stable radix sort of the small rule numbers
    # then gives the canonical order (rule, person, oldest first). Caps are read off these orders:
    # a line's "used before" is what the newer lines of its person and rule (or group) took.
    by_person = _order_by(
        [(person_key, person_bits), (oldest, _bits_for(count))], fallback=lambda: np.lexsort((oldest, person_id))
    )
    rule_numbers = rule_index[by_person].astype(np.uint16 if len(rules.rules) <= 65535 else np.int64)
    order = by_person[np.argsort(rule_numbers, kind="stable")]
    if (rule_caps > 0).any() and count:
        boundaries = np.searchsorted(rule_index[order], np.arange(len(rules.rules) + 1))
        for index, cap in enumerate(rule_caps[: len(rules.rules)].tolist()):
            positions = order[boundaries[index] : boundaries[index + 1]]
            if cap <= 0 or not len(positions):
                continue
            magnitude = np.abs(points[positions])
            used_before = _exclusive_segment_suffix_sum(magnitude, person_id[positions])
            allowed = np.clip(cap - used_before, 0, magnitude)
            reduced = allowed < magnitude
            points[positions] = np.sign(points[positions]) * allowed
            capped_by[positions[reduced]] = CAPPED_BY_RULE

    line_groups = rule_groups[rule_index]
    if rules.groups and count:
        groups_in_order = line_groups[by_person]
        for group, cap in enumerate(group_caps[: len(rules.groups)].tolist()):
            positions = by_person[(groups_in_order == group) & (points[by_person] > 0)]
            if not len(positions):
                continue
            given = points[positions]
            used_before = _exclusive_segment_suffix_sum(given, person_id[positions])
            allowed = np.clip(cap - used_before, 0, given)
            reduced = allowed < given
            points[positions] = allowed
            capped_by[positions[reduced]] = CAPPED_BY_GROUP

    if rules.decay.half_life_days is not None:
        factor = np.power(0.5, (age_us / MICROSECONDS_PER_DAY) / rules.decay.half_life_days)
        value = points * factor
    else:
        value = points.astype(np.float64)

    lines = LedgerLines(
        person_id=person_id[order],
        touchpoint_id=touchpoint_id[order],
        rule_index=rule_index[order],
        given_at_us=occurred_at_us[order],
        points=points[order].astype(np.int16),
        capped_by=capped_by[order],
        value=value[order],
    )
    people, total = _sum_by_person(lines.person_id, lines.value)
    engagement_score = np.clip(np.floor(total + 0.5), 0, SCORE_MAX).astype(np.int16)
    return ScoreResult(lines=lines, person_id=people, total=total, engagement_score=engagement_score)


def score_touchpoints(rules: EngagementRules, *, as_of: dt.datetime, batch: TouchpointBatch) -> ScoreResult:
    """Match and score a batch of touchpoints as of `as_of`."""
    positions, rule_index = match_touchpoints(rules, batch)
    return score_lines(
        rules,
        as_of_us=to_microseconds(as_of),
        person_id=batch.person_id[positions],
        touchpoint_id=batch.touchpoint_id[positions],
        rule_index=rule_index,
        occurred_at_us=batch.occurred_at_us[positions],
    )
