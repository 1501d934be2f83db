"""The hand-off SLA on the worker: a task at each due time, and a sweep for whatever a stopped worker missed."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tandem.sla.services import sla_breach_escalate, sla_clocks_check, sla_delivery_send, sla_rollup_refresh, sla_sweep


@db_task()
def sla_due(handoff_ids: list[int]) -> None:
    """Scheduled at hand-offs' due time: each met, or breached and notified. Running it twice is harmless."""
    sla_clocks_check(handoff_ids=handoff_ids)


@db_task()
def sla_escalation_due(breach_id: int) -> None:
    """Scheduled at a breach's escalation time: tell the manager again, reassign if the policy says so."""
    sla_breach_escalate(breach_id=breach_id)


@db_task()
def sla_deliver(delivery_id: int) -> None:
    """Send one notice; a failure is retried by the sweep with back-off."""
    sla_delivery_send(delivery_id=delivery_id)


@db_periodic_task(crontab(minute="*"))
def sla_sweep_every_minute() -> None:
    """Start missing clocks, breach overdue ones, escalate, and retry notices."""
    sla_sweep()


@db_periodic_task(crontab(hour="3", minute="17"))
def sla_rollup_rebuild_nightly() -> None:
    """Rebuild the report rollup of every month, catching changes made outside the clock (e.g. reassignment)."""
    from tandem.sla.selectors import months_with_handoffs

    sla_rollup_refresh(months=months_with_handoffs())
