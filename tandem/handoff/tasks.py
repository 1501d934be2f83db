"""Background work of the hand-off: thin entry points that call services."""

import datetime as dt

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tandem.handoff import services

BURST_WINDOW = dt.timedelta(days=1)


@db_task(retries=3, retry_delay=5)
def handoff_route(person_id: int) -> int:
    """Route a new MQL to a rep or their team's queue; safe to run twice. Returns hand-offs made.

    It also routes every other MQL of the last day still without a hand-off: in a burst (a contract
    published, an import) the first task routes the whole burst in batches and the rest find nothing.
    """
    since = timezone.now() - BURST_WINDOW
    return len(services.handoffs_route(person_ids=[person_id, *services.unrouted_mql_ids(since=since)]))


@db_periodic_task(crontab(minute="*/5"))
def handoff_queue_drain() -> int:
    """Every five minutes: route MQLs of the last day that have no hand-off (missed while the worker was down),
    and give queued hand-offs to reps who have become available (back from time off, a new day)."""
    since = timezone.now() - BURST_WINDOW
    routed = len(services.handoffs_route(person_ids=services.unrouted_mql_ids(since=since)))
    return routed + services.handoffs_route_queued()
