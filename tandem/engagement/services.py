"""Writes of engagement: storing events as touchpoints, tying visitors to people, merging people.

`events_store` is what the ingestion API, the website snippet and the email webhooks call. It
stores a checked batch in one transaction and returns only once that transaction is committed
(on PostgreSQL with `synchronous_commit` on, so the commit is on disk): an event answered as
stored survives the process being killed right after. Client event ids make it idempotent: the
`TouchpointKey` table holds every id stored, and an event whose id is already there is skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import weakref
from dataclasses import dataclass, field

import orjson
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from tandem.audit.actors import as_actor
from tandem.audit.services import audit_record
from tandem.campaigns.models import Campaign
from tandem.crm.models import Person
from tandem.engagement import partitions
from tandem.engagement.ingest import CheckedEvents, Rejection
from tandem.engagement.models import PersonMerge, Touchpoint, TouchpointKey, Visitor

CAMPAIGN_CACHE_SECONDS = 30
MISS_REFRESH_SECONDS = 1


@dataclass
class StoreResult:
    """What became of a batch: how many were new, already stored, and refused (with reasons)."""

    received: int
    stored: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    person_ids: set[int] = field(default_factory=set)
    people_created: int = 0
    already_stored: set[str] = field(default_factory=set)  # client event ids stored by an earlier request

    def as_dict(self) -> dict:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": [rejection.as_dict() for rejection in sorted(self.rejected, key=lambda r: r.index)],
        }


class _CampaignDirectory:
    """Campaign ids, names and utm_campaign keys, read at most every 30 seconds per process."""

    def __init__(self):
        self.read_at = -1e9
        self.channels: dict[int, str] = {}
        self.by_key: dict[str, int] = {}

    def refresh(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.read_at < CAMPAIGN_CACHE_SECONDS:
            return
        channels, by_key = {}, {}
        for pk, name, utm_campaign, channel in Campaign.objects.values_list("id", "name", "utm_campaign", "channel"):
            channels[pk] = channel
            by_key.setdefault(name.strip().lower(), pk)
            if utm_campaign:
                by_key[utm_campaign.strip().lower()] = pk
        self.channels, self.by_key, self.read_at = channels, by_key, time.monotonic()

    def resolve(self, campaign, utm_campaign: str) -> int | None:
        if type(campaign) is int:
            if campaign not in self.channels:
                self.refresh(force=True)
            return campaign if campaign in self.channels else -1
        key = (campaign or utm_campaign or "").strip().lower()
        if not key:
            return None
        found = self.by_key.get(key)
        if found is None and time.monotonic() - self.read_at > MISS_REFRESH_SECONDS:
            # A campaign made since the last read: look again, at most once a second.
            self.refresh(force=True)
            found = self.by_key.get(key)
        return found


campaign_directory = _CampaignDirectory()


def campaigns_forget() -> None:
    """Make the next batch read the campaigns afresh (after a campaign is created or renamed)."""
    campaign_directory.read_at = -1e9


def _drop(checked: CheckedEvents, positions: dict[int, tuple[str, str]], result: StoreResult) -> None:
    """Move the events at `positions` ({position: (field, reason)}) from the columns to the rejections."""
    keep = [position for position in range(len(checked)) if position not in positions]
    for position, (field_name, reason) in positions.items():
        result.rejected.append(
            Rejection(checked.index[position], field_name, reason, checked.client_event_id[position])
        )
    for name in (
        "client_event_id", "type", "occurred_at", "anonymous_id", "email", "person_id", "channel", "url",
        "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "campaign",
        "properties", "index",
    ):  # fmt: skip
        column = getattr(checked, name)
        setattr(checked, name, [column[position] for position in keep])


def _resolve_people(checked: CheckedEvents, result: StoreResult, *, by, default_channel: str) -> None:
    """Fill person_id from email (creating people for new addresses) and check given person ids."""
    from tandem.crm.services import person_create

    emails = {email for email, person in zip(checked.email, checked.person_id, strict=True) if email and not person}
    given = {person for person in checked.person_id if person}
    known_ids = set(Person.objects.filter(pk__in=given).values_list("pk", flat=True)) if given else set()
    by_email = {}
    if emails:
        by_email = dict(
            Person.objects.annotate(email_key=Lower("email"))
            .filter(email_key__in=emails)
            .values_list("email_key", "pk")
        )
        for position, email in enumerate(checked.email):
            if email and email not in by_email and not checked.person_id[position]:
                person = person_create(
                    by=by,
                    email=email,
                    at=checked.occurred_at[position],
                    reason=f"Identified by a {checked.type[position].replace('_', ' ')} event",
                    source="Event API",
                    utm_source=checked.utm_source[position],
                    utm_medium=checked.utm_medium[position],
                    utm_campaign=checked.utm_campaign[position],
                )
                by_email[email] = person.pk
                result.people_created += 1
    unknown = {}
    for position, person in enumerate(checked.person_id):
        if person:
            if person not in known_ids:
                unknown[position] = ("person_id", f"there is no person with id {person}.")
        elif checked.email[position]:
            checked.person_id[position] = by_email[checked.email[position]]
    if unknown:
        _drop(checked, unknown, result)


def _resolve_campaigns(checked: CheckedEvents, result: StoreResult, default_channel: str) -> None:
    """Campaign ids from ids, names or utm_campaign; an event with a campaign gets its channel when
    the rules found nothing better than the default."""
    if not any(checked.campaign) and not any(checked.utm_campaign):
        checked.campaign = [None] * len(checked)
        return
    campaign_directory.refresh()
    unknown = {}
    resolved = []
    for position, (campaign, utm_campaign) in enumerate(zip(checked.campaign, checked.utm_campaign, strict=True)):
        campaign_id = campaign_directory.resolve(campaign, utm_campaign)
        if campaign_id == -1:
            unknown[position] = ("campaign", f"there is no campaign with id {campaign}.")
            campaign_id = None
        elif campaign_id is not None and checked.channel[position] in (None, default_channel):
            checked.channel[position] = campaign_directory.channels.get(campaign_id) or checked.channel[position]
        resolved.append(campaign_id)
    checked.campaign = resolved
    if unknown:
        _drop(checked, unknown, result)


def _link_visitors(checked: CheckedEvents, now: dt.datetime) -> set[int]:
    """Record each anonymous id seen with a person, and give that person the id's anonymous touchpoints.

    The latest identification wins: a shared computer's cookie follows whoever identified last.
    Returns the people who gained touchpoints.
    """
    pairs = {
        anonymous_id: person
        for anonymous_id, person in zip(checked.anonymous_id, checked.person_id, strict=True)
        if anonymous_id and person
    }
    if not pairs:
        return set()
    current = dict(Visitor.objects.filter(anonymous_id__in=pairs).values_list("anonymous_id", "person_id"))
    changed = {anonymous_id: person for anonymous_id, person in pairs.items() if current.get(anonymous_id) != person}
    for anonymous_id, person in changed.items():
        Visitor.objects.update_or_create(
            anonymous_id=anonymous_id, defaults={"person_id": person, "identified_at": now}
        )
    gained = set()
    for anonymous_id, person in changed.items():
        if Touchpoint.objects.filter(anonymous_id=anonymous_id, person__isnull=True).update(person_id=person):
            gained.add(person)
    return gained


def _known_visitors(checked: CheckedEvents) -> None:
    """Events with only an anonymous id already tied to a person belong to that person (SQLite path)."""
    anonymous = {a for a, p in zip(checked.anonymous_id, checked.person_id, strict=True) if a and not p}
    if not anonymous:
        return
    known = dict(Visitor.objects.filter(anonymous_id__in=anonymous).values_list("anonymous_id", "person_id"))
    if known:
        for position, anonymous_id in enumerate(checked.anonymous_id):
            if anonymous_id and not checked.person_id[position]:
                checked.person_id[position] = known.get(anonymous_id)


_COLUMN_TYPES = (
    "text", "text", "timestamptz", "text", "bigint", "text", "text", "text",
    "text", "text", "text", "text", "text", "bigint", "text",
)  # fmt: skip
# A column whose events all share one value (an empty utm_term, one type, "{}" properties ...)
# comes as a one-element array and is repeated by the server.
_INPUT_ARRAYS = (
    "SELECT * FROM unnest("  # noqa: S608 - built from this module's constants only
    + ", ".join(
        f"CASE WHEN cardinality(%(c{number})b::{kind}[]) = 1 THEN array_fill((%(c{number})b::{kind}[])[1], "
        f"ARRAY[%(n)s::int]) ELSE %(c{number})b::{kind}[] END"
        for number, kind in enumerate(_COLUMN_TYPES)
    )
    + """) AS u(
        client_event_id, type, occurred_at, anonymous_id, person_id, channel, url, referrer,
        utm_source, utm_medium, utm_campaign, utm_term, utm_content, campaign_id, properties)
"""
)
_INPUT_JSON = """
    SELECT * FROM json_to_recordset(%s::json) AS u(
        client_event_id text, type text, occurred_at timestamptz, anonymous_id text, person_id bigint,
        channel text, url text, referrer text, utm_source text, utm_medium text, utm_campaign text,
        utm_term text, utm_content text, campaign_id bigint, properties text)
"""
_INSERT_SQL = """
WITH input AS ({input}), fresh AS (
    INSERT INTO engagement_touchpointkey (client_event_id, occurred_at)
    SELECT client_event_id, occurred_at FROM input WHERE client_event_id IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING client_event_id
), stored AS (
    INSERT INTO engagement_touchpoint (
        client_event_id, type, occurred_at, anonymous_id, person_id, channel, url, referrer,
        utm_source, utm_medium, utm_campaign, utm_term, utm_content, campaign_id, properties
    )
    SELECT i.client_event_id, i.type, i.occurred_at, i.anonymous_id, coalesce(i.person_id, v.person_id),
           coalesce(i.channel, ''), i.url, i.referrer, i.utm_source, i.utm_medium, i.utm_campaign, i.utm_term,
           i.utm_content, i.campaign_id, i.properties::jsonb
    FROM input i
    LEFT JOIN fresh f ON f.client_event_id = i.client_event_id
    LEFT JOIN engagement_visitor v ON i.person_id IS NULL AND i.anonymous_id <> '' AND v.anonymous_id = i.anonymous_id
    WHERE i.client_event_id IS NULL OR f.client_event_id IS NOT NULL
    RETURNING person_id
)
SELECT count(*), coalesce(array_agg(DISTINCT person_id) FILTER (WHERE person_id IS NOT NULL), '{}'),
       (SELECT coalesce(array_agg(i.client_event_id), '{}') FROM input i
        WHERE i.client_event_id IS NOT NULL
          AND NOT EXISTS (SELECT FROM fresh f WHERE f.client_event_id = i.client_event_id))
FROM stored
"""
_INSERT_FROM_ARRAYS = _INSERT_SQL.replace("{input}", _INPUT_ARRAYS)
_INSERT_FROM_JSON = _INSERT_SQL.replace("{input}", _INPUT_JSON)
_COLUMN_NAMES = (
    "client_event_id", "type", "occurred_at", "anonymous_id", "person_id", "channel", "url", "referrer",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "campaign_id", "properties",
)  # fmt: skip
# Below this many events one JSON parameter costs the client less than fifteen arrays.
ARRAYS_FROM_EVENTS = 64


_durable_connections: weakref.WeakSet = weakref.WeakSet()


def _insert_postgresql(checked: CheckedEvents) -> tuple[int, list[int], set[str]]:
    import psycopg

    # A batch goes to the server as fifteen binary arrays, taken apart there by unnest: the server
    # reads binary arrays without parsing text. A few events go as one JSON document: packing an
    # array has a fixed cost in psycopg that only pays off on many elements.
    columns = (
        checked.client_event_id, checked.type, checked.occurred_at, checked.anonymous_id, checked.person_id,
        checked.channel, checked.url, checked.referrer, checked.utm_source, checked.utm_medium,
        checked.utm_campaign, checked.utm_term, checked.utm_content, checked.campaign, checked.properties,
    )  # fmt: skip
    connection.ensure_connection()
    # Django's connections bind parameters client-side; a plain psycopg cursor sends them as parameters.
    with psycopg.Cursor(connection.connection) as cursor:
        if connection.connection not in _durable_connections:
            # Whatever the server or session default, this commit waits until it is on disk; a
            # session found with the setting on (the default) is not asked again.
            cursor.execute("SHOW synchronous_commit")
            if cursor.fetchone()[0] == "on":
                _durable_connections.add(connection.connection)
            elif connection.get_autocommit():
                # Outside a transaction SET LOCAL would do nothing; a session setting made here stays.
                cursor.execute("SET synchronous_commit TO on")
                _durable_connections.add(connection.connection)
            else:
                cursor.execute("SET LOCAL synchronous_commit TO on")
        # Prepared once per connection: planning this statement costs the server more than running
        # it for a few events.
        if len(checked) >= ARRAYS_FROM_EVENTS:
            arrays = {"n": len(checked)}
            for number, values in enumerate(columns):
                first = values[0]
                arrays[f"c{number}"] = [first] if values.count(first) == len(values) else values
            cursor.execute(_INSERT_FROM_ARRAYS, arrays, prepare=True)
        else:
            rows = [dict(zip(_COLUMN_NAMES, row, strict=True)) for row in zip(*columns, strict=True)]
            cursor.execute(_INSERT_FROM_JSON, (orjson.dumps(rows).decode(),), prepare=True)
        count, person_ids, already_stored = cursor.fetchone()
    return count, list(person_ids), set(already_stored)


def _insert_generic(checked: CheckedEvents) -> tuple[int, list[int], set[str]]:
    _known_visitors(checked)
    keys = [key for key in checked.client_event_id if key is not None]
    present = set()
    for start in range(0, len(keys), 500):
        present |= set(TouchpointKey.objects.filter(pk__in=keys[start : start + 500]).values_list("pk", flat=True))
    rows, new_keys = [], []
    for position in range(len(checked)):
        key = checked.client_event_id[position]
        if key is not None:
            if key in present:
                continue
            new_keys.append(TouchpointKey(client_event_id=key, occurred_at=checked.occurred_at[position]))
        rows.append(
            Touchpoint(
                client_event_id=key,
                type=checked.type[position],
                occurred_at=checked.occurred_at[position],
                anonymous_id=checked.anonymous_id[position],
                person_id=checked.person_id[position],
                channel=checked.channel[position] or "",
                url=checked.url[position],
                referrer=checked.referrer[position],
                utm_source=checked.utm_source[position],
                utm_medium=checked.utm_medium[position],
                utm_campaign=checked.utm_campaign[position],
                utm_term=checked.utm_term[position],
                utm_content=checked.utm_content[position],
                campaign_id=checked.campaign[position],
                properties=json.loads(checked.properties[position]),
            )
        )
    TouchpointKey.objects.bulk_create(new_keys, batch_size=500)
    Touchpoint.objects.bulk_create(rows, batch_size=500)
    return len(rows), sorted({row.person_id for row in rows if row.person_id}), present


def events_store(*, checked: CheckedEvents, by, default_channel: str = "direct") -> StoreResult:
    """Store a checked batch as touchpoints, each client event id once; committed when this returns.

    Emails identify people (a new address creates a person), anonymous ids seen with a person
    are tied to them (with their earlier anonymous touchpoints), and every person who gained a
    touchpoint is queued for an engagement-score refresh.
    """
    result = StoreResult(received=len(checked) + len(checked.rejected) + checked.duplicates_in_batch)
    result.rejected = list(checked.rejected)
    result.duplicates = checked.duplicates_in_batch
    if not len(checked):
        return result
    # Resolving campaigns and people may refuse events; what is left is stored in one go.
    _resolve_campaigns(checked, result, default_channel)
    partitions.ensure_for(checked.occurred_at)
    if (
        connection.vendor == "postgresql"
        and not any(checked.email)
        and not any(checked.person_id)
        and connection.get_autocommit()
    ):
        # Anonymous events only: no person to find, create or tie, so the insert is the whole
        # transaction. Outside any transaction one statement is its own, committed (on disk) when
        # it returns: no BEGIN and COMMIT round trips.
        if not len(checked):
            return result
        _stored(result, checked, *_insert_postgresql(checked))
        if result.person_ids:  # anonymous ids already tied to people
            _people_touched(result.person_ids, checked)
        return result
    with transaction.atomic():
        if any(checked.email) or any(checked.person_id):
            _resolve_people(checked, result, by=by, default_channel=default_channel)
        if not len(checked):
            return result
        gained = _link_visitors(checked, timezone.now()) if any(checked.person_id) else set()
        insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_generic
        _stored(result, checked, *insert(checked))
        result.person_ids |= gained
        if result.person_ids:
            _people_touched(result.person_ids, checked)
    return result


def _stored(result: StoreResult, checked: CheckedEvents, stored: int, person_ids, already_stored: set[str]) -> None:
    result.stored = stored
    result.already_stored = already_stored
    result.duplicates += len(checked) - stored
    result.person_ids = set(person_ids)


def _people_touched(person_ids: set[int], checked: CheckedEvents) -> None:
    """Move each person's last activity forward and queue their engagement score's refresh."""
    from tandem.scoring.services import score_refresh_queue

    latest: dict[int, dt.datetime] = {}
    for person, moment in zip(checked.person_id, checked.occurred_at, strict=True):
        if person and (person not in latest or latest[person] < moment):
            latest[person] = moment
    for person, moment in latest.items():
        Person.objects.filter(pk=person, last_activity_at__lt=moment).update(last_activity_at=moment)
    score_refresh_queue(person_ids=person_ids)


def visitor_identify(*, anonymous_id: str, person: Person, at: dt.datetime | None = None) -> int:
    """Tie an anonymous id to a person; their anonymous touchpoints become the person's. Returns how many moved."""
    with transaction.atomic():
        Visitor.objects.update_or_create(
            anonymous_id=anonymous_id, defaults={"person": person, "identified_at": at or timezone.now()}
        )
        moved = Touchpoint.objects.filter(anonymous_id=anonymous_id, person__isnull=True).update(person=person)
        if moved:
            from tandem.scoring.services import score_refresh_queue

            score_refresh_queue(person_ids=[person.pk])
    return moved


MERGED_FIELDS = ("email", "first_name", "last_name", "title", "phone", "source", "utm_source", "utm_medium",
                 "utm_campaign", "account_id", "owner_id", "external_id")  # fmt: skip


@transaction.atomic
def person_merge(*, by, kept: Person, merged: Person) -> PersonMerge:
    """Merge `merged` into `kept`: every touchpoint, activity, stage change, membership and visitor id
    moves over, empty fields of the kept person are filled from the merged one, and the merged
    person is deleted. The merge is recorded (PersonMerge) and audited on the kept person.
    """
    from django.core.exceptions import ValidationError

    from tandem.campaigns.models import CampaignMember
    from tandem.crm.models import AccountMatch, Activity, StageChange

    if kept.pk == merged.pk:
        raise ValidationError({"merged": "A person cannot be merged into themselves."})
    kept = Person.objects.select_for_update().get(pk=kept.pk)
    merged = Person.objects.select_for_update().get(pk=merged.pk)
    snapshot = {name: getattr(merged, name) for name in MERGED_FIELDS}
    snapshot = {name: value for name, value in snapshot.items() if value not in (None, "")}
    moved = {
        "touchpoints": Touchpoint.objects.filter(person=merged).update(person=kept),
        "visitors": Visitor.objects.filter(person=merged).update(person=kept),
        "activities": Activity.objects.filter(person=merged).update(person=kept),
        "stage_changes": StageChange.objects.filter(person=merged).update(person=kept),
        "account_matches": AccountMatch.objects.filter(person=merged).update(person=kept),
    }
    kept_campaigns = set(CampaignMember.objects.filter(person=kept).values_list("campaign_id", flat=True))
    moved["campaign_memberships"] = (
        CampaignMember.objects.filter(person=merged).exclude(campaign_id__in=kept_campaigns).update(person=kept)
    )
    PersonMerge.objects.filter(kept_person=merged).update(kept_person=kept)
    filled = {}
    for name in MERGED_FIELDS:
        if name in ("email", "external_id"):
            continue  # unique: kept as they were, the merged person's stay in the record
        if getattr(kept, name) in (None, "") and snapshot.get(name) not in (None, ""):
            setattr(kept, name, snapshot[name])
            filled[name] = snapshot[name]
    if merged.last_activity_at > kept.last_activity_at:
        kept.last_activity_at = merged.last_activity_at
    kept.updated_at = timezone.now()
    merged_id = merged.pk
    merged.delete()
    kept.save()
    record = PersonMerge.objects.create(
        kept_person=kept,
        merged_person_id=merged_id,
        merged_email=merged.email or "",
        merged_snapshot={name: str(value) for name, value in snapshot.items()},
        moved_counts=moved,
        merged_at=timezone.now(),
        merged_by_label=as_actor(by).display[:200],
    )
    audit_record(
        by=by,
        action="merge",
        instance=kept,
        before={"merged_person_id": merged_id, **{name: str(value) for name, value in snapshot.items()}},
        after={"moved": moved, "filled": {name: str(value) for name, value in filled.items()}},
        summary=f"Merged {merged.email or f'person {merged_id}'} into this person",
    )
    from tandem.scoring.services import score_refresh_queue

    score_refresh_queue(person_ids=[kept.pk])
    return record


@dataclass
class RetentionResult:
    """What a retention pass removed: touchpoints before `cutoff`, the partitions dropped, the keys forgotten."""

    cutoff: dt.datetime
    touchpoints_deleted: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    keys_deleted: int = 0


def retention_cutoff(*, months: int, now: dt.datetime) -> dt.datetime:
    """The start of the month `months` months before `now`'s month (UTC): touchpoints before it go."""
    year, month = now.astimezone(dt.UTC).year, now.astimezone(dt.UTC).month - months
    while month < 1:
        year, month = year - 1, month + 12
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


@transaction.atomic
def touchpoints_retention_apply(*, by, months: int, now: dt.datetime | None = None) -> RetentionResult:
    """Remove touchpoints (and their client event ids) older than `months` whole months; audited.

    On PostgreSQL whole month partitions are dropped (instant, no vacuum debt) and the default
    partition is trimmed; on SQLite the rows are deleted. `months` < 1 keeps everything.
    """
    from tandem.audit.models import AuditEntry

    now = now or timezone.now()
    if months < 1:
        return RetentionResult(cutoff=dt.datetime.min.replace(tzinfo=dt.UTC))
    result = RetentionResult(cutoff=retention_cutoff(months=months, now=now))
    if partitions.is_partitioned():
        with connection.cursor() as cursor:
            # Deferred foreign-key checks of rows written in this transaction must run before a DROP.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"SELECT count(*) FROM {partitions.TABLE} WHERE occurred_at < %s", [result.cutoff])  # noqa: S608
            result.touchpoints_deleted = cursor.fetchone()[0]
            result.partitions_dropped = partitions.months_drop_before(cursor, result.cutoff)
            cursor.execute(f"DELETE FROM {partitions.TABLE} WHERE occurred_at < %s", [result.cutoff])  # noqa: S608
    else:
        result.touchpoints_deleted, _ = Touchpoint.objects.filter(occurred_at__lt=result.cutoff).delete()
    result.keys_deleted, _ = TouchpointKey.objects.filter(occurred_at__lt=result.cutoff).delete()
    if result.touchpoints_deleted or result.keys_deleted:
        AuditEntry.objects.create(
            at=timezone.now(),
            actor=None,
            actor_label=as_actor(by).display[:190],
            action="retention",
            entity_type="engagement.touchpoint",
            entity_id=0,
            summary=f"Removed {result.touchpoints_deleted:,} touchpoints before {result.cutoff:%Y-%m-%d} "
            f"(retention {months} months)",
            before=None,
            after={
                "cutoff": result.cutoff.isoformat(),
                "touchpoints": result.touchpoints_deleted,
                "partitions": result.partitions_dropped,
                "keys": result.keys_deleted,
            },
        )
    return result
