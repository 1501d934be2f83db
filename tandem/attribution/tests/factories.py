"""A small company with known journeys, written straight to the tables with exact times."""

import datetime as dt
from decimal import Decimal

from tandem.audit.actors import ActorType
from tandem.campaigns.models import Campaign
from tandem.crm.models import Account, Opportunity, Person, StageChange
from tandem.engagement.models import Touchpoint

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def at(days: float) -> dt.datetime:
    """T0 plus `days` days."""
    return T0 + dt.timedelta(days=days)


def make_campaign(name: str, channel: str = "email", cost: str = "0", **fields) -> Campaign:
    return Campaign.objects.create(
        name=name, channel=channel, cost=Decimal(cost), created_at=T0, updated_at=T0, **fields
    )


def make_account(name: str = "Acme") -> Account:
    return Account.objects.create(name=name, created_at=T0, updated_at=T0)


def make_person(email: str, *, created: float = 0, account: Account | None = None, stage: str = "lead") -> Person:
    moment = at(created)
    name = email.split("@")[0].capitalize()
    return Person.objects.create(
        email=email,
        first_name=name,
        account=account,
        lifecycle_stage_id=stage,
        stage_entered_at=moment,
        last_activity_at=moment,
        created_at=moment,
        updated_at=moment,
    )


def touch(person: Person, campaign: Campaign | None, days: float, *, channel: str = "", type: str = "email_click"):
    return Touchpoint.objects.create(
        person=person,
        campaign=campaign,
        channel=channel or (campaign.channel if campaign else ""),
        type=type,
        occurred_at=at(days),
    )


def stage(person: Person, to_stage: str, days: float, *, from_stage: str | None = None, reason: str = ""):
    return StageChange.objects.create(
        person=person,
        from_stage_id=from_stage,
        to_stage_id=to_stage,
        at=at(days),
        actor_type=ActorType.SYSTEM,
        actor_label="tests",
        reason=reason,
    )


def opportunity(
    account, name: str, amount: str, *, created: float, won: float | None = None, lost: float | None = None, person=None
):
    closed = won if won is not None else lost
    return Opportunity.objects.create(
        account=account,
        primary_person=person,
        name=name,
        amount=Decimal(amount),
        stage_id="closed_won" if won is not None else ("closed_lost" if lost is not None else "discovery"),
        probability=100 if won is not None else 10,
        forecast_category="closed" if closed is not None else "pipeline",
        is_closed=closed is not None,
        is_won=won is not None,
        closed_at=at(closed) if closed is not None else None,
        close_date=at(closed).date() if closed is not None else None,
        created_at=at(created),
        updated_at=at(created),
    )
