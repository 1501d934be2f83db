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
from django.db import connection
from django.db.models import F, FloatField, Func, Q, Value
from django.db.models.functions import Coalesce, NullIf

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

    def extend(self, kind, subjects, seconds, converted, label) -> None:
        """Many events of people at once, without value (stage entries, people who did not convert)."""
        count = len(subjects)
        self.subject_kind += [kind] * count
        self.subject_id += list(subjects)
        self.at += list(seconds)
        self.value += [0.0] * count
        self.converted += [converted] * count
        self.label += [label] * count
        self.person_id += list(subjects) if kind == PERSON else [None] * count
        self.opportunity_id += [None] * count

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


class EpochSeconds(Func):
    """A timestamp column as seconds since 1970 UTC, computed by the database (reading datetimes is slow)."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # julianday works in whole milliseconds; rounding to them keeps whole seconds exact.
        template = "(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400000.0) / 1000.0)"
        return self.as_sql(compiler, connection, template=template, **extra)


@dataclass
class TouchTable:
    """Touchpoints of known people in a time range, as arrays; read once and shared by several reports."""

    since: dt.datetime
    until: dt.datetime
    touch_id: np.ndarray
    person: np.ndarray
    account: np.ndarray  # -1 for people without an account
    seconds: np.ndarray
    campaign: np.ndarray  # index into campaign_ids
    channel: np.ndarray  # index into channel_keys
    campaign_ids: list[int | None]
    channel_keys: list[str]
    is_everyone: bool = True  # False: only the people a report needs (see touch_table's `people`)

    def covers(self, since: dt.datetime, until: dt.datetime) -> bool:
        return self.since <= since and until <= self.until


def _numbered(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values in order of first appearance, and each value's number among them."""
    distinct, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    number = np.empty(len(order), dtype=np.int32)
    number[order] = np.arange(len(order), dtype=np.int32)
    return distinct[order], number[inverse.reshape(-1)]


def touch_table(since: dt.datetime, until: dt.datetime, *, people: Q | None = None) -> TouchTable:
    """The touchpoints of people from `since` to `until` (both included), campaigns and channels numbered.

    `people` (a condition on touchpoints) keeps only the people a report needs. Read through a plain
    cursor into columns: a year of touchpoints is hundreds of thousands of rows.
    """
    query = (
        Touchpoint.objects.filter(occurred_at__gte=since, occurred_at__lte=until, person__isnull=False)
        .filter(people if people is not None else Q())
        .annotate(
            seconds=EpochSeconds("occurred_at"),
            account_or_none=Coalesce(F("person__account_id"), Value(-1)),
            campaign_or_none=Coalesce(F("campaign_id"), Value(0)),
            channel_key=Coalesce(NullIf(F("channel"), Value("")), F("campaign__channel"), Value("")),
        )
        .values_list("id", "person_id", "account_or_none", "seconds", "campaign_or_none", "channel_key")
        .order_by()
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One row of six arrays rather than a row per touchpoint: nothing to take apart in Python.
            names = ", ".join(f"array_agg(touch.c{index})" for index in range(6))
            cursor.execute(f"SELECT {names} FROM ({sql}) AS touch(c0, c1, c2, c3, c4, c5)", params)  # noqa: S608
            columns = [column or [] for column in cursor.fetchone()]
        else:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            columns = list(zip(*rows, strict=True)) if rows else [[]] * 6
    count = len(columns[0])
    campaign_values, campaign = _numbered(np.asarray(columns[4], dtype=np.int64))
    channel_values, channel = _numbered(np.asarray(columns[5], dtype=str) if count else np.empty(0, dtype=str))
    return TouchTable(
        since=since,
        until=until,
        touch_id=np.asarray(columns[0], dtype=np.int64),
        person=np.asarray(columns[1], dtype=np.int64),
        account=np.asarray(columns[2], dtype=np.int64),
        seconds=np.asarray(columns[3], dtype=np.float64),
        campaign=campaign,
        channel=channel,
        campaign_ids=[int(value) or None for value in campaign_values],
        channel_keys=[str(value) for value in channel_values],
        is_everyone=people is None,
    )


def _window(field_name: str, start: dt.datetime, end: dt.datetime) -> Q:
    return Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end})


def people_needed(conversion: str, start: dt.datetime, end: dt.datetime) -> Q | None:
    """Whose touches a report of `conversion` with its closed loop needs, or None for everyone's.

    Closed-won needs the buying groups of the opportunities closed in the period and the people who
    became MQL in it (the closed loop); a person created needs those people and the MQLs. The other
    conversions have everyone touched as their journeys that did not convert.
    """
    mqls = Q(person_id__in=StageChange.objects.filter(_window("at", start, end), to_stage_id="mql").values("person_id"))
    if conversion == "closed_won":
        closed = Opportunity.objects.filter(is_closed=True).filter(
            _window("closed_at", start, end) | (Q(closed_at__isnull=True) & _window("close_date", start, end))
        )
        return (
            Q(person__account_id__in=closed.filter(account__isnull=False).values("account_id"))
            | Q(person_id__in=closed.filter(account__isnull=True).values("primary_person_id"))
            | mqls
        )
    if conversion == "person_created":
        return Q(person__created_at__gte=start, person__created_at__lt=end) | mqls
    return None


def _touched(start: dt.datetime, end: dt.datetime, touches: "TouchTable | None", *, accounts: bool) -> set[int]:
    """The people (or accounts) with a touch in [start, end), from the table when it covers the period."""
    if touches is not None and touches.is_everyone and touches.covers(start, end):
        inside = (touches.seconds >= _seconds(start)) & (touches.seconds < _seconds(end))
        subjects = touches.account[inside] if accounts else touches.person[inside]
        return {int(subject) for subject in np.unique(subjects) if subject >= 0}
    column = "person__account_id" if accounts else "person_id"
    query = Touchpoint.objects.filter(_window("occurred_at", start, end), **{f"{column}__isnull": False})
    return set(query.order_by().values_list(column, flat=True).distinct())


def conversion_events(
    conversion: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    touches: "TouchTable | None" = None,
    with_nulls: bool = True,
) -> Events:
    """The conversions of one kind in [start, end) and, unless `with_nulls` is false, the journeys that did
    not convert (module docstring)."""
    if conversion not in CONVERSIONS:
        raise ValueError(f"unknown conversion '{conversion}'; expected one of {', '.join(CONVERSIONS)}")
    events = Events()
    end_seconds = _seconds(end)
    if conversion == "person_created":
        created = (
            Person.objects.filter(_window("created_at", start, end))
            .annotate(seconds=EpochSeconds("created_at"))
            .values_list("id", "seconds")
        )
        for person_id, seconds in created.order_by("created_at", "id"):
            events.add(PERSON, person_id, seconds, 0.0, True, "Person created", person=person_id)
    elif conversion in ("mql", "sql"):
        label = CONVERSIONS[conversion]
        changes = (
            StageChange.objects.filter(_window("at", start, end), person__isnull=False, to_stage_id=conversion)
            .annotate(seconds=EpochSeconds("at"))
            .values_list("person_id", "seconds")
        )
        rows = list(changes.order_by("at", "id"))
        events.extend(PERSON, [row[0] for row in rows], [row[1] for row in rows], True, label)
        converted_people = {row[0] for row in rows}
        missed = sorted(_touched(start, end, touches, accounts=False) - converted_people) if with_nulls else []
        events.extend(PERSON, missed, [end_seconds] * len(missed), False, f"No {label}")
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
        touched = _touched(start, end, touches, accounts=True) if with_nulls else set()
        missed = sorted(touched - converted_accounts)
        events.extend(ACCOUNT, missed, [end_seconds] * len(missed), False, "No opportunity")
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
    conversion: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    policy: AttributionPolicy | None = None,
    touches: TouchTable | None = None,
    with_nulls: bool = True,
) -> JourneySet:
    """Every journey of one conversion in [start, end): touches within the lookback window before each.

    `touches` may be a table read before for a range covering [start - lookback, end], to read them once.
    """
    if policy is None:
        from tandem.contract.selectors import active_document

        policy = attribution_policy(active_document())
    lookback = dt.timedelta(days=policy.lookback_days)
    if touches is None or not touches.covers(start - lookback, end):
        touches = touch_table(start - lookback, end)
    events = conversion_events(conversion, start, end, touches=touches, with_nulls=with_nulls)
    touch_id, touch_person, touch_account = touches.touch_id, touches.person, touches.account
    touch_time, touch_campaign, touch_channel = touches.seconds, touches.campaign, touches.channel

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
    campaign_ids = touches.campaign_ids
    names = dict(Campaign.objects.filter(id__in=[cid for cid in campaign_ids if cid]).values_list("id", "name"))
    campaign_names = [names.get(cid, f"Campaign {cid}") if cid else NO_CAMPAIGN for cid in campaign_ids]
    channel_labels = dict(Channel.choices)
    channel_names = [channel_labels.get(key, key) if key else NO_CHANNEL for key in touches.channel_keys]
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
