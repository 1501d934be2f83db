"""Automatic reassignment after an SLA breach: routing picks another rep, recorded in the ledger and the log."""

import datetime as dt

import pytest
import time_machine

from tandem.contract.services import contract_get
from tandem.handoff import services as handoff_services
from tandem.handoff.models import Handoff, LedgerKind, RoutingLedgerEntry, SlaStatus
from tandem.handoff.tests.factories import make_mql, use_routing
from tandem.sla.models import SlaBreach
from tandem.sla.services import sla_sweep

pytestmark = pytest.mark.django_db

# Monday 23 November 2026; the Sales team keeps New York hours (09:00-17:00 EST = 14:00-22:00 UTC).
ROUTED = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
DUE = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)  # 4 business hours from 09:00 EST
ESCALATE = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)  # 2 business hours later


def _use_sla_escalation(*, reassign: bool) -> None:
    version = contract_get().active_version
    sla = {**version.document["sla"], "escalation": {"after_business_hours": 2, "reassign": reassign}}
    version.document = {**version.document, "sla": sla}
    version.save(update_fields=["document"])


@pytest.fixture
def routed(cast):
    use_routing(
        {
            "rules": [
                {
                    "name": "Inbound",
                    "team": "Sales",
                    "reps": [{"email": "sam@example.com"}, {"email": "erin@example.com"}],
                }
            ]
        }
    )
    with time_machine.travel(ROUTED, tick=False):
        (handoff,) = handoff_services.handoffs_route(person_ids=[make_mql("late@prospect.test").pk])
    handoff.refresh_from_db()
    assert (handoff.assignee, handoff.due_at, handoff.sla_status) == (cast.sdr, DUE, SlaStatus.PENDING)
    return handoff


def test_a_breach_past_the_escalation_delay_is_reassigned_by_routing(cast, routed):
    _use_sla_escalation(reassign=True)
    with time_machine.travel(DUE, tick=False):
        assert sla_sweep().breached == 1
    with time_machine.travel(ESCALATE, tick=False):
        assert sla_sweep().escalated == 1
    handoff = Handoff.objects.get(pk=routed.pk)
    assert (handoff.assignee, handoff.sla_status) == (cast.ae, SlaStatus.BREACHED)
    assert handoff.person.owner == cast.ae
    breach = SlaBreach.objects.get()
    assert (breach.assignee, breach.reassigned_to, breach.reassigned_at) == (cast.sdr, cast.ae, ESCALATE)
    lines = RoutingLedgerEntry.objects.filter(
        handoff=handoff, kind__in=[LedgerKind.REASSIGNED_IN, LedgerKind.REASSIGNED_OUT]
    )
    assert sorted((line.user.email, line.assigned) for line in lines) == [
        ("erin@example.com", 1),
        ("sam@example.com", -1),
    ]
    assert all(line.reason == "SLA breached (policy standard): reassigned automatically." for line in lines)
    with time_machine.travel(ESCALATE + dt.timedelta(minutes=5), tick=False):
        sla_sweep()
    assert RoutingLedgerEntry.objects.filter(handoff=handoff, kind=LedgerKind.REASSIGNED_IN).count() == 1


def test_without_the_option_the_breach_is_escalated_but_stays_with_the_rep(cast, routed):
    _use_sla_escalation(reassign=False)
    with time_machine.travel(DUE, tick=False):
        sla_sweep()
    with time_machine.travel(ESCALATE, tick=False):
        sla_sweep()
    handoff = Handoff.objects.get(pk=routed.pk)
    assert handoff.assignee == cast.sdr
    breach = SlaBreach.objects.get()
    assert (breach.escalated_at, breach.reassigned_to) == (ESCALATE, None)
    assert not RoutingLedgerEntry.objects.filter(kind=LedgerKind.REASSIGNED_IN).exists()


def test_when_nobody_else_is_available_the_breach_log_says_so(cast, routed):
    use_routing({"rules": [{"name": "Inbound", "team": "Sales", "reps": [{"email": "sam@example.com"}]}]})
    _use_sla_escalation(reassign=True)
    with time_machine.travel(DUE, tick=False):
        sla_sweep()
    with time_machine.travel(ESCALATE, tick=False):
        sla_sweep()
    breach = SlaBreach.objects.get()
    assert breach.reassigned_to is None
    assert breach.note.startswith("Not reassigned: No other rep is available")
    assert Handoff.objects.get(pk=routed.pk).assignee == cast.sdr
