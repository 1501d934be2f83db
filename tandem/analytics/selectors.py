"""Reads for the scorecard: SQL aggregates and arrays gathered per KPI, turned into numbers by `kpis`.

Every KPI also returns the drill-down that lists its records: the people or opportunity list with the
filters of tandem/crm/list_filters.py, whose querysets are the ones counted here.
"""

import datetime as dt
import functools
import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
from django.db import connection, transaction
from django.db.models import (
    Avg,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncMonth
from django.utils import timezone

from tandem.analytics import entry_blocks, kpis
from tandem.analytics.models import PipelineSnapshot, RevenueTarget, SavedView, ScorecardSnapshot, StageEntryBlock
from tandem.analytics.periods import Period
from tandem.campaigns.models import Campaign, CampaignMember
from tandem.crm.models import LifecycleStage, Opportunity, OpportunityStage, StageChange
from tandem.crm.selectors import (
    earlier_win_exists,
    opportunity_segment_condition,
    person_segment_condition,
    stages_at_or_past,
)
from tandem.handoff.models import Handoff, MqlGoal


def without_jit(function):
    """Run a read on PostgreSQL with its JIT compiler off, in a transaction of its own.

    The planner costs these aggregates high enough to JIT-compile them, which takes longer (tens of
    milliseconds a query) than running them; SET LOCAL keeps the setting to this read.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if connection.vendor != "postgresql":
            return function(*args, **kwargs)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
            return function(*args, **kwargs)

    return wrapper


MQL_STAGE = "mql"
CONVERSION_PAIR = ("mql", "sql")
SPARKLINE_PERIODS = 8


@dataclass(frozen=True)
class ScorecardFilters:
    """The scorecard's segment filters; empty values filter nothing."""

    icp_tier: int | None = None
    industry: str = ""
    region: str = ""
    campaign_id: int | None = None
    channel: str = ""
    team_id: int | None = None
    owner_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, item.name) in (None, "") for item in fields(self))

    @property
    def key(self) -> str:
        """A short stable hash of the filters, naming this view's snapshots; blank without filters."""
        if self.is_empty:
            return ""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:32]

    def query(self) -> dict:
        """The filters as list-page query parameters (tandem/crm/list_filters.py)."""
        names = {"team_id": "team", "campaign_id": "campaign", "owner_id": "owner"}
        return {
            names.get(item.name, item.name): getattr(self, item.name)
            for item in fields(self)
            if getattr(self, item.name) not in (None, "")
        }


def reporting_currency() -> str:
    latest = RevenueTarget.objects.order_by("-period_start").values_list("currency", flat=True).first()
    return latest or "USD"


# ---------------------------------------------------------------- conditions per record type


def _people_of_stage_changes(filters: ScorecardFilters) -> Q:
    condition = person_segment_condition(replace(filters, campaign_id=None, channel=""), prefix="person__")
    if filters.campaign_id is not None or filters.channel:
        members = CampaignMember.objects.filter(person_id=OuterRef("person_id"))
        if filters.campaign_id is not None:
            members = members.filter(campaign_id=filters.campaign_id)
        if filters.channel:
            members = members.filter(campaign__channel=filters.channel)
        condition &= Exists(members)
    return condition


def _handoffs(filters: ScorecardFilters):
    query = Handoff.objects.all()
    if filters.owner_id is not None:
        query = query.filter(assignee_id=filters.owner_id)
    if filters.team_id is not None:
        query = query.filter(team_id=filters.team_id)
    if filters.icp_tier is not None:
        query = query.filter(icp_tier=filters.icp_tier)
    if filters.industry:
        query = query.filter(person__account__industry=filters.industry)
    if filters.region:
        query = query.filter(person__account__region=filters.region)
    if filters.campaign_id is not None:
        query = query.filter(campaign_id=filters.campaign_id)
    if filters.channel:
        query = query.filter(campaign__channel=filters.channel)
    return query


def _opportunities(filters: ScorecardFilters):
    return Opportunity.objects.filter(opportunity_segment_condition(filters))


def _window(name: str, period: Period) -> Q:
    return Q(**{f"{name}__gte": period.start_at(), f"{name}__lt": period.end_at()})


def _date_window(name: str, period: Period) -> Q:
    return Q(**{f"{name}__gte": period.start, f"{name}__lt": period.end})


def _seconds(moment: dt.datetime | None) -> float:
    return moment.timestamp() if moment is not None else np.nan


# ---------------------------------------------------------------- gathered inputs


def stage_entry_count(filters: ScorecardFilters, stage: str, period: Period) -> int:
    """People who entered the stage in the period (each person once, however often they entered)."""
    query = StageChange.objects.filter(Q(to_stage_id=stage, person__isnull=False) & _window("at", period))
    if not filters.is_empty:
        query = query.filter(_people_of_stage_changes(filters))
    return query.values("person_id").distinct().count()


def cohort_rows(filters: ScorecardFilters, from_stage: str, to_stage: str, period: Period):
    """Arrays (person, entered A at, first reached B-or-later at) over the entries into A in the period."""
    reached = (
        StageChange.objects.filter(
            person_id=OuterRef("person_id"), to_stage_id__in=stages_at_or_past(to_stage), at__gte=OuterRef("at")
        )
        .order_by("at")
        .values("at")[:1]
    )
    query = StageChange.objects.filter(Q(to_stage_id=from_stage, person__isnull=False) & _window("at", period))
    if not filters.is_empty:
        query = query.filter(_people_of_stage_changes(filters))
    rows = list(query.annotate(reached_at=Subquery(reached)).order_by().values_list("person_id", "at", "reached_at"))
    person_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    entered = np.fromiter((row[1].timestamp() for row in rows), dtype=np.float64, count=len(rows))
    reached_at = np.fromiter((_seconds(row[2]) for row in rows), dtype=np.float64, count=len(rows))
    return person_ids, entered, reached_at


def main_stages() -> list[LifecycleStage]:
    return list(LifecycleStage.objects.filter(is_side_stage=False).order_by("position"))


def _goals(model, amount_field: str, **conditions) -> list[kpis.Goal]:
    return [
        kpis.Goal(start=start, end=end, target=float(target))
        for start, end, target in model.objects.filter(**conditions).values_list(
            "period_start", "period_end", amount_field
        )
    ]


def revenue_target(period: Period) -> float | None:
    return kpis.goal_for_period(_goals(RevenueTarget, "amount"), period.start, period.end)


def mql_goal(period: Period) -> float | None:
    return kpis.goal_for_period(_goals(MqlGoal, "target", segment=""), period.start, period.end)


def campaign_cost(filters: ScorecardFilters, period: Period) -> float:
    campaigns = Campaign.objects.all()
    if filters.campaign_id is not None:
        campaigns = campaigns.filter(pk=filters.campaign_id)
    if filters.channel:
        campaigns = campaigns.filter(channel=filters.channel)
    campaigns = campaigns.filter(
        (Q(start_date__isnull=True) | Q(start_date__lt=period.end))
        & (Q(end_date__isnull=True) | Q(end_date__gte=period.start))
    )
    return sum(
        kpis.prorated_cost(float(cost), start, end, period.start, period.end)
        for cost, start, end in campaigns.values_list("cost", "start_date", "end_date")
    )


# ---------------------------------------------------------------- the scorecard


@dataclass
class Tile:
    """One KPI of the scorecard as plain data: its value, what it was computed from and where it drills to."""

    key: str
    label: str
    value: float | None
    unit: str  # money, count, ratio, days, times
    glossary: str
    detail: str = ""
    parts: dict = field(default_factory=dict)
    drill: tuple[str, dict] | None = None
    available: bool = True
    reason: str = ""


def _drill(kind: str, filters: ScorecardFilters, **params) -> tuple[str, dict]:
    query = filters.query()
    query.update({key: value for key, value in params.items() if value not in (None, "")})
    return kind, query


def _day(value: dt.date) -> str:
    return value.isoformat()


@without_jit
def scorecard_tiles(filters: ScorecardFilters, period: Period) -> list[Tile]:
    """Every KPI of the scorecard for one period, live from the record."""
    currency = reporting_currency()
    deals = _opportunities(filters)
    closed = deals.filter(Q(is_closed=True) & _date_window("close_date", period))
    closed_totals = closed.aggregate(
        won_count=Count("id", filter=Q(is_won=True)),
        lost_count=Count("id", filter=Q(is_won=False)),
        won_amount=Sum("amount", filter=Q(is_won=True, currency=currency)),
        lost_amount=Sum("amount", filter=Q(is_won=False, currency=currency)),
        other_currency=Count("id", filter=~Q(currency=currency)),
    )
    won_amount = float(closed_totals["won_amount"] or 0)
    lost_amount = float(closed_totals["lost_amount"] or 0)
    target = revenue_target(period)
    close_window = {"close_from": _day(period.start), "close_until": _day(period.end)}
    entered_window = {"entered_from": _day(period.start), "entered_until": _day(period.end)}
    handoff_window = {"handoff_from": _day(period.start), "handoff_until": _day(period.end)}
    other = closed_totals["other_currency"]
    currency_note = f"; {other} closed deals in other currencies left out of amounts" if other else ""

    tiles = [
        Tile(
            key="won_revenue",
            label="Won revenue vs target",
            value=won_amount,
            unit="money",
            glossary="Won revenue",
            detail=(f"target {target:,.0f} {currency}" if target is not None else "no revenue target for this period")
            + currency_note,
            parts={
                "won": won_amount,
                "target": target,
                "attainment": kpis.attainment(won_amount, target),
                "currency": currency,
            },
            drill=_drill("opportunities", filters, outcome="won", **close_window),
        )
    ]

    mqls = stage_entry_count(filters, MQL_STAGE, period)
    goal = mql_goal(period)
    tiles.append(
        Tile(
            key="mqls",
            label="MQLs vs goal",
            value=float(mqls),
            unit="count",
            glossary="MQL",
            detail=f"goal {goal:,.0f}" if goal is not None else "no MQL goal for this period",
            parts={"mqls": mqls, "goal": goal, "attainment": kpis.attainment(mqls, goal)},
            drill=_drill("people", filters, entered=MQL_STAGE, **entered_window),
        )
    )

    handoffs = _handoffs(filters)
    accepted = handoffs.filter(Q(status="accepted") & _window("accepted_at", period)).count()
    rejected = handoffs.filter(Q(status="rejected") & _window("rejected_at", period)).count()
    made = handoffs.filter(_window("created_at", period)).aggregate(
        pending=Count("id", filter=Q(status__in=["queued", "pending"])),
        met=Count("id", filter=Q(sla_status="met")),
        breached=Count("id", filter=Q(sla_status="breached")),
        clock_running=Count("id", filter=Q(sla_status="pending")),
    )
    tiles.append(
        Tile(
            key="sal_acceptance",
            label="SAL acceptance rate",
            value=kpis.sal_acceptance_rate(accepted, rejected),
            unit="ratio",
            glossary="SAL acceptance rate",
            detail=f"{accepted} accepted, {rejected} rejected; {made['pending']} pending",
            parts={"accepted": accepted, "rejected": rejected, "pending": made["pending"]},
            drill=_drill("people", filters, handoff="accepted", **handoff_window),
        )
    )
    tiles.append(
        Tile(
            key="sla_compliance",
            label="SLA compliance",
            value=kpis.sla_compliance(made["met"], made["breached"]),
            unit="ratio",
            glossary="SLA compliance",
            detail=f"{made['met']} met, {made['breached']} breached; {made['clock_running']} clocks running",
            parts={"met": made["met"], "breached": made["breached"], "running": made["clock_running"]},
            drill=_drill("people", filters, handoff="sla_met", **handoff_window),
        )
    )

    from_stage, to_stage = CONVERSION_PAIR
    conversion = kpis.cohort_conversion(*cohort_rows(filters, from_stage, to_stage, period))
    names = dict(LifecycleStage.objects.values_list("key", "name"))
    pair = f"{names.get(from_stage, from_stage)} → {names.get(to_stage, to_stage)}"
    tiles.append(
        Tile(
            key="conversion",
            label=f"Conversion {pair}",
            value=conversion.rate,
            unit="ratio",
            glossary="Conversion rate",
            detail=f"{conversion.reached} of {conversion.cohort} who entered "
            f"{names.get(from_stage, from_stage)} in the period",
            parts={"cohort": conversion.cohort, "reached": conversion.reached},
            drill=_drill("people", filters, entered=from_stage, reached=to_stage, **entered_window),
        )
    )
    tiles.append(
        Tile(
            key="velocity",
            label=f"Velocity {pair}",
            value=conversion.median_days,
            unit="days",
            glossary="Velocity",
            detail=(
                f"median; p75 {conversion.p75_days:.1f} days over {conversion.reached} people"
                if conversion.p75_days is not None
                else "nobody in the cohort has reached it yet"
            ),
            parts={
                "median_days": conversion.median_days,
                "p75_days": conversion.p75_days,
                "reached": conversion.reached,
            },
            drill=_drill("people", filters, entered=from_stage, reached=to_stage, **entered_window),
        )
    )

    won_count, lost_count = closed_totals["won_count"], closed_totals["lost_count"]
    by_value = kpis.win_rate(won_amount, lost_amount)
    tiles.append(
        Tile(
            key="win_rate",
            label="Win rate",
            value=kpis.win_rate(won_count, lost_count),
            unit="ratio",
            glossary="Win rate",
            detail=f"{won_count} won of {won_count + lost_count} closed; by value "
            + (f"{by_value:.1%}" if by_value is not None else "—"),
            parts={"won": won_count, "lost": lost_count, "by_value": by_value},
            drill=_drill("opportunities", filters, status="closed", **close_window),
        )
    )

    weighted = ExpressionWrapper(
        F("amount") * F("probability") / 100, output_field=DecimalField(max_digits=20, decimal_places=4)
    )
    open_weighted = float(
        deals.filter(Q(is_closed=False, currency=currency) & _date_window("close_date", period)).aggregate(
            total=Sum(weighted)
        )["total"]
        or 0
    )
    coverage = kpis.pipeline_coverage(open_weighted, target, won_amount)
    tiles.append(
        Tile(
            key="pipeline_coverage",
            label="Pipeline coverage",
            value=coverage,
            unit="times",
            glossary="Pipeline coverage",
            detail=(
                f"weighted open {open_weighted:,.0f} / gap {target - won_amount:,.0f}"
                if target is not None and target > won_amount
                else ("no revenue target for this period" if target is None else "target already met")
            ),
            parts={"weighted_open": open_weighted, "target": target, "won": won_amount},
            drill=_drill("opportunities", filters, status="open", **close_window),
            available=target is not None,
            reason="" if target is not None else "Set a revenue target for this period to see coverage.",
        )
    )

    firsts = closed.filter(is_won=True, account__isnull=False).exclude(earlier_win_exists())
    new_customers = firsts.values("account_id").distinct().count()
    cost = campaign_cost(filters, period)
    tiles.append(
        Tile(
            key="cac",
            label="Marketing CAC",
            value=kpis.marketing_cac(cost, new_customers),
            unit="money",
            glossary="Marketing CAC",
            detail=f"campaign cost {cost:,.0f} / {new_customers} new customers",
            parts={"cost": cost, "new_customers": new_customers},
            drill=_drill("opportunities", filters, first_win="1", **close_window),
        )
    )

    history = deals.filter(is_won=True, currency=currency, close_date__lt=period.end, account__isnull=False).aggregate(
        revenue=Sum("amount"), customers=Count("account_id", distinct=True)
    )
    revenue, customers = float(history["revenue"] or 0), history["customers"]
    predicted = predicted_clv(filters)
    tiles.append(
        Tile(
            key="clv",
            label="Customer lifetime value (historical)",
            value=kpis.historical_clv(revenue, customers),
            unit="money",
            glossary="Customer lifetime value",
            detail=f"won revenue to date {revenue:,.0f} / {customers} customers; "
            + (
                f"predicted (fit v{predicted['fit']}) mean {predicted['mean']:,.0f} "
                f"over {predicted['accounts']} accounts"
                if predicted
                else "predicted: not available yet (no lifetime-value fit)"
            ),
            parts={"revenue": revenue, "customers": customers},
            drill=_drill("opportunities", filters, outcome="won", close_until=_day(period.end)),
        )
    )
    return tiles


def predicted_clv(filters: ScorecardFilters) -> dict | None:
    """The mean predicted lifetime value of the accounts valued by the latest fit (tandem/clv), in the segment."""
    from tandem.clv.models import CustomerValue

    values = CustomerValue.objects.filter(account__isnull=False)
    if filters.icp_tier is not None:
        values = values.filter(account__icp_tier=filters.icp_tier)
    if filters.industry:
        values = values.filter(account__industry=filters.industry)
    if filters.region:
        values = values.filter(account__region=filters.region)
    found = values.aggregate(mean=Avg("predicted_value"), accounts=Count("id"), fit=Max("fit__version"))
    if not found["accounts"]:
        return None
    return {"mean": float(found["mean"]), "accounts": found["accounts"], "fit": found["fit"]}


TILES_CACHE_SECONDS = 60


def record_version() -> int:
    """The newest stage change's id: part of the cache key, so a new stage change is counted at once."""
    return StageChange.objects.order_by("-id").values_list("id", flat=True).first() or 0


def scorecard_tiles_cached(filters: ScorecardFilters, period: Period) -> list[Tile]:
    """scorecard_tiles, kept for up to a minute per view and period (and recomputed as soon as a stage
    change is recorded): everyone opening the scorecard in a meeting shares one computation."""
    from django.core.cache import cache

    key = f"scorecard:v1:{filters.key or 'all'}:{period.kind}:{period.key}:{record_version()}"
    tiles = cache.get(key)
    if tiles is None:
        tiles = scorecard_tiles(filters, period)
        cache.set(key, tiles, TILES_CACHE_SECONDS)
    return tiles


def tiles_values(tiles: list[Tile]) -> dict:
    """What a snapshot keeps of a scorecard: each KPI's value and parts."""
    return {tile.key: {"value": tile.value, "parts": tile.parts} for tile in tiles}


# ---------------------------------------------------------------- history: snapshots


def snapshot_for(filters: ScorecardFilters, period: Period) -> ScorecardSnapshot | None:
    """The snapshot of a closed period taken at its close (the first one on or after its last day)."""
    return (
        ScorecardSnapshot.objects.filter(
            view_key=filters.key,
            period_kind=period.kind,
            period_start=period.start,
            period_end=period.end,
            as_of__gte=period.end - dt.timedelta(days=1),
        )
        .order_by("as_of")
        .first()
    )


def snapshots_for(filters: ScorecardFilters, periods: list[Period]) -> dict[Period, ScorecardSnapshot]:
    """The close-of-period snapshots of several periods in one query."""
    if not periods:
        return {}
    rows = ScorecardSnapshot.objects.filter(
        view_key=filters.key,
        period_kind=periods[0].kind,
        period_start__in=[period.start for period in periods],
    ).order_by("as_of")
    found: dict[Period, ScorecardSnapshot] = {}
    wanted = {(period.start, period.end): period for period in periods}
    for row in rows:
        period = wanted.get((row.period_start, row.period_end))
        if period is not None and period not in found and row.as_of >= period.end - dt.timedelta(days=1):
            found[period] = row
    return found


# ---------------------------------------------------------------- analysis


@dataclass(frozen=True)
class FunnelRow:
    stage: str
    name: str
    reached: int
    share_of_cohort: float | None
    share_of_previous: float | None


def _campaign_people(filters: ScorecardFilters) -> "_Members | None":
    if filters.campaign_id is None and not filters.channel:
        return None
    members = CampaignMember.objects.all()
    if filters.campaign_id is not None:
        members = members.filter(campaign_id=filters.campaign_id)
    if filters.channel:
        members = members.filter(campaign__channel=filters.channel)
    # Someone in several of the channel's campaigns is listed more than once: np.isin does not mind.
    return _Members(np.fromiter(members.values_list("person_id", flat=True), dtype=np.int64))


class _Members:
    """Who is among a campaign's (or channel's) members: a lookup table by id when ids are dense enough
    (much faster than sorting a year of entries), np.isin otherwise."""

    def __init__(self, members: np.ndarray):
        self.members = members
        self.highest = int(members.max()) if members.size else -1
        self.table = None
        if members.size and self.highest <= 50_000_000 and int(members.min()) >= 0:
            self.table = np.zeros(self.highest + 1, dtype=bool)
            self.table[members] = True

    def of(self, person_ids: np.ndarray) -> np.ndarray:
        if self.table is None:
            return np.isin(person_ids, self.members)
        inside = (person_ids >= 0) & (person_ids <= self.highest)
        found = np.zeros(person_ids.size, dtype=bool)
        found[inside] = self.table[person_ids[inside]]
        return found


def block_rows(query):
    """The rows of a query on blocks; on PostgreSQL in the binary protocol, which hands the packed columns
    over as they are stored instead of as hexadecimal text (a third of the time for a year of entries)."""
    if connection.vendor != "postgresql":
        yield from query
        return
    import psycopg

    sql, params = query.query.sql_with_params()
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        for stage, labels, *raw in cursor:
            yield (stage, json.loads(labels) if isinstance(labels, str | bytes) else labels, *raw)


def stage_entry_arrays(
    filters: ScorecardFilters,
    stages: list[str],
    start: dt.datetime,
    end: dt.datetime,
    columns: list[str],
    *,
    first_only: bool = True,
) -> dict[str, dict[str, np.ndarray]]:
    """The rollup's entries into these stages in [start, end) that match the filters, as arrays per stage.

    With `first_only`, each person's first entry into the stage within [start, end) only (an entry with
    no earlier one there). Reads the monthly blocks of the months concerned and filters them in numpy.
    """
    first_month = timezone.localtime(start).date().replace(day=1)
    last_month = timezone.localtime(end - dt.timedelta(microseconds=1)).date().replace(day=1)
    wanted = ["entered", "previous", *columns]
    if filters.owner_id is not None:
        wanted.append("owner_ids")
    if filters.team_id is not None:
        wanted.append("team_ids")
    if filters.icp_tier is not None:
        wanted.append("icp_tiers")
    if filters.industry:
        wanted.append("industries")
    if filters.region:
        wanted.append("regions")
    members = _campaign_people(filters)
    if members is not None:
        wanted.append("person_ids")
    wanted = list(dict.fromkeys(wanted))
    start_seconds, end_seconds = start.timestamp(), end.timestamp()
    parts: dict[str, dict[str, list]] = {stage: {name: [] for name in wanted} for stage in stages}
    blocks = StageEntryBlock.objects.filter(stage__in=stages, month__gte=first_month, month__lte=last_month)
    for stage, labels, *raw in block_rows(blocks.values_list("stage", "labels", *wanted)):
        arrays = {name: entry_blocks.column(value, name) for name, value in zip(wanted, raw, strict=True)}
        entered, previous = arrays["entered"], arrays["previous"]
        keep = (entered >= start_seconds) & (entered < end_seconds)
        if first_only:
            keep &= np.isnan(previous) | (previous < start_seconds)
        if filters.owner_id is not None:
            keep &= arrays["owner_ids"] == filters.owner_id
        if filters.team_id is not None:
            keep &= arrays["team_ids"] == filters.team_id
        if filters.icp_tier is not None:
            keep &= arrays["icp_tiers"] == filters.icp_tier
        if filters.industry:
            keep &= arrays["industries"] == entry_blocks.code_of(labels, "industry", filters.industry)
        if filters.region:
            keep &= arrays["regions"] == entry_blocks.code_of(labels, "region", filters.region)
        if members is not None:
            keep &= members.of(arrays["person_ids"])
        for name in wanted:
            parts[stage][name].append(arrays[name][keep])
    return {
        stage: {
            name: np.concatenate(pieces) if pieces else np.empty(0, dtype=entry_blocks.COLUMNS[name])
            for name, pieces in by_name.items()
        }
        for stage, by_name in parts.items()
    }


@without_jit
def funnel(filters: ScorecardFilters, period: Period, from_stage: str) -> list[FunnelRow]:
    """Of the people who entered `from_stage` in the period, how many reached each later stage."""
    stages = main_stages()
    start_position = next((stage.position for stage in stages if stage.key == from_stage), None)
    if start_position is None:
        return []
    stages = [stage for stage in stages if stage.position >= start_position]
    entries = stage_entry_arrays(filters, [from_stage], period.start_at(), period.end_at(), ["furthest"])
    counts = kpis.funnel(entries[from_stage]["furthest"], [stage.position for stage in stages])
    rows = []
    for index, (stage, count) in enumerate(zip(stages, counts, strict=True)):
        rows.append(
            FunnelRow(
                stage=stage.key,
                name=stage.name,
                reached=count,
                share_of_cohort=kpis.share(count, counts[0]),
                share_of_previous=kpis.share(count, counts[index - 1]) if index else None,
            )
        )
    return rows


@dataclass(frozen=True)
class ConversionRow:
    from_stage: str
    to_stage: str
    label: str
    conversion: kpis.Conversion
    within_30: kpis.Conversion
    entered_from: int  # flow-based: people entering the first stage in the period ...
    entered_to: int  # ... and the second, whoever they are

    @property
    def flow_rate(self) -> float | None:
        return kpis.share(self.entered_to, self.entered_from)


WITHIN_DAYS = 30


@without_jit
def conversion_table(filters: ScorecardFilters, period: Period) -> list[ConversionRow]:
    """Cohort conversion and velocity between each pair of consecutive main stages, and MQL → Customer.

    From the stage-entry rollup: each person's first entry into a stage in the period, with the days from
    there to the next main stage (or a later one) and to Customer (or a later one).
    """
    stages = main_stages()
    # The rollup keeps, per entry, the next main stage and Customer: the pairs this table shows.
    pairs = [(stages[index], stages[index + 1], "next_days") for index in range(len(stages) - 1)]
    by_key = {stage.key: stage for stage in stages}
    if "mql" in by_key and "customer" in by_key:
        pairs.append((by_key["mql"], by_key["customer"], "customer_days"))
    entries = stage_entry_arrays(
        filters, [stage.key for stage in stages], period.start_at(), period.end_at(), ["next_days", "customer_days"]
    )
    rows = []
    for first, second, days in pairs:
        durations = entries[first.key][days]
        rows.append(
            ConversionRow(
                from_stage=first.key,
                to_stage=second.key,
                label=f"{first.name} → {second.name}",
                conversion=kpis.conversion_of_days(durations),
                within_30=kpis.conversion_of_days(durations, within_days=WITHIN_DAYS),
                # A stage's cohort is everyone who entered it in the period: its size is the flow's count too.
                entered_from=int(durations.size),
                entered_to=int(entries[second.key]["entered"].size),
            )
        )
    return rows


def _months_up_to(period: Period, months: int) -> list[Period]:
    """The `months` calendar months that end with the one holding the period's last day, oldest first."""
    last_day = period.end - dt.timedelta(days=1)
    last = _shift_month(last_day.replace(day=1), 0)
    return [
        Period("month", _shift_month(last, -step), _shift_month(last, -step + 1)) for step in range(months - 1, -1, -1)
    ]


@without_jit
def cohort_table(filters: ScorecardFilters, period: Period, from_stage: str, months: int = 12):
    """Month of entry into `from_stage` × stage reached, for the months up to the period's end."""
    stages = main_stages()
    start_position = next((stage.position for stage in stages if stage.key == from_stage), None)
    if start_position is None:
        return [], []
    stages = [stage for stage in stages if stage.position >= start_position]
    month_periods = _months_up_to(period, months)
    # Each person once, in the month of their first entry within the whole range.
    entries = stage_entry_arrays(
        filters, [from_stage], month_periods[0].start_at(), month_periods[-1].end_at(), ["furthest"]
    )[from_stage]
    positions = [stage.position for stage in stages]
    rows = []
    for month in month_periods:
        inside = (entries["entered"] >= month.start_at().timestamp()) & (
            entries["entered"] < month.end_at().timestamp()
        )
        rows.append((month, kpis.funnel(entries["furthest"][inside], positions)))
    return stages, rows


@without_jit
def trends(filters: ScorecardFilters, period: Period, months: int = 12) -> list[dict]:
    """Month by month up to the period's end: MQLs, SQLs, deals won, won revenue and win rate."""
    month_periods = _months_up_to(period, months)
    start_month, end_exclusive = month_periods[0].start, month_periods[-1].end
    # People entering in a month, each once: their first entry of that month.
    entries = stage_entry_arrays(
        filters, ["mql", "sql"], month_periods[0].start_at(), month_periods[-1].end_at(), [], first_only=False
    )
    counts = defaultdict(int)
    for stage, arrays in entries.items():
        for month in month_periods:
            start_seconds, end_seconds = month.start_at().timestamp(), month.end_at().timestamp()
            entered, previous = arrays["entered"], arrays["previous"]
            first = (entered >= start_seconds) & (entered < end_seconds)
            first &= np.isnan(previous) | (previous < start_seconds)
            counts[(month.start, stage)] = int(first.sum())
    currency = reporting_currency()
    deals = (
        _opportunities(filters)
        .filter(is_closed=True, close_date__gte=start_month, close_date__lt=end_exclusive)
        .annotate(month=TruncMonth("close_date"))
        .values("month")
        .annotate(
            won=Count("id", filter=Q(is_won=True)),
            lost=Count("id", filter=Q(is_won=False)),
            revenue=Sum("amount", filter=Q(is_won=True, currency=currency)),
        )
    )
    by_month = {_as_date(row["month"]): row for row in deals}
    rows = []
    for month in month_periods:
        deal = by_month.get(month.start, {})
        won, lost = deal.get("won", 0), deal.get("lost", 0)
        rows.append(
            {
                "month": month,
                "mqls": counts[(month.start, "mql")],
                "sqls": counts[(month.start, "sql")],
                "won": won,
                "won_revenue": float(deal.get("revenue") or 0),
                "win_rate": kpis.win_rate(won, lost),
            }
        )
    return rows


def _shift_month(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return (
            timezone.localtime(value).date().replace(day=1) if timezone.is_aware(value) else value.date().replace(day=1)
        )
    return value.replace(day=1)


@dataclass(frozen=True)
class PipelineCell:
    stage: str
    stage_name: str
    forecast_category: str
    count: int
    amount: float
    weighted_amount: float


def pipeline(filters: ScorecardFilters, as_of: dt.date | None = None) -> tuple[list[PipelineCell], dt.date | None]:
    """Open pipeline by stage and forecast category: today's, or the snapshot of a past day.

    For a past day the latest snapshot on or before it is used (its day is returned); the owner and
    team filters apply to snapshots, the segment filters only to today's pipeline.
    """
    names = dict(OpportunityStage.objects.values_list("key", "name"))
    order = {
        key: index
        for index, key in enumerate(OpportunityStage.objects.order_by("position").values_list("key", flat=True))
    }
    if as_of is not None and as_of < timezone.localdate():
        day = (
            PipelineSnapshot.objects.filter(as_of__lte=as_of).order_by("-as_of").values_list("as_of", flat=True).first()
        )
        if day is None:
            return [], None
        rows = PipelineSnapshot.objects.filter(as_of=day)
        if filters.owner_id is not None:
            rows = rows.filter(owner_id=filters.owner_id)
        if filters.team_id is not None:
            rows = rows.filter(owner__team_id=filters.team_id)
        grouped = rows.values("stage_id", "forecast_category").annotate(
            n=Sum("count"), total=Sum("amount"), weighted=Sum("weighted_amount")
        )
    else:
        day = timezone.localdate()
        weighted = ExpressionWrapper(
            F("amount") * F("probability") / 100, output_field=DecimalField(max_digits=20, decimal_places=4)
        )
        grouped = (
            _opportunities(filters)
            .filter(is_closed=False)
            .values("stage_id", "forecast_category")
            .annotate(n=Count("id"), total=Sum("amount"), weighted=Sum(weighted))
        )
    cells = [
        PipelineCell(
            stage=row["stage_id"],
            stage_name=names.get(row["stage_id"], row["stage_id"]),
            forecast_category=row["forecast_category"],
            count=row["n"],
            amount=float(row["total"] or 0),
            weighted_amount=float(row["weighted"] or 0),
        )
        for row in grouped
    ]
    cells.sort(key=lambda cell: (order.get(cell.stage, 99), cell.forecast_category))
    return cells, day


def pipeline_rows_today() -> list[dict]:
    """Today's open pipeline grouped by stage, forecast category and owner: what a snapshot stores."""
    weighted = ExpressionWrapper(
        F("amount") * F("probability") / 100, output_field=DecimalField(max_digits=20, decimal_places=4)
    )
    return list(
        Opportunity.objects.filter(is_closed=False)
        .values("stage_id", "forecast_category", "owner_id")
        .annotate(n=Count("id"), total=Sum("amount"), weighted=Sum(weighted))
        .order_by()
    )


def saved_views_for(user) -> list[SavedView]:
    """The user's own saved views and everyone's shared ones."""
    return list(SavedView.objects.filter(Q(owner=user) | Q(is_shared=True)).select_related("owner"))


def filter_choices() -> dict:
    """The values the filter menus offer; kept for five minutes (a new industry or campaign shows then)."""
    from django.core.cache import cache

    choices = cache.get("scorecard:v1:filter-choices")
    if choices is None:
        choices = _filter_choices()
        cache.set("scorecard:v1:filter-choices", choices, 300)
    return choices


def _filter_choices() -> dict:
    from tandem.crm.models import Account
    from tandem.users.models import Team, User

    return {
        "industries": list(
            Account.objects.exclude(industry="")
            .values_list("industry", flat=True)
            .distinct()
            .order_by("industry")[:200]
        ),
        "regions": list(
            Account.objects.exclude(region="").values_list("region", flat=True).distinct().order_by("region")[:200]
        ),
        "campaigns": list(Campaign.objects.order_by("name").values_list("id", "name")[:500]),
        "teams": list(Team.objects.order_by("name").values_list("id", "name")),
        "owners": list(
            User.objects.filter(is_active=True)
            .order_by("full_name", "email")
            .values_list("id", "full_name", "email")[:500]
        ),
    }
