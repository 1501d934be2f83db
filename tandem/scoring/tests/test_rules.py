"""Parsing the engagement and combined sections: every problem named by its path."""

import pytest

from tandem.scoring.rules import (
    CombinedWeights,
    Decay,
    ScoringRulesError,
    combined_weights_parse,
    engagement_rules_parse,
)

EXAMPLE = {
    "decay": {"half_life_days": 30},
    "groups": [{"name": "web", "cap": 30}],
    "rules": [
        {
            "name": "Pricing page",
            "touchpoint": "page_view",
            "url": "*/pricing*",
            "points": 10,
            "cap": 30,
            "group": "web",
        },
        {"name": "Demo form", "touchpoint": "form_submit", "points": 25},
        {"name": "Webinar attended", "touchpoint": "webinar", "campaign": "Q3 webinar", "points": 15},
        {"name": "Careers page", "touchpoint": "page_view", "url": "*/careers*", "points": -10},
        {"name": "Unsubscribed", "touchpoint": "email_click", "properties": {"action": "unsubscribe"}, "points": -20},
    ],
}


def errors_of(section):
    with pytest.raises(ScoringRulesError) as caught:
        engagement_rules_parse(section)
    return caught.value.errors


def test_the_documented_example_parses():
    rules = engagement_rules_parse(EXAMPLE)
    assert rules.decay == Decay(half_life_days=30.0)
    assert [group.cap for group in rules.groups] == [30]
    assert [(rule.name, rule.points, rule.cap, rule.group) for rule in rules.rules] == [
        ("Pricing page", 10, 30, "web"),
        ("Demo form", 25, None, ""),
        ("Webinar attended", 15, None, ""),
        ("Careers page", -10, None, ""),
        ("Unsubscribed", -20, None, ""),
    ]
    assert rules.rules[0].url.glob == "*/pricing*"
    assert rules.rules[2].campaign == "Q3 webinar"
    assert rules.rules[4].properties == (("action", "unsubscribe"),)


def test_points_out_of_range_name_the_rule_by_its_position():
    section = {"rules": [*EXAMPLE["rules"][1:4], {"name": "Big", "touchpoint": "chat", "points": 150}]}
    assert errors_of(section) == [("engagement.rules[3].points", "expected an integer between -100 and 100")]
    with pytest.raises(
        ScoringRulesError, match=r"^engagement.rules\[3\].points: expected an integer between -100 and 100$"
    ):
        engagement_rules_parse(section)


def test_every_problem_is_reported_at_once():
    section = {
        "decay": {"half_life_days": 30, "window_days": 90},
        "groups": [{"name": "web", "cap": 0}],
        "rules": [
            {"name": "A", "touchpoint": "page_visit", "points": True, "group": "email"},
            {"name": "A", "touchpoint": "chat", "points": 5, "colour": "red"},
            {"touchpoint": "chat"},
            "not a rule",
        ],
        "extra": 1,
    }
    assert errors_of(section) == [
        ("engagement.extra", "unknown key; expected one of decay, groups, rules"),
        ("engagement.decay", "expected exactly one of half_life_days or window_days"),
        ("engagement.groups[0].cap", "expected an integer between 1 and 1000"),
        (
            "engagement.rules[0].touchpoint",
            "expected one of page_view, form_submit, email_sent, email_delivered, email_open, email_click, "
            "email_bounce, email_unsubscribe, ad_click, webinar, event, content_download, meeting_booked, chat, call, "
            "sales_email",
        ),
        ("engagement.rules[0].points", "expected an integer between -100 and 100"),
        ("engagement.rules[0].group", "no group named 'email' in engagement.groups"),
        (
            "engagement.rules[1].colour",
            "unknown key; expected one of name, touchpoint, points, url, campaign, properties, cap, group",
        ),
        ("engagement.rules[1].name", "'A' is used twice; names must be unique"),
        ("engagement.rules[2].name", "required"),
        ("engagement.rules[2].points", "required"),
        (
            "engagement.rules[3]",
            "expected a mapping with keys name, touchpoint, points, url, campaign, properties, cap, group",
        ),
    ]


@pytest.mark.parametrize(
    ("rule_changes", "path", "message"),
    [
        ({"cap": -5}, "engagement.rules[0].cap", "expected an integer between 1 and 1000"),
        ({"url": ""}, "engagement.rules[0].url", "expected a URL pattern of 1 to 500 characters (* and ?)"),
        (
            {"properties": {"plan": [1, 2]}},
            "engagement.rules[0].properties.plan",
            "expected text, an integer or true/false",
        ),
        ({"name": " "}, "engagement.rules[0].name", "expected a name of 1 to 100 characters"),
        ({"campaign": 12}, "engagement.rules[0].campaign", "expected a campaign name of at most 200 characters"),
    ],
)
def test_bad_rule_values(rule_changes, path, message):
    rule = {"name": "Demo form", "touchpoint": "form_submit", "points": 25, **rule_changes}
    assert errors_of({"rules": [rule]}) == [(path, message)]


@pytest.mark.parametrize(
    ("decay", "path", "message"),
    [
        ({"half_life_days": 0}, "engagement.decay.half_life_days", "expected a number of days from 1 to 3650"),
        ({"window_days": 7.5}, "engagement.decay.window_days", "expected an integer between 1 and 3650"),
        ({"fortnights": 2}, "engagement.decay.fortnights", "unknown key; expected one of half_life_days, window_days"),
        ("30d", "engagement.decay", "expected a mapping with keys half_life_days, window_days"),
    ],
)
def test_bad_decay(decay, path, message):
    assert errors_of({"decay": decay, "rules": []})[0] == (path, message)


def test_the_section_must_be_a_mapping_with_a_rule_list():
    assert errors_of([]) == [("engagement", "expected a mapping with keys decay, groups, rules")]
    assert errors_of({}) == [("engagement.rules", "expected a list of rules")]


def test_combined_weights():
    assert combined_weights_parse(None) == CombinedWeights(0.5, 0.5)
    weights = combined_weights_parse({"fit_weight": 0.6, "engagement_weight": 0.4})
    assert weights.score(fit=72, engagement=41) == 60  # 43.2 + 16.4 = 59.6
    assert CombinedWeights().score(fit=40, engagement=41) == 41  # 40.5 rounds half up
    with pytest.raises(ScoringRulesError, match="^combined: fit_weight and engagement_weight must add up to 1$"):
        combined_weights_parse({"fit_weight": 0.6, "engagement_weight": 0.6})
    with pytest.raises(ScoringRulesError, match=r"^combined.fit_weight: expected a number from 0 to 1$"):
        combined_weights_parse({"fit_weight": "half", "engagement_weight": 0.5})
