"""Reads of campaigns."""

from django.db.models import Count, Q

from tandem.campaigns.models import Campaign


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
