"""The SLA clock: due times in the team's business time, met or breached, notices once, escalation."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from huey.contrib.djhuey import HUEY

from tandem.crm.services import activity_create, person_update
from tandem.handoff.models import Handoff, Notification, SlaStatus, TimeOff
from tandem.sla.models import Channel, DeliveryStatus, SlaBreach, SlaDelivery, SlaEvent
from tandem.sla.services import handoff_sla_start, sla_clock_check, sla_sweep
from tandem.sla.tests.support import WebhookReceiver, make_handoff, new_york

pytestmark = pytest.mark.django_db

FRIDAY_LATE = new_york(2026, 3, 13, 16, 30)  # the Sales team works New York hours, 09:00-17:00 Mon-Fri


@pytest.fixture
def webhook(settings):
    receiver = WebhookReceiver()
    settings.SLA_WEBHOOK_URL = receiver.url
    yield receiver
    receiver.close()


def _started(cast, at=FRIDAY_LATE, **fields) -> Handoff:
    handoff = make_handoff(assignee=cast.sdr, at=at, **fields)
    handoff_sla_start(handoff=handoff)
    handoff.refresh_from_db()
    return handoff


def test_the_due_time_counts_business_hours_of_the_assignees_team(cast):
    handoff = _started(cast)
    # ICP tier 1: one business hour; 30 minutes on Friday, 30 on Monday morning.
    assert (handoff.sla_policy, handoff.sla_status) == ("tier_1", SlaStatus.PENDING)
    assert handoff.due_at == new_york(2026, 3, 16, 9, 30)


def test_other_tiers_get_four_business_hours(cast):
    handoff = _started(cast, icp_tier=2)
    assert handoff.sla_policy == "standard"
    assert handoff.due_at == new_york(2026, 3, 16, 12, 30)


def test_the_assignees_time_off_stops_the_clock(cast):
    TimeOff.objects.create(
        user=cast.sdr,
        starts_at=new_york(2026, 3, 16, 0, 0),
        ends_at=new_york(2026, 3, 17, 0, 0),
        created_at=FRIDAY_LATE,
    )
    handoff = _started(cast)
    assert handoff.due_at == new_york(2026, 3, 17, 9, 30)


def test_a_team_on_another_calendar_uses_its_zone_and_holidays(cast):
    from tandem.users.tests.factories import TeamFactory

    cast.sdr.team = TeamFactory(name="Sales EMEA")
    cast.sdr.save()
    # Thursday 2 April 2026 18:00 in London, after closing; Good Friday and Easter Monday are
    # English bank holidays, so the hour runs Tuesday 09:00-10:00 BST (08:00-09:00 UTC).
    handoff = _started(cast, at=dt.datetime(2026, 4, 2, 17, 0, tzinfo=dt.UTC))
    assert handoff.due_at == dt.datetime(2026, 4, 7, 9, 0, tzinfo=dt.UTC)


def test_the_due_task_is_scheduled_at_the_due_time(cast, django_capture_on_commit_callbacks):
    HUEY.flush()
    # In the future, so the in-process queue keeps it: Friday 12 March 2027 16:30 EST; the clocks
    # change on Sunday, so Monday 09:30 is EDT, 13:30 UTC.
    with django_capture_on_commit_callbacks(execute=True):
        handoff = _started(cast, at=new_york(2027, 3, 12, 16, 30))
    scheduled = [task for task in HUEY.scheduled() if task.name.endswith("sla_due")]
    assert [(task.args, task.eta) for task in scheduled] == [(([handoff.pk],), dt.datetime(2027, 3, 15, 13, 30))]
    handoff.refresh_from_db()
    assert handoff.sla_status == SlaStatus.PENDING
    HUEY.flush()


def test_a_call_before_the_due_time_meets_the_sla(cast):
    handoff = _started(cast)
    with time_machine.travel(new_york(2026, 3, 16, 9, 10), tick=False):
        activity_create(by=cast.sdr, kind="call", subject="Intro call", person=handoff.person)
        result = sla_sweep()
    handoff.refresh_from_db()
    assert result.met == 1
    assert handoff.sla_status == SlaStatus.MET
    assert handoff.first_response_at == new_york(2026, 3, 16, 9, 10)
    assert handoff.response_business_minutes == 40.0  # 30 on Friday, 10 on Monday
    with time_machine.travel(new_york(2026, 3, 16, 10, 0), tick=False):
        sla_sweep()
    assert SlaBreach.objects.count() == 0
    assert Notification.objects.count() == 0


def test_a_note_does_not_count_as_a_response(cast):
    handoff = _started(cast)
    with time_machine.travel(new_york(2026, 3, 16, 9, 0), tick=False):
        activity_create(by=cast.sdr, kind="note", subject="Looked them up", person=handoff.person)
    with time_machine.travel(new_york(2026, 3, 16, 9, 31), tick=False):
        sla_sweep()
    handoff.refresh_from_db()
    assert handoff.sla_status == SlaStatus.BREACHED


def test_moving_the_lead_status_to_attempting_meets_the_sla(cast):
    handoff = _started(cast)
    with time_machine.travel(new_york(2026, 3, 16, 9, 5), tick=False):
        person_update(by=cast.sdr, person=handoff.person, changes={"lead_status": "attempting"})
    with time_machine.travel(new_york(2026, 3, 16, 9, 30), tick=False):
        assert sla_clock_check(handoff_id=handoff.pk) == SlaStatus.MET
    handoff.refresh_from_db()
    assert handoff.response_business_minutes == 35.0


def test_a_response_before_the_hand_off_does_not_count(cast):
    with time_machine.travel(new_york(2026, 3, 13, 10, 0), tick=False):
        person = make_handoff(assignee=None, at=new_york(2026, 3, 13, 10, 0)).person
        activity_create(by=cast.sdr, kind="call", subject="Earlier call", person=person)
    handoff = Handoff.objects.get(person=person)
    handoff.assignee, handoff.status, handoff.routed_at = cast.sdr, "pending", FRIDAY_LATE
    handoff.save()
    handoff_sla_start(handoff=handoff)
    assert sla_clock_check(handoff_id=handoff.pk, now=new_york(2026, 3, 16, 9, 30)) == SlaStatus.BREACHED


def test_before_the_due_time_nothing_happens(cast):
    handoff = _started(cast)
    with time_machine.travel(new_york(2026, 3, 16, 9, 29), tick=False):
        assert sla_clock_check(handoff_id=handoff.pk) == SlaStatus.PENDING
        sla_sweep()
    assert SlaBreach.objects.count() == 0
    assert SlaDelivery.objects.count() == 0


def test_a_breach_notifies_assignee_and_manager_in_app_by_email_and_webhook_once(cast, webhook):
    handoff = _started(cast)
    with time_machine.travel(new_york(2026, 3, 16, 9, 30), tick=False):
        sla_clock_check(handoff_id=handoff.pk)
        sla_sweep()
        sla_clock_check(handoff_id=handoff.pk)
        sla_sweep()
    handoff.refresh_from_db()
    assert handoff.sla_status == SlaStatus.BREACHED
    breach = SlaBreach.objects.get()
    assert (breach.handoff_id, breach.assignee, breach.manager, breach.policy) == (
        handoff.pk,
        cast.sdr,
        cast.sales_manager,
        "tier_1",
    )
    assert breach.breached_at == new_york(2026, 3, 16, 9, 30)
    assert breach.escalate_at == new_york(2026, 3, 16, 11, 30)  # two business hours later
    assert sorted(Notification.objects.values_list("user__email", "kind")) == [
        ("sam@example.com", "sla_breach"),
        ("stan@example.com", "sla_breach"),
    ]
    assert sorted(message.to[0] for message in mail.outbox) == ["sam@example.com", "stan@example.com"]
    assert mail.outbox[0].subject.startswith("SLA breached")
    assert len(webhook.posts) == 1
    assert list(webhook.posts[0]) == ["text"]
    assert webhook.posts[0]["text"].startswith("SLA breached: pat@acme.com was handed to Sam SDR")
    assert "within 1 business hour (due 2026-03-16 13:30 UTC)" in webhook.posts[0]["text"]
    assert SlaDelivery.objects.filter(status=DeliveryStatus.SENT).count() == 5


def test_a_failed_webhook_is_retried_with_back_off_and_sent_once(cast, webhook):
    webhook.fail_next = 1
    _started(cast)
    with time_machine.travel(new_york(2026, 3, 16, 9, 30), tick=False):
        sla_sweep()
    delivery = SlaDelivery.objects.get(channel=Channel.WEBHOOK)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert "500" in delivery.last_error
    assert delivery.next_attempt_at == new_york(2026, 3, 16, 9, 31)
    with time_machine.travel(new_york(2026, 3, 16, 9, 30, 30), tick=False):
        assert sla_sweep().sent == 0  # not yet: the back-off is one minute
    with time_machine.travel(new_york(2026, 3, 16, 9, 31), tick=False):
        assert sla_sweep().sent == 1
        assert sla_sweep().sent == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)
    assert len(webhook.posts) == 1


def test_a_webhook_that_keeps_failing_is_abandoned_after_six_attempts(cast, webhook):
    webhook.fail_next = 100
    handoff = _started(cast)
    moment = new_york(2026, 3, 16, 9, 30)
    sla_clock_check(handoff_id=handoff.pk, now=moment)
    for _ in range(8):
        moment += dt.timedelta(hours=5)
        sla_sweep(now=moment)
    delivery = SlaDelivery.objects.get(channel=Channel.WEBHOOK, event=SlaEvent.BREACH)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.ABANDONED, 6)
    assert webhook.posts == []


def test_escalation_tells_the_manager_after_the_further_delay(cast, webhook):
    handoff = _started(cast)
    sla_sweep(now=new_york(2026, 3, 16, 9, 30))
    assert sla_sweep(now=new_york(2026, 3, 16, 11, 29)).escalated == 0
    assert sla_sweep(now=new_york(2026, 3, 16, 11, 30)).escalated == 1
    assert sla_sweep(now=new_york(2026, 3, 16, 11, 31)).escalated == 0
    breach = SlaBreach.objects.get(handoff=handoff)
    assert breach.escalated_at == new_york(2026, 3, 16, 11, 30)
    escalations = SlaDelivery.objects.filter(event=SlaEvent.ESCALATION)
    assert sorted((d.channel, d.recipient_id) for d in escalations) == [
        (Channel.EMAIL, cast.sales_manager.pk),
        (Channel.IN_APP, cast.sales_manager.pk),
        (Channel.WEBHOOK, None),
    ]
    assert Notification.objects.filter(kind="sla_escalation", user=cast.sales_manager).count() == 1
    assert len(webhook.posts) == 2
    assert webhook.posts[1]["text"].startswith("SLA escalation: pat@acme.com still has no first response")


def test_a_late_response_cancels_the_escalation(cast):
    handoff = _started(cast)
    sla_sweep(now=new_york(2026, 3, 16, 9, 30))
    with time_machine.travel(new_york(2026, 3, 16, 10, 0), tick=False):
        activity_create(by=cast.sdr, kind="email", subject="Hello", person=handoff.person)
    sla_sweep(now=new_york(2026, 3, 16, 12, 0))
    breach = SlaBreach.objects.get()
    assert (breach.escalated_at, breach.escalate_at) == (None, None)
    assert breach.responded_at == new_york(2026, 3, 16, 10, 0)
    handoff.refresh_from_db()
    assert (handoff.sla_status, handoff.response_business_minutes) == (SlaStatus.BREACHED, 90.0)
    assert not SlaDelivery.objects.filter(event=SlaEvent.ESCALATION).exists()


def test_a_worker_down_past_the_due_time_catches_up_once(cast, webhook):
    handoffs = [_started(cast, email=f"lead{index}@acme{index}.com") for index in range(3)]
    # Nothing ran until Tuesday: the sweep breaches and escalates all three, once.
    tuesday = new_york(2026, 3, 17, 9, 0)
    first = sla_sweep(now=tuesday)
    again = sla_sweep(now=tuesday + dt.timedelta(minutes=1))
    # The escalation time (Monday 11:30) has passed as well: both happen in the one sweep.
    assert (first.breached, first.escalated) == (3, 3)
    assert (again.breached, again.escalated, again.sent) == (0, 0, 0)
    assert SlaBreach.objects.count() == 3
    assert Notification.objects.filter(kind="sla_breach").count() == 6
    assert Notification.objects.filter(kind="sla_escalation").count() == 3
    assert len(mail.outbox) == 9
    assert len(webhook.posts) == 6
    assert {breach.handoff_id for breach in SlaBreach.objects.all()} == {handoff.pk for handoff in handoffs}


def test_a_response_found_only_after_the_worker_was_down_logs_the_breach_quietly(cast):
    handoff = _started(cast)
    with time_machine.travel(new_york(2026, 3, 16, 10, 0), tick=False):
        activity_create(by=cast.sdr, kind="call", subject="Late call", person=handoff.person)
    sla_sweep(now=new_york(2026, 3, 16, 10, 5))
    handoff.refresh_from_db()
    assert handoff.sla_status == SlaStatus.BREACHED
    breach = SlaBreach.objects.get()
    assert breach.responded_at == new_york(2026, 3, 16, 10, 0)
    assert SlaDelivery.objects.count() == 0
    assert Notification.objects.count() == 0


def test_the_sweep_starts_clocks_routing_did_not(cast):
    handoff = make_handoff(assignee=cast.sdr, at=FRIDAY_LATE)
    assert sla_sweep(now=FRIDAY_LATE + dt.timedelta(minutes=1)).started == 1
    handoff.refresh_from_db()
    assert handoff.due_at == new_york(2026, 3, 16, 9, 30)
    assert sla_sweep(now=FRIDAY_LATE + dt.timedelta(minutes=2)).started == 0


def test_accepting_counts_as_a_response(cast):
    handoff = _started(cast)
    Handoff.objects.filter(pk=handoff.pk).update(status="accepted", accepted_at=new_york(2026, 3, 16, 9, 15))
    assert sla_clock_check(handoff_id=handoff.pk, now=new_york(2026, 3, 16, 9, 30)) == SlaStatus.MET
    handoff.refresh_from_db()
    assert handoff.response_business_minutes == 45.0
