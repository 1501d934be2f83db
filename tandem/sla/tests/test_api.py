"""The SLA API end to end: compliance report (400 naming the field, 403 for reps) and the breach log."""

import pytest
from django.core.cache import cache

from tandem.integrations.tests.api_client import ApiClient, make_token
from tandem.sla.selectors import months_with_handoffs
from tandem.sla.services import handoff_sla_start, sla_rollup_refresh, sla_sweep
from tandem.sla.tests.support import make_handoff, new_york

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_budgets():
    cache.clear()


@pytest.fixture
def api_as(client):
    def bound(user) -> ApiClient:
        return ApiClient(client, make_token(user, name=f"tests {user.email}"))

    return bound


@pytest.fixture
def breached(cast):
    handoff = make_handoff(assignee=cast.sdr, at=new_york(2026, 3, 13, 16, 30))
    handoff_sla_start(handoff=handoff)
    sla_sweep(now=new_york(2026, 3, 16, 9, 31))
    sla_rollup_refresh(months=months_with_handoffs())
    return handoff


def test_compliance_by_rep_per_month(api_as, cast, breached):
    response = api_as(cast.sales_manager).get("/sla/compliance?group=rep&period=month&from_month=2026-03")
    assert response.status_code == 200
    assert response.json() == [
        {
            "key": cast.sdr.pk,
            "period": "2026-03-01",
            "handoffs": 1,
            "met": 0,
            "breached": 1,
            "pending": 0,
            "compliance": 0.0,
            "median_response_hours": None,
            "p90_response_hours": None,
        }
    ]


def test_a_bad_filter_is_400_naming_each_field(api_as, cast):
    response = api_as(cast.sales_manager).get("/sla/compliance?group=campaign&period=week&from_month=March")
    assert response.status_code == 400
    assert [problem["field"] for problem in response.json()["detail"]] == ["group", "period", "from_month"]


def test_reps_get_403_on_the_report_and_their_own_breaches(api_as, cast, breached):
    assert api_as(cast.sdr).get("/sla/compliance").status_code == 403
    mine = api_as(cast.sdr).get("/sla/breaches").json()
    assert [(item["handoff_id"], item["person_id"], item["policy"]) for item in mine] == [
        (breached.pk, breached.person_id, "tier_1")
    ]
    assert api_as(cast.ae).get("/sla/breaches").json() == []
    assert len(api_as(cast.sales_manager).get("/sla/breaches").json()) == 1
