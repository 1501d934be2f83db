"""The HTTP API of campaigns and their members, end to end through the test client."""

import pytest
from django.core.cache import cache

from tandem.audit.models import AuditEntry
from tandem.campaigns.models import Campaign, CampaignMember
from tandem.campaigns.services import campaign_create
from tandem.crm.tests.factories import SYSTEM, make_person
from tandem.integrations.tests.api_client import ApiClient, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_budgets():
    # Rate counters live in the cache, which outlives each test's database rollback.
    cache.clear()


@pytest.fixture
def api_as(client):
    def bound(user, **token_options) -> ApiClient:
        return ApiClient(client, make_token(user, **token_options))

    return bound


def _ids(response) -> list[int]:
    return [row["id"] for row in response.json()["items"]]


def make_campaign(name="Spring webinar", channel="events", **fields) -> Campaign:
    return campaign_create(by=SYSTEM, name=name, channel=channel, **fields)


def test_campaign_round_trip_create_read_update_delete(api_as, cast):
    api = api_as(cast.marketer)
    created = api.post(
        "/campaigns",
        {
            "name": "Spring webinar",
            "channel": "events",
            "type": "webinar",
            "cost": "2500.50",
            "start_date": "2026-04-01",
            "end_date": "2026-04-30",
            "owner": cast.marketer.pk,
            "goal": "150 registrations",
            "utm_campaign": "spring-webinar",
        },
    )
    assert created.status_code == 201
    body = created.json()
    campaign = Campaign.objects.get()
    assert body == {
        "id": campaign.pk,
        "name": "Spring webinar",
        "channel": "events",
        "type": "webinar",
        "cost": "2500.50",
        "start_date": "2026-04-01",
        "end_date": "2026-04-30",
        "owner": cast.marketer.pk,
        "owner_email": "alice@example.com",
        "goal": "150 registrations",
        "utm_campaign": "spring-webinar",
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert api.get(f"/campaigns/{campaign.pk}").json() == body
    updated = api.patch(f"/campaigns/{campaign.pk}", {"cost": "3000"})
    assert (updated.json()["cost"], updated.json()["name"]) == ("3000.00", "Spring webinar")
    assert api.delete(f"/campaigns/{campaign.pk}").status_code == 204
    missing = api.get(f"/campaigns/{campaign.pk}")
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": f"Campaign {campaign.pk} not found"},
    )


def test_sales_and_leadership_cannot_create_or_change_campaigns(api_as, cast):
    campaign = make_campaign(owner=cast.marketer)
    for user in [cast.ae, cast.leadership]:
        api = api_as(user)
        assert api.get(f"/campaigns/{campaign.pk}").status_code == 200
        refused = api.post("/campaigns", {"name": "Cold calls", "channel": "outbound_sales"})
        assert refused.status_code == 403
        assert refused.json() == {"detail": "Campaigns are created by marketing and RevOps."}
        assert api.patch(f"/campaigns/{campaign.pk}", {"name": "Renamed"}).status_code == 403
        assert api.delete(f"/campaigns/{campaign.pk}").status_code == 403
    campaign.refresh_from_db()
    assert (Campaign.objects.count(), campaign.name) == (1, "Spring webinar")


def test_public_write_key_is_refused_with_403(api_as, cast):
    api = api_as(cast.revops, is_write_key=True)
    assert api.get("/campaigns").status_code == 403
    assert api.post("/campaigns", {"name": "X", "channel": "email"}).status_code == 403
    assert not Campaign.objects.exists()


def test_invalid_campaign_input_is_422_naming_the_field(api_as, cast):
    api = api_as(cast.marketer)
    cases = {
        "channel": {"name": "X", "channel": "carrier_pigeon"},
        "type": {"name": "X", "channel": "email", "type": "party"},
        "cost": {"name": "X", "channel": "email", "cost": "-5"},
        "end_date": {
            "name": "X",
            "channel": "email",
            "start_date": "2026-05-01",
            "end_date": "2026-04-01",
        },
        "owner": {"name": "X", "channel": "email", "owner": 4321},
        "name": {"name": "", "channel": "email"},
        "budget": {"name": "X", "channel": "email", "budget": 10},
    }
    for field, body in cases.items():
        response = api.post("/campaigns", body)
        assert response.status_code == 422, field
        assert response.json()["detail"][0]["field"] == field
    assert not Campaign.objects.exists()


def test_campaign_list_filters_sorts_and_pages(api_as, cast):
    webinar = make_campaign(name="Webinar", channel="events", type="webinar", owner=cast.marketer)
    ads = make_campaign(name="Ads", channel="paid_search", type="ads")
    newsletter = make_campaign(name="Newsletter", channel="email", type="email")
    api = api_as(cast.marketer)
    assert _ids(api.get("/campaigns")) == [newsletter.pk, ads.pk, webinar.pk]
    assert _ids(api.get("/campaigns", {"sort": "name"})) == [ads.pk, newsletter.pk, webinar.pk]
    assert _ids(api.get("/campaigns", {"channel": "email"})) == [newsletter.pk]
    assert _ids(api.get("/campaigns", {"type": "ads"})) == [ads.pk]
    assert _ids(api.get("/campaigns", {"owner": "me"})) == [webinar.pk]
    assert _ids(api.get("/campaigns", {"q": "letter"})) == [newsletter.pk]
    first = api.get("/campaigns", {"limit": 2, "sort": "name"})
    second = api.get("/campaigns", {"limit": 2, "sort": "name", "cursor": first.json()["next_cursor"]})
    assert (_ids(first), _ids(second), second.json()["next_cursor"]) == (
        [ads.pk, newsletter.pk],
        [webinar.pk],
        None,
    )
    assert api.get("/campaigns", {"channel": "tv"}).json()["detail"][0]["field"] == "channel"


def test_put_member_adds_the_person_and_moves_their_status(api_as, cast):
    campaign = make_campaign(owner=cast.marketer)
    person = make_person()
    api = api_as(cast.marketer)
    added = api.put(f"/campaigns/{campaign.pk}/members/{person.pk}", {})
    assert added.status_code == 200
    member = CampaignMember.objects.get()
    assert added.json() == {
        "id": member.pk,
        "campaign": campaign.pk,
        "person": person.pk,
        "status": "targeted",
        "responded_at": None,
        "created_at": added.json()["created_at"],
    }
    registered = api.put(f"/campaigns/{campaign.pk}/members/{person.pk}", {"status": "registered"})
    assert registered.json()["status"] == "registered"
    assert registered.json()["responded_at"] is not None
    entries = AuditEntry.objects.count()
    again = api.put(f"/campaigns/{campaign.pk}/members/{person.pk}", {"status": "registered"})
    assert again.json() == registered.json()
    assert (CampaignMember.objects.count(), AuditEntry.objects.count()) == (1, entries)
    listed = api.get(f"/campaigns/{campaign.pk}/members")
    assert (_ids(listed), listed.json()["next_cursor"]) == ([member.pk], None)


def test_put_member_refuses_unknown_person_status_and_read_only_users(api_as, cast):
    campaign = make_campaign(owner=cast.marketer)
    person = make_person()
    api = api_as(cast.marketer)
    unknown_person = api.put(f"/campaigns/{campaign.pk}/members/9999", {"status": "sent"})
    assert (unknown_person.status_code, unknown_person.json()) == (
        404,
        {"detail": "Person 9999 not found"},
    )
    unknown_campaign = api.put(f"/campaigns/9999/members/{person.pk}", {"status": "sent"})
    assert unknown_campaign.json() == {"detail": "Campaign 9999 not found"}
    bad_status = api.put(f"/campaigns/{campaign.pk}/members/{person.pk}", {"status": "bounced"})
    assert bad_status.status_code == 422
    assert bad_status.json()["detail"][0]["field"] == "status"
    leadership = api_as(cast.leadership).put(f"/campaigns/{campaign.pk}/members/{person.pk}", {"status": "sent"})
    assert leadership.status_code == 403
    assert not CampaignMember.objects.exists()
