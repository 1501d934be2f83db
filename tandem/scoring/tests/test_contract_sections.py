"""A contract document whose engagement section the engine cannot run is refused at the path and line."""

from tandem.contract.document import default_source, parse_source
from tandem.scoring.contract_sections import path_parts
from tandem.scoring.rules import engagement_rules_parse


def test_the_default_contracts_engagement_section_runs():
    document, problems = parse_source(default_source())
    assert problems == []
    rules = engagement_rules_parse(document["engagement"])
    assert [group.name for group in rules.groups] == ["web", "email"]
    assert rules.rules[0].name == "Demo request"


def test_a_bad_rule_is_reported_with_its_path_and_line():
    source = default_source().replace(
        '- {name: Careers page, touchpoint: page_view, url: "*/careers*", points: -10}',
        '- {name: Careers page, touchpoint: page_view, url: "*/careers*", points: -150, group: jobs}',
    )
    lines = source.splitlines()
    careers_line = next(number for number, line in enumerate(lines, start=1) if "Careers page" in line)
    _, problems = parse_source(source)
    assert [(problem.path, problem.message, problem.line) for problem in problems] == [
        ("engagement.rules[3].points", "expected an integer between -100 and 100", careers_line),
        ("engagement.rules[3].group", "no group named 'jobs' in engagement.groups", careers_line),
    ]


def test_path_parts():
    assert path_parts("engagement.rules[3].points") == ("engagement", "rules", 3, "points")
    assert path_parts("engagement.decay") == ("engagement", "decay")
