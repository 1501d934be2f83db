"""Writes of the hand-off SLA clock: start it, notice the first response, breach, notify, escalate.

Every step is idempotent. The due-time task, the periodic sweep and a worker restarted in the middle
may all look at the same hand-off: a breach is one row per (hand-off, due time), a notice one row
per (breach, event, recipient, channel), and a notice is claimed before it is sent, so nothing is
sent twice. A failed email or webhook is retried with back-off and abandoned after MAX_ATTEMPTS.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from tandem.audit.actors import Actor
from tandem.audit.services import audit_record
from tandem.handoff.models import Handoff, HandoffStatus, Notification, SlaStatus
from tandem.lib.business_hours import add_business_minutes, business_minutes_between
from tandem.sla.models import (
    Channel,
    DeliveryStatus,
    SlaBreach,
    SlaDelivery,
    SlaEvent,
    SlaMonthlyRollup,
    SlaRollupMonth,
)
from tandem.sla.policy import SlaPolicy
from tandem.sla.rollup import histogram_bytes, rollup_groups
from tandem.sla.selectors import (
    first_responses,
    handoff_time_off,
    sla_section_in_force,
    team_calendar,
)
from tandem.users.models import User

logger = logging.getLogger(__name__)

SLA_ACTOR = Actor.rule("Hand-off SLA")
MAX_ATTEMPTS = 6
RETRY_MINUTES = (1, 5, 15, 60, 240)
STALE_CLAIM = dt.timedelta(minutes=15)
ROLLUP_EVERY = dt.timedelta(minutes=5)
BATCH_SIZE = 1000


@dataclass
class SweepResult:
    """What one sweep did, for the worker log and tests."""

    started: int = 0
    met: int = 0
    breached: int = 0
    escalated: int = 0
    sent: int = 0
    failed: int = 0
    rollup_months: int = 0


# ---------------------------------------------------------------- starting the clock


def sla_clocks_prepare(*, handoffs: Sequence[Handoff], at: dt.datetime | None = None) -> list[Handoff]:
    """Set the clock fields of each assigned, open hand-off in memory; returns those it set.

    The due time is the policy's business minutes from when the assignee got it, in the assignee's
    team calendar, skipping the assignee's time off. The caller writes the rows (routing inserts a
    burst with COPY) and then calls sla_clocks_started.
    """
    assigned = [h for h in handoffs if h.assignee_id is not None and h.status == HandoffStatus.PENDING]
    if not assigned:
        return []
    section, _ = sla_section_in_force()
    teams = dict(User.objects.filter(pk__in={h.assignee_id for h in assigned}).values_list("pk", "team__name"))
    starts = [handoff.routed_at or at or timezone.now() for handoff in assigned]
    time_off = handoff_time_off(user_ids=list(teams), since=min(starts))
    # A burst shares its start, a couple of policies and calendars: compute each distinct due time once.
    due_times: dict[tuple, dt.datetime] = {}
    policies: dict[tuple, SlaPolicy] = {}
    calendars = {user_id: team_calendar(section, team_name) for user_id, team_name in teams.items()}
    for handoff, start in zip(assigned, starts, strict=True):
        segment_key = (handoff.icp_tier, handoff.segment)
        policy = policies.get(segment_key)
        if policy is None:
            policy = policies[segment_key] = section.policy_for(icp_tier=handoff.icp_tier, segment=handoff.segment)
        calendar = calendars[handoff.assignee_id]
        away = handoff.assignee_id if handoff.assignee_id in time_off else None
        key = (calendar.key, start, policy.first_response_business_minutes, away)
        if key not in due_times:
            due_times[key] = add_business_minutes(
                calendar.calendar, start, policy.first_response_business_minutes, time_off=time_off.get(away, ())
            )
        handoff.sla_policy = policy.key
        handoff.due_at = due_times[key]
        handoff.sla_status = SlaStatus.PENDING
        handoff.first_response_at = None
        handoff.response_business_minutes = None
    return assigned


CLOCK_FIELDS = ["sla_policy", "due_at", "sla_status", "first_response_at", "response_business_minutes"]


def sla_clocks_started(*, handoffs: Sequence[Handoff]) -> None:
    """After the prepared hand-offs are written: mark the report's months, schedule the due-time tasks.

    One task per distinct due time (a burst routed at one moment shares a handful), queued on commit.
    """
    if not handoffs:
        return
    sla_rollup_mark(created_at=[handoff.created_at for handoff in handoffs])
    timers: dict[dt.datetime, list[int]] = defaultdict(list)
    for handoff in handoffs:
        timers[handoff.due_at].append(handoff.pk)
    transaction.on_commit(lambda: _schedule_due(timers))


def sla_clocks_start(*, handoffs: Sequence[Handoff], at: dt.datetime | None = None) -> int:
    """Start the clocks of hand-offs already stored (prepare, update, started); returns how many."""
    started = sla_clocks_prepare(handoffs=handoffs, at=at)
    Handoff.objects.bulk_update(started, CLOCK_FIELDS, batch_size=BATCH_SIZE)
    sla_clocks_started(handoffs=started)
    return len(started)


def handoff_sla_start(*, handoff: Handoff, at: dt.datetime | None = None) -> Handoff:
    """Start (or, for a new assignee, restart) one hand-off's clock; a breached clock stays breached."""
    if handoff.sla_status not in (None, SlaStatus.PENDING):
        return handoff
    sla_clocks_start(handoffs=[handoff], at=at)
    return handoff


def _schedule_due(timers: dict[dt.datetime, list[int]]) -> None:
    from tandem.sla.tasks import sla_due

    for due_at, handoff_ids in timers.items():
        sla_due.schedule(args=(handoff_ids,), eta=due_at)


def sla_clocks_check(*, handoff_ids: Sequence[int], now: dt.datetime | None = None) -> dict[int, str | None]:
    """Check several clocks (the due-time task of hand-offs sharing a due time)."""
    return {handoff_id: sla_clock_check(handoff_id=handoff_id, now=now) for handoff_id in handoff_ids}


# ---------------------------------------------------------------- first response, met or breached


def _record_response(handoff: Handoff, responded_at: dt.datetime) -> None:
    """Store the first response and its business minutes; met when it came by the due time."""
    section, _ = sla_section_in_force()
    assignee = User.objects.select_related("team").filter(pk=handoff.assignee_id).first()
    calendar = team_calendar(section, assignee.team.name if assignee and assignee.team else None).calendar
    start = handoff.routed_at or handoff.created_at
    time_off = handoff_time_off(user_ids=[handoff.assignee_id], since=start).get(handoff.assignee_id, ())
    handoff.first_response_at = responded_at
    handoff.response_business_minutes = round(
        max(0.0, business_minutes_between(calendar, start, responded_at, time_off=time_off)), 2
    )
    if handoff.sla_status == SlaStatus.PENDING:
        handoff.sla_status = SlaStatus.MET if responded_at <= handoff.due_at else SlaStatus.BREACHED
    handoff.save(update_fields=["first_response_at", "response_business_minutes", "sla_status"])
    sla_rollup_mark(created_at=[handoff.created_at])


def sla_clock_check(*, handoff_id: int, now: dt.datetime | None = None) -> str | None:
    """Look at one clock: met if answered in time, breached (with notices) if due and unanswered.

    Safe to run any number of times and at any moment; returns the clock's status afterwards.
    """
    now = now or timezone.now()
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update().filter(pk=handoff_id).first()
        if handoff is None or handoff.due_at is None:
            return None
        if handoff.sla_status != SlaStatus.PENDING:
            return handoff.sla_status
        section, _ = sla_section_in_force()
        responded_at = first_responses([handoff], section).get(handoff.pk)
        if responded_at is not None and responded_at <= now:
            late = responded_at > handoff.due_at
            _record_response(handoff, responded_at)
            if late:
                # The worker was down past the due time: log the breach, nobody needs telling now.
                _breach_record(handoff, now=now, responded_at=responded_at)
            return handoff.sla_status
        if now < handoff.due_at:
            return handoff.sla_status
        _breach(handoff, now=now)
        return handoff.sla_status


def _breach_record(handoff: Handoff, *, now: dt.datetime, responded_at: dt.datetime | None = None) -> SlaBreach:
    team = handoff.assignee.team if handoff.assignee_id and handoff.assignee.team_id else handoff.team
    breach, _ = SlaBreach.objects.get_or_create(
        handoff=handoff,
        due_at=handoff.due_at,
        defaults={
            "policy": handoff.sla_policy,
            "breached_at": now,
            "assignee_id": handoff.assignee_id,
            "manager_id": team.manager_id if team else None,
            "team": team,
            "segment": handoff.segment,
            "responded_at": responded_at,
        },
    )
    return breach


def _breach(handoff: Handoff, *, now: dt.datetime) -> SlaBreach:
    """Mark the clock breached, log the breach and queue its notices (inside the caller's transaction)."""
    section, _ = sla_section_in_force()
    policy = next((p for p in section.policies if p.key == handoff.sla_policy), None) or section.policy_for(
        icp_tier=handoff.icp_tier, segment=handoff.segment
    )
    handoff.sla_status = SlaStatus.BREACHED
    handoff.save(update_fields=["sla_status"])
    sla_rollup_mark(created_at=[handoff.created_at])
    breach = _breach_record(handoff, now=now)
    if breach.escalate_at is None and (policy.escalate_after_business_minutes or policy.reassign_on_breach):
        team = breach.team
        calendar = team_calendar(section, team.name if team else None).calendar
        breach.escalate_at = add_business_minutes(calendar, handoff.due_at, policy.escalate_after_business_minutes)
        breach.escalate_at = max(breach.escalate_at, now)
        breach.save(update_fields=["escalate_at"])
    person = handoff.person
    hours = policy.first_response_business_minutes / 60
    text = (
        f"SLA breached: {person} was handed to {_name(breach.assignee)} and had no first response within "
        f"{hours:g} business hour{'s' if hours != 1 else ''} (due {handoff.due_at:%Y-%m-%d %H:%M} UTC)."
    )
    recipients = [user for user in (breach.assignee, breach.manager) if user is not None]
    deliveries = _deliveries_create(breach, SlaEvent.BREACH, recipients, text, now=now)
    audit_record(
        by=SLA_ACTOR,
        action="sla_breach",
        instance=handoff,
        after={"sla_status": SlaStatus.BREACHED, "due_at": handoff.due_at.isoformat(), "policy": handoff.sla_policy},
        summary=f"First-response SLA breached ({policy.name})",
    )
    escalation = (breach.pk, breach.escalate_at) if breach.escalate_at and breach.escalated_at is None else None
    transaction.on_commit(lambda: _queue(deliveries, escalation))
    return breach


def _name(user: User | None) -> str:
    return (user.full_name or user.email) if user is not None else "nobody"


def _deliveries_create(
    breach: SlaBreach, event: str, recipients: Iterable[User], text: str, *, now: dt.datetime
) -> list[int]:
    """One notice per recipient and channel (plus one webhook post); existing ones are left alone."""
    rows = []
    for user in {user.pk: user for user in recipients}.values():
        rows.append(SlaDelivery(channel=Channel.IN_APP, recipient=user))
        if user.email:
            rows.append(SlaDelivery(channel=Channel.EMAIL, recipient=user))
    if settings.SLA_WEBHOOK_URL:
        rows.append(SlaDelivery(channel=Channel.WEBHOOK, recipient=None))
    for row in rows:
        row.breach = breach
        row.event = event
        row.text = text[:500]
        row.next_attempt_at = now
        row.dedupe_key = f"sla:{breach.pk}:{event}:{row.recipient_id or '-'}:{row.channel}"
    SlaDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        SlaDelivery.objects.filter(dedupe_key__in=[row.dedupe_key for row in rows], status=DeliveryStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _queue(delivery_ids: list[int], escalation: tuple[int, dt.datetime] | None) -> None:
    from tandem.sla.tasks import sla_deliver, sla_escalation_due

    for delivery_id in delivery_ids:
        sla_deliver(delivery_id)
    if escalation is not None:
        sla_escalation_due.schedule(args=(escalation[0],), eta=escalation[1])


# ---------------------------------------------------------------- escalation


def sla_breach_escalate(*, breach_id: int, now: dt.datetime | None = None) -> SlaBreach | None:
    """After the escalation delay, tell the manager again (and reassign if the policy says so).

    Nothing happens when the breach was answered, the hand-off closed, or it was escalated already.
    """
    now = now or timezone.now()
    reassign = False
    with transaction.atomic():
        breach = SlaBreach.objects.select_for_update().select_related("handoff__person").filter(pk=breach_id).first()
        if breach is None or breach.escalated_at is not None or breach.escalate_at is None or now < breach.escalate_at:
            return breach
        handoff = breach.handoff
        section, _ = sla_section_in_force()
        responded_at = first_responses([handoff], section).get(handoff.pk)
        if responded_at is not None or handoff.status not in (HandoffStatus.PENDING, HandoffStatus.QUEUED):
            if responded_at is not None:
                if handoff.first_response_at is None:
                    _record_response(handoff, responded_at)
                breach.responded_at = responded_at
            breach.escalate_at = None
            breach.save(update_fields=["responded_at", "escalate_at"])
            return breach
        policy = next((p for p in section.policies if p.key == breach.policy), None)
        reassign = bool(policy and policy.reassign_on_breach)
        breach.escalated_at = now
        breach.save(update_fields=["escalated_at"])
        text = (
            f"SLA escalation: {handoff.person} still has no first response from {_name(breach.assignee)}, "
            f"due {breach.due_at:%Y-%m-%d %H:%M} UTC."
        )
        recipients = [breach.manager] if breach.manager is not None else []
        deliveries = _deliveries_create(breach, SlaEvent.ESCALATION, recipients, text, now=now)
        audit_record(
            by=SLA_ACTOR,
            action="sla_escalate",
            instance=handoff,
            after={"breach": breach.pk, "manager": breach.manager_id},
            summary="First-response SLA breach escalated to the manager",
        )
        transaction.on_commit(lambda: _queue(deliveries, None))
    if reassign:
        _reassign(breach, now=now)
    return breach


def _reassign(breach: SlaBreach, *, now: dt.datetime) -> None:
    """Let routing choose another rep; recorded in the routing ledger and on the breach."""
    from django.core.exceptions import ValidationError

    from tandem.handoff.services import handoff_reassign

    reason = f"SLA breached (policy {breach.policy}): reassigned automatically."
    try:
        handoff = handoff_reassign(handoff=breach.handoff, by=SLA_ACTOR, to_user=None, reason=reason)
    except ValidationError as error:
        SlaBreach.objects.filter(pk=breach.pk).update(note=f"Not reassigned: {'; '.join(error.messages)}"[:300])
        return
    SlaBreach.objects.filter(pk=breach.pk).update(reassigned_to_id=handoff.assignee_id, reassigned_at=now)


# ---------------------------------------------------------------- sending notices


def sla_delivery_send(*, delivery_id: int, now: dt.datetime | None = None) -> str | None:
    """Send one notice if it is due and nobody else holds it; returns its status afterwards."""
    now = now or timezone.now()
    delivery = SlaDelivery.objects.select_related("recipient", "breach").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    if delivery.channel == Channel.IN_APP:
        return _send_in_app(delivery, now=now)
    claimable = SlaDelivery.objects.filter(pk=delivery_id, next_attempt_at__lte=now).filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    ) | SlaDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.SENDING, claimed_at__lt=now - STALE_CLAIM)
    if not claimable.update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=delivery.attempts + 1):
        return SlaDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
    delivery.attempts += 1
    try:
        if delivery.channel == Channel.EMAIL:
            send_mail(
                subject=delivery.text.split(":")[0] + f": {delivery.breach.handoff.person}",
                message=delivery.text + _link_text(delivery.breach.handoff_id),
                from_email=None,
                recipient_list=[delivery.recipient.email],
            )
        else:
            _post_webhook(settings.SLA_WEBHOOK_URL, {"text": delivery.text + _link_text(delivery.breach.handoff_id)})
    except Exception as error:  # any failure of the channel: keep the notice and retry later
        logger.warning("SLA notice %s failed: %s", delivery.pk, error)
        abandoned = delivery.attempts >= MAX_ATTEMPTS
        delay = RETRY_MINUTES[min(delivery.attempts, len(RETRY_MINUTES)) - 1]
        SlaDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.ABANDONED if abandoned else DeliveryStatus.FAILED,
            next_attempt_at=now + dt.timedelta(minutes=delay),
            last_error=str(error)[:500],
        )
        return DeliveryStatus.ABANDONED if abandoned else DeliveryStatus.FAILED
    SlaDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENT, sent_at=now, last_error="")
    return DeliveryStatus.SENT


def _send_in_app(delivery: SlaDelivery, *, now: dt.datetime) -> str:
    """The in-app notice and its delivery mark are one transaction: exactly once."""
    with transaction.atomic():
        locked = SlaDelivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status == DeliveryStatus.SENT:
            return locked.status
        if locked.recipient_id is not None:
            try:
                with transaction.atomic():
                    Notification.objects.get_or_create(
                        dedupe_key=locked.dedupe_key,
                        defaults={
                            "user_id": locked.recipient_id,
                            "kind": f"sla_{locked.event}",
                            "text": locked.text,
                            "link": f"/handoff/{delivery.breach.handoff_id}/",
                            "created_at": now,
                        },
                    )
            except IntegrityError:
                pass  # written at the same moment by another worker
        locked.status = DeliveryStatus.SENT
        locked.attempts += 1
        locked.sent_at = now
        locked.save(update_fields=["status", "attempts", "sent_at"])
        return locked.status


def _link_text(handoff_id: int) -> str:
    base = settings.SITE_URL.rstrip("/") if getattr(settings, "SITE_URL", "") else ""
    return f" {base}/handoff/{handoff_id}/" if base else ""


def _post_webhook(url: str, payload: dict) -> None:
    """POST a Slack-compatible JSON body; anything but a 2xx answer is a failure."""
    request = urllib.request.Request(  # noqa: S310 - an operator-configured http(s) URL
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(url, response.status, "webhook refused", response.headers, None)


# ---------------------------------------------------------------- the sweep


def sla_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Catch up on everything a stopped worker missed; run every minute. Idempotent."""
    now = now or timezone.now()
    result = SweepResult()
    unstarted = list(
        Handoff.objects.filter(status=HandoffStatus.PENDING, assignee__isnull=False, sla_status__isnull=True).order_by(
            "pk"
        )[:BATCH_SIZE]
    )
    if unstarted:
        with transaction.atomic():
            result.started = sla_clocks_start(handoffs=unstarted, at=now)
    due = Handoff.objects.filter(sla_status=SlaStatus.PENDING, due_at__lte=now).order_by("due_at", "pk")
    for handoff_id in list(due.values_list("pk", flat=True)[:BATCH_SIZE]):
        status = sla_clock_check(handoff_id=handoff_id, now=now)
        result.breached += status == SlaStatus.BREACHED
        result.met += status == SlaStatus.MET
    result.met += _record_early_responses(now=now)
    to_escalate = SlaBreach.objects.filter(escalated_at__isnull=True, escalate_at__lte=now).order_by("escalate_at")
    for breach_id in list(to_escalate.values_list("pk", flat=True)[:BATCH_SIZE]):
        breach = sla_breach_escalate(breach_id=breach_id, now=now)
        result.escalated += bool(breach and breach.escalated_at == now)
    waiting = SlaDelivery.objects.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED], next_attempt_at__lte=now
    ) | SlaDelivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - STALE_CLAIM)
    for delivery_id in list(waiting.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE]):
        status = sla_delivery_send(delivery_id=delivery_id, now=now)
        result.sent += status == DeliveryStatus.SENT
        result.failed += status in (DeliveryStatus.FAILED, DeliveryStatus.ABANDONED)
    result.rollup_months = sla_rollup_refresh(now=now)
    return result


def _record_early_responses(*, now: dt.datetime) -> int:
    """Mark met the running clocks whose hand-off already has a first response."""
    section, _ = sla_section_in_force()
    running = Handoff.objects.filter(sla_status=SlaStatus.PENDING, due_at__gt=now).order_by("pk")
    met = 0
    last_pk = 0
    while True:
        batch = list(running.filter(pk__gt=last_pk)[:BATCH_SIZE])
        if not batch:
            return met
        last_pk = batch[-1].pk
        for handoff_id, responded_at in first_responses(batch, section).items():
            if responded_at <= now:
                met += sla_clock_check(handoff_id=handoff_id, now=now) == SlaStatus.MET


# ---------------------------------------------------------------- the report's rollup


def _month_start(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date().replace(day=1)


def sla_rollup_mark(*, created_at: Iterable[dt.datetime]) -> None:
    """Mark the months of these hand-offs' creation for a rebuild of the report rollup."""
    months = {_month_start(at) for at in created_at if at is not None}
    if months:
        SlaRollupMonth.objects.bulk_create(
            [SlaRollupMonth(month=month, is_dirty=True) for month in sorted(months)],
            update_conflicts=True,
            unique_fields=["month"],
            update_fields=["is_dirty"],
        )


def sla_rollup_refresh(*, months: Iterable[dt.date] | None = None, now: dt.datetime | None = None) -> int:
    """Rebuild the monthly rollup of the given months; returns how many.

    By default the dirty months not rebuilt in the last ROLLUP_EVERY: a busy month is rebuilt at most
    that often, so the report is at most that much behind the clocks (the page shows its "as of").

    Each month is recomputed from its hand-offs in one transaction, so the rollup is exact whatever
    changed the hand-offs (the clock, routing, a reassignment).
    """
    now = now or timezone.now()
    if months is None:
        months = list(
            SlaRollupMonth.objects.filter(is_dirty=True)
            .filter(Q(refreshed_at__isnull=True) | Q(refreshed_at__lte=now - ROLLUP_EVERY))
            .values_list("month", flat=True)
        )
    count = 0
    for month in sorted(set(months)):
        _rollup_month(month, now=now)
        count += 1
    return count


def _rollup_month(month: dt.date, *, now: dt.datetime) -> None:
    from tandem.sla.selectors import GROUPINGS

    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=dt.UTC)
    handoffs = Handoff.objects.filter(created_at__gte=start, created_at__lt=end, sla_status__isnull=False)
    with transaction.atomic():
        # Clear the mark first (locking the row): a change made while this runs marks it dirty again.
        SlaRollupMonth.objects.update_or_create(month=month, defaults={"is_dirty": False, "refreshed_at": now})
        fields = [*GROUPINGS.values(), "sla_status", "response_business_minutes"]
        columns = list(zip(*handoffs.values_list(*fields), strict=True)) or [() for _ in fields]
        statuses, minutes = columns[-2], columns[-1]
        rows = [
            SlaMonthlyRollup(
                month=month,
                dimension=dimension,
                key="" if group.key == "None" else group.key,
                handoffs=group.handoffs,
                met=group.met,
                breached=group.breached,
                pending=group.pending,
                histogram=histogram_bytes(group.histogram),
            )
            for dimension, keys in zip(GROUPINGS, columns[:-2], strict=True)
            for group in rollup_groups(["None" if key is None else str(key) for key in keys], statuses, minutes)
        ]
        SlaMonthlyRollup.objects.filter(month=month).delete()
        SlaMonthlyRollup.objects.bulk_create(rows, batch_size=BATCH_SIZE)
