"""Writes of the scorecard: revenue targets, snapshots, saved views, digest subscriptions and the digest."""

import contextlib
import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from tandem.analytics import permissions, selectors
from tandem.analytics.models import (
    DigestSubscription,
    PipelineSnapshot,
    RevenueTarget,
    SavedView,
    ScorecardSnapshot,
)
from tandem.analytics.periods import Period, containing
from tandem.audit.actors import as_actor
from tandem.audit.services import audit_record

logger = logging.getLogger(__name__)
SNAPSHOT_KINDS = ("month", "quarter")
SAVED_VIEW_PAGES = ("scorecard", "funnel", "conversion", "trends", "cohorts", "pipeline")


def _user_of(by):
    actor = as_actor(by)
    return actor.user if actor.user is not None and actor.user.pk else None


def revenue_target_set(
    *, period_start: dt.date, period_end: dt.date, amount, by, currency: str = "USD"
) -> RevenueTarget:
    """Set the shared revenue target for a period; setting it again replaces the amount."""
    user = _user_of(by)
    if user is not None and not permissions.can_set_revenue_target(user):
        raise PermissionDenied("Only RevOps and leadership set the revenue target.")
    if period_end < period_start:
        raise ValidationError({"period_end": "The period must end on or after its start."})
    try:
        amount = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise ValidationError({"amount": f"expected a number, got '{amount}'."}) from None
    if amount <= 0:
        raise ValidationError({"amount": "The target must be more than 0."})
    currency = (currency or "USD").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationError({"currency": f"expected a three-letter currency code, got '{currency}'."})
    now = timezone.now()
    with transaction.atomic():
        target = (
            RevenueTarget.objects.select_for_update().filter(period_start=period_start, period_end=period_end).first()
        )
        before = {"amount": str(target.amount), "currency": target.currency} if target else None
        if target is None:
            target = RevenueTarget.objects.create(
                period_start=period_start,
                period_end=period_end,
                amount=amount,
                currency=currency,
                created_at=now,
                updated_at=now,
                updated_by=user,
            )
        else:
            target.amount, target.currency, target.updated_at, target.updated_by = amount, currency, now, user
            target.save(update_fields=["amount", "currency", "updated_at", "updated_by"])
        audit_record(
            by=by,
            action="revenue_target_set",
            instance=target,
            before=before,
            after={"amount": str(amount), "currency": currency},
            summary=f"Revenue target {amount} {currency} for {period_start}–{period_end}",
        )
    return target


# ---------------------------------------------------------------- snapshots


def scorecard_snapshot_store(
    *, filters: selectors.ScorecardFilters, period: Period, as_of: dt.date, values: dict
) -> ScorecardSnapshot:
    """Keep the scorecard of a period as it stood on a day (idempotent: the same day is overwritten)."""
    snapshot, _ = ScorecardSnapshot.objects.update_or_create(
        view_key=filters.key,
        period_kind=period.kind,
        period_start=period.start,
        period_end=period.end,
        as_of=as_of,
        defaults={"values": values, "computed_at": timezone.now()},
    )
    return snapshot


def period_values(*, filters: selectors.ScorecardFilters, periods: list[Period], today: dt.date) -> dict:
    """The scorecard values of each period: closed ones from their close-of-period snapshot (taken now, and
    kept, when missing), the one in progress live."""
    stored = selectors.snapshots_for(filters, [period for period in periods if period.is_closed(today)])
    values = {}
    for period in periods:
        if period in stored:
            values[period] = stored[period].values
            continue
        computed = selectors.tiles_values(selectors.scorecard_tiles(filters, period))
        if period.is_closed(today):
            scorecard_snapshot_store(filters=filters, period=period, as_of=today, values=computed)
        values[period] = computed
    return values


# A page that finds closed periods without their snapshot queues one task on the worker to compute and keep
# them, this many seconds later, instead of computing them itself (seconds each at a million people).
SNAPSHOTS_DELAY_SECONDS = 1
# The mark, kept in the queue's own storage, that such a task is queued or running (one per view, kind and
# periods); a mark older than this is taken for a run that died (a worker killed), and the task queued again.
SNAPSHOTS_QUEUED = "analytics:scorecard-snapshots-queued"
SNAPSHOTS_QUEUED_STALE_SECONDS = 30 * 60


def period_values_or_queue(
    *, filters: selectors.ScorecardFilters, periods: list[Period], today: dt.date
) -> tuple[dict, list[Period]]:
    """For a page: the values of these periods as period_values gives them, except closed periods without
    their snapshot, which are left out and computed on the worker (one task queued; see
    scorecard_snapshots_queue). Returns the values and the periods being computed."""
    closed = [period for period in periods if period.is_closed(today)]
    stored = selectors.snapshots_for(filters, closed)
    missing = [period for period in closed if period not in stored]
    values = {}
    for period in periods:
        if period in stored:
            values[period] = stored[period].values
        elif not period.is_closed(today):
            values[period] = selectors.tiles_values(selectors.scorecard_tiles(filters, period))
    if missing:
        scorecard_snapshots_queue(filters=filters, periods=missing)
    return values, missing


def _snapshots_mark(filters: selectors.ScorecardFilters, periods: list[Period]) -> str:
    names = ",".join(f"{period.kind}:{period.start}:{period.end}" for period in sorted(periods, key=_period_key))
    return f"{SNAPSHOTS_QUEUED}:{filters.key or 'all'}:{hashlib.sha256(names.encode()).hexdigest()[:16]}"


def _period_key(period: Period) -> tuple:
    return (period.kind, period.start, period.end)


def scorecard_snapshots_queue(*, filters: selectors.ScorecardFilters, periods: list[Period]) -> bool:
    """Queue one task on the worker that computes and keeps the close-of-period snapshots of these closed
    periods, unless the same one is queued or running already. A failure to queue is logged, not raised:
    the page shows the periods as being computed and the next view queues it again. A run that died
    (its mark older than SNAPSHOTS_QUEUED_STALE_SECONDS) is queued again. Returns whether a task was
    queued."""
    from tandem.analytics.tasks import scorecard_snapshots_fill

    return _schedule_once(
        _snapshots_mark(filters, periods),
        lambda: scorecard_snapshots_fill.schedule(
            kwargs={
                "filters": asdict(filters),
                "periods": [[period.kind, period.start.isoformat(), period.end.isoformat()] for period in periods],
            },
            delay=SNAPSHOTS_DELAY_SECONDS,
        ),
        what=f"the scorecard snapshots of {', '.join(period.label for period in periods)}",
        stale_seconds=SNAPSHOTS_QUEUED_STALE_SECONDS,
    )


def _schedule_once(mark: str, schedule, *, what: str, stale_seconds: float | None = None) -> bool:
    """Call `schedule` (queueing a task) unless `mark`, kept in the queue's own storage (shared by the web
    processes and the workers), says the task is queued already; the task clears the mark. With
    `stale_seconds`, a mark that old is taken for a run that died and the task is queued again. A failure
    to queue is logged, not raised, and leaves no mark. Returns whether the task was queued."""
    from huey.contrib.djhuey import HUEY

    now = timezone.now().timestamp()
    try:
        if not HUEY.put_if_empty(mark, str(now)):
            if stale_seconds is None:
                return False
            try:
                since = float(HUEY.get(mark, peek=True) or now)
            except ValueError:
                since = 0.0
            if now - since < stale_seconds:
                return False
            HUEY.put(mark, str(now))
        schedule()
    except Exception:  # the queue is down: what asks next queues it again
        logger.exception("Could not queue %s", what)
        with contextlib.suppress(Exception):  # the queue's storage is down too: nothing is marked either
            HUEY.delete(mark)
        return False
    return True


def scorecard_snapshots_fill(
    *, filters: selectors.ScorecardFilters, periods: list[Period], today: dt.date | None = None
) -> int:
    """The worker's part of a first look at past periods: compute and keep the close-of-period snapshot of
    each of these closed periods that has none (idempotent: those kept meanwhile are left alone), then
    clear the mark of the queued task. Returns the number of snapshots stored."""
    from huey.contrib.djhuey import HUEY

    today = today or timezone.localdate()
    closed = [period for period in periods if period.is_closed(today)]
    stored = selectors.snapshots_for(filters, closed)
    missing = [period for period in closed if period not in stored]
    for period in missing:
        values = selectors.tiles_values(selectors.scorecard_tiles(filters, period))
        scorecard_snapshot_store(filters=filters, period=period, as_of=today, values=values)
    # Cleared once done, not when a run fails: the pages polling meanwhile would queue a failing run
    # every few seconds; it is queued again once the mark is stale.
    HUEY.delete(_snapshots_mark(filters, periods))
    return len(missing)


def pipeline_snapshot_take(*, as_of: dt.date) -> int:
    """Keep today's open pipeline by stage, forecast category and owner (idempotent per day)."""
    rows = selectors.pipeline_rows_today()
    with transaction.atomic():
        PipelineSnapshot.objects.filter(as_of=as_of).delete()
        PipelineSnapshot.objects.bulk_create(
            [
                PipelineSnapshot(
                    as_of=as_of,
                    stage_id=row["stage_id"],
                    forecast_category=row["forecast_category"],
                    owner_id=row["owner_id"],
                    count=row["n"],
                    amount=row["total"] or 0,
                    weighted_amount=row["weighted"] or 0,
                )
                for row in rows
            ]
        )
    return len(rows)


def snapshot_views() -> list[selectors.ScorecardFilters]:
    """The unfiltered scorecard and every shared saved view: the views snapshotted each day."""
    views = [selectors.ScorecardFilters()]
    for query in SavedView.objects.filter(is_shared=True).values_list("query", flat=True):
        filters = scorecard_filters_from_query(parse_qs(query))
        if filters not in views:
            views.append(filters)
    return views


def scorecards_snapshot_daily(*, today: dt.date | None = None) -> int:
    """The daily snapshot: for each snapshotted view, the month and quarter in progress as of today and
    any that closed yesterday; plus the open pipeline. Returns the number of scorecards stored."""
    today = today or timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    stored = 0
    for filters in snapshot_views():
        for kind in SNAPSHOT_KINDS:
            periods = {containing(kind, today)}
            periods.add(containing(kind, yesterday))
            for period in periods:
                as_of = min(today, period.end - dt.timedelta(days=1)) if period.is_closed(today) else today
                values = selectors.tiles_values(selectors.scorecard_tiles(filters, period))
                scorecard_snapshot_store(filters=filters, period=period, as_of=as_of, values=values)
                stored += 1
    pipeline_snapshot_take(as_of=today)
    return stored


def scorecard_filters_from_query(query: dict) -> selectors.ScorecardFilters:
    """Scorecard filters from a parsed query string ({name: [values]}); bad numbers raise ValidationError."""

    def one(name: str) -> str:
        values = query.get(name) or [""]
        return (values[0] if isinstance(values, list) else values).strip()

    def number(name: str) -> int | None:
        text = one(name)
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise ValidationError({name: f"expected a whole number, got '{text[:20]}'."}) from None

    return selectors.ScorecardFilters(
        icp_tier=number("icp_tier"),
        industry=one("industry")[:100],
        region=one("region")[:50],
        campaign_id=number("campaign"),
        channel=one("channel")[:30],
        team_id=number("team"),
        owner_id=number("owner"),
    )


# ---------------------------------------------------------------- saved views and the digest


def saved_view_create(*, by, name: str, page: str, query: str, is_shared: bool = False) -> SavedView:
    """Save a scorecard page's filters under a name, for the user or shared with everyone."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    if page not in SAVED_VIEW_PAGES:
        raise ValidationError({"page": f"expected one of {', '.join(SAVED_VIEW_PAGES)}, got '{page}'."})
    if is_shared and not permissions.can_share_view(by):
        raise PermissionDenied("Only managers, RevOps and leadership share views with everyone.")
    parsed = parse_qs(query or "")
    scorecard_filters_from_query(parsed)  # refuses bad values now rather than when the view is opened
    clean = urlencode(
        [(key, value) for key, values in parsed.items() for value in values if key != "csrfmiddlewaretoken"]
    )
    if len(clean) > 1000:
        raise ValidationError({"query": "Too many filters to save (1,000 characters at most)."})
    if SavedView.objects.filter(owner=by, name=name[:100]).exists():
        raise ValidationError({"name": f"You already have a view named '{name[:100]}'."})
    view = SavedView.objects.create(
        name=name[:100], owner=by, page=page, query=clean, is_shared=is_shared, created_at=timezone.now()
    )
    audit_record(
        by=by,
        action="create",
        instance=view,
        after={"name": view.name, "query": clean, "is_shared": is_shared},
        summary=f"Saved view {view.name}",
    )
    return view


def saved_view_delete(*, by, view: SavedView) -> None:
    """Delete a saved view: its owner, or RevOps."""
    if not permissions.can_delete_view(by, view):
        raise PermissionDenied("Only the view's owner or RevOps may delete it.")
    audit_record(
        by=by,
        action="delete",
        instance=view,
        before={"name": view.name, "query": view.query},
        summary=f"Deleted view {view.name}",
    )
    view.delete()


def digest_subscribe(*, user, view: SavedView | None = None) -> DigestSubscription:
    """Receive the weekly scorecard digest (of a saved view, or of the whole scorecard)."""
    if view is not None and not (view.is_shared or view.owner_id == user.pk):
        raise PermissionDenied("You may only subscribe to your own or shared views.")
    subscription, created = DigestSubscription.objects.update_or_create(
        user=user, defaults={"view": view, "created_at": timezone.now()}
    )
    audit_record(
        by=user,
        action="digest_subscribe",
        instance=subscription,
        after={"view": view.pk if view else None},
        summary="Subscribed to the weekly scorecard digest",
    )
    return subscription


def digest_unsubscribe(*, user) -> bool:
    subscription = DigestSubscription.objects.filter(user=user).first()
    if subscription is None:
        return False
    audit_record(
        by=user,
        action="digest_unsubscribe",
        instance=subscription,
        before={"view": subscription.view_id},
        summary="Unsubscribed from the weekly scorecard digest",
    )
    subscription.delete()
    return True


def digests_send(*, today: dt.date | None = None, base_url: str = "") -> int:
    """Email the weekly digest to every subscriber not yet sent one today: the quarter so far against the
    previous quarter. Idempotent per day. Returns the number of emails sent."""
    today = today or timezone.localdate()
    period = containing("quarter", today)
    sent = 0
    cache: dict = {}
    for subscription in DigestSubscription.objects.select_related("user", "view").exclude(last_sent_on=today):
        if not subscription.user.is_active or not subscription.user.email:
            continue
        query = subscription.view.query if subscription.view else ""
        filters = scorecard_filters_from_query(parse_qs(query))
        if filters not in cache:
            values = period_values(filters=filters, periods=[period.previous(), period], today=today)
            cache[filters] = (selectors.scorecard_tiles(filters, period), values[period.previous()])
        tiles, previous = cache[filters]
        context = {
            "tiles": [(tile, (previous.get(tile.key) or {}).get("value")) for tile in tiles],
            "period": period,
            "view": subscription.view,
            "link": f"{base_url}/scorecard/{'?' + query if query else ''}",
        }
        send_mail(
            subject=f"Scorecard {period.label}" + (f" · {subscription.view.name}" if subscription.view else ""),
            message=render_to_string("analytics/digest.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[subscription.user.email],
            html_message=render_to_string("analytics/digest.html", context),
        )
        subscription.last_sent_on = today
        subscription.save(update_fields=["last_sent_on"])
        sent += 1
    return sent


# ---------------------------------------------------------------- the stage-entry rollup

STAGE_ENTRIES = "stage_entries"
STAGE_ENTRY_BLOCKS = "stage_entry_blocks"
CUSTOMER_STAGE = "customer"
# People refreshed per statement: well under SQLite's limit on query parameters.
PEOPLE_PER_BATCH = 500
# Up to this many people refreshed at once, the monthly blocks are patched; beyond, packed again whole.
PATCH_PEOPLE_LIMIT = 20_000
# Stage changes re-read behind the last one counted by the periodic catch-up: a change whose
# transaction committed after a later one was counted is picked up then.
CATCH_UP_LOOKBACK = 2000
# A new stage change (or a page finding the rollup behind) queues one catch-up on the worker this many
# seconds later; what else is recorded meanwhile is counted by the same run.
CATCH_UP_DELAY_SECONDS = 3
# The mark, kept in the queue's own storage (shared by the web processes and the workers), that such a
# catch-up is queued and not started yet.
CATCH_UP_QUEUED = "analytics:stage-entries-catch-up-queued"
# Up to this many stage changes, a queued catch-up builds a missing rollup itself (seconds); beyond, the
# worker's run every minute or `tandem manage scorecard rollup` does (minutes at millions).
QUEUED_REBUILD_LIMIT = 250_000
_ENTRY_COLUMNS = (
    "stage_change_id, person_id, stage, entered_at, previous_entry_at, furthest_position, next_reached_at,"
    " customer_reached_at, owner_id, team_id, icp_tier, industry, region"
)


def _stage_entries_select(*, customer_position: int | None, person_ids: list[int] | None) -> tuple[str, list]:
    """SELECT of the rollup rows of some people (all with None), in SQL both SQLite and PostgreSQL run.

    Each entry into a main stage gets: the person's previous entry into that stage, the furthest main
    stage entered at or after it, and when the person first entered the next main stage or a later one,
    and Customer or a later one, at or after it (a skipped stage is reached by passing it); plus the
    person's segment.
    """
    from tandem.crm.models import Account, LifecycleStage, Person, StageChange
    from tandem.users.models import User

    changes, stages = StageChange._meta.db_table, LifecycleStage._meta.db_table
    people, accounts, users = Person._meta.db_table, Account._meta.db_table, User._meta.db_table
    params: list = []
    only = ""
    if person_ids is not None:
        only = f" AND sc.person_id IN ({', '.join(['%s'] * len(person_ids))})"
        params += list(person_ids)
    customer = "%s" if customer_position is not None else "NULL"
    later = "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    sql = f"""
        SELECT w.id, w.person_id, w.stage, w.at, w.previous_entry_at, w.furthest,
            (SELECT min(x.at) FROM {changes} x JOIN {stages} xs ON xs.key = x.to_stage_id
             WHERE x.person_id = w.person_id AND x.at >= w.at AND NOT xs.is_side_stage
               AND xs.position > w.position),
            w.customer_at, p.owner_id, u.team_id, a.icp_tier, COALESCE(a.industry, ''), COALESCE(a.region, '')
        FROM (
            SELECT m.*,
                lag(m.at) OVER (PARTITION BY m.person_id, m.stage ORDER BY m.at, m.id) AS previous_entry_at,
                max(m.position) OVER (PARTITION BY m.person_id ORDER BY m.at DESC {later}) AS furthest,
                min(CASE WHEN m.position >= {customer} THEN m.at END)
                    OVER (PARTITION BY m.person_id ORDER BY m.at DESC {later}) AS customer_at
            FROM (
                SELECT sc.id, sc.person_id, sc.to_stage_id AS stage, sc.at, ls.position
                FROM {changes} sc JOIN {stages} ls ON ls.key = sc.to_stage_id
                WHERE sc.person_id IS NOT NULL AND NOT ls.is_side_stage{only}
            ) m
        ) w
        JOIN {people} p ON p.id = w.person_id
        LEFT JOIN {users} u ON u.id = p.owner_id
        LEFT JOIN {accounts} a ON a.id = p.account_id
    """  # noqa: S608 - table names from the models, values as parameters
    if customer_position is not None:
        params = [customer_position, *params]
    return sql, params


def _stages_signature() -> tuple[str, int | None]:
    from tandem.crm.models import LifecycleStage

    stages = list(
        LifecycleStage.objects.filter(is_side_stage=False).order_by("position").values_list("key", "position")
    )
    customer = next((position for key, position in stages if key == CUSTOMER_STAGE), None)
    return ",".join(f"{key}:{position}" for key, position in stages)[:500], customer


def _block_month(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date().replace(day=1)


_BLOCK_FIELDS = (
    "person_id",
    "entered_at",
    "previous_entry_at",
    "next_reached_at",
    "customer_reached_at",
    "furthest_position",
    "owner_id",
    "team_id",
    "icp_tier",
    "industry",
    "region",
)


def _entries_by_block(person_ids: list[int]) -> dict[tuple[str, dt.date], list[tuple]]:
    """These people's rollup rows as blocks hold them, by (stage, month), in the order of a block built whole."""
    from tandem.analytics.models import StageEntry

    grouped: dict[tuple[str, dt.date], list[tuple]] = {}
    rows = (
        StageEntry.objects.filter(person_id__in=person_ids)
        .order_by("entered_at", "person_id", "stage_change_id")
        .values_list("stage", *_BLOCK_FIELDS)
    )
    for stage, *row in rows:
        grouped.setdefault((stage, _block_month(row[1])), []).append(tuple(row))
    return grouped


def stage_entries_refresh(*, person_ids) -> int:
    """Rebuild the rollup rows of these people from their stage history, and the monthly blocks whose
    entries that changed (idempotent). Returns rows written.

    Up to PATCH_PEOPLE_LIMIT people (a catch-up), each block concerned is patched: their entries taken
    out and put back as they now are, in numpy, without reading the block's other entries from the
    rollup. Beyond (a reconcile after a territory change, say), the blocks concerned are packed again
    whole, each once.
    """
    from django.db import connection

    from tandem.analytics.models import StageEntry

    person_ids = sorted({int(pk) for pk in person_ids if pk is not None})
    _, customer = _stages_signature()
    written = 0
    patch = len(person_ids) <= PATCH_PEOPLE_LIMIT
    changed: set[tuple[str, dt.date]] = set()
    now_by_block: dict[tuple[str, dt.date], list[tuple]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for index in range(0, len(person_ids), PEOPLE_PER_BATCH):
            batch = person_ids[index : index + PEOPLE_PER_BATCH]
            before = _entries_by_block(batch)
            StageEntry.objects.filter(person_id__in=batch).delete()
            select, params = _stage_entries_select(customer_position=customer, person_ids=batch)
            cursor.execute(f"INSERT INTO {StageEntry._meta.db_table} ({_ENTRY_COLUMNS}) {select}", params)  # noqa: S608
            written += max(cursor.rowcount, 0)
            after = _entries_by_block(batch)
            # Only the blocks whose entries of these people differ now: a new stage change usually
            # changes the person's entries of a month or two, not every month they entered a stage.
            changed |= {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
            if patch:
                for key, rows in after.items():
                    now_by_block.setdefault(key, []).extend(rows)
        if patch:
            _stage_entry_blocks_patch(
                rows_by_block={key: now_by_block.get(key, []) for key in changed}, person_ids=person_ids
            )
        else:
            stage_entry_blocks_build(keys=changed)
    return written


def _stage_entry_blocks_patch(*, rows_by_block: dict[tuple[str, dt.date], list[tuple]], person_ids) -> int:
    """Patch these blocks: every entry of these people out, their rows of the block (given) in; a block
    left empty is deleted. Returns the number of blocks written."""
    from tandem.analytics import entry_blocks
    from tandem.analytics.models import StageEntryBlock

    written = 0
    for stage, month in sorted(rows_by_block):
        rows = sorted(rows_by_block[(stage, month)], key=lambda row: (row[1], row[0]))  # stable: as built
        query = StageEntryBlock.objects.select_for_update().filter(stage=stage, month=month)
        found = next(selectors.block_rows(query.values_list("stage", "labels", "pk", *entry_blocks.COLUMNS)), None)
        if found is None:
            if rows:
                StageEntryBlock.objects.create(stage=stage, month=month, **entry_blocks.pack(rows))
                written += 1
            continue
        _, labels, pk, *raw = found
        stored = dict(zip(entry_blocks.COLUMNS, raw, strict=True))
        fields = entry_blocks.merge({**stored, "labels": labels}, rows, dropping=person_ids)
        if not fields["size"]:
            StageEntryBlock.objects.filter(pk=pk).delete()
            continue
        _stage_entry_block_update(pk, fields)
        written += 1
    return written


def _stage_entry_block_update(pk: int, fields: dict) -> None:
    """Write a block's new fields; on PostgreSQL with the columns as binary parameters (about a tenth of the
    time of hexadecimal text for a block of 30,000 entries)."""
    from django.db import connection

    from tandem.analytics import entry_blocks
    from tandem.analytics.models import StageEntryBlock

    if connection.vendor != "postgresql":
        StageEntryBlock.objects.filter(pk=pk).update(**fields)
        return
    import psycopg

    columns = list(entry_blocks.COLUMNS)
    assignments = ", ".join(f"{name} = %b" for name in columns)
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"UPDATE {StageEntryBlock._meta.db_table} SET {assignments},"  # noqa: S608 - names from the model
            " size = %s, labels = %s::jsonb WHERE id = %s",
            [*(fields[name] for name in columns), fields["size"], json.dumps(fields["labels"]), pk],
        )


def stage_entry_blocks_build(*, keys) -> int:
    """Pack the stage entries of these (stage, month) pairs into their blocks; a month left empty loses its
    block. Returns the number of blocks written."""
    from tandem.analytics import entry_blocks
    from tandem.analytics.models import StageEntry, StageEntryBlock
    from tandem.analytics.periods import containing

    written = 0
    for stage, month in sorted(keys):
        period = containing("month", month)
        rows = list(
            StageEntry.objects.filter(stage=stage, entered_at__gte=period.start_at(), entered_at__lt=period.end_at())
            .order_by("entered_at", "person_id", "stage_change_id")
            .values_list(*_BLOCK_FIELDS)
        )
        if not rows:
            StageEntryBlock.objects.filter(stage=stage, month=month).delete()
            continue
        StageEntryBlock.objects.update_or_create(stage=stage, month=month, defaults=entry_blocks.pack(rows))
        written += 1
    return written


def stage_entry_blocks_rebuild() -> int:
    """Pack every month of the rollup into blocks, for the reporting time zone. Returns blocks written."""
    from django.conf import settings

    from tandem.analytics.models import RollupState, StageEntryBlock

    with transaction.atomic():
        _stage_entries_lock(wait=True)
        keys = {(stage, month) for stage, month, _ in _entry_counts_by_month()}
        for pk, stage, month in StageEntryBlock.objects.values_list("pk", "stage", "month"):
            if (stage, month) not in keys:
                StageEntryBlock.objects.filter(pk=pk).delete()
        written = stage_entry_blocks_build(keys=keys)
        RollupState.objects.update_or_create(
            name=STAGE_ENTRY_BLOCKS, defaults={"stages": settings.TIME_ZONE, "updated_at": timezone.now()}
        )
    return written


def stage_entries_rebuild() -> int:
    """Rebuild the whole rollup from the stage history in one statement; returns the rows written."""
    from django.db import connection

    from tandem.analytics.models import RollupState, StageEntry
    from tandem.crm.models import StageChange

    signature, customer = _stages_signature()
    table = StageEntry._meta.db_table
    # TRUNCATE is much faster than DELETE, but PostgreSQL refuses it inside a caller's transaction that
    # still has foreign-key checks pending.
    may_truncate = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        state, _ = RollupState.objects.select_for_update().get_or_create(name=STAGE_ENTRIES)
        newest = StageChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
        if may_truncate:
            cursor.execute(f"TRUNCATE {table}")
        else:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - a model's table
        select, params = _stage_entries_select(customer_position=customer, person_ids=None)
        cursor.execute(f"INSERT INTO {table} ({_ENTRY_COLUMNS}) {select}", params)  # noqa: S608
        written = max(cursor.rowcount, 0)
        state.last_id, state.stages, state.updated_at = newest, signature, timezone.now()
        state.save()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    stage_entry_blocks_rebuild()
    return written


def _stage_entries_lock(*, wait: bool) -> bool:
    """Inside a transaction, take the stage-entry rollup's lock until it ends: what writes the rollup or its
    blocks (catch-up, reconcile, rebuild) holds it, so that none writes a block from entries another has
    changed since (a block packed again from entries read before a catch-up's patch would undo the patch).

    On PostgreSQL the rollup state's row, FOR UPDATE (SKIP LOCKED when not waiting); on SQLite every
    transaction takes the database's write lock as it begins (IMMEDIATE transactions, see settings), so
    holding a transaction is holding the lock. Returns False when not waiting and another holds it, or when
    the rollup was never built.
    """
    from tandem.analytics.models import RollupState

    query = RollupState.objects.select_for_update(skip_locked=not wait).filter(name=STAGE_ENTRIES)
    return query.values_list("name", flat=True).first() is not None


def stage_entries_catch_up(*, lookback: int = 0) -> int:
    """Count the stage changes recorded since the rollup last read them (and `lookback` ids before).

    Only the people concerned are refreshed, and only the monthly blocks whose entries of theirs changed
    are patched. A rollup never built, or built with other main stages, is rebuilt whole. A catch-up
    already running elsewhere is not waited for. The worker runs this, never a page (see
    stage_entries_catch_up_queue). Returns the number of people refreshed (-1: rebuilt).
    """
    from tandem.analytics.models import RollupState, StageEntry
    from tandem.crm.models import StageChange

    newest = StageChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
    state = RollupState.objects.filter(name=STAGE_ENTRIES).first()
    signature, _ = _stages_signature()
    blocks = RollupState.objects.filter(name=STAGE_ENTRY_BLOCKS).values_list("stages", flat=True).first()
    if state is None or state.stages != signature:
        stage_entries_rebuild()
        return -1
    if blocks != settings.TIME_ZONE:
        stage_entry_blocks_rebuild()
    if newest <= state.last_id and not lookback:
        return 0
    with transaction.atomic():
        if not _stage_entries_lock(wait=False):
            return 0
        state = RollupState.objects.get(name=STAGE_ENTRIES)
        newest = StageChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
        # Moves into side stages change no entry: the rollup follows main stages only.
        entries = StageChange.objects.filter(person__isnull=False, to_stage__is_side_stage=False)
        person_ids = set(
            entries.filter(id__gt=state.last_id, id__lte=newest).values_list("person_id", flat=True).distinct()
        )
        if lookback:
            # Changes before the last one counted that are not in the rollup: committed late.
            start = max(0, state.last_id - lookback)
            counted = StageEntry.objects.filter(stage_change_id__gt=start, stage_change_id__lte=state.last_id)
            missed = entries.filter(id__gt=start, id__lte=state.last_id).exclude(
                id__in=counted.values("stage_change_id")
            )
            person_ids |= set(missed.values_list("person_id", flat=True).distinct())
        stage_entries_refresh(person_ids=person_ids)
        state.last_id, state.updated_at = max(newest, state.last_id), timezone.now()
        state.save(update_fields=["last_id", "updated_at"])
    return len(person_ids)


def stage_entries_behind() -> bool:
    """Whether stage changes have been recorded since the rollup last read them, or it was never built
    (or was built with other main stages): a few index lookups, cheap enough for every page."""
    from tandem.analytics.models import RollupState
    from tandem.crm.models import StageChange

    state = RollupState.objects.filter(name=STAGE_ENTRIES).values_list("last_id", "stages").first()
    if state is None:
        return True
    newest = StageChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return newest > state[0] or state[1] != _stages_signature()[0]


def stage_entries_catch_up_queue() -> bool:
    """Queue one catch-up of the rollup on the worker, CATCH_UP_DELAY_SECONDS from now, unless one is
    queued already and has not started: whatever is recorded until it starts is counted by that run.

    What records stage changes calls this once its transaction commits, and the analysis pages when the
    rollup is behind (changes written some other way); neither ever waits for the catch-up. A failure to
    queue is logged, not raised: the worker's run every minute catches up anyway. Returns whether a
    catch-up was queued.
    """
    from tandem.analytics.tasks import stage_entries_catch_up_queued

    # If the queue is down, the periodic catch-up still runs when it is back.
    return _schedule_once(
        CATCH_UP_QUEUED,
        lambda: stage_entries_catch_up_queued.schedule(delay=CATCH_UP_DELAY_SECONDS),
        what="a catch-up of the stage-entry rollup",
    )


def stage_entries_catch_up_on_commit() -> None:
    """For what records a person's stage change: queue the rollup's catch-up once the transaction commits."""
    transaction.on_commit(stage_entries_catch_up_queue)


def stage_entries_catch_up_start() -> None:
    """Clear the mark of a queued catch-up, as one starts: what is recorded from now on queues another."""
    from huey.contrib.djhuey import HUEY

    HUEY.delete(CATCH_UP_QUEUED)


def stage_entries_catch_up_queued_run() -> int:
    """The queued catch-up: clear its mark, catch up, and queue another if the rollup is still behind (a
    catch-up running elsewhere held it). A rollup to build whole over more than QUEUED_REBUILD_LIMIT
    stage changes (minutes) is left to the worker's run every minute. Returns the number of people
    refreshed (-1: rebuilt)."""
    from tandem.analytics.models import RollupState
    from tandem.crm.models import StageChange

    stage_entries_catch_up_start()
    state = RollupState.objects.filter(name=STAGE_ENTRIES).values_list("stages", flat=True).first()
    if state != _stages_signature()[0]:
        newest = StageChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
        return stage_entries_catch_up() if newest <= QUEUED_REBUILD_LIMIT else 0
    refreshed = stage_entries_catch_up()
    if stage_entries_behind():
        stage_entries_catch_up_queue()
    return refreshed


def stage_entries_reconcile() -> int:
    """Bring the rollup back in line with the record where it drifted other than by new stage changes:
    people whose segment changed (owner, team, account's tier, industry or region), stage changes moved to
    another person (a merge) or edited, main-stage changes not counted, and monthly blocks that no longer
    hold their month's entries (a person deleted). Returns the number of people refreshed."""
    from django.db import connection

    from tandem.analytics.models import StageEntry, StageEntryBlock
    from tandem.crm.models import Account, LifecycleStage, Person, StageChange
    from tandem.users.models import User

    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    checks = [
        ("e.owner_id", "p.owner_id"),
        ("e.team_id", "u.team_id"),
        ("e.icp_tier", "a.icp_tier"),
        ("e.industry", "COALESCE(a.industry, '')"),
        ("e.region", "COALESCE(a.region, '')"),
    ]
    condition = " OR ".join(f"{left} {differs} {right}" for left, right in checks)
    entries, changes = StageEntry._meta.db_table, StageChange._meta.db_table
    person_ids: set[int] = set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT e.person_id FROM {entries} e"  # noqa: S608 - model tables
            f" JOIN {Person._meta.db_table} p ON p.id = e.person_id"
            f" LEFT JOIN {User._meta.db_table} u ON u.id = p.owner_id"
            f" LEFT JOIN {Account._meta.db_table} a ON a.id = p.account_id"
            f" WHERE {condition}"
        )
        person_ids |= {row[0] for row in cursor.fetchall()}
        cursor.execute(
            f"SELECT e.person_id, sc.person_id FROM {entries} e"  # noqa: S608 - model tables
            f" JOIN {changes} sc ON sc.id = e.stage_change_id"
            f" WHERE sc.person_id {differs} e.person_id OR sc.at <> e.entered_at OR sc.to_stage_id <> e.stage"
        )
        person_ids |= {pk for row in cursor.fetchall() for pk in row if pk is not None}
        cursor.execute(
            f"SELECT DISTINCT sc.person_id FROM {changes} sc"  # noqa: S608 - model tables
            f" JOIN {LifecycleStage._meta.db_table} ls ON ls.key = sc.to_stage_id"
            f" LEFT JOIN {entries} e ON e.stage_change_id = sc.id"
            " WHERE sc.person_id IS NOT NULL AND NOT ls.is_side_stage AND e.stage_change_id IS NULL"
        )
        person_ids |= {row[0] for row in cursor.fetchall()}
    # Blocks whose size is not their month's count of entries (a person deleted, say). Found before the
    # lock is taken (a count over every entry), packed again under it: a block found stale because a
    # catch-up was committing meanwhile is only packed once more, and one missed is found next time.
    sizes = {
        (stage, month): size for stage, month, size in StageEntryBlock.objects.values_list("stage", "month", "size")
    }
    counted = {}
    for stage, month, size in _entry_counts_by_month():
        counted[(stage, month)] = size
    stale = {key for key in set(sizes) | set(counted) if sizes.get(key) != counted.get(key)}
    with transaction.atomic():
        # The catch-up's lock, waited for (a catch-up takes a second or two): no catch-up patches a block
        # between the reading of its entries here and its write, which would undo the patch.
        if not _stage_entries_lock(wait=True):
            return 0  # never built: the catch-up builds it whole
        stage_entries_refresh(person_ids=person_ids)
        stage_entry_blocks_build(keys=stale)
    return len(person_ids)


def _entry_counts_by_month() -> list[tuple[str, dt.date, int]]:
    from django.db.models import Count
    from django.db.models.functions import TruncMonth

    from tandem.analytics.models import StageEntry

    grouped = (
        StageEntry.objects.annotate(month=TruncMonth("entered_at"))
        .values("stage", "month")
        .annotate(size=Count("pk"))
        .values_list("stage", "month", "size")
        .order_by()
    )
    return [(stage, _first_day(month), size) for stage, month, size in grouped]


def _first_day(month) -> dt.date:
    if isinstance(month, dt.datetime):
        return (timezone.localtime(month) if timezone.is_aware(month) else month).date()
    return month


# ---------------------------------------------------------------- pipeline history rebuilt


def _pipeline_history_days(start: dt.date | None, until: dt.date | None) -> tuple[dt.date, dt.date] | None:
    """The default range: from the first recorded opportunity stage change to the day before the first
    snapshot taken on its day (or yesterday)."""
    from tandem.crm.models import OpportunityStageChange

    if start is None:
        first = OpportunityStageChange.objects.order_by("at").values_list("at", flat=True).first()
        if first is None:
            return None
        start = timezone.localdate(first)
    if until is None:
        first_taken = (
            PipelineSnapshot.objects.filter(is_rebuilt=False).order_by("as_of").values_list("as_of", flat=True).first()
        )
        until = (first_taken or timezone.localdate()) - dt.timedelta(days=1)
    return (start, until) if start <= until else None


def pipeline_snapshots_rebuild(*, start: dt.date | None = None, until: dt.date | None = None) -> int:
    """Derive the daily pipeline snapshots of past days from the opportunities' stage history.

    The snapshot of day D is the open pipeline as the daily snapshot would have found it just after
    midnight: each opportunity in the stage (and at the amount) of its last stage change before D,
    weighted by that stage's probability and in its forecast category; the owner is today's. An
    opportunity without any recorded stage change counts in its present stage from its creation while
    it is open. Days whose snapshot was taken on the day are kept as they are; rebuilt days are written
    again, so running it twice stores the same rows. Returns the number of days written.
    """
    from tandem.crm.models import Opportunity, OpportunityStage, OpportunityStageChange

    days = _pipeline_history_days(start, until)
    if days is None:
        return 0
    first_day, last_day = days
    stages = {
        key: (Decimal(probability), category, is_closed)
        for key, probability, category, is_closed in OpportunityStage.objects.values_list(
            "key", "probability", "forecast_category", "is_closed"
        )
    }
    owners = dict(Opportunity.objects.values_list("id", "owner_id"))
    boundary = timezone.make_aware(dt.datetime.combine(last_day, dt.time.min))
    events = list(
        OpportunityStageChange.objects.filter(at__lt=boundary)
        .order_by("at", "id")
        .values_list("at", "opportunity_id", "to_stage_id", "amount")
    )
    with_history = {event[1] for event in events}
    events += [
        (created_at, pk, stage, amount)
        for pk, created_at, stage, amount in Opportunity.objects.filter(is_closed=False, created_at__lt=boundary)
        .exclude(pk__in=with_history)
        .values_list("id", "created_at", "stage_id", "amount")
    ]
    events.sort(key=lambda event: event[0])
    taken = set(
        PipelineSnapshot.objects.filter(is_rebuilt=False, as_of__gte=first_day, as_of__lte=last_day).values_list(
            "as_of", flat=True
        )
    )
    current: dict[int, tuple[str, Decimal]] = {}
    totals: dict[tuple, list] = {}

    def count(opportunity_id: int, sign: int) -> None:
        stage, amount = current[opportunity_id]
        probability, category, is_closed = stages.get(stage, (Decimal(0), "pipeline", True))
        if is_closed:
            return
        key = (stage, category, owners.get(opportunity_id))
        total = totals.setdefault(key, [0, Decimal(0), Decimal(0)])
        total[0] += sign
        total[1] += sign * amount
        total[2] += sign * amount * probability / 100

    snapshots = []
    index, day = 0, first_day
    while day <= last_day:
        midnight = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        while index < len(events) and events[index][0] < midnight:
            _, opportunity_id, stage, amount = events[index]
            if opportunity_id in current:
                count(opportunity_id, -1)
            current[opportunity_id] = (stage, Decimal(amount or 0))
            count(opportunity_id, +1)
            index += 1
        if day not in taken:
            snapshots += [
                PipelineSnapshot(
                    as_of=day,
                    stage_id=stage,
                    forecast_category=category,
                    owner_id=owner_id,
                    count=number,
                    amount=amount,
                    weighted_amount=weighted.quantize(Decimal("0.01")),
                    is_rebuilt=True,
                )
                for (stage, category, owner_id), (number, amount, weighted) in sorted(
                    totals.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or 0)
                )
                if number
            ]
        day += dt.timedelta(days=1)
    with transaction.atomic():
        PipelineSnapshot.objects.filter(is_rebuilt=True, as_of__gte=first_day, as_of__lte=last_day).delete()
        PipelineSnapshot.objects.bulk_create(snapshots, batch_size=2000)
    return (last_day - first_day).days + 1 - len(taken)
