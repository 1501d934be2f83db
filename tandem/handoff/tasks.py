"""Background work of the hand-off: thin entry points that call services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tandem.handoff import services


@db_task(retries=3, retry_delay=5)
def handoff_route(person_id: int) -> int:
    """Route a new MQL to a rep or their team's queue; safe to run twice. Returns hand-offs made."""
    return len(services.handoffs_route(person_ids=[person_id]))


@db_periodic_task(crontab(minute="*/5"))
def handoff_queue_drain() -> int:
    """Every five minutes, give queued hand-offs to reps who have become available (back from time off, new day)."""
    return services.handoffs_route_queued()
