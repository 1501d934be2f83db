"""The bulk engine against a plain, one-line-at-a-time reading of the scoring rules (docs/scoring.md).

The engine sorts millions of lines at once; this reference walks each person's lines newest first
and applies rule caps, group caps, negative points and decay as the documentation states them.
"""

import math

import numpy as np
import pytest

from tandem.scoring.engine import CAPPED_BY_GROUP, CAPPED_BY_RULE, CAPPED_NONE, MICROSECONDS_PER_DAY, score_lines
from tandem.scoring.tests.factories import rules_of

AS_OF_US = 1_750_000_000_000_000
RULES = [
    {"name": "Pricing", "touchpoint": "page_view", "points": 10, "cap": 30, "group": "web"},
    {"name": "Any page", "touchpoint": "page_view", "points": 3, "group": "web"},
    {"name": "Careers", "touchpoint": "page_view", "points": -10, "cap": 15},
    {"name": "Demo", "touchpoint": "form_submit", "points": 25},
    {"name": "Click", "touchpoint": "email_click", "points": 4, "cap": 20, "group": "mail"},
    {"name": "Reply", "touchpoint": "email_click", "points": 5, "group": "mail"},
    {"name": "Unsubscribed", "touchpoint": "email_click", "points": -20},
]
GROUPS = [{"name": "web", "cap": 30}, {"name": "mail", "cap": 12}]


def reference_scores(rules, lines) -> dict[int, tuple[int, dict[tuple[int, int], tuple[int, int]]]]:
    """{person: (score, {(touchpoint, rule): (points, capped by)})} from (person, touchpoint, rule, occurred) lines."""
    groups = {group.name: group.cap for group in rules.groups}
    results = {}
    for person in sorted({line[0] for line in lines}):
        own = [line for line in lines if line[0] == person]
        age_limit = rules.decay.window_days * MICROSECONDS_PER_DAY if rules.decay.window_days else None
        own = [
            line for line in own if AS_OF_US - line[3] >= 0 and (age_limit is None or AS_OF_US - line[3] <= age_limit)
        ]
        # Newest first; ties: the higher touchpoint id, then the rule listed first.
        own.sort(key=lambda line: (-line[3], -line[1], line[2]))
        given, rule_used, group_used = {}, {}, {}
        for _, touchpoint, rule_index, _ in own:
            rule = rules.rules[rule_index]
            points, capped = rule.points, CAPPED_NONE
            if rule.cap:
                left = max(0, rule.cap - rule_used.get(rule_index, 0))
                allowed = min(abs(points), left)
                rule_used[rule_index] = rule_used.get(rule_index, 0) + abs(points)
                if allowed < abs(points):
                    capped = CAPPED_BY_RULE
                points = int(math.copysign(allowed, points)) if allowed else 0
            if rule.group and points > 0:
                left = max(0, groups[rule.group] - group_used.get(rule.group, 0))
                group_used[rule.group] = group_used.get(rule.group, 0) + points
                if points > left:
                    points, capped = left, CAPPED_BY_GROUP
            given[(touchpoint, rule_index)] = (points, capped)
        total = 0.0
        for (touchpoint, rule_index), (points, _) in given.items():
            occurred = next(line[3] for line in own if line[1] == touchpoint and line[2] == rule_index)
            age_days = (AS_OF_US - occurred) / MICROSECONDS_PER_DAY
            total += points * rules.decay.factor(age_days)
        results[person] = (min(100, max(0, math.floor(total + 0.5))), given)
    return results


@pytest.mark.parametrize("decay", [{"half_life_days": 30}, {"window_days": 20}, None])
@pytest.mark.parametrize("seed", range(6))
def test_bulk_engine_gives_the_reference_points_and_scores(decay, seed):
    rules = rules_of(*RULES, decay=decay, groups=GROUPS)
    rng = np.random.default_rng(seed)
    count = 3000
    person_id = rng.integers(1, 120, count)
    touchpoint_id = rng.permutation(4 * count)[:count] + 1
    # Whole days, so that touchpoints of one person often share a moment and ties are exercised.
    occurred = AS_OF_US - rng.integers(-2, 40, count) * MICROSECONDS_PER_DAY
    rule_index = rng.integers(0, len(RULES), count).astype(np.int32)
    # A touchpoint matching several rules: the same touchpoint and moment on more lines.
    repeat = rng.random(count) < 0.2
    touchpoint_id[repeat] = np.roll(touchpoint_id, 1)[repeat]
    occurred[repeat] = np.roll(occurred, 1)[repeat]
    person_id[repeat] = np.roll(person_id, 1)[repeat]
    pairs = set()
    keep = np.array(
        [not ((t, r) in pairs or pairs.add((t, r))) for t, r in zip(touchpoint_id, rule_index, strict=True)]
    )
    lines = list(zip(person_id[keep], touchpoint_id[keep], rule_index[keep], occurred[keep], strict=True))

    result = score_lines(
        rules,
        as_of_us=AS_OF_US,
        person_id=person_id[keep],
        touchpoint_id=touchpoint_id[keep],
        rule_index=rule_index[keep],
        occurred_at_us=occurred[keep],
    )
    expected = reference_scores(rules, [tuple(int(value) for value in line) for line in lines])
    engine_lines = {
        (int(result.lines.touchpoint_id[i]), int(result.lines.rule_index[i])): (
            int(result.lines.points[i]),
            int(result.lines.capped_by[i]),
        )
        for i in range(len(result.lines))
    }
    assert engine_lines == {key: value for _, given in expected.values() for key, value in given.items()}
    scored = {person: score for person, (score, given) in expected.items() if given}
    assert dict(zip(result.person_id.tolist(), result.engagement_score.tolist(), strict=True)) == scored
    assert any(capped == CAPPED_BY_GROUP for _, capped in engine_lines.values())
    assert any(capped == CAPPED_BY_RULE for _, capped in engine_lines.values())
