"""Reads of the shared record: query shape, joins and pagination live here."""

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum

from tandem.audit.selectors import audit_entries_for
from tandem.campaigns.models import CampaignMember
from tandem.crm.models import (
    Account,
    AccountMatch,
    Activity,
    LeadStatus,
    LifecycleStage,
    Opportunity,
    OpportunityStage,
    Person,
    StageChange,
)
from tandem.lib.keyset import Page, keyset_page
from tandem.lib.prefix_search import any_starts_with

SORT_LABELS = {
    "last_activity": "Last activity",
    "created": "Newest",
    "name": "Name",
    "fit_score": "Fit score",
    "engagement_score": "Engagement score",
    "employees": "Employees",
    "close_date": "Close date",
    "amount": "Amount",
}
PERSON_SORTS = {
    "last_activity": ["-last_activity_at", "-id"],
    "created": ["-created_at", "-id"],
    "name": ["last_name", "first_name", "id"],
    # Scores live in tandem.scoring's narrow PersonScore table, whose indexes serve these sorts.
    "fit_score": ["-scores__fit_score", "-id"],
    "engagement_score": ["-scores__engagement_score", "-id"],
}
SCORE_SORTS = ("fit_score", "engagement_score")
ACCOUNT_SORTS = {
    "name": ["name", "id"],
    "created": ["-created_at", "-id"],
    "employees": ["-employee_count", "-id"],
}
OPPORTUNITY_SORTS = {
    "close_date": ["close_date", "id"],
    "amount": ["-amount", "-id"],
    "created": ["-created_at", "-id"],
}


def _sort(sorts: dict, sort: str | None, default: str) -> list[str]:
    key = sort or default
    if key not in sorts:
        raise ValidationError({"sort": f"Unknown sort '{key}'; expected one of {', '.join(sorts)}."})
    return sorts[key]


@dataclass
class PersonFilters:
    """The filters of the people list; empty values filter nothing."""

    stages: list[str] = field(default_factory=list)
    lead_status: str = ""
    owner_id: int | None = None
    is_unowned: bool = False
    account_id: int | None = None
    search: str = ""
    clv_min: Decimal | None = None  # lowest predicted lifetime value (people valued at the last prediction)
    # The scorecard's segments and drill-downs (tandem/analytics); empty values filter nothing.
    ids: list[int] = field(default_factory=list)
    team_id: int | None = None
    icp_tier: int | None = None
    industry: str = ""
    region: str = ""
    campaign_id: int | None = None
    channel: str = ""
    # People who entered `entered_stage` in [entered_from, entered_until); with `reached_stage`, only
    # those who entered that stage or one past it (by lifecycle position) at or after that first entry.
    entered_stage: str = ""
    entered_from: dt.datetime | None = None
    entered_until: dt.datetime | None = None
    reached_stage: str = ""
    # People with a hand-off in [handoff_from, handoff_until): accepted or rejected (decided then),
    # pending (made then, still open), sla_met or sla_breached (made then, with that SLA outcome).
    handoff: str = ""
    handoff_from: dt.datetime | None = None
    handoff_until: dt.datetime | None = None


HANDOFF_FILTERS = ("accepted", "rejected", "pending", "sla_met", "sla_breached")


def stages_at_or_past(stage_key: str) -> list[str]:
    """The main-path stages at or after a stage: reaching any of them counts as reaching it (skips included)."""
    stages = list(LifecycleStage.objects.filter(is_side_stage=False).values_list("key", "position"))
    position = next((pos for key, pos in stages if key == stage_key), None)
    if position is None:
        raise ValidationError({"reached": f"Unknown or side stage '{stage_key}'."})
    return [key for key, pos in stages if pos >= position]


def _window(name: str, start, end) -> Q:
    condition = Q()
    if start is not None:
        condition &= Q(**{f"{name}__gte": start})
    if end is not None:
        condition &= Q(**{f"{name}__lt": end})
    return condition


def stage_entries(stage_key: str, start, end) -> QuerySet:
    """Stage changes into a stage in [start, end)."""
    return StageChange.objects.filter(Q(to_stage_id=stage_key) & _window("at", start, end))


def handoff_queryset(kind: str, start, end) -> QuerySet:
    """Hand-offs of one drill-down kind (HANDOFF_FILTERS) in [start, end)."""
    from tandem.handoff.models import Handoff

    if kind == "accepted":
        return Handoff.objects.filter(Q(status="accepted") & _window("accepted_at", start, end))
    if kind == "rejected":
        return Handoff.objects.filter(Q(status="rejected") & _window("rejected_at", start, end))
    made = Handoff.objects.filter(_window("created_at", start, end))
    if kind == "pending":
        return made.filter(status__in=["queued", "pending"])
    if kind in ("sla_met", "sla_breached"):
        return made.filter(sla_status=kind.removeprefix("sla_"))
    raise ValidationError(
        {"handoff": f"Unknown hand-off filter '{kind}'; expected one of {', '.join(HANDOFF_FILTERS)}."}
    )


def person_segment_condition(filters, prefix: str = "") -> Q:
    """The segment filters (team, ICP tier, industry, region, owner, campaign, channel) on people."""
    condition = Q()
    if filters.owner_id is not None:
        condition &= Q(**{f"{prefix}owner_id": filters.owner_id})
    if filters.team_id is not None:
        condition &= Q(**{f"{prefix}owner__team_id": filters.team_id})
    if filters.icp_tier is not None:
        condition &= Q(**{f"{prefix}account__icp_tier": filters.icp_tier})
    if filters.industry:
        condition &= Q(**{f"{prefix}account__industry": filters.industry})
    if filters.region:
        condition &= Q(**{f"{prefix}account__region": filters.region})
    if filters.campaign_id is not None:
        condition &= Q(**{f"{prefix}campaign_memberships__campaign_id": filters.campaign_id})
    if filters.channel:
        condition &= Q(**{f"{prefix}campaign_memberships__campaign__channel": filters.channel})
    return condition


def person_queryset(filters: PersonFilters) -> QuerySet:
    query = Person.objects.all()
    if filters.ids:
        query = query.filter(pk__in=filters.ids)
    if filters.team_id is not None or filters.icp_tier is not None or filters.industry or filters.region:
        query = query.filter(person_segment_condition(replace(filters, owner_id=None, campaign_id=None, channel="")))
    if filters.campaign_id is not None or filters.channel:
        members = CampaignMember.objects.filter(person_id=OuterRef("pk"))
        if filters.campaign_id is not None:
            members = members.filter(campaign_id=filters.campaign_id)
        if filters.channel:
            members = members.filter(campaign__channel=filters.channel)
        query = query.filter(Exists(members))
    if filters.entered_stage:
        entries = stage_entries(filters.entered_stage, filters.entered_from, filters.entered_until)
        if filters.reached_stage:
            first_entry = entries.filter(person_id=OuterRef("pk")).order_by("at").values("at")[:1]
            reached = StageChange.objects.filter(
                person_id=OuterRef("pk"),
                to_stage_id__in=stages_at_or_past(filters.reached_stage),
                at__gte=OuterRef("cohort_entered_at"),
            )
            query = query.filter(pk__in=entries.values("person_id")).annotate(cohort_entered_at=Subquery(first_entry))
            query = query.filter(Exists(reached))
        else:
            query = query.filter(pk__in=entries.values("person_id"))
    if filters.handoff:
        query = query.filter(
            pk__in=handoff_queryset(filters.handoff, filters.handoff_from, filters.handoff_until).values("person_id")
        )
    if filters.stages:
        query = query.filter(lifecycle_stage_id__in=filters.stages)
    if filters.lead_status:
        query = query.filter(lead_status_id=filters.lead_status)
    if filters.is_unowned:
        query = query.filter(owner__isnull=True)
    elif filters.owner_id is not None:
        query = query.filter(owner_id=filters.owner_id)
    if filters.account_id is not None:
        query = query.filter(account_id=filters.account_id)
    if filters.clv_min is not None:
        query = query.filter(lifetime_value__predicted_value__gte=filters.clv_min)
    term = filters.search.strip()
    if term:
        prefixes = [("email", term)]
        if "@" not in term:
            prefixes += [(name, word) for word in term.split()[:3] for name in ("first_name", "last_name")]
        query = query.filter(any_starts_with(Person, prefixes))
    return query


def person_list(*, filters: PersonFilters, sort: str | None = None, cursor: str | None = None, limit: int = 25) -> Page:
    """A page of people, with account and owner joined."""
    order = _sort(PERSON_SORTS, sort, "last_activity")
    parts = None
    if len(filters.stages) > 1 and order == PERSON_SORTS["last_activity"]:
        # Indexes that begin with the stage serve this sort; several stages are read one by one from
        # them rather than all their people sorted together (a second at a million people).
        parts = [Q(lifecycle_stage_id=stage) for stage in dict.fromkeys(filters.stages)]
        filters = replace(filters, stages=[])
    query = person_queryset(filters).select_related("account", "owner", "lifecycle_stage", "lead_status", "scores")
    if sort in SCORE_SORTS:
        # An inner join, so the database walks the score index and looks up each person, where an
        # outer one would sort everybody; every person has a score row (made with the person).
        query = query.filter(scores__isnull=False)
    return keyset_page(query, order=order, cursor=cursor, limit=limit, parts=parts)


def person_detail(*, person_id: int) -> Person:
    return Person.objects.select_related("account", "owner", "lifecycle_stage", "lead_status", "scores").get(
        pk=person_id
    )


@dataclass
class AccountFilters:
    search: str = ""
    owner_id: int | None = None
    industry: str = ""
    region: str = ""
    is_target_account: bool | None = None
    icp_tier: int | None = None
    clv_min: Decimal | None = None  # lowest predicted lifetime value (accounts valued at the last prediction)


def account_list(
    *, filters: AccountFilters, sort: str | None = None, cursor: str | None = None, limit: int = 25
) -> Page:
    """A page of accounts, with owner joined."""
    query = account_queryset(filters).select_related("owner")
    return keyset_page(query, order=_sort(ACCOUNT_SORTS, sort, "name"), cursor=cursor, limit=limit)


def account_queryset(filters: AccountFilters) -> QuerySet:
    """The accounts the filters select, unsorted: what the list pages and their exports read."""
    query = Account.objects.all()
    if filters.search.strip():
        term = filters.search.strip()
        query = query.filter(Q(name__istartswith=term) | Q(domain__istartswith=term.lower()))
    if filters.owner_id is not None:
        query = query.filter(owner_id=filters.owner_id)
    if filters.industry:
        query = query.filter(industry=filters.industry)
    if filters.region:
        query = query.filter(region=filters.region)
    if filters.is_target_account is not None:
        query = query.filter(is_target_account=filters.is_target_account)
    if filters.icp_tier is not None:
        query = query.filter(icp_tier=filters.icp_tier)
    if filters.clv_min is not None:
        query = query.filter(lifetime_value__predicted_value__gte=filters.clv_min)
    return query


@dataclass
class OpportunityFilters:
    search: str = ""
    stages: list[str] = field(default_factory=list)
    owner_id: int | None = None
    account_id: int | None = None
    is_open: bool | None = None
    forecast_category: str = ""
    # The scorecard's segments and drill-downs (tandem/analytics); empty values filter nothing.
    ids: list[int] = field(default_factory=list)
    team_id: int | None = None
    icp_tier: int | None = None
    industry: str = ""
    region: str = ""
    campaign_id: int | None = None
    channel: str = ""
    is_won: bool | None = None
    close_from: dt.date | None = None
    close_until: dt.date | None = None  # exclusive
    is_first_win: bool = False  # the account's first won deal: a new customer


def opportunity_segment_condition(filters) -> Q:
    """The segment filters on opportunities: owner and team, the account's segment, the source campaign."""
    condition = Q()
    if filters.owner_id is not None:
        condition &= Q(owner_id=filters.owner_id)
    if filters.team_id is not None:
        condition &= Q(owner__team_id=filters.team_id)
    if filters.icp_tier is not None:
        condition &= Q(account__icp_tier=filters.icp_tier)
    if filters.industry:
        condition &= Q(account__industry=filters.industry)
    if filters.region:
        condition &= Q(account__region=filters.region)
    if filters.campaign_id is not None:
        condition &= Q(source_campaign_id=filters.campaign_id)
    if filters.channel:
        condition &= Q(source_campaign__channel=filters.channel)
    return condition


def earlier_win_exists() -> Exists:
    """Whether the opportunity's account had won a deal before this one (an earlier close, or the same day and id)."""
    return Exists(
        Opportunity.objects.filter(account_id=OuterRef("account_id"), is_won=True).filter(
            Q(close_date__lt=OuterRef("close_date")) | Q(close_date=OuterRef("close_date"), id__lt=OuterRef("id"))
        )
    )


def opportunity_queryset(filters: OpportunityFilters) -> QuerySet:
    """Opportunities matching the list's filters, in no particular order."""
    query = Opportunity.objects.all()
    if filters.ids:
        query = query.filter(pk__in=filters.ids)
    segment = opportunity_segment_condition(replace(filters, owner_id=None))
    if segment:
        query = query.filter(segment)
    if filters.is_won is not None:
        query = query.filter(is_closed=True, is_won=filters.is_won)
    if filters.close_from is not None:
        query = query.filter(close_date__gte=filters.close_from)
    if filters.close_until is not None:
        query = query.filter(close_date__lt=filters.close_until)
    if filters.is_first_win:
        query = query.filter(is_won=True, account__isnull=False).exclude(earlier_win_exists())
    if filters.search.strip():
        query = query.filter(name__icontains=filters.search.strip())
    if filters.stages:
        query = query.filter(stage_id__in=filters.stages)
    if filters.owner_id is not None:
        query = query.filter(owner_id=filters.owner_id)
    if filters.account_id is not None:
        query = query.filter(account_id=filters.account_id)
    if filters.is_open is not None:
        query = query.filter(is_closed=not filters.is_open)
    if filters.forecast_category:
        query = query.filter(forecast_category=filters.forecast_category)
    return query


def opportunity_list(
    *, filters: OpportunityFilters, sort: str | None = None, cursor: str | None = None, limit: int = 25
) -> Page:
    """A page of opportunities, with account, owner and stage joined."""
    query = opportunity_queryset(filters).select_related("account", "owner", "stage", "primary_person")
    return keyset_page(query, order=_sort(OPPORTUNITY_SORTS, sort, "close_date"), cursor=cursor, limit=limit)


def _share(part, whole) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def _percent(share: Decimal | None) -> Decimal | None:
    """A share as a percentage with two decimals, for display (0.631500 → 63.15)."""
    return None if share is None else (share * 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ClosedValue:
    """Won and lost amounts in one currency."""

    currency: str
    won_amount: Decimal
    lost_amount: Decimal

    @property
    def win_rate(self) -> Decimal | None:
        return _share(self.won_amount, self.won_amount + self.lost_amount)

    @property
    def win_rate_percent(self) -> Decimal | None:
        return _percent(self.win_rate)


@dataclass(frozen=True)
class WinRate:
    """Closed deals: won / (won + lost), by count and, per currency, by value."""

    won_count: int
    lost_count: int
    by_currency: list[ClosedValue]

    @property
    def closed_count(self) -> int:
        return self.won_count + self.lost_count

    @property
    def win_rate(self) -> Decimal | None:
        return _share(self.won_count, self.closed_count)

    @property
    def win_rate_percent(self) -> Decimal | None:
        return _percent(self.win_rate)


def opportunity_win_rate(*, filters: OpportunityFilters) -> WinRate:
    """Win rate of the closed deals among the opportunities the filters select (the KPI's definition)."""
    rows = list(
        opportunity_queryset(filters)
        .filter(is_closed=True)
        .values("currency")
        .annotate(
            won_count=Count("id", filter=Q(is_won=True)),
            lost_count=Count("id", filter=Q(is_won=False)),
            won_amount=Sum("amount", filter=Q(is_won=True)),
            lost_amount=Sum("amount", filter=Q(is_won=False)),
        )
        .order_by("currency")
    )
    by_currency = [
        ClosedValue(
            currency=row["currency"],
            won_amount=Decimal(row["won_amount"] or 0),
            lost_amount=Decimal(row["lost_amount"] or 0),
        )
        for row in rows
    ]
    return WinRate(
        won_count=sum(row["won_count"] for row in rows),
        lost_count=sum(row["lost_count"] for row in rows),
        by_currency=by_currency,
    )


def activity_list(*, person_id=None, account_id=None, opportunity_id=None, cursor=None, limit: int = 25) -> Page:
    query = Activity.objects.select_related("user", "person", "account", "opportunity")
    if person_id is not None:
        query = query.filter(person_id=person_id)
    if account_id is not None:
        query = query.filter(account_id=account_id)
    if opportunity_id is not None:
        query = query.filter(opportunity_id=opportunity_id)
    return keyset_page(query, order=["-occurred_at", "-id"], cursor=cursor, limit=limit)


def stage_change_list(
    *, person_id: int | None = None, account_id: int | None = None, cursor: str | None = None, limit: int = 25
) -> Page:
    """A page of one person's or account's stage history, newest first."""
    query = (
        StageChange.objects.filter(person_id=person_id)
        if person_id is not None
        else (StageChange.objects.filter(account_id=account_id))
    )
    return keyset_page(query, order=["-at", "-id"], cursor=cursor, limit=limit)


# ---------------------------------------------------------------- reference data


def lifecycle_stages() -> list[LifecycleStage]:
    return list(LifecycleStage.objects.all())


def lead_statuses() -> list[LeadStatus]:
    return list(LeadStatus.objects.all())


def opportunity_stages() -> list[OpportunityStage]:
    return list(OpportunityStage.objects.all())


# ---------------------------------------------------------------- timelines


@dataclass(frozen=True)
class TimelineItem:
    """One line of a record's timeline, whatever kind of event it came from."""

    at: object
    kind: str
    title: str
    actor: str
    detail: str = ""
    data: dict = field(default_factory=dict)


def _stage_items(changes) -> list[TimelineItem]:
    return [
        TimelineItem(
            at=change.at,
            kind="stage",
            title=f"{change.from_stage.name if change.from_stage else 'New'} → {change.to_stage.name}",
            actor=change.actor_label,
            detail=change.reason,
            data={
                "actor_type": change.get_actor_type_display(),
                "evidence": change.evidence,
                "contract_version": change.contract_version,
            },
        )
        for change in changes
    ]


def _activity_items(activities) -> list[TimelineItem]:
    return [
        TimelineItem(
            at=activity.occurred_at,
            kind=f"activity-{activity.kind}",
            title=f"{activity.get_kind_display()}: {activity.subject}",
            actor=str(activity.user) if activity.user else "—",
            detail=activity.body,
        )
        for activity in activities
    ]


def _audit_items(entries) -> list[TimelineItem]:
    return [
        TimelineItem(
            at=entry.at,
            kind="audit",
            title=entry.summary or entry.action,
            actor=entry.actor_label,
            data={"changes": entry.changed_fields if entry.action == "update" else [], "action": entry.action},
        )
        for entry in entries
        if entry.action != "stage_change"  # the stage change itself is on the timeline already
    ]


TIMELINE_KINDS = {"stage": "Stage changes", "activity": "Activities", "touchpoint": "Touchpoints", "audit": "Edits"}


def person_timeline(person: Person, *, limit: int = 100, kind: str = "") -> list[TimelineItem]:
    """Activities, touchpoints, stage changes and audit entries of a person, newest first.

    `kind` narrows it to one of TIMELINE_KINDS; anything else shows everything.
    """
    wanted = {kind} if kind in TIMELINE_KINDS else set(TIMELINE_KINDS)
    items: list[TimelineItem] = []
    if "stage" in wanted:
        items += _stage_items(
            StageChange.objects.filter(person=person).select_related("from_stage", "to_stage")[:limit]
        )
    if "activity" in wanted:
        items += _activity_items(Activity.objects.filter(person=person).select_related("user")[:limit])
    if "audit" in wanted:
        items += _audit_items(audit_entries_for(person, limit=limit))
    touchpoints = person.touchpoints.select_related("campaign")[:limit] if "touchpoint" in wanted else []
    items += [
        TimelineItem(
            at=point.occurred_at,
            kind="touchpoint",
            title=point.get_type_display(),
            actor=point.get_channel_display() or "Unclassified channel",
            detail="\n".join(
                part for part in (point.url, f"Campaign: {point.campaign.name}" if point.campaign else "") if part
            ),
        )
        for point in touchpoints
    ]
    return sorted(items, key=lambda item: item.at, reverse=True)[:limit]


def account_timeline(account: Account, *, limit: int = 100) -> list[TimelineItem]:
    """Activities, stage changes and audit entries of an account, newest first."""
    changes = StageChange.objects.filter(account=account).select_related("from_stage", "to_stage")[:limit]
    activities = Activity.objects.filter(account=account).select_related("user")[:limit]
    items = _stage_items(changes) + _activity_items(activities) + _audit_items(audit_entries_for(account, limit=limit))
    return sorted(items, key=lambda item: item.at, reverse=True)[:limit]


def opportunity_timeline(opportunity: Opportunity, *, limit: int = 100) -> list[TimelineItem]:
    """Stage moves, activities and audit entries of an opportunity, newest first."""
    moves = opportunity.stage_changes.select_related("from_stage", "to_stage")[:limit]
    items = [
        TimelineItem(
            at=move.at,
            kind="stage",
            title=f"{move.from_stage.name if move.from_stage else 'New'} → {move.to_stage.name}",
            actor=move.actor_label,
            detail=move.reason,
            data={"amount": move.amount},
        )
        for move in moves
    ]
    items += _activity_items(Activity.objects.filter(opportunity=opportunity).select_related("user")[:limit])
    items += _audit_items(audit_entries_for(opportunity, limit=limit))
    return sorted(items, key=lambda item: item.at, reverse=True)[:limit]


def stage_path(person: Person) -> list[StageChange]:
    """The person's whole stage history, oldest first."""
    return list(StageChange.objects.filter(person=person).select_related("to_stage").order_by("at", "id"))


def account_matches(person: Person) -> list[AccountMatch]:
    return list(person.account_matches.select_related("account", "previous_account", "matched_by")[:20])
