"""The lifetime-value API and the clv_min filter of the list APIs, end to end."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

from tandem.audit.models import AuditEntry
from tandem.clv import services
from tandem.clv.models import ClvFit, CustomerValue
from tandem.clv.tests.factories import make_history
from tandem.integrations.tests.api_client import ApiClient, make_token

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_budgets():
    cache.clear()


@pytest.fixture
def api_as(client):
    return lambda user: ApiClient(client, make_token(user))


@time_machine.travel(NOW, tick=False)
def test_refit_through_the_api_then_read_the_fit_and_values(cast, api_as):
    accounts, people = make_history()
    api = api_as(cast.revops)
    assert api.get("/clv/fits/latest").status_code == 404

    response = api.post("/clv/fits", {"unit": "weeks", "horizon_months": 6})

    assert response.status_code == 201
    body = response.json()
    fit = ClvFit.objects.get()
    assert (body["version"], body["customers"], body["horizon_months"], body["values_stored"]) == (1, 12, 6, 24)
    assert body["r"] == pytest.approx(fit.r) and body["fitted_by"] == "API: Rita RevOps via token 'tests'"
    assert api.get("/clv/fits/latest").json()["version"] == 1
    assert [row["version"] for row in api.get("/clv/fits").json()] == [1]
    assert api.get("/clv/fits/7").status_code == 404

    value = CustomerValue.objects.get(account=accounts[0])
    account = api.get(f"/clv/accounts/{accounts[0].pk}").json()
    assert account["predicted_value"] == str(value.predicted_value)
    assert (account["name"], account["fit_version"], account["purchases"], account["T"]) == (
        "Customer 0",
        1,
        5,
        value.age,
    )
    assert api.get(f"/clv/people/{people[0].pk}").json()["person_id"] == people[0].pk
    assert AuditEntry.objects.filter(action__in=["clv.fit", "clv.predict"], actor=cast.revops).count() == 2


@time_machine.travel(NOW, tick=False)
def test_an_sdr_may_read_but_not_refit(cast, api_as):
    make_history()
    services.clv_refit(by=cast.revops)
    api = api_as(cast.sdr)

    response = api.post("/clv/fits", {})

    assert response.status_code == 403
    assert ClvFit.objects.count() == 1
    assert not AuditEntry.objects.filter(actor=cast.sdr).exists()
    assert api.get("/clv/fits/latest").status_code == 200


def test_a_refit_without_enough_history_is_a_conflict_that_says_why(cast, api_as):
    response = api_as(cast.revops).post("/clv/fits", {})
    assert response.status_code == 409
    assert "0 customers have a won deal" in response.json()["detail"]
    assert not ClvFit.objects.exists()


def test_bad_refit_input_names_the_field(cast, api_as):
    response = api_as(cast.revops).post("/clv/fits", {"horizon_months": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "horizon_months"
    response = api_as(cast.revops).post("/clv/fits", {"unit": "months"})
    assert response.json()["detail"][0]["field"] == "unit"


@time_machine.travel(NOW, tick=False)
def test_values_listed_by_predicted_value_and_filtered_by_clv_min(cast, api_as):
    accounts, people = make_history()
    services.clv_refit(by=cast.revops)
    ordered = list(CustomerValue.objects.filter(account__isnull=False).order_by("-predicted_value", "id"))
    threshold = ordered[3].predicted_value
    api = api_as(cast.ae)

    top = api.get("/clv/accounts", {"clv_min": str(threshold), "limit": 2}).json()
    assert top["count"] == 4
    assert [row["account_id"] for row in top["items"]] == [ordered[0].account_id, ordered[1].account_id]

    # The accounts and people lists take the same filter.
    listed = api.get("/accounts", {"clv_min": str(threshold), "limit": 100}).json()["items"]
    assert sorted(row["id"] for row in listed) == sorted(value.account_id for value in ordered[:4])
    people_listed = api.get("/people", {"clv_min": str(threshold), "limit": 100}).json()["items"]
    expected_people = CustomerValue.objects.filter(person__isnull=False, predicted_value__gte=threshold)
    assert sorted(row["id"] for row in people_listed) == sorted(expected_people.values_list("person_id", flat=True))
    assert len(api.get("/accounts", {"limit": 100}).json()["items"]) == 12

    bad = api.get("/accounts", {"clv_min": "-5"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "clv_min"


@time_machine.travel(NOW, tick=False)
def test_an_unvalued_record_is_a_404_that_says_why(cast, api_as):
    from tandem.crm.tests.factories import make_account

    account = make_account(name="Prospect", domain="prospect.com")
    response = api_as(cast.ae).get(f"/clv/accounts/{account.pk}")
    assert response.status_code == 404
    assert "has no lifetime value" in response.json()["detail"]
    assert api_as(cast.ae).get("/clv/accounts/999999").json()["detail"] == "Account 999999 not found"
