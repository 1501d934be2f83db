"""Reads for the home page: a first look at the shared numbers."""

import datetime as dt

from django.db.models import Count, Sum
from django.utils import timezone

from tandem.crm.models import LifecycleStage, Opportunity, Person, StageChange


def stage_counts() -> list[dict]:
    """How many people are in each stage now, in lifecycle order."""
    counts = dict(Person.objects.values_list("lifecycle_stage").annotate(total=Count("id")).order_by())
    stages = list(LifecycleStage.objects.all())
    peak = max(counts.values(), default=0) or 1
    return [
        {"stage": stage, "count": counts.get(stage.pk, 0), "percent": round(100 * counts.get(stage.pk, 0) / peak)}
        for stage in stages
    ]


def recent_stage_changes(limit: int = 12):
    return (
        StageChange.objects.filter(person__isnull=False)
        .select_related("person", "from_stage", "to_stage")
        .order_by("-at", "-id")[:limit]
    )


def entries_last_days(stage_key: str, days: int = 30) -> int:
    since = timezone.now() - dt.timedelta(days=days)
    return StageChange.objects.filter(to_stage_id=stage_key, at__gte=since, person__isnull=False).count()


def open_pipeline() -> dict:
    row = Opportunity.objects.filter(is_closed=False).aggregate(total=Sum("amount"), count=Count("id"))
    return {"amount": row["total"] or 0, "count": row["count"]}
