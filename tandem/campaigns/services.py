"""Writes to campaigns and their membership."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tandem.audit.services import apply_changes, audit_record, snapshot
from tandem.campaigns.models import Campaign, CampaignMember, MemberStatus

CAMPAIGN_FIELDS = ["name", "channel", "type", "cost", "start_date", "end_date", "owner", "goal", "utm_campaign"]


def _cost(value):
    if value in (None, ""):
        return Decimal(0)
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({"cost": f"'{value}' is not a number."}) from None
    if cost < 0:
        raise ValidationError({"cost": "Cost cannot be negative."})
    return cost


def _check_dates(campaign: Campaign) -> None:
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        raise ValidationError({"end_date": "The end date is before the start date."})


@transaction.atomic
def campaign_create(*, by, name: str, channel: str, **fields) -> Campaign:
    """Create a campaign."""
    unknown = sorted(set(fields) - set(CAMPAIGN_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Unknown field."))
    fields["cost"] = _cost(fields.get("cost"))
    now = timezone.now()
    campaign = Campaign(name=(name or "").strip(), channel=channel, created_at=now, updated_at=now, **fields)
    campaign.full_clean()
    _check_dates(campaign)
    campaign.save()
    audit_record(
        by=by,
        action="create",
        instance=campaign,
        after=snapshot(campaign, CAMPAIGN_FIELDS),
        summary=f"Created campaign {campaign.name}",
    )
    return campaign


@transaction.atomic
def campaign_update(*, by, campaign: Campaign, changes: dict) -> Campaign:
    """Change a campaign."""
    changes = dict(changes)
    if "cost" in changes:
        changes["cost"] = _cost(changes["cost"])
    before, after = apply_changes(campaign, changes, CAMPAIGN_FIELDS)
    if not after:
        return campaign
    campaign.full_clean()
    _check_dates(campaign)
    campaign.updated_at = timezone.now()
    campaign.save()
    audit_record(
        by=by, action="update", instance=campaign, before=before, after=after, summary="Changed " + ", ".join(after)
    )
    return campaign


@transaction.atomic
def campaign_delete(*, by, campaign: Campaign) -> None:
    """Delete a campaign; touchpoints and opportunities keep existing without it."""
    audit_record(
        by=by,
        action="delete",
        instance=campaign,
        before=snapshot(campaign, CAMPAIGN_FIELDS),
        summary=f"Deleted campaign {campaign.name}",
    )
    campaign.delete()


@transaction.atomic
def campaign_member_set(*, by, campaign: Campaign, person, status: str = MemberStatus.TARGETED, at=None):
    """Add a person to a campaign or move their member status; adding twice changes nothing."""
    if status not in MemberStatus.values:
        raise ValidationError(
            {"status": f"Unknown member status '{status}'; expected one of {', '.join(MemberStatus.values)}."}
        )
    now = at or timezone.now()
    member, created = CampaignMember.objects.get_or_create(
        campaign=campaign, person=person, defaults={"status": status, "created_at": now}
    )
    if not created and member.status == status:
        return member
    before = None if created else {"status": member.status}
    member.status = status
    if status in {MemberStatus.RESPONDED, MemberStatus.REGISTERED, MemberStatus.ATTENDED} and not member.responded_at:
        member.responded_at = now
    member.save()
    audit_record(
        by=by,
        action="member" if created else "member_status",
        instance=campaign,
        before=before,
        after={"person": person.pk, "status": status},
        summary=f"{person} {'added as' if created else 'now'} {status}",
    )
    return member
