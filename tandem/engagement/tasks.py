"""Background work of engagement: the daily upkeep of touchpoint storage."""

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tandem.audit.actors import Actor
from tandem.engagement import partitions, services


@db_periodic_task(crontab(hour="3", minute="20"))
def touchpoint_storage_upkeep() -> dict:
    """Make the coming months' partitions and apply the retention setting (TANDEM_TOUCHPOINT_RETENTION_MONTHS)."""
    now = timezone.now()
    made = partitions.months_ahead_create(now=now)
    result = services.touchpoints_retention_apply(
        by=Actor.system("touchpoint retention"), months=settings.TANDEM_TOUCHPOINT_RETENTION_MONTHS, now=now
    )
    return {"partitions_made": made, "touchpoints_deleted": result.touchpoints_deleted}
