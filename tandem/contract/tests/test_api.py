"""The contract API end to end: drafts, checks, proposals, decisions (403 for the wrong people), diffs."""

import pytest
from django.core.cache import cache

from tandem.contract.document import default_source
from tandem.contract.models import ContractApproval, ContractVersion
from tandem.integrations.tests.api_client import ApiClient, make_token

pytestmark = pytest.mark.django_db

RAISED = default_source().replace("engagement_score_at_least: 40", "engagement_score_at_least: 50")


@pytest.fixture(autouse=True)
def _fresh_rate_budgets():
    cache.clear()


@pytest.fixture
def api_as(client):
    def bound(user) -> ApiClient:
        return ApiClient(client, make_token(user, name=f"tests {user.email}"))

    return bound


def test_the_contract_in_force_reads_as_yaml_and_document(api_as, cast):
    response = api_as(cast.ae).get("/contract")
    assert response.status_code == 200
    body = response.json()
    assert (body["number"], body["status"], body["is_valid"]) == (1, "published", True)
    assert body["document"]["mql"]["fit_score_at_least"] == 60
    assert body["source"] == default_source()


def test_check_names_each_problem_with_path_and_line(api_as, cast):
    source = default_source().replace("points: 25}", "points: 250}", 1)
    response = api_as(cast.marketer).post("/contract/check", {"source": source})
    assert response.status_code == 200
    line = next(number for number, text in enumerate(source.splitlines(), 1) if "points: 250" in text)
    assert response.json() == {
        "is_valid": False,
        "problems": [
            {
                "path": "fit.rules[0].points",
                "line": line,
                "message": "expected a whole number from -100 to 100, got 250.",
            }
        ],
    }


def test_the_whole_approval_journey(api_as, cast):
    created = api_as(cast.marketer).post("/contract/versions", {"source": RAISED, "summary": "Raise the bar"})
    assert created.status_code == 201
    number = created.json()["number"]
    proposed = api_as(cast.marketer).post(f"/contract/versions/{number}/propose", {})
    assert proposed.json()["status"] == "proposed"
    assert (
        api_as(cast.marketing_manager)
        .post(f"/contract/versions/{number}/decisions", {"decision": "approve"})
        .status_code
        == 200
    )
    final = api_as(cast.sales_manager).post(f"/contract/versions/{number}/decisions", {"decision": "approve"})
    assert final.json()["status"] == "published"
    assert [decision["side"] for decision in final.json()["decisions"]] == ["marketing", "sales"]
    assert api_as(cast.ae).get("/contract").json()["number"] == number
    diff = api_as(cast.ae).get(f"/contract/versions/{number}/diff/1").json()
    assert diff["changes"] == [{"path": "mql.engagement_score_at_least", "before": 40, "after": 50}]
    assert (diff["added_lines"], diff["removed_lines"]) == (1, 1)


def test_approving_your_own_proposal_is_403_and_changes_nothing(api_as, cast):
    number = (
        api_as(cast.marketing_manager).post("/contract/versions", {"source": RAISED, "summary": "x"}).json()["number"]
    )
    api_as(cast.marketing_manager).post(f"/contract/versions/{number}/propose", {})
    response = api_as(cast.marketing_manager).post(f"/contract/versions/{number}/decisions", {"decision": "approve"})
    assert response.status_code == 403
    assert "You proposed this version" in response.json()["detail"]
    assert ContractApproval.objects.count() == 1  # the proposal itself, for marketing
    assert ContractVersion.objects.get(number=number).status == "proposed"


def test_approving_as_the_wrong_side_is_403(api_as, cast):
    number = api_as(cast.marketer).post("/contract/versions", {"source": RAISED, "summary": "x"}).json()["number"]
    api_as(cast.marketer).post(f"/contract/versions/{number}/propose", {})
    response = api_as(cast.ae).post(f"/contract/versions/{number}/decisions", {"decision": "approve"})
    assert response.status_code == 403
    assert ContractApproval.objects.count() == 0


def test_proposing_an_invalid_version_is_422_naming_the_problem(api_as, cast):
    source = RAISED.replace("kind: churn", "kind: sideways")
    number = api_as(cast.marketer).post("/contract/versions", {"source": source, "summary": "x"}).json()["number"]
    response = api_as(cast.marketer).post(f"/contract/versions/{number}/propose", {})
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["field"] == "lifecycle.transitions[9].kind"
    assert detail["message"].startswith("expected one of forward, recycle")
    assert ContractVersion.objects.get(number=number).status == "draft"


def test_a_rep_cannot_write_drafts(api_as, cast):
    response = api_as(cast.sdr).post("/contract/versions", {"source": RAISED, "summary": "x"})
    assert response.status_code == 403
    assert ContractVersion.objects.count() <= 1
