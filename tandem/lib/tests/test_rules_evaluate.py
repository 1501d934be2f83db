"""Evaluating rules on plain facts, explaining them, aggregates over touchpoint records, and fit scores."""

import datetime as dt
from decimal import Decimal

import pytest

from tandem.lib.rules import Facts, RuleError, evaluate, evidence, explain, fit_rules_parse, fit_score, parse

AS_OF = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
FIT_RULES = [
    {"name": "ICP industry", "when": 'account.industry in ["Software", "Fintech"]', "points": 30},
    {"name": "Company size", "when": "account.employee_count between 50 and 1000", "points": 25},
    {"name": "Senior title", "when": 'title contains any ["VP", "Head", "Chief"]', "points": 30},
    {"name": "Free mail", "when": 'email ends with any ["@gmail.com", "@yahoo.com"]', "points": -40},
    {"name": "Recent form", "when": "count(form_submit, last 30 days) >= 1", "points": 20},
]


def facts(person=None, account=None, aggregates=None) -> Facts:
    return Facts(person=person or {}, account=account, aggregates=aggregates or {}, as_of=AS_OF)


def test_a_rule_holds_or_not_on_plain_facts():
    rule = parse('account.industry in ["Software", "Fintech"] and account.employee_count between 50 and 1000')
    assert evaluate(rule, facts(account={"industry": "software", "employee_count": 50})) is True
    assert evaluate(rule, facts(account={"industry": "Software", "employee_count": 1001})) is False
    assert evaluate(rule, facts(account=None)) is False


def test_facts_may_be_a_plain_mapping():
    rule = parse("fit_score >= 60 and count(form_submit, last 30 days) >= 1")
    plain = {"person": {"fit_score": 61}, "aggregates": {"count(form_submit, last 30 days)": 1}, "as_of": AS_OF}
    assert evaluate(rule, plain) is True
    assert explain(rule, plain) == "fit_score 61 >= 60 and count(form_submit, last 30 days) 1 >= 1"
    assert fit_score([{"name": "Fit", "when": "fit_score > 50", "points": 10}], plain) == (10, [("Fit", 10)])
    with pytest.raises(TypeError, match="not persons"):
        evaluate(rule, {"persons": {}})


def test_a_blank_value_fails_every_comparison_but_is_blank_and_not_flips_it():
    assert evaluate(parse('account.industry != "Retail"'), facts(account={"industry": ""})) is False
    assert evaluate(parse('not (account.industry = "Retail")'), facts(account={"industry": ""})) is True
    assert evaluate(parse("account.employee_count < 10"), facts(account={"employee_count": None})) is False
    assert evaluate(parse("account.industry is blank"), facts(account=None)) is True
    assert evaluate(parse("custom.plan is blank"), facts(person={"custom_fields": {"plan": ""}})) is True
    assert evaluate(parse("custom.plan is not blank"), facts(person={"custom_fields": {"plan": 0}})) is True


def test_custom_fields_compare_as_the_kind_of_the_value_they_meet():
    person = {"custom_fields": {"seats": "250", "rating": 4.5, "partner": True, "code": "007", "note": "n/a"}}
    assert evaluate(parse("custom.seats > 200"), facts(person)) is True
    assert evaluate(parse('custom.seats = "250"'), facts(person)) is True
    assert evaluate(parse("custom.rating between 4 and 5"), facts(person)) is True
    assert evaluate(parse('custom.rating = "4.5"'), facts(person)) is False
    assert evaluate(parse("custom.partner = true"), facts(person)) is True
    assert evaluate(parse('custom.partner = "true"'), facts(person)) is False
    assert evaluate(parse("custom.code = 7"), facts(person)) is True
    assert evaluate(parse("custom.note >= 0"), facts(person)) is False
    assert evaluate(
        parse("account.annual_revenue >= 1000000.5"), facts(account={"annual_revenue": Decimal("1000000.50")})
    )


def test_dates_are_whole_utc_days_and_days_since_counts_whole_days():
    created = {"created_at": dt.datetime(2026, 5, 31, 23, 59, tzinfo=dt.UTC)}
    assert evaluate(parse('created_at = "2026-05-31"'), facts(created)) is True
    assert evaluate(parse('created_at <= "2026-05-31"'), facts(created)) is True
    assert evaluate(parse('created_at > "2026-05-31"'), facts(created)) is False
    assert evaluate(parse("days since created_at = 0"), facts(created)) is True
    two_days = {"stage_entered_at": AS_OF - 2 * DAY - dt.timedelta(hours=23)}
    assert evaluate(parse("days since stage_entered_at = 2"), facts(two_days)) is True
    assert evaluate(parse("days since stage_entered_at >= 3"), facts(two_days)) is False


def test_aggregate_values_come_from_facts_by_their_key():
    rule = parse("count(form_submit, last 30 days) >= 2 and days since last(page_view) <= 7")
    values = {"count(form_submit, last 30 days)": 2, "last(page_view)": AS_OF - 7 * DAY}
    assert evaluate(rule, facts(aggregates=values)) is True
    values["last(page_view)"] = AS_OF - 8 * DAY
    assert evaluate(rule, facts(aggregates=values)) is False
    values["last(page_view)"] = None
    assert evaluate(parse("days since last(page_view) is blank"), facts(aggregates=values)) is True
    with pytest.raises(KeyError, match="count\\(form_submit, last 30 days\\)"):
        evaluate(rule, facts(aggregates={}))


def test_an_aggregate_evaluates_itself_over_touchpoint_records():
    rule = parse('count(page_view where url contains "/pricing" and campaign is blank, last 14 days) >= 2')
    (aggregate,) = rule.aggregates
    records = [
        {"type": "page_view", "url": "https://a.example/Pricing", "campaign": None, "occurred_at": AS_OF - 14 * DAY},
        {"type": "page_view", "url": "https://a.example/pricing", "campaign": "Spring", "occurred_at": AS_OF - DAY},
        {"type": "page_view", "url": "https://a.example/pricing", "campaign": None, "occurred_at": AS_OF},
        {"type": "page_view", "url": "https://a.example/pricing", "campaign": None, "occurred_at": AS_OF + DAY},
        {"type": "page_view", "url": "https://a.example/pricing", "campaign": None, "occurred_at": AS_OF - 15 * DAY},
        {"type": "form_submit", "url": "https://a.example/pricing", "campaign": None, "occurred_at": AS_OF},
    ]
    assert aggregate.evaluate(records, AS_OF) == 2
    assert [aggregate.matches(record) for record in records] == [True, False, True, True, True, False]
    (latest,) = parse("days since last(any where properties.plan = 'pro') < 3").aggregates
    with_plan = [
        {"type": "chat", "properties": {"plan": "Pro"}, "occurred_at": AS_OF - 2 * DAY},
        {"type": "chat", "properties": {"plan": "pro"}, "occurred_at": AS_OF - 5 * DAY},
        {"type": "chat", "properties": {}, "occurred_at": AS_OF - DAY},
    ]
    assert latest.evaluate(with_plan, AS_OF) == AS_OF - 2 * DAY
    assert latest.evaluate([], AS_OF) is None


def test_explain_gives_the_values_that_decided():
    rule = parse("fit_score >= 60 and engagement_score >= 40")
    assert (
        explain(rule, facts({"fit_score": 72, "engagement_score": 41}))
        == "fit_score 72 >= 60 and engagement_score 41 >= 40"
    )
    assert explain(rule, facts({"fit_score": 52, "engagement_score": 41})) == "fit_score 52 < 60"
    rule = parse('not (email ends with "@gmail.com") or title contains any ["VP", "Head"]')
    assert explain(rule, facts({"email": "bo@gmail.com", "title": "Engineer"})) == (
        'email "bo@gmail.com" ends with "@gmail.com" and title "Engineer" contains none of ["VP", "Head"]'
    )
    assert explain(rule, facts({"email": "bo@acme.com", "title": "VP Sales"})) == (
        'email "bo@acme.com" does not end with "@gmail.com" or title "VP Sales" contains any ["VP", "Head"]'
    )
    rule = parse(
        'account.industry = "Software" and (count(form_submit, last 30 days) >= 1 or days since last(chat) < 3)'
    )
    values = {"count(form_submit, last 30 days)": 0, "last(chat)": AS_OF - 5 * DAY}
    assert explain(rule, facts(account={"industry": "Software"}, aggregates=values)) == (
        "(count(form_submit, last 30 days) 0 < 1 and days since last(chat) 5 days >= 3)"
    )
    assert explain(rule, facts(account=None, aggregates=values)) == (
        "account.industry is blank and (count(form_submit, last 30 days) 0 < 1 and days since last(chat) 5 days >= 3)"
    )
    assert explain(parse("account.custom.plan is blank"), facts(account={"custom_fields": {"plan": "Gold"}})) == (
        'account.custom.plan "Gold" is not blank'
    )


def test_evidence_is_plain_data_with_every_value_the_rule_read():
    rule = parse("fit_score >= 60 and (account.annual_revenue > 1000000 or days since last(form_submit) <= 7)")
    values = {"last(form_submit)": AS_OF - 3 * DAY}
    assert evidence(rule, facts({"fit_score": 72}, {"annual_revenue": Decimal("250000.00")}, values)) == {
        "rule": "fit_score >= 60 and (account.annual_revenue > 1000000 or days since last(form_submit) <= 7)",
        "matched": True,
        "because": "fit_score 72 >= 60 and days since last(form_submit) 3 days <= 7",
        "values": {"fit_score": 72, "account.annual_revenue": 250000.0, "days since last(form_submit)": 3},
    }
    created = evidence(parse('created_at < "2026-01-01"'), facts({"created_at": AS_OF}))
    assert created == {
        "rule": 'created_at < "2026-01-01"',
        "matched": False,
        "because": 'created_at 2026-06-01 12:00 UTC >= "2026-01-01"',
        "values": {"created_at": "2026-06-01T12:00:00+00:00"},
    }


def test_fit_score_sums_the_points_of_the_rules_that_hold_clamped_to_0_100():
    rules = fit_rules_parse(FIT_RULES)
    senior = facts(
        {"title": "VP Sales", "email": "vp@acme.com"},
        {"industry": "Software", "employee_count": 200},
        {"count(form_submit, last 30 days)": 3},
    )
    assert fit_score(rules, senior) == (
        100,
        [("ICP industry", 30), ("Company size", 25), ("Senior title", 30), ("Recent form", 20)],
    )
    freemail = facts({"title": "Engineer", "email": "x@gmail.com"}, None, {"count(form_submit, last 30 days)": 1})
    assert fit_score(rules, freemail) == (0, [("Free mail", -40), ("Recent form", 20)])
    middling = facts(
        {"title": "Head of IT", "email": "h@yahoo.com"},
        {"industry": "Fintech"},
        {"count(form_submit, last 30 days)": 0},
    )
    assert fit_score(rules, middling) == (20, [("ICP industry", 30), ("Senior title", 30), ("Free mail", -40)])
    assert fit_score(FIT_RULES, middling) == fit_score(rules, middling)
    assert [aggregate.key for aggregate in rules.aggregates] == ["count(form_submit, last 30 days)"]
    assert rules.person_columns == ("title", "email")
    assert rules.account_columns == ("industry", "employee_count")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{"name": "A", "when": "fit_score >= 1", "points": 150}],
            'fit.rules[0] "A".points: expected an integer between -100 and 100, found 150',
        ),
        (
            [{"name": "A", "when": "fit_score >= 1", "points": 2.5}],
            'fit.rules[0] "A".points: expected an integer between -100 and 100, found 2.5',
        ),
        (
            [{"name": "A", "when": "fit_score >= 1", "points": True}],
            'fit.rules[0] "A".points: expected an integer between -100 and 100, found True',
        ),
        (
            [{"name": "A", "when": "fit_score >= 1", "points": 5}, {"name": " a ", "when": "title = 'x'", "points": 1}],
            'fit.rules[1] "a".name: the name is already used by fit.rules[0]',
        ),
        (
            [{"name": "Big", "when": "account.employe_count > 1", "points": 5}],
            "fit.rules[0] \"Big\".when: unknown field 'account.employe_count'; did you mean account.employee_count "
            "or account.country or account.region? (line 1, column 1)",
        ),
        (
            [{"name": "Big", "when": {"any": ["fit_score > 1", "fit_score > 1000"]}, "points": 5}],
            'fit.rules[0] "Big".when.any[1]: 1000 is out of range: fit_score is between 0 and 100 (line 1, column 13)',
        ),
        ([{"when": "fit_score > 1", "points": 1}], "fit.rules[0].name: every rule needs a name (non-empty text)"),
        ([{"name": "A", "points": 1}], 'fit.rules[0] "A".when: every rule needs a condition'),
        (
            [{"name": "A", "when": "fit_score > 1", "points": 1, "weight": 2}],
            'fit.rules[0] "A": unknown key weight; a fit rule has name, when and points',
        ),
        ("fit_score > 1", "fit.rules: expected a list of rules with name, when and points; found str"),
        (["fit_score > 1"], "fit.rules[0]: expected a mapping with name, when and points; found str"),
    ],
)
def test_invalid_fit_rules_are_named_by_index_and_name(rules, message):
    with pytest.raises(RuleError) as caught:
        fit_rules_parse(rules)
    assert str(caught.value) == message
