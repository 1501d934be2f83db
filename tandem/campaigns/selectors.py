"""Reads of campaigns."""

from django.core.exceptions import ValidationError
from django.db.models import Count, Q

from tandem.campaigns.models import Campaign, CampaignMember
from tandem.lib.keyset import Page, keyset_page

CAMPAIGN_SORTS = {
    "created": ["-created_at", "-id"],
    "name": ["name", "id"],
}


def campaign_list(*, search: str = "", channel: str = ""):
    query = Campaign.objects.select_related("owner").annotate(
        member_count=Count("members", distinct=True),
        responded_count=Count("members", filter=Q(members__responded_at__isnull=False), distinct=True),
    )
    if search:
        query = query.filter(name__icontains=search)
    if channel:
        query = query.filter(channel=channel)
    return query.order_by("-start_date", "name")


def campaign_members(campaign: Campaign, limit: int = 100):
    return campaign.members.select_related("person", "person__lifecycle_stage").order_by("-created_at")[:limit]


def campaign_page(
    *,
    search: str = "",
    channel: str = "",
    type: str = "",
    owner_id: int | None = None,
    sort: str = "created",
    cursor: str | None = None,
    limit: int = 25,
) -> Page:
    """A keyset page of campaigns with their owner joined (the API's list)."""
    if sort not in CAMPAIGN_SORTS:
        expected = ", ".join(CAMPAIGN_SORTS)
        raise ValidationError({"sort": f"Unknown sort '{sort}'; expected one of {expected}."})
    query = Campaign.objects.select_related("owner")
    if search:
        query = query.filter(name__icontains=search)
    if channel:
        query = query.filter(channel=channel)
    if type:
        query = query.filter(type=type)
    if owner_id is not None:
        query = query.filter(owner_id=owner_id)
    return keyset_page(query, order=CAMPAIGN_SORTS[sort], cursor=cursor, limit=limit)


def campaign_member_page(*, campaign_id: int, cursor: str | None = None, limit: int = 25) -> Page:
    """A keyset page of a campaign's members, newest first."""
    query = CampaignMember.objects.filter(campaign_id=campaign_id)
    return keyset_page(query, order=["-created_at", "-id"], cursor=cursor, limit=limit)
