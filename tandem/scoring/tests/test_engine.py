"""The pure engine: matching, caps, decay and clamping on plain arrays, exact values."""

from tandem.scoring.engine import CAPPED_BY_GROUP, CAPPED_BY_RULE, CAPPED_NONE, score_touchpoints
from tandem.scoring.tests.factories import AS_OF, batch_of, rules_of

PRICING = {"name": "Pricing page", "touchpoint": "page_view", "url": "*/pricing*", "points": 10}
DEMO = {"name": "Demo form", "touchpoint": "form_submit", "points": 25}


def lines_of(result):
    lines = result.lines
    return [
        (int(lines.touchpoint_id[i]), int(lines.rule_index[i]), int(lines.points[i]), int(lines.capped_by[i]))
        for i in range(len(lines))
    ]


def test_half_life_halves_ten_points_after_thirty_days():
    rules = rules_of(PRICING, decay={"half_life_days": 30})
    result = score_touchpoints(
        rules, as_of=AS_OF, batch=batch_of({"id": 1, "type": "page_view", "url": "https://a.io/pricing", "days": 30})
    )
    assert result.lines.value.tolist() == [5.0]
    assert result.total.tolist() == [5.0]
    assert result.score_of(1) == 5


def test_half_life_score_rounds_half_up():
    rules = rules_of(PRICING, decay={"half_life_days": 30})
    result = score_touchpoints(
        rules, as_of=AS_OF, batch=batch_of({"id": 1, "type": "page_view", "url": "https://a.io/pricing", "days": 60})
    )
    assert result.lines.value.tolist() == [2.5]
    assert result.score_of(1) == 3


def test_window_counts_full_points_inside_and_nothing_outside_or_in_the_future():
    rules = rules_of(DEMO, decay={"window_days": 90})
    result = score_touchpoints(
        rules,
        as_of=AS_OF,
        batch=batch_of(
            {"id": 1, "type": "form_submit", "days": 90},
            {"id": 2, "type": "form_submit", "days": 90.001},
            {"id": 3, "type": "form_submit", "days": -1},
            {"id": 4, "type": "form_submit", "days": 0},
        ),
    )
    assert lines_of(result) == [(1, 0, 25, CAPPED_NONE), (4, 0, 25, CAPPED_NONE)]
    assert result.lines.value.tolist() == [25.0, 25.0]
    assert result.score_of(1) == 50


def test_rule_cap_gives_the_newest_touchpoints_the_points_first():
    rules = rules_of({**PRICING, "cap": 25})
    visits = [
        {"id": tid, "type": "page_view", "url": "https://a.io/pricing", "days": days}
        for tid, days in [(1, 40), (2, 30), (3, 20), (4, 10)]
    ]
    result = score_touchpoints(rules, as_of=AS_OF, batch=batch_of(*visits))
    assert lines_of(result) == [
        (1, 0, 0, CAPPED_BY_RULE),
        (2, 0, 5, CAPPED_BY_RULE),
        (3, 0, 10, CAPPED_NONE),
        (4, 0, 10, CAPPED_NONE),
    ]
    assert result.score_of(1) == 25


def test_rule_cap_then_decay():
    rules = rules_of({**PRICING, "cap": 20}, decay={"half_life_days": 10})
    visits = [
        {"id": tid, "type": "page_view", "url": "https://a.io/pricing", "days": days}
        for tid, days in [(1, 30), (2, 20), (3, 10)]
    ]
    result = score_touchpoints(rules, as_of=AS_OF, batch=batch_of(*visits))
    assert result.lines.points.tolist() == [0, 10, 10]
    assert result.lines.value.tolist() == [0.0, 2.5, 5.0]
    assert result.score_of(1) == 8  # 7.5 rounds half up


def test_group_cap_limits_the_groups_positive_points_newest_first():
    blog = {"name": "Blog post", "touchpoint": "page_view", "url": "*/blog/*", "points": 8, "group": "web"}
    careers = {"name": "Careers page", "touchpoint": "page_view", "url": "*/careers*", "points": -10, "group": "web"}
    rules = rules_of({**PRICING, "group": "web"}, blog, careers, groups=[{"name": "web", "cap": 30}])
    result = score_touchpoints(
        rules,
        as_of=AS_OF,
        batch=batch_of(
            {"id": 1, "type": "page_view", "url": "https://a.io/blog/x", "days": 4},
            {"id": 2, "type": "page_view", "url": "https://a.io/pricing", "days": 3},
            {"id": 3, "type": "page_view", "url": "https://a.io/blog/y", "days": 2},
            {"id": 4, "type": "page_view", "url": "https://a.io/pricing", "days": 1},
            {"id": 5, "type": "page_view", "url": "https://a.io/careers", "days": 0.5},
        ),
    )
    assert lines_of(result) == [
        (2, 0, 10, CAPPED_NONE),
        (4, 0, 10, CAPPED_NONE),
        (1, 1, 2, CAPPED_BY_GROUP),
        (3, 1, 8, CAPPED_NONE),
        (5, 2, -10, CAPPED_NONE),
    ]
    assert result.score_of(1) == 20


def test_negative_points_reduce_and_a_negative_cap_limits_what_they_take():
    unsubscribe = {
        "name": "Unsubscribed",
        "touchpoint": "email_click",
        "properties": {"action": "unsubscribe"},
        "points": -20,
        "cap": 30,
    }
    rules = rules_of(DEMO, unsubscribe)
    result = score_touchpoints(
        rules,
        as_of=AS_OF,
        batch=batch_of(
            {"id": 1, "type": "form_submit", "days": 5},
            {"id": 2, "type": "form_submit", "days": 4},
            {"id": 3, "type": "email_click", "days": 3, "properties": {"action": "unsubscribe"}},
            {"id": 4, "type": "email_click", "days": 2, "properties": {"action": "unsubscribe"}},
            {"id": 5, "type": "email_click", "days": 1, "properties": {"action": "open"}},
        ),
    )
    assert lines_of(result) == [
        (1, 0, 25, CAPPED_NONE),
        (2, 0, 25, CAPPED_NONE),
        (3, 1, -10, CAPPED_BY_RULE),
        (4, 1, -20, CAPPED_NONE),
    ]
    assert result.score_of(1) == 20


def test_scores_are_clamped_to_0_and_100():
    rules = rules_of({**DEMO, "points": 60}, {"name": "Careers", "touchpoint": "page_view", "points": -30})
    result = score_touchpoints(
        rules,
        as_of=AS_OF,
        batch=batch_of(
            {"id": 1, "person": 7, "type": "form_submit", "days": 2},
            {"id": 2, "person": 7, "type": "form_submit", "days": 1},
            {"id": 3, "person": 8, "type": "page_view", "days": 1},
        ),
    )
    assert result.person_id.tolist() == [7, 8]
    assert result.total.tolist() == [120.0, -30.0]
    assert result.engagement_score.tolist() == [100, 0]


def test_a_touchpoint_earns_every_rule_it_matches():
    any_page = {"name": "Any page", "touchpoint": "page_view", "points": 1}
    rules = rules_of(PRICING, any_page)
    result = score_touchpoints(
        rules, as_of=AS_OF, batch=batch_of({"id": 9, "type": "page_view", "url": "https://a.io/pricing", "days": 1})
    )
    assert lines_of(result) == [(9, 0, 10, CAPPED_NONE), (9, 1, 1, CAPPED_NONE)]
    assert result.score_of(9) == 0
    assert result.score_of(1) == 11


def test_url_globs_match_the_whole_url_ignoring_ascii_case_with_no_regex():
    rules = rules_of(PRICING, {"name": "Underscore", "touchpoint": "page_view", "url": "*/a_b?", "points": 1})
    urls = {
        1: "https://a.io/PRICING?plan=team",
        2: "https://a.io/pric",
        3: "https://a.io/docs/pricing-faq",
        4: "https://a.io/a_bc",
        5: "https://a.io/axbc",
        6: "https://a.io/a_b",
    }
    result = score_touchpoints(
        rules,
        as_of=AS_OF,
        batch=batch_of(*({"id": tid, "type": "page_view", "url": url, "days": 1} for tid, url in urls.items())),
    )
    assert lines_of(result) == [(1, 0, 10, 0), (3, 0, 10, 0), (4, 1, 1, 0)]


def test_campaign_names_and_property_values_compare_exactly():
    webinar = {"name": "Webinar attended", "touchpoint": "webinar", "campaign": "Q3 webinar", "points": 15}
    flagged = {"name": "Flagged", "touchpoint": "event", "properties": {"seats": 2, "vip": True}, "points": 5}
    rules = rules_of(webinar, flagged)
    result = score_touchpoints(
        rules,
        as_of=AS_OF,
        batch=batch_of(
            {"id": 1, "type": "webinar", "campaign": "q3 WEBINAR", "days": 1},
            {"id": 2, "type": "webinar", "campaign": "Q3 webinar replay", "days": 1},
            {"id": 3, "type": "event", "properties": {"seats": 2, "vip": True}, "days": 1},
            {"id": 4, "type": "event", "properties": {"seats": "2", "vip": True}, "days": 1},
            {"id": 5, "type": "event", "properties": {"seats": 2.0, "vip": 1}, "days": 1},
            {"id": 6, "type": "event", "properties": [], "days": 1},
        ),
    )
    assert lines_of(result) == [(1, 0, 15, 0), (3, 1, 5, 0)]


def test_no_touchpoints_give_no_lines_and_no_scores():
    result = score_touchpoints(rules_of(PRICING), as_of=AS_OF, batch=batch_of())
    assert len(result.lines) == 0
    assert result.score_of(1) == 0


def test_sparse_ids_score_the_same_as_dense_ones():
    rules = rules_of(
        {**PRICING, "cap": 20, "group": "web"},
        {"name": "Any", "touchpoint": "page_view", "points": 4, "group": "web"},
        groups=[{"name": "web", "cap": 25}],
        decay={"half_life_days": 7},
    )
    visits = [
        {"id": tid, "person": person, "type": "page_view", "url": "https://a.io/pricing", "days": days}
        for tid, person, days in [(1, 1, 5), (2, 2, 4), (3, 1, 3), (4, 1, 3), (5, 2, 1), (6, 1, 0.5)]
    ]
    dense = score_touchpoints(rules, as_of=AS_OF, batch=batch_of(*visits))
    sparse_visits = [{**visit, "id": visit["id"] * 10**13, "person": visit["person"] * 10**12} for visit in visits]
    sparse = score_touchpoints(rules, as_of=AS_OF, batch=batch_of(*sparse_visits))
    assert sparse.person_id.tolist() == [10**12, 2 * 10**12]
    assert (sparse.lines.touchpoint_id // 10**13).tolist() == dense.lines.touchpoint_id.tolist()
    assert sparse.lines.points.tolist() == dense.lines.points.tolist()
    assert sparse.lines.value.tolist() == dense.lines.value.tolist()
    assert sparse.total.tolist() == dense.total.tolist()
    # person 1: pricing 0.5d, 3d (tie at 3 days broken by the higher touchpoint id), then the cap.
    assert [(int(t), int(p)) for t, p in zip(dense.lines.touchpoint_id, dense.lines.points, strict=True)][:4] == [
        (1, 0),
        (3, 0),
        (4, 10),
        (6, 10),
    ]
