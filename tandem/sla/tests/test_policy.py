"""The contract's sla section: policies per segment, calendars per team, and invalid ones refused by path."""

import pytest

from tandem.contract import services
from tandem.contract.document import ContractInvalid, check_document, default_source, parse_source
from tandem.contract.models import ContractVersion, VersionStatus
from tandem.sla.policy import SlaSectionError, sla_section_parse

DEFAULT = default_source()


def _problems(source: str) -> list[tuple[str, str]]:
    _, problems = parse_source(source)
    return [(problem.path, problem.message) for problem in problems]


def test_the_default_contract_has_a_valid_sla_section():
    document, problems = parse_source(DEFAULT)
    assert problems == []
    section = sla_section_parse(document["sla"], document=document)
    assert [policy.key for policy in section.policies] == ["tier_1", "standard"]
    assert section.policy_for(icp_tier=1, segment="").first_response_business_minutes == 60
    assert section.policy_for(icp_tier=2, segment="").first_response_business_minutes == 240
    assert section.policy_for(icp_tier=None, segment="").key == "standard"
    assert section.response_activities == ("call", "email", "meeting")
    assert section.response_lead_statuses == ("attempting", "connected")
    tier_1 = section.policies[0]
    assert (tier_1.attempts.count, tier_1.attempts.within_business_days) == (3, 2)
    assert (tier_1.escalate_after_business_minutes, tier_1.reassign_on_breach) == (120, False)


def test_teams_get_their_calendar_and_others_the_default():
    document, _ = parse_source(DEFAULT)
    section = sla_section_parse(document["sla"], document=document)
    assert section.calendar_for_team("Sales EMEA").calendar.time_zone == "Europe/London"
    assert section.calendar_for_team("Sales EMEA").calendar.holiday_subdivision == "ENG"
    assert section.calendar_for_team("Sales").key == "americas"
    assert section.calendar_for_team("Partners").key == "americas"
    assert section.calendar_for_team(None).key == "americas"


def test_policies_match_by_segment_and_tier_in_order():
    section = sla_section_parse(
        {
            "calendars": [{"key": "hq", "time_zone": "UTC", "hours": {"mon": "09:00-17:00"}}],
            "policies": [
                {
                    "key": "enterprise_t1",
                    "segment": "Enterprise",
                    "icp_tier": [1],
                    "first_response_business_hours": 0.5,
                },
                {"key": "enterprise", "segment": ["Enterprise"], "first_response_business_hours": 2},
                {"key": "rest", "first_response_business_hours": 8, "escalate_after_business_hours": 0},
            ],
        },
        document={"mql": {"segments": [{"name": "Enterprise"}]}},
    )
    assert section.default_calendar == "hq"
    assert section.policy_for(icp_tier=1, segment="Enterprise").first_response_business_minutes == 30
    assert section.policy_for(icp_tier=2, segment="Enterprise").key == "enterprise"
    assert section.policy_for(icp_tier=1, segment="").key == "rest"


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        (
            "time_zone: Europe/London",
            "time_zone: Europe/Londres",
            "sla.calendars[1].time_zone",
            "unknown time zone 'Europe/Londres'",
        ),
        (
            "holiday_country: GB",
            "holiday_country: XX",
            "sla.calendars[1].holiday_country",
            "unknown holiday country 'XX'",
        ),
        (
            "holiday_subdivision: ENG",
            "holiday_subdivision: XYZ",
            "sla.calendars[1].holiday_subdivision",
            "unknown subdivision 'XYZ' of GB",
        ),
        ('mon: "09:00-17:30"', 'mon: "17:30-09:00"', "sla.calendars[1].hours.mon", "closes before it opens"),
        ('tue: "09:00-17:30"', 'tue: "9am"', "sla.calendars[1].hours.tue", "hours must look like 09:00-17:00"),
        (
            "default_calendar: americas",
            "default_calendar: apac",
            "sla.default_calendar",
            "expected the key of one of the calendars (americas, emea), got 'apac'",
        ),
        (
            "first_response_business_hours: 4}",
            "first_response_business_hours: 0}",
            "sla.policies[1].first_response_business_hours",
            "expected a number of business hours from above 0",
        ),
        (
            "first_response_business_hours: 1}",
            "first_response_business_hours: soon}",
            "sla.policies[0].first_response_business_hours",
            "got 'soon'",
        ),
        (
            "activities: [call, email, meeting]",
            "activities: [call, fax]",
            "sla.first_response.activities[1]",
            "unknown activity 'fax'",
        ),
        (
            "lead_statuses: [attempting, connected]",
            "lead_statuses: [attempting, chatting]",
            "sla.first_response.lead_statuses[1]",
            "unknown lead status 'chatting'",
        ),
        (
            "attempts: {count: 3, within_business_days: 2}",
            "attempts: {count: 0, within_business_days: 2}",
            "sla.attempts.count",
            "expected a whole number of attempts from 1 to 50, got 0",
        ),
        ("reassign: false}", "reassign: maybe}", "sla.escalation.reassign", "expected true or false, got 'maybe'"),
        (
            "{key: standard, name: Everyone else, first_response_business_hours: 4}",
            "{key: standard, name: Everyone else, icp_tier: 2, first_response_business_hours: 4}",
            "sla.policies[1]",
            "the last policy must match every hand-off",
        ),
        (
            "{key: tier_1, name: ICP tier 1, icp_tier: 1,",
            "{key: tier_1, name: ICP tier 1, segment: Mid-market,",
            "sla.policies[0].segment",
            "unknown MQL segment 'Mid-market'; the segments are none",
        ),
        ("{key: standard,", "{key: tier_1,", "sla.policies[1].key", "'tier_1' is defined twice"),
        (
            "teams: [Sales EMEA]",
            "teams: [Sales]",
            "sla.calendars[1].teams",
            "team 'Sales' already works by calendar 'americas'",
        ),
    ],
)
def test_an_invalid_sla_section_names_the_path(old, new, path, message):
    assert old in DEFAULT
    problems = _problems(DEFAULT.replace(old, new, 1))
    assert [problem_path for problem_path, _ in problems] == [path]
    assert message in problems[0][1]


def test_the_problem_carries_the_source_line():
    source = DEFAULT.replace("time_zone: Europe/London", "time_zone: Mars/Olympus")
    _, problems = parse_source(source)
    line = next(number for number, text in enumerate(source.splitlines(), 1) if "Mars/Olympus" in text)
    assert (problems[0].path, problems[0].line) == ("sla.calendars[1].time_zone", line)


def test_a_contract_without_an_sla_section_stays_valid():
    document, _ = parse_source(DEFAULT)
    del document["sla"]
    document["glossary"] = [term for term in document["glossary"] if not term.get("rule", "").startswith("sla")]
    assert check_document(document) == []


def test_a_section_that_is_not_a_mapping():
    with pytest.raises(SlaSectionError) as raised:
        sla_section_parse(["tier_1"])
    assert raised.value.problems == [(("sla",), "expected a mapping with calendars, default_calendar and policies.")]


@pytest.mark.django_db
def test_an_invalid_calendar_cannot_be_proposed_nor_published(cast):
    draft = services.contract_draft_create(by=cast.marketing_manager, summary="Move EMEA to Paris")
    draft = services.contract_draft_update(
        by=cast.marketing_manager,
        version=draft,
        source=DEFAULT.replace("time_zone: Europe/London", "time_zone: Europe/Paaris"),
    )
    assert draft.problems[0]["path"] == "sla.calendars[1].time_zone"
    with pytest.raises(ContractInvalid) as raised:
        services.contract_propose(by=cast.marketing_manager, version=draft)
    assert raised.value.problems[0].path == "sla.calendars[1].time_zone"
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT
    assert services.contract_get().active_version.number == 1
    assert ContractVersion.objects.filter(status=VersionStatus.PUBLISHED).count() == 1
