"""Events in: checking a batch of decoded JSON events and laying them out as columns to store.

Plain data in, plain data out, no database: `events_check` takes what `json.loads` gave and
returns the valid events as parallel lists (one per column, ready for one multi-row insert)
and the rejected ones with their position, field and reason. It is the hot loop of ingestion,
so it uses plain type tests and dictionary lookups, not a schema library.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import orjson

from tandem.engagement.channels import CHANNELS, ChannelClassifier

EVENT_TYPES = frozenset(
    (
        "page_view",
        "form_submit",
        "email_sent",
        "email_delivered",
        "email_open",
        "email_click",
        "email_bounce",
        "email_unsubscribe",
        "ad_click",
        "webinar",
        "event",
        "content_download",
        "meeting_booked",
        "chat",
        "call",
        "sales_email",
    )
)
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
TEXT_LIMITS = {
    "anonymous_id": 100,
    "client_event_id": 100,
    "url": 2000,
    "referrer": 2000,
    **dict.fromkeys(UTM_FIELDS, 200),
}
EVENT_FIELDS = frozenset(
    (
        "type",
        "occurred_at",
        "anonymous_id",
        "email",
        "person_id",
        "client_event_id",
        "url",
        "referrer",
        *UTM_FIELDS,
        "campaign",
        "channel",
        "properties",
    )
)
MAX_PROPERTIES_CHARS = 16_000
MAX_ID = 2**63 - 1
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_OPTIONAL_TEXT = ("url", "referrer", *UTM_FIELDS)
_OPTIONAL_LIMITS = tuple((name, TEXT_LIMITS[name]) for name in _OPTIONAL_TEXT)
COLUMNS = (
    "client_event_id", "type", "occurred_at", "anonymous_id", "email", "person_id", "channel", "url", "referrer",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "campaign", "properties",
)  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """How far from now an event's time may be: older ones are refused, later ones are clock errors."""

    max_age: dt.timedelta = dt.timedelta(days=730)
    max_ahead: dt.timedelta = dt.timedelta(hours=1)


@dataclass
class Rejection:
    """One event refused: its position in the batch, the field at fault and why."""

    index: int
    field: str
    reason: str
    client_event_id: str | None = None

    def as_dict(self) -> dict:
        answer = {"index": self.index, "field": self.field, "reason": self.reason}
        if self.client_event_id is not None:
            answer["client_event_id"] = self.client_event_id
        return answer


@dataclass
class CheckedEvents:
    """The valid events as columns (one list per field, same order) and the rejections."""

    client_event_id: list = field(default_factory=list)
    type: list = field(default_factory=list)
    occurred_at: list = field(default_factory=list)
    anonymous_id: list = field(default_factory=list)
    email: list = field(default_factory=list)
    person_id: list = field(default_factory=list)
    channel: list = field(default_factory=list)
    url: list = field(default_factory=list)
    referrer: list = field(default_factory=list)
    utm_source: list = field(default_factory=list)
    utm_medium: list = field(default_factory=list)
    utm_campaign: list = field(default_factory=list)
    utm_term: list = field(default_factory=list)
    utm_content: list = field(default_factory=list)
    campaign: list = field(default_factory=list)  # an id, a name, or None: resolved when stored
    properties: list = field(default_factory=list)  # JSON text
    index: list = field(default_factory=list)  # each valid event's position in the batch
    rejected: list[Rejection] = field(default_factory=list)
    duplicates_in_batch: int = 0

    def __len__(self) -> int:
        return len(self.type)


class EventError(ValueError):
    """An event that cannot be stored: the field at fault and why."""

    def __init__(self, field_name: str, reason: str):
        self.field = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


def _time(value, now: dt.datetime, limits: Limits) -> dt.datetime:
    if type(value) is not str:
        raise EventError("occurred_at", "expected an ISO 8601 date and time such as 2026-05-01T12:00:00Z.")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise EventError("occurred_at", f"'{value[:40]}' is not an ISO 8601 date and time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # no offset: read as UTC, not guessed
    if moment > now + limits.max_ahead:
        raise EventError("occurred_at", f"{value[:40]} is in the future (more than {limits.max_ahead} ahead).")
    if moment < now - limits.max_age:
        raise EventError("occurred_at", f"{value[:40]} is too far in the past (older than {limits.max_age.days} days).")
    return moment


def _text(event: dict, name: str) -> str:
    value = event.get(name)
    if value is None:
        return ""
    if type(value) is not str:
        raise EventError(name, "expected text.")
    if len(value) > TEXT_LIMITS[name]:
        raise EventError(name, f"is longer than {TEXT_LIMITS[name]} characters.")
    if "\x00" in value:
        raise EventError(name, "contains a NUL character.")
    return value


def event_check(event, now: dt.datetime, limits: Limits) -> tuple:
    """One event as a tuple of column values, or EventError naming the field at fault."""
    if type(event) is not dict:
        raise EventError("event", "expected a JSON object.")
    if not EVENT_FIELDS.issuperset(event):
        unknown = sorted(set(event) - EVENT_FIELDS)[0]
        raise EventError(str(unknown)[:50], f"unknown field; the fields are {', '.join(sorted(EVENT_FIELDS))}.")
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        if kind is None:
            raise EventError("type", "is required.")
        raise EventError("type", f"unknown type '{str(kind)[:40]}'; the types are {', '.join(sorted(EVENT_TYPES))}.")
    moment = _time(event["occurred_at"], now, limits) if "occurred_at" in event else now
    anonymous_id = _text(event, "anonymous_id")
    email = event.get("email")
    if email is not None:
        if type(email) is not str or len(email) > 254 or "\x00" in email or not EMAIL_PATTERN.match(email.strip()):
            raise EventError("email", f"'{str(email)[:60]}' is not an email address.")
        email = email.strip().lower()
    person_id = event.get("person_id")
    if person_id is not None and (type(person_id) is not int or not 0 < person_id <= MAX_ID):
        raise EventError("person_id", "expected a person's id (a positive whole number).")
    if not anonymous_id and email is None and person_id is None:
        raise EventError("anonymous_id", "an event needs an identity: anonymous_id, email or person_id.")
    client_event_id = event.get("client_event_id")
    if client_event_id is not None:
        client_event_id = _text(event, "client_event_id") or None
    texts = []
    for name, limit in _OPTIONAL_LIMITS:
        value = event.get(name)
        if value is None:
            texts.append("")
        elif type(value) is str and len(value) <= limit and "\x00" not in value:
            texts.append(value)
        else:
            texts.append(_text(event, name))  # raises, naming the problem
    campaign = event.get("campaign")
    if campaign is not None:
        if type(campaign) is int:
            if not 0 < campaign <= MAX_ID:
                raise EventError("campaign", "expected a campaign's id or name.")
        elif type(campaign) is not str or len(campaign) > 200 or "\x00" in campaign:
            raise EventError("campaign", "expected a campaign's id or name (up to 200 characters).")
    channel = event.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise EventError("channel", f"unknown channel '{str(channel)[:40]}'; the channels are {', '.join(CHANNELS)}.")
    properties = event.get("properties")
    if properties is None or properties == {}:
        properties_text = "{}"
    elif type(properties) is not dict:
        raise EventError("properties", "expected a JSON object.")
    else:
        try:
            properties_text = orjson.dumps(properties).decode()
        except orjson.JSONEncodeError:
            raise EventError("properties", "holds a number too large to store (over 64 bits).") from None
        if len(properties_text) > MAX_PROPERTIES_CHARS:
            raise EventError("properties", f"is larger than {MAX_PROPERTIES_CHARS} characters of JSON.")
        if "\\u0000" in properties_text:
            raise EventError("properties", "contains a NUL character.")
    return (client_event_id, kind, moment, anonymous_id, email, person_id, channel, *texts, campaign, properties_text)


def events_check(
    events: list, *, now: dt.datetime, limits: Limits, classifier: ChannelClassifier | None = None
) -> CheckedEvents:
    """Check every event of a batch; the valid ones laid out as columns, the others as rejections.

    A client event id repeated within the batch is kept once. The channel is classified here
    when the event does not name one (None when no classifier is given).
    """
    checked = CheckedEvents()
    seen: set[str] = set()
    classify = classifier.classify if classifier is not None else None
    rows = []
    index = checked.index
    for position, event in enumerate(events):
        try:
            values = event_check(event, now, limits)
        except EventError as error:
            client_event_id = event.get("client_event_id") if type(event) is dict else None
            checked.rejected.append(
                Rejection(
                    position, error.field, error.reason, client_event_id if type(client_event_id) is str else None
                )
            )
            continue
        client_event_id = values[0]
        if client_event_id is not None:
            if client_event_id in seen:
                checked.duplicates_in_batch += 1
                continue
            seen.add(client_event_id)
        if values[6] is None and classify is not None:
            referrer = values[8]
            host = referrer.split("/", 3)[2] if referrer.startswith(("http://", "https://")) else referrer
            values = (*values[:6], classify(values[1], values[9], values[10], host), *values[7:])
        rows.append(values)
        index.append(position)
    if rows:
        for name, column in zip(COLUMNS, zip(*rows, strict=True), strict=True):
            setattr(checked, name, list(column))
    return checked
