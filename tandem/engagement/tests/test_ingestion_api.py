"""The event collection endpoints end to end: keys, CORS, bad input, idempotency, identity, channels."""

import datetime as dt
import json

import pytest
import time_machine

from tandem.campaigns.models import Campaign
from tandem.crm.models import Person
from tandem.crm.tests.factories import make_person
from tandem.engagement.models import Touchpoint, TouchpointKey, Visitor
from tandem.integrations.services import token_create, token_revoke

NOW = dt.datetime(2026, 5, 14, 12, 0, tzinfo=dt.UTC)
ORIGIN = "https://www.acme-site.com"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_budgets():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def write_key(cast):
    issued = token_create(by=cast.revops, user=cast.revops, name="Website", is_write_key=True)
    issued.token.allowed_origins = f"{ORIGIN}\nhttps://shop.acme-site.com/"
    issued.token.save()
    return issued.secret


@pytest.fixture
def api_token(cast):
    return token_create(by=cast.revops, user=cast.marketer, name="Warehouse sync").secret


def post(client, path, payload, key=None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    return client.post(path, body, content_type="application/json", **headers, **extra)


def page_view(**fields):
    return {"type": "page_view", "anonymous_id": "anon-1", "occurred_at": "2026-05-14T11:00:00Z", **fields}


def test_one_event_is_stored_with_its_channel_and_answered_201(client, frozen, write_key):
    response = post(
        client,
        "/api/v1/events",
        page_view(
            client_event_id="e-1",
            url="https://www.acme-site.com/pricing",
            referrer="https://www.google.com/search?q=acme",
            properties={"title": "Pricing"},
        ),
        write_key,
    )
    assert response.status_code == 201
    assert response.json() == {"stored": 1, "duplicates": 0}
    point = Touchpoint.objects.get()
    assert (point.type, point.anonymous_id, point.channel, point.person_id) == (
        "page_view",
        "anon-1",
        "organic_search",
        None,
    )
    assert point.occurred_at == dt.datetime(2026, 5, 14, 11, 0, tzinfo=dt.UTC)
    assert point.properties == {"title": "Pricing"}
    assert TouchpointKey.objects.get().client_event_id == "e-1"


def test_resending_an_event_with_the_same_client_event_id_stores_nothing_new(client, frozen, write_key):
    assert post(client, "/api/v1/events", page_view(client_event_id="e-1"), write_key).status_code == 201
    again = post(client, "/api/v1/events", page_view(client_event_id="e-1", url="https://x.test/"), write_key)
    assert again.status_code == 200
    assert again.json() == {"stored": 0, "duplicates": 1}
    assert Touchpoint.objects.count() == 1
    assert Touchpoint.objects.get().url == ""


def test_a_batch_stores_the_valid_events_and_lists_each_rejected_one(client, frozen, api_token):
    events = [
        page_view(client_event_id="b-1"),
        {"type": "teleport", "anonymous_id": "a"},
        {"type": "page_view"},
        page_view(client_event_id="b-2", occurred_at="2026-05-15T12:00:01Z"),
        page_view(client_event_id="b-3", occurred_at="2020-01-01T00:00:00Z"),
        page_view(client_event_id="b-1"),
        "not an object",
        page_view(client_event_id="b-4", colour="red"),
        page_view(client_event_id="b-5", utm_source="newsletter", utm_medium="email"),
    ]
    response = post(client, "/api/v1/events/batch", {"events": events}, api_token)
    assert response.status_code == 200
    body = response.json()
    assert (body["received"], body["stored"], body["duplicates"]) == (9, 2, 1)
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "type"),
        (2, "anonymous_id"),
        (3, "occurred_at"),
        (4, "occurred_at"),
        (6, "event"),
        (7, "colour"),
    ]
    assert body["rejected"][0]["reason"].startswith("unknown type 'teleport'")
    assert "future" in body["rejected"][2]["reason"]
    assert "too far in the past" in body["rejected"][3]["reason"]
    assert body["rejected"][2]["client_event_id"] == "b-2"
    assert dict(Touchpoint.objects.values_list("client_event_id", "channel")) == {"b-1": "direct", "b-5": "email"}


def test_a_batch_with_no_valid_event_is_422_and_stores_nothing(client, frozen, api_token):
    response = post(client, "/api/v1/events/batch", {"events": [{"type": "page_view"}]}, api_token)
    assert response.status_code == 422
    assert response.json()["rejected"][0]["field"] == "anonymous_id"
    assert Touchpoint.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "status", "field", "message"),
    [
        (b'{"type": "page_view", ', 422, "body", "Malformed JSON"),
        ({"type": "click", "anonymous_id": "a"}, 422, "type", "unknown type 'click'"),
        ({"type": "page_view"}, 422, "anonymous_id", "an event needs an identity"),
        (
            {"type": "page_view", "anonymous_id": "a", "occurred_at": "2027-01-01T00:00:00Z"},
            422,
            "occurred_at",
            "future",
        ),
        ({"type": "page_view", "anonymous_id": "a", "occurred_at": "yesterday"}, 422, "occurred_at", "ISO 8601"),
        ({"type": "page_view", "email": "not-an-address"}, 422, "email", "is not an email address"),
    ],
)
def test_bad_single_events_are_refused_naming_the_field(client, frozen, write_key, payload, status, field, message):
    response = post(client, "/api/v1/events", payload, write_key)
    assert response.status_code == status
    detail = response.json()["detail"][0]
    assert detail["field"] == field
    assert message in detail["message"]
    assert Touchpoint.objects.count() == 0


def test_an_oversized_batch_is_refused_with_413(client, frozen, write_key, settings):
    events = [page_view(client_event_id=f"o-{n}") for n in range(1001)]
    response = post(client, "/api/v1/events/batch", {"events": events}, write_key)
    assert response.status_code == 413
    assert response.json()["detail"][0]["message"] == "A batch holds at most 1,000 events; this one has 1,001."
    settings.TANDEM_EVENTS_MAX_BATCH_BYTES = 2000
    response = post(client, "/api/v1/events/batch", {"events": events[:50]}, write_key)
    assert response.status_code == 413
    assert "larger than the limit of 2000 bytes" in response.json()["detail"]
    assert Touchpoint.objects.count() == 0


def test_wrong_missing_and_revoked_keys_are_refused(client, frozen, cast):
    assert post(client, "/api/v1/events", page_view()).status_code == 401
    wrong = post(client, "/api/v1/events", page_view(), "tdm_00000000_nope")
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "The key is not valid or has been revoked."}
    issued = token_create(by=cast.revops, user=cast.revops, name="Old site", is_write_key=True)
    token_revoke(by=cast.revops, token=issued.token)
    assert post(client, "/api/v1/events", page_view(), issued.secret).status_code == 401
    assert Touchpoint.objects.count() == 0


def test_a_leadership_token_may_not_send_events(client, frozen, cast):
    secret = token_create(by=cast.revops, user=cast.leadership, name="Board").secret
    response = post(client, "/api/v1/events", page_view(), secret)
    assert response.status_code == 403
    assert Touchpoint.objects.count() == 0


def test_browsers_send_with_a_write_key_from_allowed_origins_only(client, frozen, write_key, api_token):
    allowed = client.post(
        f"/api/v1/events?key={write_key}", json.dumps(page_view()), content_type="text/plain", HTTP_ORIGIN=ORIGIN
    )
    assert allowed.status_code == 201
    assert allowed["Access-Control-Allow-Origin"] == ORIGIN
    other = client.post(
        f"/api/v1/events?key={write_key}",
        json.dumps(page_view()),
        content_type="text/plain",
        HTTP_ORIGIN="https://evil.example",
    )
    assert other.status_code == 403
    assert other.json() == {
        "detail": "The origin 'https://evil.example' is not among this write key's allowed origins."
    }
    secret_token = post(client, "/api/v1/events", page_view(), api_token, HTTP_ORIGIN=ORIGIN)
    assert secret_token.status_code == 403
    assert Touchpoint.objects.count() == 1


def test_preflight_answers_allowed_origins_and_refuses_others(client, write_key):
    response = client.options("/api/v1/events/batch", HTTP_ORIGIN="https://shop.acme-site.com")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://shop.acme-site.com"
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert response["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    refused = client.options("/api/v1/events", HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused


def test_a_write_key_has_its_own_rate_budget(client, frozen, cast):
    issued = token_create(by=cast.revops, user=cast.revops, name="Tiny", is_write_key=True, rate_limit_per_minute=2)
    other = token_create(by=cast.revops, user=cast.revops, name="Other", is_write_key=True).secret
    assert post(client, "/api/v1/events", page_view(client_event_id="r1"), issued.secret).status_code == 201
    assert post(client, "/api/v1/events", page_view(client_event_id="r2"), issued.secret).status_code == 201
    limited = post(client, "/api/v1/events", page_view(client_event_id="r3"), issued.secret)
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"
    assert post(client, "/api/v1/events", page_view(client_event_id="r4"), other).status_code == 201
    assert sorted(Touchpoint.objects.values_list("client_event_id", flat=True)) == ["r1", "r2", "r4"]


def test_a_write_key_cannot_call_the_rest_of_the_api(client, write_key):
    response = client.get("/api/v1/people", HTTP_AUTHORIZATION=f"Bearer {write_key}")
    assert response.status_code == 403


def test_an_email_identifies_the_visitor_and_their_earlier_visits(client, frozen, write_key):
    post(client, "/api/v1/events", page_view(client_event_id="v1"), write_key)
    post(client, "/api/v1/events", page_view(client_event_id="v2", occurred_at="2026-05-14T11:05:00Z"), write_key)
    response = post(
        client,
        "/api/v1/events",
        {"type": "form_submit", "anonymous_id": "anon-1", "email": "Dana@Beta.io", "client_event_id": "f1",
         "occurred_at": "2026-05-14T11:10:00Z"},
        write_key,
    )  # fmt: skip
    assert response.status_code == 201
    person = Person.objects.get(email="dana@beta.io")
    assert person.source == "Event API"
    assert sorted(person.touchpoints.values_list("client_event_id", flat=True)) == ["f1", "v1", "v2"]
    assert Visitor.objects.get(anonymous_id="anon-1").person == person
    assert person.last_activity_at == dt.datetime(2026, 5, 14, 11, 10, tzinfo=dt.UTC)
    # Later anonymous events of the same visitor are the person's from the start.
    post(client, "/api/v1/events", page_view(client_event_id="v3", occurred_at="2026-05-14T11:20:00Z"), write_key)
    assert Touchpoint.objects.get(client_event_id="v3").person == person


def test_person_id_and_campaign_are_checked_and_a_campaign_gives_its_channel(client, frozen, api_token):
    person = make_person(email="kim@acme.com")
    campaign = Campaign.objects.create(
        name="Spring webinar", channel="events", utm_campaign="spring-webinar", created_at=NOW, updated_at=NOW
    )
    events = [
        {"type": "webinar", "person_id": person.pk, "campaign": campaign.pk, "client_event_id": "c1"},
        {"type": "page_view", "person_id": 987654, "client_event_id": "c2"},
        {"type": "page_view", "anonymous_id": "z", "campaign": 987654, "client_event_id": "c3"},
        {"type": "page_view", "anonymous_id": "z", "utm_campaign": "Spring-Webinar", "client_event_id": "c4"},
    ]
    body = post(client, "/api/v1/events/batch", {"events": events}, api_token).json()
    assert body["stored"] == 2
    assert [(r["index"], r["field"], r["reason"]) for r in body["rejected"]] == [
        (1, "person_id", "there is no person with id 987654."),
        (2, "campaign", "there is no campaign with id 987654."),
    ]
    stored = {p.client_event_id: (p.person_id, p.campaign_id, p.channel) for p in Touchpoint.objects.all()}
    assert stored == {"c1": (person.pk, campaign.pk, "events"), "c4": (None, campaign.pk, "events")}
