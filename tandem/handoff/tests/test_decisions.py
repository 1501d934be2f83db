"""Accepting and rejecting hand-offs: only sales, with a reason from the contract, through the lifecycle service."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError

from tandem.crm.models import Person, StageChange
from tandem.handoff import services
from tandem.handoff.models import Handoff, HandoffStatus
from tandem.handoff.tests.factories import MONDAY_9, make_mql, use_routing
from tandem.integrations.tests.api_client import ApiClient, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_budgets():
    cache.clear()


@pytest.fixture
def routed(cast):
    """A hand-off routed to Sam the SDR."""
    use_routing({"rules": [{"name": "Inbound", "team": "Sales", "reps": [{"email": "sam@example.com"}]}]})
    with time_machine.travel(MONDAY_9, tick=False):
        person = make_mql("lead@prospect.test")
        (handoff,) = services.handoffs_route(person_ids=[person.pk])
    return handoff


def _snapshot(handoff: Handoff):
    handoff = Handoff.objects.get(pk=handoff.pk)
    person = Person.objects.get(pk=handoff.person_id)
    return (handoff.status, handoff.rejection_reason, person.lifecycle_stage_id, StageChange.objects.count())


def test_the_assignee_accepts_and_the_person_becomes_sal_with_evidence(routed, cast):
    with time_machine.travel(MONDAY_9 + dt.timedelta(minutes=20), tick=False):
        services.handoff_accept(handoff=routed, by=cast.sdr, note="Spoke to them")
    routed.refresh_from_db()
    assert routed.status == HandoffStatus.ACCEPTED
    assert routed.accepted_at == MONDAY_9 + dt.timedelta(minutes=20)
    assert routed.decided_by == cast.sdr
    change = StageChange.objects.filter(person=routed.person).order_by("-at", "-pk").first()
    assert (change.from_stage_id, change.to_stage_id, change.actor_user) == ("mql", "sal", cast.sdr)
    assert change.reason == "Hand-off accepted by Sam SDR: Spoke to them"
    assert change.evidence == {
        "rule": "handoff_accept",
        "handoff": routed.pk,
        "assignee": cast.sdr.pk,
        "routing_rule": "Inbound",
        "text": f"Sales accepted hand-off #{routed.pk}",
    }


@pytest.mark.parametrize(("reason", "stage"), [("bad_timing", "recycled"), ("not_icp", "disqualified")])
def test_a_rejection_sends_the_person_where_the_reason_says(routed, cast, reason, stage):
    services.handoff_reject(handoff=routed, by=cast.sdr, reason=reason, note="Call in Q3")
    routed.refresh_from_db()
    assert (routed.status, routed.rejection_reason, routed.rejection_outcome) == ("rejected", reason, stage)
    assert routed.rejection_note == "Call in Q3"
    assert Person.objects.get(pk=routed.person_id).lifecycle_stage_id == stage
    change = StageChange.objects.filter(person=routed.person).order_by("-at", "-pk").first()
    assert change.evidence["rejection_reason"] == reason and change.evidence["outcome"] == stage


def test_rejecting_without_a_known_reason_is_refused_and_nothing_changes(routed, cast):
    before = _snapshot(routed)
    with pytest.raises(ValidationError) as missing:
        services.handoff_reject(handoff=routed, by=cast.sdr, reason="")
    assert list(missing.value.message_dict) == ["reason"]
    with pytest.raises(ValidationError) as unknown:
        services.handoff_reject(handoff=routed, by=cast.sdr, reason="too_busy")
    assert unknown.value.message_dict["reason"][0].startswith("'too_busy' is not a rejection reason; expected one of")
    assert _snapshot(routed) == before


@pytest.mark.parametrize("who", ["ae", "marketer", "marketing_manager", "revops", "leadership"])
def test_only_the_assignee_or_their_manager_decides(routed, cast, who):
    before = _snapshot(routed)
    with pytest.raises(PermissionDenied):
        services.handoff_accept(handoff=routed, by=getattr(cast, who))
    with pytest.raises(PermissionDenied):
        services.handoff_reject(handoff=routed, by=getattr(cast, who), reason="duplicate")
    assert _snapshot(routed) == before


def test_the_sales_manager_of_the_team_may_decide(routed, cast):
    services.handoff_reject(handoff=routed, by=cast.sales_manager, reason="duplicate")
    assert Handoff.objects.get(pk=routed.pk).decided_by == cast.sales_manager


def test_a_decided_handoff_cannot_be_decided_again(routed, cast):
    services.handoff_accept(handoff=routed, by=cast.sdr)
    with pytest.raises(ValidationError) as error:
        services.handoff_reject(handoff=routed, by=cast.sdr, reason="duplicate")
    assert error.value.message_dict == {"handoff": ["This hand-off is already accepted."]}


# ---------------------------------------------------------------- through the API


def test_api_reject_without_a_reason_answers_400_naming_the_field(client, routed, cast):
    api = ApiClient(client, make_token(cast.sdr))
    before = _snapshot(routed)
    response = api.post(f"/handoffs/{routed.pk}/reject", {"note": "no"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": [
            {
                "field": "reason",
                "message": "A reason is required: one of not_icp, no_budget, bad_contact_data, "
                "student_or_competitor, duplicate, bad_timing.",
            }
        ]
    }
    assert _snapshot(routed) == before


def test_api_a_rep_deciding_someone_elses_handoff_gets_403_and_nothing_changes(client, routed, cast):
    api = ApiClient(client, make_token(cast.ae))
    before = _snapshot(routed)
    assert api.post(f"/handoffs/{routed.pk}/accept", {}).status_code == 403
    response = api.post(f"/handoffs/{routed.pk}/reject", {"reason": "duplicate"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only the rep the hand-off is assigned to, or their sales manager, may reject it."
    }
    assert _snapshot(routed) == before


def test_api_accept_reject_and_my_queue(client, cast):
    use_routing({"rules": [{"name": "Inbound", "team": "Sales", "reps": [{"email": "sam@example.com"}]}]})
    first, second = (make_mql("one@prospect.test"), make_mql("two@prospect.test"))
    handoffs = services.handoffs_route(person_ids=[first.pk, second.pk])
    Handoff.objects.filter(pk=handoffs[1].pk).update(due_at=MONDAY_9)
    Handoff.objects.filter(pk=handoffs[0].pk).update(due_at=MONDAY_9 + dt.timedelta(hours=1))
    api = ApiClient(client, make_token(cast.sdr))
    mine = api.get("/handoffs/mine").json()["items"]
    assert [item["person_id"] for item in mine] == [second.pk, first.pk]
    accepted = api.post(f"/handoffs/{handoffs[0].pk}/accept", {"note": "ok"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    rejected = api.post(f"/handoffs/{handoffs[1].pk}/reject", {"reason": "no_budget", "note": "next year"})
    assert rejected.status_code == 200
    assert (rejected.json()["rejection_reason"], rejected.json()["rejection_outcome"]) == ("no_budget", "recycled")
    unknown = api.post(f"/handoffs/{handoffs[1].pk}/reject", {"reason": "no_budget"})
    assert unknown.status_code == 422
    assert unknown.json() == {"detail": [{"field": "handoff", "message": "This hand-off is already rejected."}]}
    assert api.get("/handoffs/mine").json() == {"items": []}


def test_api_reassign_is_for_managers(client, routed, cast):
    rep = ApiClient(client, make_token(cast.sdr))
    assert rep.post(f"/handoffs/{routed.pk}/reassign", {"to_user": cast.ae.pk}).status_code == 403
    manager = ApiClient(client, make_token(cast.sales_manager))
    response = manager.post(f"/handoffs/{routed.pk}/reassign", {"to_user": cast.ae.pk, "reason": "Coverage"})
    assert response.status_code == 200 and response.json()["assignee_id"] == cast.ae.pk
    missing = manager.post(f"/handoffs/{routed.pk}/reassign", {"to_user": 999999})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "to_user"
