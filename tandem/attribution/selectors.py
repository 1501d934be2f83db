"""Reads for attribution: conversions and their journeys from the shared record, as plain arrays.

What is attributed (`CONVERSIONS`): a person created, an MQL, an SQL (stage entries from `StageChange`),
an opportunity created (its amount as pipeline value) and a closed-won opportunity (its amount as
revenue). The journey of a person's conversion is the person's touchpoints in the lookback window
before it; the journey of an opportunity is its buying group's: the touchpoints of every person of its
account (or of its primary person when it has no account), so that nobody has to fill in contact roles.

Journeys that did not convert (the Markov model needs them): for MQL and SQL, everyone touched in the
period who did not reach the stage in it; for an opportunity created, every account touched in the
period without a new opportunity; for closed-won, the opportunities closed lost in the period.
A person created has none: until then there is no one to follow.
"""

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Q

from tandem.attribution.contract_sections import AttributionPolicy, attribution_policy
from tandem.attribution.journeys import Journeys
from tandem.campaigns.models import Campaign, Channel
from tandem.crm.models import Opportunity, Person, StageChange
from tandem.engagement.models import Touchpoint

CONVERSIONS = {
    "person_created": "Person created",
    "mql": "MQL",
    "sql": "SQL",
    "opportunity_created": "Opportunity created",
    "closed_won": "Closed-won revenue",
}
VALUE_CONVERSIONS = ("opportunity_created", "closed_won")
NO_CAMPAIGN = "(no campaign)"
NO_CHANNEL = "(no channel)"
SECONDS_PER_DAY = 86_400.0
PERSON, ACCOUNT = 0, 1


@dataclass
class Events:
    """Conversions (and journeys that did not convert) as rows: whose, when, worth what, and what it was."""

    subject_kind: list[int] = field(default_factory=list)  # PERSON or ACCOUNT
    subject_id: list[int] = field(default_factory=list)
    at: list[float] = field(default_factory=list)  # epoch seconds
    value: list[float] = field(default_factory=list)
    converted: list[bool] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    person_id: list[int | None] = field(default_factory=list)  # the person to show the journey of, if any
    opportunity_id: list[int | None] = field(default_factory=list)

    def add(self, kind, subject, at, value, converted, label, person=None, opportunity=None) -> None:
        self.subject_kind.append(kind)
        self.subject_id.append(subject)
        self.at.append(at)
        self.value.append(value)
        self.converted.append(converted)
        self.label.append(label)
        self.person_id.append(person)
        self.opportunity_id.append(opportunity)

    def __len__(self) -> int:
        return len(self.at)


@dataclass
class JourneySet:
    """The journeys of one conversion in one period, by campaign and by channel, with what each one is."""

    conversion: str
    start: dt.datetime
    end: dt.datetime
    policy: AttributionPolicy
    by_campaign: Journeys
    by_channel: Journeys
    campaign_ids: list[int | None]  # per campaign index; None for touches without a campaign
    events: Events
    touchpoint_id: np.ndarray  # per touch, in journey order

    @property
    def has_value(self) -> bool:
        return self.conversion in VALUE_CONVERSIONS


def _seconds(moment: dt.datetime) -> float:
    return moment.timestamp()


def _window(field_name: str, start: dt.datetime, end: dt.datetime) -> Q:
    return Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end})


def conversion_events(conversion: str, start: dt.datetime, end: dt.datetime) -> Events:
    """The conversions of one kind in [start, end) and the journeys that did not convert (module docstring)."""
    if conversion not in CONVERSIONS:
        raise ValueError(f"unknown conversion '{conversion}'; expected one of {', '.join(CONVERSIONS)}")
    events = Events()
    end_seconds = _seconds(end)
    if conversion == "person_created":
        for person_id, created_at in Person.objects.filter(_window("created_at", start, end)).values_list(
            "id", "created_at"
        ):
            events.add(PERSON, person_id, _seconds(created_at), 0.0, True, "Person created", person=person_id)
    elif conversion in ("mql", "sql"):
        label = CONVERSIONS[conversion]
        converted_people = set()
        changes = StageChange.objects.filter(
            _window("at", start, end), person__isnull=False, to_stage_id=conversion
        ).values_list("person_id", "at")
        for person_id, at in changes.order_by("at", "id"):
            events.add(PERSON, person_id, _seconds(at), 0.0, True, label, person=person_id)
            converted_people.add(person_id)
        touched = (
            Touchpoint.objects.filter(_window("occurred_at", start, end), person__isnull=False)
            .values_list("person_id", flat=True)
            .distinct()
        )
        for person_id in sorted(set(touched) - converted_people):
            events.add(PERSON, person_id, end_seconds, 0.0, False, f"No {label}", person=person_id)
    elif conversion == "opportunity_created":
        converted_accounts = set()
        opportunities = Opportunity.objects.filter(_window("created_at", start, end)).values_list(
            "id", "name", "account_id", "primary_person_id", "created_at", "amount"
        )
        for opportunity_id, name, account_id, person_id, created_at, amount in opportunities.order_by("created_at"):
            kind, subject = (ACCOUNT, account_id) if account_id else (PERSON, person_id)
            label = f"Opportunity created: {name}"
            events.add(kind, subject, _seconds(created_at), float(amount), True, label, person_id, opportunity_id)
            if account_id:
                converted_accounts.add(account_id)
        touched = (
            Touchpoint.objects.filter(_window("occurred_at", start, end), person__account__isnull=False)
            .values_list("person__account_id", flat=True)
            .distinct()
        )
        for account_id in sorted(set(touched) - converted_accounts):
            events.add(ACCOUNT, account_id, end_seconds, 0.0, False, "No opportunity")
    else:  # closed_won; closed lost in the period are the journeys that did not convert
        closed = Opportunity.objects.filter(is_closed=True).filter(
            _window("closed_at", start, end) | (Q(closed_at__isnull=True) & _window("close_date", start, end))
        )
        rows = closed.values_list(
            "id", "name", "account_id", "primary_person_id", "closed_at", "close_date", "amount", "is_won"
        )
        for opportunity_id, name, account_id, person_id, closed_at, close_date, amount, is_won in rows.order_by("id"):
            moment = closed_at or dt.datetime.combine(close_date, dt.time(), tzinfo=dt.UTC)
            kind, subject = (ACCOUNT, account_id) if account_id else (PERSON, person_id)
            label = f"{'Won' if is_won else 'Lost'}: {name}"
            worth = float(amount) if is_won else 0.0
            events.add(kind, subject, _seconds(moment), worth, bool(is_won), label, person_id, opportunity_id)
    return events


def _ranges_to_indices(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The concatenation of range(low[i], high[i]) for every i."""
    lengths = high - low
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(low - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + starts


def _touch_ranges(
    subject: np.ndarray, times: np.ndarray, event_subject: np.ndarray, event_low: np.ndarray, event_high: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each event's touches: those of its subject from `event_low` to `event_high` (epoch seconds, inclusive).

    Returns the order that sorts the touches by subject and time, and each event's [first, last + 1) in
    that order. Subjects and whole seconds are packed into one int64 key, so one searchsorted finds all.
    """
    order = np.lexsort((times, subject))
    sorted_subject, sorted_time = subject[order], times[order]
    subjects = np.unique(sorted_subject)
    if len(subjects) == 0:
        empty = np.zeros(len(event_subject), dtype=np.int64)
        return order, empty, empty
    rank = np.searchsorted(subjects, event_subject)
    known = (rank < len(subjects)) & (subjects[np.minimum(rank, len(subjects) - 1)] == event_subject)
    span = np.int64(2**33)  # seconds: more than any two moments in the data are apart
    origin = np.floor(sorted_time.min())
    key = np.searchsorted(subjects, sorted_subject).astype(np.int64) * span + np.floor(sorted_time - origin).astype(
        np.int64
    )
    low_second = np.clip(np.floor(event_low - origin), 0, span - 1).astype(np.int64)
    high_second = np.clip(np.floor(event_high - origin), -1, span - 1).astype(np.int64)
    low = np.searchsorted(key, rank * span + low_second, side="left")
    high = np.searchsorted(key, rank * span + high_second, side="right")
    low = np.where(known, low, 0)
    high = np.where(known, np.maximum(high, low), 0)
    return order, low, high


def journeys_for(
    conversion: str, start: dt.datetime, end: dt.datetime, *, policy: AttributionPolicy | None = None
) -> JourneySet:
    """Every journey of one conversion in [start, end): touches within the lookback window before each."""
    if policy is None:
        from tandem.contract.selectors import active_document

        policy = attribution_policy(active_document())
    events = conversion_events(conversion, start, end)
    lookback = dt.timedelta(days=policy.lookback_days)
    touches = (
        Touchpoint.objects.filter(occurred_at__gte=start - lookback, occurred_at__lte=end, person__isnull=False)
        .values_list(
            "id", "person_id", "person__account_id", "occurred_at", "campaign_id", "channel", "campaign__channel"
        )
        .order_by()
    )
    rows = list(touches)
    count = len(rows)
    touch_id = np.fromiter((row[0] for row in rows), dtype=np.int64, count=count)
    touch_person = np.fromiter((row[1] for row in rows), dtype=np.int64, count=count)
    touch_account = np.fromiter((row[2] or -1 for row in rows), dtype=np.int64, count=count)
    touch_time = np.fromiter((row[3].timestamp() for row in rows), dtype=np.float64, count=count)

    campaign_index: dict[int | None, int] = {}
    channel_index: dict[str, int] = {}
    touch_campaign = np.empty(count, dtype=np.int32)
    touch_channel = np.empty(count, dtype=np.int32)
    for number, row in enumerate(rows):
        touch_campaign[number] = campaign_index.setdefault(row[4], len(campaign_index))
        channel = row[5] or row[6] or ""
        touch_channel[number] = channel_index.setdefault(channel, len(channel_index))

    kind = np.asarray(events.subject_kind, dtype=np.int64)
    subject = np.asarray(events.subject_id, dtype=np.int64)
    at = np.asarray(events.at, dtype=np.float64)
    low_time = at - lookback.total_seconds()
    pieces = []
    for subject_kind, touch_subject in ((PERSON, touch_person), (ACCOUNT, touch_account)):
        chosen = np.nonzero(kind == subject_kind)[0]
        if len(chosen) == 0:
            continue
        eligible = np.nonzero(touch_subject >= 0)[0]
        order, low, high = _touch_ranges(
            touch_subject[eligible], touch_time[eligible], subject[chosen], low_time[chosen], at[chosen]
        )
        pieces.append((chosen, eligible[order], low, high))
    lengths = np.zeros(len(events), dtype=np.int64)
    for chosen, _, low, high in pieces:
        lengths[chosen] = high - low
    offsets = np.zeros(len(events) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    touch_index = np.zeros(int(offsets[-1]), dtype=np.int64)
    for chosen, sorted_touches, low, high in pieces:
        indices = sorted_touches[_ranges_to_indices(low, high)]
        targets = _ranges_to_indices(offsets[chosen], offsets[chosen] + (high - low))
        touch_index[targets] = indices

    converted = np.asarray(events.converted, dtype=bool)
    conversions = converted.astype(np.float64)
    value = np.asarray(events.value, dtype=np.float64)
    days_before = (np.repeat(at, lengths) - touch_time[touch_index]) / SECONDS_PER_DAY
    campaign_ids = list(campaign_index)
    names = dict(Campaign.objects.filter(id__in=[cid for cid in campaign_ids if cid]).values_list("id", "name"))
    campaign_names = [names.get(cid, f"Campaign {cid}") if cid else NO_CAMPAIGN for cid in campaign_ids]
    channel_labels = dict(Channel.choices)
    channel_names = [channel_labels.get(key, key) if key else NO_CHANNEL for key in channel_index]
    common = {
        "offsets": offsets,
        "conversions": conversions,
        "value": value,
        "nulls": 1.0 - conversions,
        "days_before": days_before,
    }
    return JourneySet(
        conversion=conversion,
        start=start,
        end=end,
        policy=policy,
        by_campaign=Journeys(channel=touch_campaign[touch_index], channel_names=campaign_names, **common),
        by_channel=Journeys(channel=touch_channel[touch_index], channel_names=channel_names, **common),
        campaign_ids=campaign_ids,
        events=events,
        touchpoint_id=touch_id[touch_index],
    )
