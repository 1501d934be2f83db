"""Background work of the scorecard: thin entry points that call services."""

import datetime as dt

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tandem.analytics import selectors, services
from tandem.analytics.periods import Period


@db_periodic_task(crontab(minute="10", hour="0"))
def scorecard_snapshot_daily() -> int:
    """Just after midnight, keep the periods in progress (and any just closed) and the open pipeline."""
    return services.scorecards_snapshot_daily()


@db_periodic_task(crontab(minute="0", hour="7", day_of_week="1"))
def scorecard_digest_weekly() -> int:
    """Monday morning, email the scorecard digest to its subscribers."""
    return services.digests_send()


@db_periodic_task(crontab(minute="*"))
def stage_entries_catch_up() -> int:
    """Every minute, count new stage changes into the analysis rollup (re-reading a few recent ones, in
    case a transaction committed after a later change was counted); builds it if it was never built.
    Also clears a queued catch-up's mark that no run cleared (a queue emptied by hand, say)."""
    services.stage_entries_catch_up_start()
    return services.stage_entries_catch_up(lookback=services.CATCH_UP_LOOKBACK)


@db_task()
def stage_entries_catch_up_queued() -> int:
    """A few seconds after stage changes are recorded (or a page found the rollup behind), count them into
    the analysis rollup; one run for everything recorded meanwhile."""
    return services.stage_entries_catch_up_queued_run()


@db_periodic_task(crontab(minute="*/15"))
def stage_entries_reconcile() -> int:
    """Every quarter hour, carry owner, team and account segment changes into the analysis rollup."""
    return services.stage_entries_reconcile()


@db_task()
def scorecard_snapshots_fill(filters: dict, periods: list[list[str]]) -> int:
    """A page found closed periods without their snapshot: compute and keep them (queued once, idempotent)."""
    return services.scorecard_snapshots_fill(
        filters=selectors.ScorecardFilters(**filters),
        periods=[
            Period(kind, dt.date.fromisoformat(start), dt.date.fromisoformat(end)) for kind, start, end in periods
        ],
    )


@db_task(retries=2, retry_delay=60)
def pipeline_history_rebuild(start: str | None = None, until: str | None = None) -> int:
    """Rebuild past daily pipeline snapshots from opportunity stage history (after an import, say)."""
    return services.pipeline_snapshots_rebuild(
        start=dt.date.fromisoformat(start) if start else None,
        until=dt.date.fromisoformat(until) if until else None,
    )
