"""`GET /api/v1/attribution` end to end through the HTTP client."""

import pytest

from tandem.attribution.tests.test_reports import company  # noqa: F401 - the fixture
from tandem.integrations.services import token_create
from tandem.users.tests.factories import UserFactory

URL = "/api/v1/attribution"
PERIOD = {"from": "2026-03-01", "to": "2026-03-30"}


@pytest.fixture
def bearer(cast):
    secret = token_create(name="bi", user=cast.leadership, by=cast.revops).secret
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_revenue_credit_cost_roi_and_closed_loop_per_campaign(client, company, bearer):  # noqa: F811
    response = client.get(URL, {"model": "u_shaped", "conversion": "closed_won", **PERIOD}, **bearer)
    assert response.status_code == 200
    body = response.json()
    assert (body["conversion"], body["from"], body["to"], body["lookback_days"]) == (
        "closed_won",
        "2026-03-01",
        "2026-03-30",
        90,
    )
    assert (body["conversions"], body["value"], body["journeys"], body["unattributed"]) == (1.0, 10000.0, 2, 0)
    assert [model["key"] for model in body["models"]] == ["u_shaped"]
    assert body["models"][0]["weights"] == "40% first touch, 40% last touch, 20% shared by the touches between."
    ads = next(row for row in body["campaigns"] if row["name"] == "Ads")
    assert ads["campaign_id"] == company["ads"].id
    assert ads["cost"] == 3000.0
    assert ads["credit"]["u_shaped"]["value"] == 4000.0
    assert ads["credit"]["u_shaped"]["roi"] == pytest.approx(1 / 3)
    assert ads["closed_loop"]["acceptance_rate"] == 0.5
    assert ads["closed_loop"]["rejection_reasons"] == {"No budget": 1}
    assert [row["name"] for row in body["channels"]] == ["Email", "Paid search", "Events"]


def test_every_model_at_once(client, company, bearer):  # noqa: F811
    body = client.get(URL, {"conversion": "closed_won", **PERIOD}, **bearer).json()
    assert [model["key"] for model in body["models"]][-1] == "markov"
    newsletter = next(row for row in body["campaigns"] if row["name"] == "Newsletter")
    assert newsletter["credit"]["last_touch"]["value"] == 10000.0
    assert newsletter["credit"]["first_touch"]["value"] == 0.0
    assert newsletter["credit"]["markov"]["value"] == pytest.approx(10000 / 3)


def test_mqls_have_no_value_and_no_roi(client, company, bearer):  # noqa: F811
    body = client.get(URL, {"model": "first_touch", "conversion": "mql", **PERIOD}, **bearer).json()
    ads = next(row for row in body["campaigns"] if row["name"] == "Ads")
    assert ads["credit"]["first_touch"] == {"conversions": 2.0, "value": 0.0, "roi": None}


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"model": "best"}, "model", "'best' is not a model"),
        ({"conversion": "sale"}, "conversion", "'sale' is not a conversion"),
        ({"from": "yesterday"}, "from", "expected a date as YYYY-MM-DD, got 'yesterday'."),
        ({"from": "2026-05-01", "to": "2026-04-01"}, "from", "must not be after to"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(client, cast, bearer, params, field, message):
    response = client.get(URL, params, **bearer)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["field"] == field
    assert message in detail[0]["message"]


def test_anonymous_and_inactive_users_are_refused(client, db):
    assert client.get(URL).status_code == 401
    user = UserFactory(email="gone@example.com", is_active=False)
    client.force_login(user)
    assert client.get(URL).status_code in (401, 403)
