"""The analysis views computed the way they were before the stage-entry rollup: straight from the stage
history, one correlated lookup per cohort member. Kept as the reference the rollup must agree with."""

import datetime as dt
from collections import defaultdict

import numpy as np
from django.db.models import Case, Count, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import TruncMonth

from tandem.analytics import kpis
from tandem.analytics.selectors import (
    ScorecardFilters,
    _as_date,
    _months_up_to,
    _people_of_stage_changes,
    cohort_rows,
    main_stages,
    stage_entry_count,
)
from tandem.crm.models import StageChange


def furthest_rows(filters: ScorecardFilters, from_stage: str, start: dt.datetime, end: dt.datetime):
    """Arrays (person, entered A at, furthest main-stage position entered at or after that) for a cohort."""
    # Positions written into the query (a handful of stages) rather than joined per cohort member.
    positions_by_key = {stage.key: stage.position for stage in main_stages()}
    position = Case(
        *[When(to_stage_id=key, then=Value(value)) for key, value in positions_by_key.items()],
        default=Value(-1),
        output_field=IntegerField(),
    )
    furthest = (
        StageChange.objects.filter(
            person_id=OuterRef("person_id"), at__gte=OuterRef("at"), to_stage_id__in=list(positions_by_key)
        )
        .annotate(position=position)
        .order_by("-position")
        .values("position")[:1]
    )
    query = StageChange.objects.filter(to_stage_id=from_stage, person__isnull=False, at__gte=start, at__lt=end)
    if not filters.is_empty:
        query = query.filter(_people_of_stage_changes(filters))
    rows = list(query.annotate(furthest=Subquery(furthest)).order_by().values_list("person_id", "at", "furthest"))
    person_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    entered = np.fromiter((row[1].timestamp() for row in rows), dtype=np.float64, count=len(rows))
    positions = np.fromiter((row[2] if row[2] is not None else -1 for row in rows), dtype=np.float64, count=len(rows))
    return person_ids, entered, positions


def funnel_counts(filters: ScorecardFilters, period, from_stage: str) -> list[int]:
    stages = main_stages()
    start_position = next(stage.position for stage in stages if stage.key == from_stage)
    stages = [stage for stage in stages if stage.position >= start_position]
    person_ids, entered, positions = furthest_rows(filters, from_stage, period.start_at(), period.end_at())
    _, _, furthest = kpis.first_per_person(person_ids, entered, positions)
    return kpis.funnel(furthest, [stage.position for stage in stages])


def conversion_table(filters: ScorecardFilters, period) -> list[tuple]:
    """(from, to, conversion, within 30 days, entered from, entered to) per pair."""
    stages = main_stages()
    pairs = [(stages[index], stages[index + 1]) for index in range(len(stages) - 1)]
    by_key = {stage.key: stage for stage in stages}
    pairs.append((by_key["mql"], by_key["customer"]))
    rows = []
    for first, second in pairs:
        arrays = cohort_rows(filters, first.key, second.key, period)
        rows.append(
            (
                first.key,
                second.key,
                kpis.cohort_conversion(*arrays),
                kpis.cohort_conversion(*arrays, within_days=30),
                stage_entry_count(filters, first.key, period),
                stage_entry_count(filters, second.key, period),
            )
        )
    return rows


def cohort_counts(filters: ScorecardFilters, period, from_stage: str, months: int = 12) -> list[tuple]:
    stages = main_stages()
    start_position = next(stage.position for stage in stages if stage.key == from_stage)
    stages = [stage for stage in stages if stage.position >= start_position]
    month_periods = _months_up_to(period, months)
    person_ids, entered, positions = furthest_rows(
        filters, from_stage, month_periods[0].start_at(), month_periods[-1].end_at()
    )
    person_ids, entered, positions = kpis.first_per_person(person_ids, entered, positions)
    rows = []
    for month in month_periods:
        inside = (entered >= month.start_at().timestamp()) & (entered < month.end_at().timestamp())
        rows.append((month.key, kpis.funnel(positions[inside], [stage.position for stage in stages])))
    return rows


def trend_counts(filters: ScorecardFilters, period, months: int = 12) -> list[tuple]:
    month_periods = _months_up_to(period, months)
    entries = StageChange.objects.filter(
        to_stage_id__in=["mql", "sql"], at__gte=month_periods[0].start_at(), at__lt=month_periods[-1].end_at()
    )
    if not filters.is_empty:
        entries = entries.filter(_people_of_stage_changes(filters))
    counts = defaultdict(int)
    grouped = (
        entries.annotate(month=TruncMonth("at"))
        .values("month", "to_stage_id")
        .annotate(people=Count("person_id", distinct=True))
        .values_list("month", "to_stage_id", "people")
    )
    for month, stage, count in grouped:
        counts[(_as_date(month), stage)] = count
    return [(month.key, counts[(month.start, "mql")], counts[(month.start, "sql")]) for month in month_periods]
