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
