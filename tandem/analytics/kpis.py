"""The scorecard's KPIs as small functions on plain numbers and arrays, one per definition of DESIGN.md.

Nothing here reads the database: selectors gather counts, sums and arrays of times, and these functions
turn them into the numbers people see, so that each definition can be checked against a hand-computed
fixture and timed alone. A KPI whose denominator is empty is None ("no data"), never 0.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np

SECONDS_PER_DAY = 86_400.0


def share(part: float, whole: float) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    return float(part) / float(whole) if whole else None


# ---------------------------------------------------------------- targets and goals


@dataclass(frozen=True)
class Goal:
    """A target over an inclusive range of days: a revenue target or marketing's MQL goal."""

    start: dt.date
    end: dt.date  # inclusive
    target: float


def goal_for_period(goals: list[Goal], start: dt.date, end: dt.date) -> float | None:
    """The goal for [start, end): each goal counts by the share of its days inside the period.

    A monthly goal inside a quarter counts fully; a quarterly goal seen by one month counts by that
    month's days. None when no goal overlaps the period.
    """
    total, found = 0.0, False
    for goal in goals:
        goal_days = (goal.end - goal.start).days + 1
        overlap = (min(goal.end + dt.timedelta(days=1), end) - max(goal.start, start)).days
        if goal_days > 0 and overlap > 0:
            total += goal.target * overlap / goal_days
            found = True
    return total if found else None


def attainment(actual: float, target: float | None) -> float | None:
    """Actual / target: won revenue against the revenue target, MQLs against marketing's goal."""
    return share(actual, target) if target else None


# ---------------------------------------------------------------- hand-off


def sal_acceptance_rate(accepted: int, rejected: int) -> float | None:
    """Accepted / (accepted + rejected) hand-offs decided in the period (pending ones are shown beside it)."""
    return share(accepted, accepted + rejected)


def sla_compliance(met: int, breached: int) -> float | None:
    """Share of hand-offs whose first response met the due time, among those with an SLA outcome."""
    return share(met, met + breached)


# ---------------------------------------------------------------- deals


def win_rate(won: float, lost: float) -> float | None:
    """Won / (won + lost) of the deals closed in the period: by count, or by value when given amounts."""
    return share(won, won + lost)


def pipeline_coverage(weighted_open: float, target: float | None, won: float) -> float | None:
    """Open weighted pipeline closing in the period / (target − won so far).

    None without a target, or when the target is already met (nothing is left to cover).
    """
    if target is None:
        return None
    gap = float(target) - float(won)
    return float(weighted_open) / gap if gap > 0 else None


def marketing_cac(campaign_cost: float, new_customers: int) -> float | None:
    """Campaign cost / new customers attributed in the period."""
    return share(campaign_cost, new_customers)


def historical_clv(revenue: float, customers: int) -> float | None:
    """Historical revenue per customer: all won revenue to date / customers with a won deal."""
    return share(revenue, customers)


def prorated_cost(
    cost: float, start: dt.date | None, end: dt.date | None, period_start: dt.date, period_end: dt.date
) -> float:
    """A campaign's cost spread evenly over its days (start..end inclusive) and the part in [period_start, period_end).

    A campaign without dates counts in full in every period it is asked about.
    """
    if start is None or end is None or end < start:
        return float(cost)
    days = (end - start).days + 1
    overlap = (min(end + dt.timedelta(days=1), period_end) - max(start, period_start)).days
    return float(cost) * max(overlap, 0) / days


# ---------------------------------------------------------------- funnel, conversion and velocity


@dataclass(frozen=True)
class Conversion:
    """A cohort conversion A→B: of the people who entered A in the period, how many reached B and how fast."""

    cohort: int
    reached: int
    median_days: float | None
    p75_days: float | None

    @property
    def rate(self) -> float | None:
        return share(self.reached, self.cohort)


def first_per_person(person_ids: np.ndarray, entered_at: np.ndarray, reached_at: np.ndarray):
    """Keep each person's earliest entry (and what it reached): someone who entered A twice counts once."""
    person_ids = np.asarray(person_ids, dtype=np.int64)
    entered_at = np.asarray(entered_at, dtype=np.float64)
    reached_at = np.asarray(reached_at, dtype=np.float64)
    if person_ids.size == 0:
        return person_ids, entered_at, reached_at
    order = np.lexsort((entered_at, person_ids))
    person_ids, entered_at, reached_at = person_ids[order], entered_at[order], reached_at[order]
    first = np.ones(person_ids.size, dtype=bool)
    first[1:] = person_ids[1:] != person_ids[:-1]
    return person_ids[first], entered_at[first], reached_at[first]


def cohort_conversion(person_ids, entered_at, reached_at, *, within_days: float | None = None) -> Conversion:
    """Conversion and velocity of a cohort.

    `entered_at[i]` is when person i entered A in the period (seconds; several rows per person are
    reduced to the first), `reached_at[i]` when they first entered B or a later main stage at or after
    that entry (NaN if never): a record that skipped B reached it by passing it. Velocity is the median
    and 75th percentile (linear interpolation) of the days from entering A to reaching B, over those
    who reached it; `within_days` counts only those who reached B within that many days.
    """
    _, entered, reached = first_per_person(person_ids, entered_at, reached_at)
    return conversion_of_days((reached - entered) / SECONDS_PER_DAY, within_days=within_days)


def conversion_of_days(days, *, within_days: float | None = None) -> Conversion:
    """Conversion and velocity of a cohort given, per member, the days from entering A to reaching B
    (NaN if never): the cohort is every member, velocity is over those who reached B (within_days)."""
    days = np.asarray(days, dtype=np.float64)
    hit = ~np.isnan(days)
    if within_days is not None:
        hit &= days <= within_days
    durations = days[hit]
    return Conversion(
        cohort=int(days.size),
        reached=int(hit.sum()),
        median_days=float(np.median(durations)) if durations.size else None,
        p75_days=float(np.percentile(durations, 75)) if durations.size else None,
    )


def funnel(furthest_positions, stage_positions: list[int]) -> list[int]:
    """How many of a cohort reached each stage: a person reached every stage up to the furthest they got.

    `furthest_positions` holds, per person of the cohort, the highest main-stage position they entered
    at or after joining the cohort (a recycle or churn afterwards does not undo it).
    """
    furthest = np.asarray(furthest_positions, dtype=np.float64)
    return [int((furthest >= position).sum()) for position in stage_positions]


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change from the previous period: (current − previous) / |previous|; None if either is unknown or 0."""
    if current is None or previous is None or previous == 0:
        return None
    return (float(current) - float(previous)) / abs(float(previous))
