"""Marketing's side: acceptance and rejection reasons by campaign, source and segment; MQL goals; the pages."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from tandem.campaigns.models import Campaign
from tandem.handoff import selectors, services
from tandem.handoff.models import Handoff, MqlGoal
from tandem.handoff.tests.factories import MONDAY_9, make_company, make_mql, use_routing

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _campaign(name: str, utm: str) -> Campaign:
    return Campaign.objects.create(
        name=name, channel="paid_search", utm_campaign=utm, created_at=MONDAY_9, updated_at=MONDAY_9
    )


@pytest.fixture
def decided(cast):
    """Five hand-offs to Sam: webinar (accepted, rejected bad timing, rejected not ICP), ads (accepted), one open."""
    use_routing({"rules": [{"name": "Inbound", "team": "Sales", "reps": [{"email": "sam@example.com"}]}]})
    _campaign("Autumn webinar", "autumn-webinar")
    _campaign("Search ads", "search")
    tier1 = make_company("Big Soft", icp_tier=1)
    with time_machine.travel(MONDAY_9, tick=False):
        people = [
            make_mql("w1@prospect.test", utm_campaign="autumn-webinar", source="webinar", account=tier1),
            make_mql("w2@prospect.test", utm_campaign="autumn-webinar", source="webinar"),
            make_mql("w3@prospect.test", utm_campaign="autumn-webinar", source="webinar"),
            make_mql("a1@prospect.test", utm_campaign="search", source="ads", account=tier1),
            make_mql("open@prospect.test", source="ads"),
        ]
        handoffs = services.handoffs_route(person_ids=[person.pk for person in people])
        services.handoff_accept(handoff=handoffs[0], by=cast.sdr)
        services.handoff_reject(handoff=handoffs[1], by=cast.sdr, reason="bad_timing")
        services.handoff_reject(handoff=handoffs[2], by=cast.sdr, reason="not_icp")
        services.handoff_accept(handoff=handoffs[3], by=cast.sdr)
    return handoffs


LABELS = {"bad_timing": "Bad timing", "not_icp": "Not our ICP"}


def _rows(grouping):
    return [
        (row.label, row.accepted, row.rejected, row.pending, row.reasons)
        for row in selectors.acceptance_by(grouping, start=START, end=END, reason_labels=LABELS)
    ]


def test_acceptance_and_rejection_reasons_by_campaign_source_and_segment(decided):
    assert decided[0].campaign.name == "Autumn webinar" and decided[0].segment == "ICP tier 1"
    assert _rows("campaign") == [
        ("Autumn webinar", 1, 2, 0, {"Bad timing": 1, "Not our ICP": 1}),
        ("Search ads", 1, 0, 0, {}),
        ("No campaign", 0, 0, 1, {}),
    ]
    assert _rows("source") == [
        ("webinar", 1, 2, 0, {"Bad timing": 1, "Not our ICP": 1}),
        ("ads", 1, 0, 1, {}),
    ]
    assert _rows("segment") == [
        ("No segment", 0, 2, 1, {"Bad timing": 1, "Not our ICP": 1}),
        ("ICP tier 1", 2, 0, 0, {}),
    ]
    rows = selectors.acceptance_by("campaign", start=START, end=END)
    assert rows[0].acceptance_rate == pytest.approx(1 / 3)
    assert selectors.acceptance_total(rows).acceptance_rate == pytest.approx(2 / 4)
    # Decisions outside the period are not counted.
    assert selectors.acceptance_by("campaign", start=END, end=END + dt.timedelta(days=30)) == []


def test_mql_goal_progress_counts_handoffs_of_the_period_and_segment(decided, cast):
    with pytest.raises(PermissionDenied):
        services.mql_goal_set(
            period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30), target=10, by=cast.sdr
        )
    services.mql_goal_set(
        period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30), target=10, by=cast.marketing_manager
    )
    services.mql_goal_set(
        period_start=dt.date(2026, 11, 1),
        period_end=dt.date(2026, 11, 30),
        target=4,
        segment="ICP tier 1",
        by=cast.marketing_manager,
    )
    progress = selectors.mql_goal_progress(today=dt.date(2026, 11, 15))
    assert [(p.goal.segment, p.goal.target, p.actual, p.expected_by_now, p.is_on_track) for p in progress] == [
        ("", 10, 5, 5.0, True),
        ("ICP tier 1", 4, 2, 2.0, True),
    ]
    # Setting a goal again replaces its target.
    services.mql_goal_set(
        period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30), target=12, by=cast.marketing_manager
    )
    assert MqlGoal.objects.count() == 2 and MqlGoal.objects.get(segment="").target == 12


def test_the_report_page_shows_reasons_against_the_campaign(client, decided, cast):
    client.force_login(cast.marketer)
    with time_machine.travel(MONDAY_9 + dt.timedelta(hours=1), tick=False):
        response = client.get("/handoff/reports/", {"start": "2026-11-01", "end": "2026-11-30"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Autumn webinar" in html and "Bad timing: 1" in html and "Not our ICP: 1" in html
    assert client.get("/handoff/reports/", {"start": "soon"}).content.decode().count("is not a date") == 1


def test_pages_render_for_the_cast(client, decided, cast):
    client.force_login(cast.sdr)
    assert client.get("/handoff/").status_code == 200
    person_page = client.get(f"/people/{decided[4].person_id}/")
    assert person_page.status_code == 200
    assert f'id="reject-{decided[4].pk}"' in person_page.content.decode()
    assert client.get(f"/handoff/{decided[4].pk}/").status_code == 200
    assert client.get("/handoff/team/").status_code == 403
    client.force_login(cast.sales_manager)
    team = client.get("/handoff/team/").content.decode()
    assert "Sam SDR" in team and "Inbound: 5 of 5.0" in team
    client.force_login(cast.ae)
    assert f'id="reject-{decided[4].pk}"' not in client.get(f"/people/{decided[4].person_id}/").content.decode()


def test_rejecting_from_the_person_page_without_a_reason_says_so_and_changes_nothing(client, decided, cast):
    client.force_login(cast.sdr)
    handoff = decided[4]
    response = client.post(f"/handoff/{handoff.pk}/reject/", {"reason": "", "next": f"/people/{handoff.person_id}/"})
    assert response.status_code == 302 and response["Location"] == f"/people/{handoff.person_id}/"
    assert Handoff.objects.get(pk=handoff.pk).status == "pending"
    page = client.get(response["Location"]).content.decode()
    assert "reason: A reason is required" in page
    client.force_login(cast.ae)
    assert client.post(f"/handoff/{handoff.pk}/accept/").status_code == 403
    assert Handoff.objects.get(pk=handoff.pk).status == "pending"


def test_a_rep_records_their_own_time_off_from_their_queue_page(client, cast):
    from tandem.handoff.models import TimeOff

    client.force_login(cast.sdr)
    response = client.post("/handoff/time-off/", {"starts_at": "2030-01-05T09:00", "ends_at": "2030-01-06T18:00"})
    assert response.status_code == 302
    (time_off,) = TimeOff.objects.filter(user=cast.sdr)
    assert (time_off.starts_at, time_off.ends_at) == (
        dt.datetime(2030, 1, 5, 9, 0, tzinfo=dt.UTC),
        dt.datetime(2030, 1, 6, 18, 0, tzinfo=dt.UTC),
    )
    assert "2030-01-05 09:00" in client.get("/handoff/").content.decode()
    client.post("/handoff/time-off/", {"starts_at": "2030-01-05T09:00", "ends_at": "2030-01-04T09:00"})
    assert TimeOff.objects.count() == 1
