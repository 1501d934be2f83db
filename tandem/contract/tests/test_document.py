"""The contract document: the default is valid, and every kind of mistake is named by path and line."""

import pytest

from tandem.contract.document import changed_paths, default_source, parse_source


def _problems(source: str) -> list[str]:
    return [str(problem) for problem in parse_source(source)[1]]


def _default_with(old: str, new: str) -> str:
    source = default_source()
    assert old in source, old
    return source.replace(old, new, 1)


def test_the_default_contract_is_valid():
    document, problems = parse_source(default_source())
    assert problems == []
    assert document["mql"]["fit_score_at_least"] == 60
    assert [stage["key"] for stage in document["lifecycle"]["stages"]][:3] == ["subscriber", "lead", "mql"]


def test_yaml_that_does_not_parse_names_the_line():
    assert _problems("mql:\n  fit_score_at_least: [60\nfit: {}\n") == [
        "line 3, document: The YAML does not parse: expected ',' or ']', but got ':' (column 4)."
    ]


def test_a_document_that_is_not_a_mapping_is_refused():
    assert _problems("- just\n- a list\n") == [
        "line 1, document: The document must be a mapping of sections (glossary, lifecycle, fit, ...)."
    ]


def test_threshold_out_of_range_names_path_and_line():
    source = _default_with("fit_score_at_least: 60", "fit_score_at_least: 160")
    line = source.splitlines().index("  fit_score_at_least: 160") + 1
    assert _problems(source) == [
        f"line {line}, mql.fit_score_at_least: expected a whole number from 0 to 100, got 160."
    ]


def test_forward_transitions_in_a_circle_are_refused():
    source = _default_with(
        "{from: customer, to: [evangelist], kind: forward}", "{from: customer, to: [evangelist, lead], kind: forward}"
    )
    (problem,) = _problems(source)
    assert "lifecycle.transitions: forward moves go round in a circle: customer → lead → customer" in problem


def test_unknown_stage_in_a_transition_is_named():
    source = _default_with(
        "{from: recycled, to: [lead, mql], kind: reopen}", "{from: recycled, to: [lead, mqll], kind: reopen}"
    )
    (problem,) = _problems(source)
    assert "lifecycle.transitions[10].to: unknown stage 'mqll'" in problem


def test_unknown_section_and_missing_section():
    source = default_source().replace("rejection_reasons:", "rejection_reasonz:", 1)
    problems = _problems(source)
    assert any("rejection_reasonz: unknown section" in problem for problem in problems)
    assert any("rejection_reasons: this section is required." in problem for problem in problems)


def test_rejection_outcome_must_be_a_side_stage():
    source = _default_with("outcome: recycled}", "outcome: sal}")
    (problem,) = _problems(source)
    assert "rejection_reasons[1].outcome: expected the side stage a rejected person goes to" in problem


def test_glossary_rule_must_point_into_the_document():
    source = _default_with("rule: icp\n", "rule: icq\n")
    (problem,) = _problems(source)
    assert "glossary[4].rule: 'icq' does not name a part of this document." in problem


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("points: 30, cap: 60}", "points: 30, cap: 60, colour: red}", None),
        ("fit_weight: 0.5", "fit_weight: 0.7", "combined: fit_weight and engagement_weight must add up to 1"),
        ("from_stages: [subscriber, lead, recycled]", "from_stages: [subscriber, mql]", "people already in MQL"),
    ],
)
def test_assorted_mistakes_are_named(old, new, expected):
    problems = _problems(_default_with(old, new))
    if expected is None:
        assert problems == [] or all("engagement" in problem for problem in problems)
    else:
        assert any(expected in problem for problem in problems), problems


def test_changed_paths_compares_keyed_lists_by_key():
    old, _ = parse_source(default_source())
    new, _ = parse_source(
        default_source()
        .replace("engagement_score_at_least: 40", "engagement_score_at_least: 50")
        .replace("{name: Decision maker, when:", "{name: Buyer role, when:")
    )
    assert ("mql.engagement_score_at_least", 40, 50) in changed_paths(old, new)
    paths = [path for path, _, _ in changed_paths(old, new)]
    assert "fit.rules.Decision maker" in paths and "fit.rules.Buyer role" in paths
