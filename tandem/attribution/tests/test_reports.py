"""Journeys and reports from the shared record: buying groups, lookback, ROI and the closed loop."""

import datetime as dt

import pytest

from tandem.attribution.contract_sections import AttributionPolicy
from tandem.attribution.reports import (
    account_journey,
    attribution_report,
    journeys_touching,
    mql_outcomes,
    person_journey,
)
from tandem.attribution.selectors import journeys_for
from tandem.attribution.tests.factories import (
    at,
    make_account,
    make_campaign,
    make_person,
    opportunity,
    stage,
    touch,
)

START, END = at(0), at(30)


@pytest.fixture
def company(db):
    """Acme (Ann and Bob) wins 10,000 after Ads, Webinar, Newsletter; Globex (Cid) loses after Ads."""
    ads = make_campaign("Ads", "paid_search", cost="3000")
    webinar = make_campaign("Webinar", "events", cost="1000")
    newsletter = make_campaign("Newsletter", "email", cost="200")
    acme, globex = make_account("Acme"), make_account("Globex")
    ann = make_person("ann@acme.com", account=acme)
    bob = make_person("bob@acme.com", account=acme)
    cid = make_person("cid@globex.com", account=globex)
    dee = make_person("dee@example.com")
    touch(ann, ads, 1)
    touch(ann, webinar, 5)
    touch(bob, newsletter, 8)
    touch(cid, ads, 2)
    touch(dee, newsletter, 2)
    stage(ann, "mql", 6, from_stage="lead")
    stage(ann, "sal", 7, from_stage="mql")
    stage(ann, "sql", 10, from_stage="sal")
    stage(cid, "mql", 3, from_stage="lead")
    stage(cid, "recycled", 4, from_stage="mql", reason="no_budget")
    won = opportunity(acme, "Acme deal", "10000", created=12, won=20, person=ann)
    lost = opportunity(globex, "Globex deal", "5000", created=5, lost=15, person=cid)
    return locals()


def test_an_opportunity_journey_is_its_whole_buying_group(company):
    journeys = journeys_for("closed_won", START, END, policy=AttributionPolicy())
    path = journeys.by_campaign
    assert journeys.events.label == ["Won: Acme deal", "Lost: Globex deal"]
    assert path.offsets.tolist() == [0, 3, 4]
    assert [path.channel_names[c] for c in path.channel] == ["Ads", "Webinar", "Newsletter", "Ads"]
    assert [journeys.by_channel.channel_names[c] for c in journeys.by_channel.channel] == [
        "Paid search",
        "Events",
        "Email",
        "Paid search",
    ]
    assert path.conversions.tolist() == [1.0, 0.0]
    assert path.nulls.tolist() == [0.0, 1.0]
    assert path.value.tolist() == [10000.0, 0.0]
    # Days before the win (day 20) and the loss (day 15).
    assert path.days_before.tolist() == [19.0, 15.0, 12.0, 13.0]


def test_the_lookback_window_leaves_older_touches_out(company):
    journeys = journeys_for("closed_won", START, END, policy=AttributionPolicy(lookback_days=13))
    assert journeys.by_campaign.offsets.tolist() == [0, 1, 2]  # Newsletter (day 8) for the win, Ads for the loss
    report = attribution_report(
        conversion="closed_won", start=START, end=END, policy=AttributionPolicy(lookback_days=10), models=["linear"]
    )
    assert report.unattributed == 1
    assert report.conversions_total == 1.0
    assert sum(row.conversions["linear"] for row in report.campaigns) == 0.0


def test_mql_journeys_and_the_people_who_did_not_qualify(company):
    journeys = journeys_for("mql", START, END, policy=AttributionPolicy())
    assert journeys.events.label == ["MQL", "MQL", "No MQL", "No MQL"]
    assert journeys.events.person_id == [company["cid"].id, company["ann"].id, company["bob"].id, company["dee"].id]
    path = journeys.by_campaign
    assert [[path.channel_names[c] for c in path.channel[path.offsets[i] : path.offsets[i + 1]]] for i in range(4)] == [
        ["Ads"],
        ["Ads", "Webinar"],
        ["Newsletter"],
        ["Newsletter"],
    ]


def test_revenue_roi_and_closed_loop_per_campaign(company):
    report = attribution_report(
        conversion="closed_won",
        start=START,
        end=END,
        policy=AttributionPolicy(),
        models=["u_shaped", "first_touch", "last_touch", "markov"],
    )
    rows = {row.name: row for row in report.campaigns}
    assert list(rows) == ["Ads", "Newsletter", "Webinar"]  # by U-shaped value, then name
    assert rows["Ads"].value == {
        "u_shaped": 4000.0,
        "first_touch": 10000.0,
        "last_touch": 0.0,
        "markov": pytest.approx(10000 / 3),
    }
    assert rows["Webinar"].value["u_shaped"] == 2000.0
    assert rows["Newsletter"].value["last_touch"] == 10000.0
    assert rows["Ads"].roi("u_shaped") == pytest.approx(1 / 3)
    assert rows["Webinar"].roi("u_shaped") == pytest.approx(1.0)
    assert rows["Newsletter"].roi("u_shaped") == pytest.approx(19.0)
    assert rows["Ads"].cost == 3000.0
    assert (report.conversions_total, report.value_total, report.journeys, report.unattributed) == (1.0, 10000.0, 2, 0)

    ads_loop = rows["Ads"].closed_loop.as_dict()
    assert ads_loop == {
        "mqls": 2,
        "accepted": 1,
        "rejected": 1,
        "pending": 0,
        "acceptance_rate": 0.5,
        "rejection_reasons": {"No budget": 1},
        "reached_sql": 1,
        "onward_rate": 0.5,
    }
    assert rows["Webinar"].closed_loop.as_dict()["acceptance_rate"] == 1.0
    assert rows["Newsletter"].closed_loop.mqls == 0

    channels = {row.name: row for row in report.channels}
    assert channels["Paid search"].value["u_shaped"] == 4000.0
    assert channels["Paid search"].cost == 3000.0
    assert channels["Email"].closed_loop.mqls == 0


def test_drill_down_lists_the_journeys_that_touched_a_campaign(company):
    report = attribution_report(conversion="closed_won", start=START, end=END, policy=AttributionPolicy())
    lines = journeys_touching(report, campaign_id=company["ads"].id, model="u_shaped")
    assert [(line.label, line.path, line.share, line.converted) for line in lines] == [
        ("Won: Acme deal", ["Ads", "Webinar", "Newsletter"], 0.4, True),
        ("Lost: Globex deal", ["Ads"], 1.0, False),
    ]
    assert lines[0].account_id == company["acme"].id
    assert journeys_touching(report, campaign_id=company["ads"].id, model="markov")[0].share is None


def test_a_hand_off_decides_the_outcome_of_an_mql_before_the_stage_history(company):
    from tandem.handoff.models import Handoff

    ann, cid = company["ann"], company["cid"]
    Handoff.objects.create(
        person=ann, status="rejected", rejection_reason="not_icp", created_at=at(6), rejected_at=at(6.5)
    )
    outcomes = mql_outcomes([ann.id, cid.id], [at(6).timestamp(), at(3).timestamp()])
    assert outcomes == [("rejected", "Not our ICP"), ("rejected", "No budget")]


def test_a_persons_journey_shows_each_conversion_with_every_models_shares(company):
    conversions = person_journey(company["ann"], AttributionPolicy())
    assert [(item.label, len(item.touches)) for item in conversions] == [
        ("Person created", 0),
        ("MQL", 2),
        ("SQL", 2),
    ]
    mql = conversions[1]
    assert [touch.campaign for touch in mql.touches] == ["Ads", "Webinar"]
    assert mql.touches[0].shares["first_touch"] == 1.0
    assert mql.touches[1].shares["last_touch"] == 1.0
    assert mql.touches[0].shares["u_shaped"] == 0.5
    assert mql.touches[0].days_before == 5.0


def test_an_accounts_journey_follows_every_person_of_the_account(company):
    conversions = account_journey(company["acme"], AttributionPolicy())
    assert [item.label for item in conversions] == ["Opportunity created: Acme deal", "Closed won: Acme deal"]
    won = conversions[1]
    assert [(touch.campaign, touch.person) for touch in won.touches] == [
        ("Ads", "Ann"),
        ("Webinar", "Ann"),
        ("Newsletter", "Bob"),
    ]
    assert won.value == 10000.0
    assert [touch.shares["w_shaped"] for touch in won.touches] == pytest.approx([1 / 3, 1 / 3, 1 / 3])


def test_a_window_without_conversions_gives_empty_credit(db):
    report = attribution_report(
        conversion="sql", start=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), end=dt.datetime(2020, 2, 1, tzinfo=dt.UTC)
    )
    assert (report.conversions_total, report.journeys, report.campaigns, report.channels) == (0.0, 0, [], [])
