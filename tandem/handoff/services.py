"""Writes of the hand-off: routing MQLs to reps, reassigning, accepting and rejecting, time off,
notifications and MQL goals. Every function is atomic and audited."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tandem.audit.actors import Actor, as_actor
from tandem.audit.services import audit_record, audit_record_rows
from tandem.campaigns.models import Campaign, CampaignMember
from tandem.crm.models import Account, Person, StageChange
from tandem.crm.services import lifecycle_transition
from tandem.handoff import permissions
from tandem.handoff.models import (
    OPEN_STATUSES,
    Handoff,
    HandoffStatus,
    LedgerKind,
    MqlGoal,
    Notification,
    RoutingBalance,
    RoutingLedgerEntry,
    TimeOff,
)
from tandem.handoff.routing import (
    MANUAL_POOL,
    OWNER_POOL,
    Balance,
    Decision,
    Lead,
    Pool,
    Rep,
    Router,
    RoutingSection,
    routing_parse,
)
from tandem.lib.bulk_insert import BulkInserter, allocate_ids, loading
from tandem.lib.rules import Facts, aggregate_values
from tandem.sla.services import (
    CLOCK_FIELDS,
    handoff_sla_start,
    sla_clocks_check,
    sla_clocks_prepare,
    sla_clocks_started,
)
from tandem.users.models import Role, Team, User

ROUTABLE_ROLES = (Role.SDR, Role.AE)
OWNER_ROLES = (Role.SDR, Role.AE, Role.SALES_MANAGER)
BATCH_SIZE = 2000
# People routed in one transaction: a burst of 10,000 MQLs is decided and written at once.
ROUTE_BATCH_SIZE = 10_000
ROUTING_ACTOR = Actor.rule("Hand-off routing")


# ---------------------------------------------------------------- notifications


def notification_send(*, user: User, kind: str, text: str, dedupe_key: str, link: str = "") -> Notification | None:
    """Tell a user something in the app, once: a second call with the same dedupe key does nothing (None)."""
    if Notification.objects.filter(dedupe_key=dedupe_key).exists():
        return None
    try:
        with transaction.atomic():
            return Notification.objects.create(
                user=user, kind=kind, text=text[:500], link=link[:300], dedupe_key=dedupe_key, created_at=timezone.now()
            )
    except IntegrityError:
        return None  # sent at the same moment by another worker


def notification_mark_read(*, notification: Notification, by: User) -> Notification:
    """Mark one of the user's own notifications read."""
    if notification.user_id != by.pk:
        raise PermissionDenied("This notification is someone else's.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


# ---------------------------------------------------------------- loading what routing needs


def routing_section() -> tuple[RoutingSection, int]:
    """The routing section of the contract in force, parsed, and the version's number."""
    from tandem.contract.selectors import active_version

    version = active_version()
    return routing_parse(version.document.get("routing"), document=version.document), version.number


def _local_midnight(at: dt.datetime, time_zone: str) -> dt.datetime:
    try:
        zone = zoneinfo.ZoneInfo(time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    local = at.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _load_router(section: RoutingSection, *, at: dt.datetime, owner_ids: Iterable[int] = ()) -> Router:
    """A router with the pools of every rule, the reps' availability at `at` and their balances."""
    teams = {team.name: team for team in Team.objects.filter(name__in={rule.team for rule in section.rules})}
    emails = {spec.email for rule in section.rules for spec in rule.reps or ()}
    by_email = {user.email.lower(): user for user in User.objects.filter(email__in=emails, is_active=True)}
    team_members: dict[int, list[User]] = defaultdict(list)
    for user in User.objects.filter(
        team__in=[team.pk for team in teams.values()], role__in=ROUTABLE_ROLES, is_active=True
    ).order_by("pk"):
        team_members[user.team_id].append(user)
    users: dict[int, User] = {}
    caps: dict[int, int] = {}
    pools: dict[str, Pool] = {}
    for rule in section.rules:
        team = teams.get(rule.team)
        members = []
        if rule.reps is not None:
            for spec in rule.reps:
                user = by_email.get(spec.email)
                if user is not None:
                    members.append((user.pk, spec.weight))
                    users[user.pk] = user
                    if spec.daily_cap is not None:
                        caps.setdefault(user.pk, spec.daily_cap)
        elif team is not None:
            for user in team_members[team.pk]:
                members.append((user.pk, 1.0))
                users[user.pk] = user
        pools[rule.name] = Pool(name=rule.name, team_id=team.pk if team else None, members=tuple(members))
    owner_ids = set(owner_ids) - users.keys()
    if owner_ids and section.owner_first:
        for user in User.objects.filter(pk__in=owner_ids, role__in=OWNER_ROLES, is_active=True):
            users[user.pk] = user
    away = set(
        TimeOff.objects.filter(user__in=list(users), starts_at__lte=at, ends_at__gt=at).values_list(
            "user_id", flat=True
        )
    )
    reps = {
        user_id: Rep(
            user_id=user_id,
            name=str(user),
            daily_cap=caps.get(user_id, section.daily_cap),
            is_away=user_id in away,
            assigned_today=0,
        )
        for user_id, user in users.items()
    }
    midnights = {user_id: _local_midnight(at, user.time_zone) for user_id, user in users.items()}
    if midnights:
        recent = Handoff.objects.filter(
            assignee__in=list(users), routed_at__gte=min(midnights.values()), routed_at__lte=at
        ).values_list("assignee_id", "routed_at")
        for user_id, routed_at in recent:
            if routed_at >= midnights[user_id]:
                reps[user_id].assigned_today += 1
    balances = {
        (row.pool, row.user_id): Balance(expected=row.expected, assigned=row.assigned)
        for row in RoutingBalance.objects.filter(pool__in=[*pools, OWNER_POOL], user__in=list(users))
    }
    return Router(section, pools, reps, balances)


PersonRows = list[tuple[dict, dict | None]]


def _rows_of(people: Iterable[Person]) -> PersonRows:
    """Model instances as the plain (person, account) rows routing reads."""
    return [(vars(person), vars(person.account) if person.account_id else None) for person in people]


def _leads(people: PersonRows, section: RoutingSection, *, at: dt.datetime) -> dict[int, Lead]:
    """What routing needs of each person, from plain rows by attribute name (`id`, `owner_id`, `region` ...)."""
    aggregates = {aggregate.key: aggregate for rule in section.conditions for aggregate in rule.aggregates}
    values = aggregate_values(list(aggregates.values()), as_of=at) if aggregates else {}
    defaults = {key: 0 if aggregate.function == "count" else None for key, aggregate in aggregates.items()}
    leads = {}
    for person, account in people:
        person_id = person["id"]
        owners = tuple(
            dict.fromkeys(
                owner
                for owner in (person.get("owner_id"), account.get("owner_id") if account else None)
                if owner is not None
            )
        )
        facts = Facts(
            person=person,
            account=account,
            aggregates={key: values[key].get(person_id, default) for key, default in defaults.items()},
            as_of=at,
        )
        leads[person_id] = Lead(person_id=person_id, facts=facts, owner_ids=owners)
    return leads


def _source_campaigns(people: list[dict]) -> dict[int, int]:
    """Each person's source campaign: the campaign of their first UTM campaign, else their first membership."""
    by_utm = {}
    utm_values = {person["utm_campaign"] for person in people if person["utm_campaign"]}
    if utm_values:
        for campaign_id, utm in (
            Campaign.objects.filter(utm_campaign__in=utm_values).order_by("-pk").values_list("pk", "utm_campaign")
        ):
            by_utm[utm] = campaign_id
    found = {person["id"]: by_utm[person["utm_campaign"]] for person in people if person["utm_campaign"] in by_utm}
    remaining = [person["id"] for person in people if person["id"] not in found]
    if remaining:
        members = (
            CampaignMember.objects.filter(person_id__in=remaining)
            .order_by("person_id", "created_at", "pk")
            .values_list("person_id", "campaign_id")
        )
        for person_id, campaign_id in members:
            found.setdefault(person_id, campaign_id)
    return found


def _segment(evidence: dict, tier: int | None) -> str:
    """The MQL segment the person qualified in, else their account's ICP tier."""
    if evidence.get("segment"):
        return str(evidence["segment"])[:80]
    return f"ICP tier {tier}" if tier else ""


# ---------------------------------------------------------------- writing decisions


def _write_decisions(
    router: Router,
    decisions: list[tuple[Handoff, Decision]],
    *,
    at: dt.datetime,
    by,
    kind: str = LedgerKind.ROUTED,
) -> None:
    """Store the decisions: hand-offs, their ledger lines, the pools' balances, people's owners, notices.

    Each routed hand-off gets a ledger line for its rep (assigned 1); what every available rep was
    expected to get is written as one line per pool and rep for the whole call (the sum of their
    shares), so a burst of 10,000 leads writes 10,000 lines, not one per rep per lead.
    """
    actor = as_actor(by)
    by_id = actor.user.pk if actor.user is not None and actor.user.pk else None
    shares: dict[tuple[str, int], list] = {}
    for handoff, decision in decisions:
        handoff.routing_rule = decision.pool or handoff.routing_rule
        handoff.routing_reason = decision.reason[:500]
        handoff.team_id = decision.team_id
        if decision.user_id is None:
            handoff.status = HandoffStatus.QUEUED
            handoff.assignee_id = None
            continue
        handoff.status = HandoffStatus.PENDING
        handoff.assignee_id = decision.user_id
        handoff.routed_at = at
        for user_id, weight, share in decision.shares:
            line = shares.setdefault((decision.pool, user_id), [0.0, weight, decision.team_id, 0])
            line[0] += share
            line[3] += 1
    clocks = sla_clocks_prepare(handoffs=[handoff for handoff, decision in decisions if decision.user_id], at=at)
    inserter = BulkInserter()
    if decisions and decisions[0][0].pk is None:
        for (handoff, _), pk in zip(decisions, allocate_ids(Handoff, len(decisions)), strict=True):
            handoff.pk = pk
        fields = [field.attname for field in Handoff._meta.concrete_fields]
        inserter.write(Handoff, [{name: getattr(handoff, name) for name in fields} for handoff, _ in decisions])
    else:
        Handoff.objects.bulk_update(
            [handoff for handoff, _ in decisions],
            ["routing_rule", "routing_reason", "team", "status", "assignee", "routed_at", *CLOCK_FIELDS],
            batch_size=BATCH_SIZE,
        )
    sla_clocks_started(handoffs=clocks)
    lines = [
        {
            "pool": decision.pool,
            "user_id": decision.user_id,
            "handoff_id": handoff.pk,
            "team_id": decision.team_id,
            "kind": kind,
            "weight": next(weight for user_id, weight, _ in decision.shares if user_id == decision.user_id),
            "expected": 0.0,
            "assigned": 1,
            "at": at,
            "by_id": by_id,
            "reason": decision.reason[:500],
        }
        for handoff, decision in decisions
        if decision.user_id is not None
    ]
    for (pool, user_id), (expected, weight, team_id, count) in shares.items():
        lines.append(
            {
                "pool": pool,
                "user_id": user_id,
                "handoff_id": decisions[0][0].pk if len(decisions) == 1 else None,
                "team_id": team_id,
                "kind": LedgerKind.EXPECTED,
                "weight": weight,
                "expected": expected,
                "assigned": 0,
                "at": at,
                "by_id": by_id,
                "reason": f"Share by weight of {count} routing decision{'s' if count != 1 else ''}",
            }
        )
    inserter.write(RoutingLedgerEntry, lines)
    _save_balances(router, set(shares), at=at)
    _set_owners([(handoff, decision) for handoff, decision in decisions if decision.user_id is not None], by=by)
    _notify_queued([handoff for handoff, decision in decisions if decision.user_id is None])


def _save_balances(router: Router, keys: set[tuple[str, int]], *, at: dt.datetime) -> None:
    existing = {
        (row.pool, row.user_id): row
        for row in RoutingBalance.objects.filter(
            pool__in={pool for pool, _ in keys}, user__in={user for _, user in keys}
        )
    }
    changed, new = [], []
    for key in keys:
        balance = router.balance(*key)
        row = existing.get(key)
        if row is None:
            new.append(
                RoutingBalance(
                    pool=key[0], user_id=key[1], expected=balance.expected, assigned=balance.assigned, updated_at=at
                )
            )
        else:
            row.expected, row.assigned, row.updated_at = balance.expected, balance.assigned, at
            changed.append(row)
    RoutingBalance.objects.bulk_update(changed, ["expected", "assigned", "updated_at"], batch_size=BATCH_SIZE)
    RoutingBalance.objects.bulk_create(new, batch_size=BATCH_SIZE)


def _set_owners(assigned: list[tuple[Handoff, Decision]], *, by) -> None:
    """The rep a lead is routed to becomes the person's owner (one update per rep), audited per hand-off."""
    by_user: dict[int, list[int]] = defaultdict(list)
    for handoff, decision in assigned:
        by_user[decision.user_id].append(handoff.person_id)
    now = timezone.now()
    for user_id, person_ids in by_user.items():
        for start in range(0, len(person_ids), ROUTE_BATCH_SIZE):
            chunk = person_ids[start : start + ROUTE_BATCH_SIZE]
            Person.objects.filter(pk__in=chunk).exclude(owner_id=user_id).update(owner_id=user_id, updated_at=now)
    audit_record_rows(
        by=by,
        action="handoff_route",
        entity_type=Handoff._meta.label_lower,
        rows=[
            (
                handoff.pk,
                None,
                {"assignee": decision.user_id, "pool": decision.pool},
                f"Hand-off routed: {decision.reason}",
            )
            for handoff, decision in assigned
        ],
    )


def _notify_queued(queued: list[Handoff]) -> None:
    """Tell each queued hand-off's team manager (RevOps when the team has none) that it waits."""
    if not queued:
        return
    teams = {team.pk: team for team in Team.objects.filter(pk__in={h.team_id for h in queued if h.team_id})}
    revops = list(User.objects.filter(role=Role.REVOPS, is_active=True))
    for handoff in queued:
        team = teams.get(handoff.team_id)
        recipients = [team.manager] if team is not None and team.manager_id else revops
        where = f"the {team.name} queue" if team is not None else "no team's queue (the rule's team does not exist)"
        for user in recipients:
            notification_send(
                user=user,
                kind="handoff_queued",
                text=f"A new MQL waits in {where}: {handoff.routing_reason}",
                link=f"/handoff/{handoff.pk}/",
                dedupe_key=f"handoff:{handoff.pk}:queued:{handoff.routing_rule}:{user.pk}",
            )


# ---------------------------------------------------------------- routing


def handoff_route_queue(*, person_id: int) -> None:
    """Route the person once the transaction that made them MQL commits (on the worker)."""
    from tandem.handoff.tasks import handoff_route

    transaction.on_commit(lambda: handoff_route(person_id))


def handoffs_route(*, person_ids: Iterable[int], at: dt.datetime | None = None) -> list[Handoff]:
    """Hand each MQL among these people to a rep (or their team's queue); safe to run twice.

    People no longer in MQL, or whose latest MQL entry already has a hand-off, are left alone.
    """
    at = at or timezone.now()
    section, version = routing_section()
    created: list[Handoff] = []
    ids = sorted(set(person_ids))
    for start in range(0, len(ids), ROUTE_BATCH_SIZE):
        created += _route_batch(ids[start : start + ROUTE_BATCH_SIZE], section, version, at=at)
    return created


def unrouted_mql_ids(*, since: dt.datetime, limit: int = 10_000) -> list[int]:
    """People who became MQL since `since` and have no open hand-off: what a burst leaves for the worker."""
    return list(
        Person.objects.filter(lifecycle_stage_id="mql", stage_entered_at__gte=since)
        .exclude(handoffs__status__in=OPEN_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


# A burst at least this large commits without waiting for the log flush on PostgreSQL: a crash may lose
# the last burst's routing, never half of it, and the periodic sweep routes those MQLs again.
ASYNC_COMMIT_FROM = 500


def _route_batch(ids: list[int], section: RoutingSection, version: int, *, at: dt.datetime) -> list[Handoff]:
    with loading() if len(ids) >= ASYNC_COMMIT_FROM else nullcontext(), transaction.atomic():
        # Lock first: a second worker routing the same burst waits, then finds these people routed.
        _lock_pools(section)
        person_columns = {column for rule in section.conditions for column in rule.person_columns}
        account_columns = {column for rule in section.conditions for column in rule.account_columns}
        people = list(
            Person.objects.filter(pk__in=ids, lifecycle_stage_id="mql")
            .exclude(handoffs__status__in=OPEN_STATUSES)
            .order_by("pk")
            .values("id", "account_id", "owner_id", "source", "utm_campaign", *person_columns)
        )
        if not people:
            return []
        entries: dict[int, tuple] = {}
        changes = (
            StageChange.objects.filter(person__in=[person["id"] for person in people], to_stage_id="mql")
            .order_by("at", "pk")
            .values_list("person_id", "pk", "contract_version", "evidence")
        )
        for person_id, *change in changes:
            entries[person_id] = change
        done = set(
            Handoff.objects.filter(mql_stage_change__in=[change[0] for change in entries.values()]).values_list(
                "mql_stage_change_id", flat=True
            )
        )
        people = [p for p in people if p["id"] not in entries or entries[p["id"]][0] not in done]
        if not people:
            return []
        accounts = {
            row["id"]: row
            for row in Account.objects.filter(pk__in={p["account_id"] for p in people if p["account_id"]}).values(
                "id", "owner_id", "icp_tier", *account_columns
            )
        }
        rows = [(person, accounts.get(person["account_id"])) for person in people]
        leads = _leads(rows, section, at=at)
        router = _load_router(section, at=at, owner_ids={o for lead in leads.values() for o in lead.owner_ids})
        campaigns = _source_campaigns(people)
        decisions = []
        for person, account in rows:
            change_id, change_version, evidence = entries.get(person["id"], (None, None, None))
            tier = account["icp_tier"] if account else None
            handoff = Handoff(
                person_id=person["id"],
                account_id=person["account_id"],
                contract_version=change_version or version,
                segment=_segment(evidence or {}, tier),
                icp_tier=tier,
                source=person["source"],
                campaign_id=campaigns.get(person["id"]),
                mql_stage_change_id=change_id,
                created_at=at,
            )
            decisions.append((handoff, router.route(leads[person["id"]])))
        _write_decisions(router, decisions, at=at, by=ROUTING_ACTOR)
        return [handoff for handoff, _ in decisions]


def _lock_pools(section: RoutingSection) -> None:
    """Serialise routing decisions of the same pools across workers (a no-op on SQLite, which serialises writes)."""
    pools = [rule.name for rule in section.rules] + [OWNER_POOL]
    list(RoutingBalance.objects.select_for_update().filter(pool__in=pools).order_by("pk").values_list("pk"))


def handoffs_route_queued(*, team: Team | None = None, at: dt.datetime | None = None) -> int:
    """Try again to give the hand-offs waiting in team queues to a rep; returns how many found one."""
    at = at or timezone.now()
    section, _ = routing_section()
    queued = Handoff.objects.filter(status=HandoffStatus.QUEUED).select_related("person__account").order_by("pk")
    if team is not None:
        queued = queued.filter(team=team)
    with transaction.atomic():
        handoffs = list(queued.select_for_update(of=("self",))[:BATCH_SIZE])
        if not handoffs:
            return 0
        _lock_pools(section)
        leads = _leads(_rows_of(handoff.person for handoff in handoffs), section, at=at)
        router = _load_router(section, at=at, owner_ids={o for lead in leads.values() for o in lead.owner_ids})
        decisions = [(handoff, router.route(leads[handoff.person_id])) for handoff in handoffs]
        assigned = [(handoff, decision) for handoff, decision in decisions if decision.user_id is not None]
        if assigned:
            _write_decisions(router, assigned, at=at, by=ROUTING_ACTOR)
        return len(assigned)


def handoff_reassign(*, handoff: Handoff, by, to_user: User | None = None, reason: str = "") -> Handoff:
    """Give an open hand-off to another rep, recorded in both reps' ledgers; `to_user` None lets routing choose.

    The lead moves between the reps' balances (-1, +1) without changing what either was expected to get,
    so fairness stays measured against the weights.
    """
    actor = as_actor(by)
    if actor.user is not None and not permissions.can_reassign_handoff(actor.user, handoff):
        raise PermissionDenied("Only the team's sales manager or RevOps may reassign a hand-off.")
    at = timezone.now()
    with transaction.atomic():
        handoff = Handoff.objects.select_for_update(of=("self",)).select_related("person__account").get(pk=handoff.pk)
        if not handoff.is_open:
            raise ValidationError(
                {"handoff": f"This hand-off is {handoff.get_status_display().lower()}; it is closed."}
            )
        previous = handoff.assignee_id
        pool = handoff.routing_rule if handoff.routing_rule and handoff.routing_rule != OWNER_POOL else MANUAL_POOL
        if to_user is None:
            section, _ = routing_section()
            _lock_pools(section)
            lead = _leads(_rows_of([handoff.person]), section, at=at)[handoff.person_id]
            router = _load_router(section, at=at, owner_ids=lead.owner_ids)
            decision = router.route(lead, exclude=[previous] if previous else [])
            if decision.user_id is None:
                raise ValidationError({"to_user": f"No other rep is available: {decision.reason}"})
            to_user_id, text = decision.user_id, reason or decision.reason
            pool = decision.pool if decision.pool != OWNER_POOL else pool
        else:
            if to_user.role not in OWNER_ROLES or not to_user.is_active:
                raise ValidationError({"to_user": f"{to_user} is not an active sales rep."})
            if to_user.pk == previous:
                raise ValidationError({"to_user": f"The hand-off is already {to_user}'s."})
            to_user_id, text = to_user.pk, reason or "Reassigned by hand."
        text = text.strip()[:500]
        lines = [
            RoutingLedgerEntry(
                pool=pool,
                user_id=to_user_id,
                handoff=handoff,
                team_id=handoff.team_id,
                kind=LedgerKind.REASSIGNED_IN,
                assigned=1,
                at=at,
                by=actor.user if actor.user is not None and actor.user.pk else None,
                reason=text,
            )
        ]
        if previous:
            lines.append(
                RoutingLedgerEntry(
                    pool=pool,
                    user_id=previous,
                    handoff=handoff,
                    team_id=handoff.team_id,
                    kind=LedgerKind.REASSIGNED_OUT,
                    assigned=-1,
                    at=at,
                    by=lines[0].by,
                    reason=text,
                )
            )
        RoutingLedgerEntry.objects.bulk_create(lines)
        for line in lines:
            row, _ = RoutingBalance.objects.select_for_update().get_or_create(
                pool=pool, user_id=line.user_id, defaults={"updated_at": at}
            )
            row.assigned += line.assigned
            row.updated_at = at
            row.save(update_fields=["assigned", "updated_at"])
        handoff.assignee_id = to_user_id
        handoff.status = HandoffStatus.PENDING
        handoff.routed_at = at
        handoff.save(update_fields=["assignee", "status", "routed_at"])
        handoff_sla_start(handoff=handoff, at=at)
        Person.objects.filter(pk=handoff.person_id).update(owner_id=to_user_id, updated_at=at)
        audit_record(
            by=by,
            action="handoff_reassign",
            instance=handoff,
            before={"assignee": previous},
            after={"assignee": to_user_id},
            summary=f"Hand-off reassigned: {text}",
        )
        to = User.objects.get(pk=to_user_id)
        notification_send(
            user=to,
            kind="handoff_assigned",
            text=f"{handoff.person} was reassigned to you: {text}",
            link=f"/handoff/{handoff.pk}/",
            dedupe_key=f"handoff:{handoff.pk}:assigned:{to_user_id}:{at.isoformat()}",
        )
    return handoff


# ---------------------------------------------------------------- accept or reject


def rejection_reasons() -> dict[str, dict]:
    """The contract's rejection reasons by key: {key: {label, outcome}}."""
    from tandem.contract.selectors import active_document

    return {reason["key"]: reason for reason in active_document().get("rejection_reasons") or []}


def _decide_check(handoff: Handoff, user: User) -> Handoff:
    if not permissions.can_decide_handoff(user, handoff):
        raise PermissionDenied("Only the rep the hand-off is assigned to, or their sales manager, may decide it.")
    locked = Handoff.objects.select_for_update().select_related("person").get(pk=handoff.pk)
    if not locked.is_open:
        raise ValidationError({"handoff": f"This hand-off is already {locked.get_status_display().lower()}."})
    if not permissions.can_decide_handoff(user, locked):
        raise PermissionDenied("Only the rep the hand-off is assigned to, or their sales manager, may decide it.")
    return locked


def handoff_accept(*, handoff: Handoff, by: User, note: str = "") -> Handoff:
    """Sales accepts the hand-off: the person becomes SAL, with the hand-off as evidence."""
    with transaction.atomic():
        handoff = _decide_check(handoff, by)
        now = timezone.now()
        lifecycle_transition(
            person=handoff.person,
            to_stage="sal",
            by=by,
            reason=f"Hand-off accepted by {by}" + (f": {note.strip()}" if note.strip() else ""),
            evidence={
                "rule": "handoff_accept",
                "handoff": handoff.pk,
                "assignee": handoff.assignee_id,
                "routing_rule": handoff.routing_rule,
                "text": f"Sales accepted hand-off #{handoff.pk}",
            },
            contract_version=handoff.contract_version,
            at=now,
        )
        before = {"status": handoff.status}
        handoff.status = HandoffStatus.ACCEPTED
        handoff.accepted_at = now
        handoff.decided_by = by
        if handoff.assignee_id is None:
            handoff.assignee = by
            handoff.routed_at = now
        handoff.save(update_fields=["status", "accepted_at", "decided_by", "assignee", "routed_at"])
        sla_clocks_check(handoff_ids=[handoff.pk], now=now)  # a decision is a first response
        audit_record(
            by=by,
            action="handoff_accept",
            instance=handoff,
            before=before,
            after={"status": handoff.status},
            summary="Hand-off accepted",
        )
    return handoff


def handoff_reject(*, handoff: Handoff, by: User, reason: str | None, note: str = "") -> Handoff:
    """Sales rejects the hand-off with a reason from the contract's list; the person goes where the reason says."""
    reasons = rejection_reasons()
    if not reason:
        raise ValidationError({"reason": f"A reason is required: one of {', '.join(reasons)}."})
    if reason not in reasons:
        raise ValidationError(
            {"reason": f"'{reason[:40]}' is not a rejection reason; expected one of {', '.join(reasons)}."}
        )
    outcome = reasons[reason]["outcome"]
    note = (note or "").strip()
    with transaction.atomic():
        handoff = _decide_check(handoff, by)
        now = timezone.now()
        label = reasons[reason]["label"]
        lifecycle_transition(
            person=handoff.person,
            to_stage=outcome,
            by=by,
            reason=f"Hand-off rejected: {label}" + (f" ({note[:300]})" if note else ""),
            evidence={
                "rule": "handoff_reject",
                "handoff": handoff.pk,
                "rejection_reason": reason,
                "rejection_label": label,
                "outcome": outcome,
                "note": note[:1000],
                "text": f"Sales rejected hand-off #{handoff.pk}: {label}",
            },
            contract_version=handoff.contract_version,
            at=now,
        )
        before = {"status": handoff.status}
        handoff.status = HandoffStatus.REJECTED
        handoff.rejected_at = now
        handoff.decided_by = by
        handoff.rejection_reason = reason
        handoff.rejection_outcome = outcome
        handoff.rejection_note = note
        if handoff.assignee_id is None:
            handoff.assignee = by
            handoff.routed_at = now
        handoff.save(
            update_fields=[
                "status",
                "rejected_at",
                "decided_by",
                "rejection_reason",
                "rejection_outcome",
                "rejection_note",
                "assignee",
                "routed_at",
            ]
        )
        sla_clocks_check(handoff_ids=[handoff.pk], now=now)  # a decision is a first response
        audit_record(
            by=by,
            action="handoff_reject",
            instance=handoff,
            before=before,
            after={"status": handoff.status, "rejection_reason": reason, "outcome": outcome},
            summary=f"Hand-off rejected: {label}",
        )
    return handoff


# ---------------------------------------------------------------- time off and goals


def time_off_create(*, user: User, starts_at: dt.datetime, ends_at: dt.datetime, by, note: str = "") -> TimeOff:
    """Record a period a user is away; routing skips them during it."""
    actor = as_actor(by)
    if actor.user is not None and not permissions.can_manage_time_off(actor.user, user):
        raise PermissionDenied("Only the user, their manager or RevOps may record their time off.")
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "The end must be after the start."})
    time_off = TimeOff.objects.create(
        user=user,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note.strip()[:200],
        created_at=timezone.now(),
        created_by=actor.user if actor.user is not None and actor.user.pk else None,
    )
    audit_record(by=by, action="create", instance=time_off, summary=f"Time off for {user}")
    return time_off


def mql_goal_set(*, period_start: dt.date, period_end: dt.date, target: int, by, segment: str = "") -> MqlGoal:
    """Set marketing's MQL target for a period (and segment); setting it again replaces the target."""
    actor = as_actor(by)
    if actor.user is not None and not permissions.can_set_mql_goal(actor.user):
        raise PermissionDenied("Only marketing managers and RevOps set MQL goals.")
    if period_end < period_start:
        raise ValidationError({"period_end": "The period must end on or after its start."})
    if target < 1:
        raise ValidationError({"target": "The target must be at least 1."})
    segment = segment.strip()[:80]
    goal = MqlGoal.objects.filter(period_start=period_start, period_end=period_end, segment=segment).first()
    before = {"target": goal.target} if goal else None
    if goal is None:
        goal = MqlGoal.objects.create(
            period_start=period_start,
            period_end=period_end,
            segment=segment,
            target=target,
            created_at=timezone.now(),
            created_by=actor.user if actor.user is not None and actor.user.pk else None,
        )
    else:
        goal.target = target
        goal.save(update_fields=["target"])
    audit_record(
        by=by, action="mql_goal_set", instance=goal, before=before, after={"target": target}, summary=str(goal)
    )
    return goal
