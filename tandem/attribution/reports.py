"""Attribution reports: credit per campaign and channel under each model, cost and ROI, the closed loop
from sales' decisions on the MQLs, drill-down to journeys, and the journey of one person or account.

Reads only; the numbers come from the engine (plain arrays) over the journeys that selectors build.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from tandem.attribution.contract_sections import AttributionPolicy, attribution_policy
from tandem.attribution.engine import MODEL_KEYS, ModelCredit, ModelSpec, attribute, attribute_all, model_catalogue
from tandem.attribution.journeys import Journeys
from tandem.attribution.selectors import (
    ACCOUNT,
    CONVERSIONS,
    NO_CAMPAIGN,
    PERSON,
    SECONDS_PER_DAY,
    EpochSeconds,
    JourneySet,
    TouchTable,
    journeys_for,
    people_needed,
    touch_table,
)
from tandem.campaigns.models import Campaign, Channel
from tandem.crm.models import Account, Opportunity, Person, StageChange
from tandem.engagement.models import Touchpoint, TouchpointType

# Stages that mean sales took the lead on (accepted), and the side stages a rejection sends it to.
ACCEPTED_STAGES = ("sal", "sql", "opportunity", "customer", "evangelist")
REJECTED_STAGES = ("recycled", "disqualified")
ONWARD_STAGES = ("sql", "opportunity", "customer", "evangelist")
MAX_DRILL_JOURNEYS = 200


def current_policy() -> AttributionPolicy:
    """The attribution section of the contract in force."""
    from tandem.contract.selectors import active_document

    return attribution_policy(active_document())


@dataclass
class ClosedLoop:
    """What sales made of the MQLs a campaign (or channel) touched: accepted, rejected and why, onward."""

    mqls: int = 0
    accepted: int = 0
    rejected: int = 0
    pending: int = 0
    onward: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def acceptance_rate(self) -> float | None:
        decided = self.accepted + self.rejected
        return self.accepted / decided if decided else None

    @property
    def onward_rate(self) -> float | None:
        return self.onward / self.mqls if self.mqls else None

    def as_dict(self) -> dict:
        return {
            "mqls": self.mqls,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "pending": self.pending,
            "acceptance_rate": self.acceptance_rate,
            "rejection_reasons": dict(self.reasons.most_common()),
            "reached_sql": self.onward,
            "onward_rate": self.onward_rate,
        }


@dataclass
class Row:
    """One campaign or channel: its credit and value under each model, cost, ROI and closed loop."""

    key: str
    name: str
    campaign_id: int | None
    channel: str
    cost: float
    conversions: dict[str, float]
    value: dict[str, float]
    closed_loop: ClosedLoop

    def roi(self, model: str) -> float | None:
        """(attributed value - cost) / cost; None without cost."""
        return (self.value[model] - self.cost) / self.cost if self.cost > 0 else None

    def cost_per_conversion(self, model: str) -> float | None:
        return self.cost / self.conversions[model] if self.cost > 0 and self.conversions[model] > 1e-12 else None


@dataclass
class AttributionReport:
    """One conversion in one period under every model, by campaign and by channel."""

    conversion: str
    start: dt.datetime
    end: dt.datetime
    policy: AttributionPolicy
    models: list[ModelSpec]
    campaigns: list[Row]
    channels: list[Row]
    conversions_total: float
    value_total: float
    journeys: int
    unattributed: int  # conversions with no touch in the lookback window
    has_value: bool
    journey_set: JourneySet

    @property
    def label(self) -> str:
        return CONVERSIONS[self.conversion]

    def model(self, key: str) -> ModelSpec:
        return next(spec for spec in self.models if spec.key == key)


def mql_outcomes(person_ids: list[int], mql_times: list[float]) -> list[tuple[str, str]]:
    """(outcome, reason) of each MQL: accepted, rejected (with the reason) or pending.

    The hand-off record decides when there is one for that MQL (the first hand-off made from the MQL
    on); otherwise the stage history does: the first move after the MQL on to SAL or later is an
    acceptance, to Recycled or Disqualified a rejection, with the stage change's reason.
    """
    from tandem.handoff.models import Handoff, HandoffStatus

    if not person_ids:
        return []
    # Read by time rather than by a list of thousands of ids: everything from the first MQL on.
    people = set(person_ids)
    since = dt.datetime.fromtimestamp(min(mql_times) - 60, tz=dt.UTC)
    handoffs: dict[int, list] = {}
    for person_id, created_at, status, reason in (
        Handoff.objects.filter(created_at__gte=since)
        .annotate(seconds=EpochSeconds("created_at"))
        .order_by("created_at", "id")
        .values_list("person_id", "seconds", "status", "rejection_reason")
    ):
        if person_id in people:
            handoffs.setdefault(person_id, []).append((created_at, status, reason))
    changes: dict[int, list] = {}
    deciding = (*ACCEPTED_STAGES, *REJECTED_STAGES)
    for person_id, at, to_stage, reason in (
        StageChange.objects.filter(at__gte=since, person__isnull=False, to_stage_id__in=deciding)
        .annotate(seconds=EpochSeconds("at"))
        .order_by("at", "id")
        .values_list("person_id", "seconds", "to_stage_id", "reason")
    ):
        if person_id in people:
            changes.setdefault(person_id, []).append((at, to_stage, reason))
    labels = _reason_labels()
    outcomes = []
    for person_id, mql_at in zip(person_ids, mql_times, strict=True):
        # A hand-off is made in the same transaction as the MQL; allow for a clock a minute apart.
        handoff = next((item for item in handoffs.get(person_id, []) if item[0] >= mql_at - 60), None)
        if handoff is not None and handoff[1] in (HandoffStatus.ACCEPTED, HandoffStatus.REJECTED):
            if handoff[1] == HandoffStatus.ACCEPTED:
                outcomes.append(("accepted", ""))
            else:
                outcomes.append(("rejected", labels.get(handoff[2], handoff[2]) or "No reason given"))
            continue
        following = next((item for item in changes.get(person_id, []) if item[0] > mql_at), None)
        if following is not None and following[1] in ACCEPTED_STAGES:
            outcomes.append(("accepted", ""))
        elif following is not None and following[1] in REJECTED_STAGES:
            outcomes.append(("rejected", labels.get(following[2], following[2]) or "No reason given"))
        else:
            outcomes.append(("pending", ""))
    return outcomes


def _reason_labels() -> dict[str, str]:
    from tandem.contract.selectors import active_document

    reasons = active_document().get("rejection_reasons") or []
    return {item["key"]: item["label"] for item in reasons if isinstance(item, dict) and "key" in item}


def _reached_onward(person_ids: list[int], mql_times: list[float]) -> list[bool]:
    if not person_ids:
        return []
    since = dt.datetime.fromtimestamp(min(mql_times), tz=dt.UTC)
    people = set(person_ids)
    reached: dict[int, list[float]] = {}
    for person_id, at in (
        StageChange.objects.filter(at__gte=since, person__isnull=False, to_stage_id__in=ONWARD_STAGES)
        .annotate(seconds=EpochSeconds("at"))
        .values_list("person_id", "seconds")
    ):
        if person_id in people:
            reached.setdefault(person_id, []).append(at)
    return [
        any(at >= mql_at for at in reached.get(person_id, []))
        for person_id, mql_at in zip(person_ids, mql_times, strict=True)
    ]


def closed_loop(
    start: dt.datetime,
    end: dt.datetime,
    policy: AttributionPolicy,
    *,
    touches: TouchTable | None = None,
    mqls: JourneySet | None = None,
) -> tuple[dict, dict]:
    """The closed loop of the MQLs of the period, per campaign id and per channel name they touched."""
    if mqls is None:
        mqls = journeys_for("mql", start, end, policy=policy, touches=touches, with_nulls=False)
    events = mqls.events
    converting = [index for index, converted in enumerate(events.converted) if converted]
    if not converting:
        return {}, {}
    people = [events.person_id[index] for index in converting]
    times = [events.at[index] for index in converting]
    outcomes = mql_outcomes(people, times)
    onward = _reached_onward(people, times)
    accepted = np.array([outcome == "accepted" for outcome, _ in outcomes], dtype=float)
    rejected = np.array([outcome == "rejected" for outcome, _ in outcomes], dtype=float)
    reached = np.asarray(onward, dtype=float)
    number_of = np.full(len(events), -1, dtype=np.int64)
    number_of[converting] = np.arange(len(converting))

    def tally(journeys: Journeys, keys: list) -> dict:
        """Each MQL counted once for every campaign (or channel) its journey touched."""
        journey = journeys.journey_of_touch()
        inside = number_of[journey] >= 0
        size = max(1, journeys.channel_count)
        pairs = np.unique(journey[inside] * size + journeys.channel[inside])
        number, key = number_of[pairs // size], pairs % size
        counts = {
            name: np.bincount(key, weights=weights, minlength=size)
            for name, weights in (
                ("mqls", np.ones(len(number))),
                ("accepted", accepted[number]),
                ("rejected", rejected[number]),
                ("onward", reached[number]),
            )
        }
        loops = {}
        for index in np.nonzero(counts["mqls"])[0]:
            loop = ClosedLoop(
                mqls=int(counts["mqls"][index]),
                accepted=int(counts["accepted"][index]),
                rejected=int(counts["rejected"][index]),
                onward=int(counts["onward"][index]),
            )
            loop.pending = loop.mqls - loop.accepted - loop.rejected
            loops[keys[index]] = loop
        for pair_number, pair_key in zip(number[rejected[number] > 0], key[rejected[number] > 0], strict=True):
            loops[keys[pair_key]].reasons[outcomes[pair_number][1]] += 1
        return loops

    return tally(mqls.by_campaign, mqls.campaign_ids), tally(mqls.by_channel, mqls.by_channel.channel_names)


def attribution_report(
    *,
    conversion: str,
    start: dt.datetime,
    end: dt.datetime,
    models: list[str] | None = None,
    policy: AttributionPolicy | None = None,
    with_closed_loop: bool = True,
) -> AttributionReport:
    """Credit of one conversion in [start, end) per campaign and per channel under each model."""
    policy = policy or current_policy()
    since = start - dt.timedelta(days=policy.lookback_days)
    touches = touch_table(since, end, people=people_needed(conversion, start, end))
    journey_set = journeys_for(conversion, start, end, policy=policy, touches=touches)
    keys = list(models) if models else list(MODEL_KEYS)
    by_campaign = attribute_all(journey_set.by_campaign, settings=policy.settings, models=keys)
    by_channel = attribute_all(journey_set.by_channel, settings=policy.settings, models=keys)
    loops_campaign, loops_channel = ({}, {})
    if with_closed_loop:
        same = journey_set if conversion == "mql" else None
        loops_campaign, loops_channel = closed_loop(start, end, policy, touches=touches, mqls=same)
    campaign_ids = journey_set.campaign_ids
    campaigns = {
        campaign.id: campaign for campaign in Campaign.objects.filter(id__in=[cid for cid in campaign_ids if cid])
    }
    # Campaigns with a cost in the period but no touch still belong in an ROI table.
    for campaign in Campaign.objects.filter(cost__gt=0).exclude(id__in=list(campaigns)):
        if _overlaps(campaign, start, end):
            campaigns[campaign.id] = campaign
    channel_labels = dict(Channel.choices)
    campaign_rows = []
    known = {cid: index for index, cid in enumerate(campaign_ids)}
    for cid in [*campaign_ids, *[cid for cid in campaigns if cid not in known]]:
        index = known.get(cid)
        campaign = campaigns.get(cid) if cid else None
        campaign_rows.append(
            Row(
                key=f"campaign-{cid}" if cid else "campaign-none",
                name=campaign.name if campaign else NO_CAMPAIGN,
                campaign_id=cid,
                channel=channel_labels.get(campaign.channel, campaign.channel) if campaign else "",
                cost=float(campaign.cost) if campaign else 0.0,
                conversions={
                    c.model.key: float(c.conversions[index]) if index is not None else 0.0 for c in by_campaign
                },
                value={c.model.key: float(c.value[index]) if index is not None else 0.0 for c in by_campaign},
                closed_loop=loops_campaign.get(cid, ClosedLoop()),
            )
        )
    channel_cost: Counter = Counter()
    for campaign in campaigns.values():
        channel_cost[channel_labels.get(campaign.channel, campaign.channel)] += float(campaign.cost)
    channel_rows = [
        Row(
            key=f"channel-{index}",
            name=name,
            campaign_id=None,
            channel=name,
            cost=channel_cost.get(name, 0.0),
            conversions={c.model.key: float(c.conversions[index]) for c in by_channel},
            value={c.model.key: float(c.value[index]) for c in by_channel},
            closed_loop=loops_channel.get(name, ClosedLoop()),
        )
        for index, name in enumerate(journey_set.by_channel.channel_names)
    ]
    first = keys[0]
    campaign_rows.sort(key=lambda row: (-row.value[first], -row.conversions[first], row.name))
    channel_rows.sort(key=lambda row: (-row.value[first], -row.conversions[first], row.name))
    journeys = journey_set.by_campaign
    converting = journeys.conversions > 0
    catalogue = model_catalogue(policy.settings)
    return AttributionReport(
        conversion=conversion,
        start=start,
        end=end,
        policy=policy,
        models=[catalogue[key] for key in keys],
        campaigns=campaign_rows,
        channels=channel_rows,
        conversions_total=float(journeys.conversions.sum()),
        value_total=float(journeys.value.sum()),
        journeys=journeys.count,
        unattributed=int((converting & (journeys.lengths == 0)).sum()),
        has_value=journey_set.has_value,
        journey_set=journey_set,
    )


def _overlaps(campaign: Campaign, start: dt.datetime, end: dt.datetime) -> bool:
    if campaign.start_date and campaign.start_date >= end.date():
        return False
    return not (campaign.end_date and campaign.end_date < start.date())


@dataclass
class JourneyLine:
    """One journey in a drill-down: what converted, whose journey, the path, and the campaign's share."""

    label: str
    at: dt.datetime
    converted: bool
    person_id: int | None
    account_id: int | None
    path: list[str]
    share: float | None  # the campaign's share of this journey under the chosen model (None for Markov)
    value: float


def journeys_touching(report: AttributionReport, *, campaign_id: int | None, model: str) -> list[JourneyLine]:
    """The journeys of the report that touched a campaign (None: touches without a campaign), newest first."""
    journey_set = report.journey_set
    if campaign_id not in journey_set.campaign_ids:
        return []
    target = journey_set.campaign_ids.index(campaign_id)
    journeys = journey_set.by_campaign
    spec = report.model(model) if any(spec.key == model for spec in report.models) else None
    weights = None
    if spec is not None and spec.key != "markov":
        weights = attribute(journeys, spec, keep_touch_weights=True).touch_weights
    touched = np.unique(journeys.journey_of_touch()[journeys.channel == target])
    events = journey_set.events
    lines = []
    for index in sorted(touched, key=lambda i: -events.at[i])[:MAX_DRILL_JOURNEYS]:
        low, high = journeys.offsets[index], journeys.offsets[index + 1]
        path = [journeys.channel_names[channel] for channel in journeys.channel[low:high]]
        share = float(weights[low:high][journeys.channel[low:high] == target].sum()) if weights is not None else None
        lines.append(
            JourneyLine(
                label=events.label[index],
                at=dt.datetime.fromtimestamp(events.at[index], tz=dt.UTC),
                converted=events.converted[index],
                person_id=events.person_id[index] if events.subject_kind[index] == PERSON else None,
                account_id=events.subject_id[index] if events.subject_kind[index] == ACCOUNT else None,
                path=path,
                share=share,
                value=float(events.value[index]),
            )
        )
    return lines


@dataclass
class JourneyTouch:
    touchpoint_id: int
    at: dt.datetime
    type: str
    campaign: str
    channel: str
    person: str
    days_before: float
    shares: dict[str, float]  # model key -> share of this conversion


@dataclass
class JourneyConversion:
    label: str
    at: dt.datetime
    value: float
    touches: list[JourneyTouch]


def _touches_of(people: list[int]) -> list[tuple]:
    return list(
        Touchpoint.objects.filter(person_id__in=people)
        .order_by("occurred_at", "id")
        .values_list(
            "id",
            "occurred_at",
            "type",
            "campaign__name",
            "channel",
            "campaign__channel",
            "person__first_name",
            "person__last_name",
            "person__email",
        )
    )


def _conversion_journey(label, at, value, touches, policy: AttributionPolicy) -> JourneyConversion:
    lookback = dt.timedelta(days=policy.lookback_days)
    inside = [touch for touch in touches if at - lookback <= touch[1] <= at]
    channel_labels = dict(Channel.choices)
    type_labels = dict(TouchpointType.choices)
    lines = [
        JourneyTouch(
            touchpoint_id=touch[0],
            at=touch[1],
            type=type_labels.get(touch[2], touch[2]),
            campaign=touch[3] or NO_CAMPAIGN,
            channel=channel_labels.get(touch[4] or touch[5] or "", touch[4] or touch[5] or ""),
            person=f"{touch[6]} {touch[7]}".strip() or touch[8] or "",
            days_before=(at - touch[1]).total_seconds() / SECONDS_PER_DAY,
            shares={},
        )
        for touch in inside
    ]
    if lines:
        journeys = Journeys(
            channel=np.arange(len(lines), dtype=np.int32),
            offsets=np.array([0, len(lines)], dtype=np.int64),
            conversions=np.ones(1),
            value=np.array([value]),
            nulls=np.zeros(1),
            channel_names=[str(line.touchpoint_id) for line in lines],
            days_before=np.array([line.days_before for line in lines]),
        )
        for credit in attribute_all(journeys, settings=policy.settings, models=MODEL_KEYS[:-1]):
            for number, line in enumerate(lines):
                line.shares[credit.model.key] = float(credit.conversions[number])
    return JourneyConversion(label=label, at=at, value=value, touches=lines)


def person_journey(person: Person, policy: AttributionPolicy | None = None) -> list[JourneyConversion]:
    """Each conversion of a person (created, MQL, SQL) with its touches and every rule-based model's shares."""
    policy = policy or current_policy()
    touches = _touches_of([person.id])
    conversions = [("Person created", person.created_at, 0.0)]
    for to_stage, at in (
        StageChange.objects.filter(person=person, to_stage_id__in=("mql", "sql"))
        .order_by("at", "id")
        .values_list("to_stage_id", "at")
    ):
        conversions.append((CONVERSIONS[to_stage], at, 0.0))
    for opportunity in Opportunity.objects.filter(primary_person=person, account__isnull=True).order_by("created_at"):
        conversions += _opportunity_conversions(opportunity)
    return [_conversion_journey(label, at, value, touches, policy) for label, at, value in conversions]


def _opportunity_conversions(opportunity: Opportunity) -> list[tuple]:
    found = [(f"Opportunity created: {opportunity.name}", opportunity.created_at, float(opportunity.amount))]
    if opportunity.is_won:
        won_at = opportunity.closed_at or dt.datetime.combine(opportunity.close_date, dt.time(), tzinfo=dt.UTC)
        found.append((f"Closed won: {opportunity.name}", won_at, float(opportunity.amount)))
    return found


def account_journey(account: Account, policy: AttributionPolicy | None = None) -> list[JourneyConversion]:
    """Each opportunity of an account (created, and won) with its buying group's touches and the shares."""
    policy = policy or current_policy()
    people = list(Person.objects.filter(account=account).values_list("id", flat=True))
    touches = _touches_of(people)
    conversions = []
    for opportunity in Opportunity.objects.filter(account=account).order_by("created_at", "id"):
        conversions += _opportunity_conversions(opportunity)
    return [_conversion_journey(label, at, value, touches, policy) for label, at, value in conversions]


def credits_table(credits: list[ModelCredit]) -> list[dict]:
    """Rows model, channel, conversions, value of several models' credit (for commands and the API)."""
    return [{"model": credit.model.key, **row} for credit in credits for row in credit.rows()]
