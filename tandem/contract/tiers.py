"""ICP tiers: the contract's `icp.tiers` decide each account's `icp_tier`.

Tiers are tried in the order the contract lists them and an account takes the first whose condition
holds; an account that matches none has no tier. A contract without tiers leaves `icp_tier` to people
and imports.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tandem.audit.actors import Actor
from tandem.audit.services import audit_record
from tandem.crm.models import Account
from tandem.lib.rules import Facts, Rule, parse

UPDATE_CHUNK = 2_000


@dataclass(frozen=True)
class Tier:
    """One ICP tier: its number and the rule an account must meet."""

    tier: int
    rule: Rule


def icp_tiers_parse(document: dict) -> list[Tier]:
    """The tiers of a checked contract document, in the order they are tried."""
    items = ((document.get("icp") or {}).get("tiers")) or []
    return [Tier(tier=int(item["tier"]), rule=parse(item["when"])) for item in items]


def _columns(tiers: list[Tier]) -> list[str]:
    return list(dict.fromkeys(column for tier in tiers for column in tier.rule.account_columns))


def account_tier(tiers: list[Tier], account: dict, *, as_of: dt.datetime) -> int | None:
    """The tier an account with these field values is in, or None."""
    facts = Facts(person={}, account=account, aggregates={}, as_of=as_of)
    for tier in tiers:
        if tier.rule.test(facts):
            return tier.tier
    return None


def accounts_tier_all(*, version, as_of: dt.datetime | None = None) -> int:
    """Put every account in its tier under a contract version's tiers; returns how many changed tier."""
    tiers = icp_tiers_parse(version.document)
    contract_version = version.number
    if not tiers:
        return 0
    as_of = as_of or timezone.now()
    columns = _columns(tiers)
    changed: dict[int | None, list[int]] = {}
    rows = Account.objects.values("pk", "icp_tier", *columns).order_by().iterator(chunk_size=20_000)
    for row in rows:
        tier = account_tier(tiers, row, as_of=as_of)
        if tier != row["icp_tier"]:
            changed.setdefault(tier, []).append(row["pk"])
    total = sum(len(ids) for ids in changed.values())
    if not total:
        return 0
    now = timezone.now()
    with transaction.atomic():
        for tier, ids in changed.items():
            for start in range(0, len(ids), UPDATE_CHUNK):
                Account.objects.filter(pk__in=ids[start : start + UPDATE_CHUNK]).update(icp_tier=tier, updated_at=now)
        audit_record(
            by=Actor.rule(f"contract v{contract_version} ICP tiers"),
            action="icp_tiers",
            instance=version,
            summary=f"{total:,} accounts changed ICP tier under contract v{contract_version}: "
            + ", ".join(
                f"{len(ids):,} to {'tier ' + str(tier) if tier else 'no tier'}" for tier, ids in changed.items()
            ),
        )
    return total


def account_tier_refresh(*, account_id: int, version) -> int | None:
    """Recompute one account's tier after its fields changed under a contract version; returns its tier."""
    tiers = icp_tiers_parse(version.document)
    contract_version = version.number
    if not tiers:
        return None
    row = Account.objects.filter(pk=account_id).values("pk", "icp_tier", *_columns(tiers)).first()
    if row is None:
        return None
    tier = account_tier(tiers, row, as_of=timezone.now())
    if tier != row["icp_tier"]:
        account = Account.objects.get(pk=account_id)
        Account.objects.filter(pk=account_id).update(icp_tier=tier, updated_at=timezone.now())
        audit_record(
            by=Actor.rule(f"contract v{contract_version} ICP tiers"),
            action="icp_tier",
            instance=account,
            before={"icp_tier": row["icp_tier"]},
            after={"icp_tier": tier},
            summary=f"ICP tier {tier if tier else 'none'} under contract v{contract_version}",
        )
    return tier
