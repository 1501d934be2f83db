"""`tandem attribution --model M --conversion C` on Tandem's own data, and the contract's section."""

import pytest
from django.core.management import CommandError, call_command

from tandem.attribution.contract_sections import attribution_policy
from tandem.attribution.tests.test_reports import company  # noqa: F401 - the fixture
from tandem.contract.document import default_source, parse_source


def test_the_command_prints_revenue_cost_and_roi_per_campaign(company, capsys):  # noqa: F811
    call_command(
        "attribution",
        "--model",
        "u_shaped",
        "--conversion",
        "closed_won",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-30",
        "--format",
        "csv",
    )
    assert capsys.readouterr().out.splitlines() == [
        "model,campaign,conversions,value,cost,roi",
        "u_shaped,Ads,0.4,4000,3000,0.333333",
        "u_shaped,Newsletter,0.4,4000,200,19",
        "u_shaped,Webinar,0.2,2000,1000,1",
    ]


def test_the_command_prints_mql_credit_per_channel(company, capsys):  # noqa: F811
    call_command(
        "attribution",
        "--model",
        "first_touch",
        "--conversion",
        "mql",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-30",
        "--by",
        "channel",
        "--format",
        "csv",
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model,channel,conversions,value,cost,roi"
    assert sorted(lines[1:]) == [
        "first_touch,Email,0,0,200,",
        "first_touch,Events,0,0,1000,",
        "first_touch,Paid search,2,0,3000,",
    ]


def test_the_command_refuses_bad_input(db):
    with pytest.raises(CommandError, match="--conversion is required"):
        call_command("attribution", "--model", "linear")
    with pytest.raises(CommandError, match="--from: expected a date as YYYY-MM-DD, got 'March'"):
        call_command("attribution", "--conversion", "mql", "--from", "March")
    with pytest.raises(CommandError, match="--from: must not be after to"):
        call_command("attribution", "--conversion", "mql", "--from", "2026-05-01", "--to", "2026-04-01")


def test_the_default_contract_carries_the_attribution_defaults():
    document, problems = parse_source(default_source())
    assert problems == []
    policy = attribution_policy(document)
    assert (policy.lookback_days, policy.default_model) == (90, "w_shaped")
    assert policy.settings.half_life_days == 7.0
    assert (policy.settings.custom_first, policy.settings.custom_middle, policy.settings.custom_last) == (0.3, 0.4, 0.3)
    assert policy.settings.markov_order == 1


def test_a_bad_attribution_section_is_refused_at_its_path_and_line():
    source = default_source().replace("lookback_days: 90", "lookback_days: 0").replace("{order: 1}", "{order: 5}")
    _, problems = parse_source(source)
    found = {(problem.path, problem.message) for problem in problems}
    assert ("attribution.lookback_days", "expected a whole number of days from 1 to 3650, got 0.") in found
    assert ("attribution.markov.order", "expected 1 to 3, got 5.") in found
    lines = source.splitlines()
    line = next(problem.line for problem in problems if problem.path == "attribution.lookback_days")
    assert lines[line - 1].strip() == "lookback_days: 0"


def test_a_contract_without_the_section_gets_the_defaults():
    policy = attribution_policy({"mql": {}})
    assert policy.lookback_days == 90
    source = default_source().replace("default_model: w_shaped", "default_model: nonsense")
    document, problems = parse_source(source)
    assert [problem.path for problem in problems] == ["attribution.default_model"]
    assert attribution_policy(document).default_model == "w_shaped"
