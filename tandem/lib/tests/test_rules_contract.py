"""Conditions in a contract document are checked by the rule language, at their path and line."""

from tandem.contract.document import default_source, parse_source
from tandem.lib.rules import fit_rules_parse, parse


def _with(source: str, old: str, new: str) -> str:
    assert old in source
    return source.replace(old, new, 1)


def test_the_default_contracts_conditions_all_parse():
    document, problems = parse_source(default_source())
    assert problems == []
    rules = fit_rules_parse(document["fit"]["rules"])
    assert [rule.name for rule in rules.rules][:2] == ["Target industry", "Company size 50-5000"]
    for tier in document["icp"]["tiers"]:
        parse(tier["when"])


def test_a_bad_fit_condition_is_a_problem_at_its_path_and_line():
    source = _with(
        default_source(),
        "account.employee_count between 50 and 5000', points: 25",
        "account.employe_count between 50 and 5000', points: 25",
    )
    line = source.splitlines().index(next(text for text in source.splitlines() if "employe_count" in text)) + 1
    _, problems = parse_source(source)
    assert [(problem.path, problem.message, problem.line) for problem in problems] == [
        (
            "fit.rules[1].when",
            "unknown field 'account.employe_count'; did you mean account.employee_count or account.country or "
            "account.region? (column 1 of the condition).",
            line,
        )
    ]


def test_conditions_in_structured_form_and_in_every_section_are_checked():
    source = _with(
        default_source(),
        "  from_stages: [subscriber, lead, recycled]\n",
        "  from_stages: [subscriber, lead, recycled]\n"
        "  when:\n"
        "    all:\n"
        "      - count(form_submit, last 30 days) >= 1\n"
        "      - any: [lifecycle_stage = lead, 'account.employee_count between 1000 and 50']\n",
    )
    source = _with(
        source, "{tier: 2, when: 'account.employee_count between 50 and 5000'}", "{tier: 2, when: 'fit_score >= 160'}"
    )
    _, problems = parse_source(source)
    assert [(problem.path, problem.message) for problem in problems] == [
        ("icp.tiers[1].when", "160 is out of range: fit_score is between 0 and 100 (column 14 of the condition)."),
        (
            "mql.when.all[1].any[1]",
            "between 1000 and 50: the lower bound must come first (column 32 of the condition).",
        ),
    ]


def test_stages_are_checked_against_the_documents_own_lifecycle():
    source = _with(
        default_source(),
        "  from_stages: [subscriber, lead, recycled]\n",
        "  from_stages: [subscriber, lead, recycled]\n  when: lifecycle_stage in [lead, trial, pilot]\n",
    )
    source = _with(
        source,
        "    - {key: churned,",
        '    - {key: trial, name: Trial, side: marketing, entry_criteria: "Started a trial."}\n    - {key: churned,',
    )
    _, problems = parse_source(source)
    assert [(problem.path, problem.message) for problem in problems] == [
        (
            "mql.when",
            "unknown lifecycle_stage pilot (expected subscriber, lead, mql, sal, sql, opportunity, customer, "
            "evangelist, recycled, disqualified, trial, churned) (column 34 of the condition).",
        )
    ]


def _people_with_a_form_submit(db):
    import datetime as dt

    from tandem.crm.models import Person
    from tandem.crm.tests.factories import make_account, make_person
    from tandem.engagement.models import Touchpoint

    as_of = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    acme = make_account("Acme", "acme.com", industry="Software")
    ann = make_person("ann@acme.com", title="VP Sales", account=acme)
    bob = make_person("bob@gmail.com", title="Engineer")
    Touchpoint.objects.create(person=ann, type="form_submit", occurred_at=as_of - dt.timedelta(days=3))
    Touchpoint.objects.create(person=bob, type="form_submit", occurred_at=as_of - dt.timedelta(days=40))
    document = {
        "fit": {
            "rules": [
                {"name": "Software", "when": 'account.industry = "Software"', "points": 40},
                {"name": "Recent form", "when": "count(form_submit, last 30 days) >= 1", "points": 30},
                {"name": "Free mail", "when": 'email ends with "@gmail.com"', "points": -20},
            ]
        }
    }
    people = {row["id"]: row for row in Person.objects.values()}
    return as_of, ann, bob, document, people


def test_publishing_scores_fit_rules_with_aggregates_for_everyone_in_a_few_queries(db, django_assert_num_queries):
    from tandem.contract.execution import fit_scores_all

    as_of, ann, bob, document, _ = _people_with_a_form_submit(db)
    rules = fit_rules_parse(document["fit"]["rules"])
    with django_assert_num_queries(3):  # the aggregate, the accounts, the people
        scores = fit_scores_all(rules, as_of=as_of)
    assert dict(zip(scores.person_id.tolist(), scores.fit_score.tolist(), strict=True)) == {ann.pk: 70, bob.pk: 0}


def test_a_backtest_takes_fit_aggregates_at_the_end_of_its_window(db):
    from tandem.contract.tests.backtest_reference import _fit_scores
    from tandem.crm.models import Account

    as_of, ann, bob, document, people = _people_with_a_form_submit(db)
    accounts = {row["id"]: row for row in Account.objects.values()}
    assert _fit_scores(document, people, accounts, as_of) == {ann.pk: 70, bob.pk: 0}
