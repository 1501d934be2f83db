"""API of campaigns and their members."""

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.core.exceptions import PermissionDenied
from ninja import Field, Query, Router, Schema, Status

from tandem.campaigns import selectors, services
from tandem.campaigns.models import Campaign, CampaignMember, CampaignType, Channel, MemberStatus
from tandem.campaigns.permissions import can_edit_campaign
from tandem.crm.models import Person
from tandem.lib.http_api import (
    Input,
    PageCursor,
    PageLimit,
    RecordId,
    acting_as,
    get_or_404,
    owner_filter,
    owner_reference,
    page_response,
    patch_schema,
)

router = Router()


class CampaignOut(Schema):
    id: int
    name: str
    channel: str
    type: str
    cost: Decimal
    start_date: dt.date | None
    end_date: dt.date | None
    owner: int | None = Field(validation_alias="owner_id")
    owner_email: str | None = None
    goal: str
    utm_campaign: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_owner_email(campaign) -> str | None:
        return campaign.owner.email if campaign.owner_id else None


class CampaignPage(Schema):
    items: list[CampaignOut]
    next_cursor: str | None


class CampaignIn(Input):
    name: str
    channel: Channel
    type: CampaignType = CampaignType.OTHER
    cost: Decimal = Field(Decimal(0), ge=0)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    owner: RecordId | None = Field(None, description="A user id.")
    goal: str = ""
    utm_campaign: str = ""


CampaignPatch = patch_schema(CampaignIn)


class CampaignQuery(Input):
    q: str = Field("", max_length=100, description="Part of the name.")
    channel: Channel | None = None
    type: CampaignType | None = None
    owner: str = Field("", description="A user id, or 'me'.")
    sort: Literal["created", "name"] = "created"
    cursor: PageCursor = None
    limit: PageLimit = 25


class MemberOut(Schema):
    id: int
    campaign: int = Field(validation_alias="campaign_id")
    person: int = Field(validation_alias="person_id")
    status: str
    responded_at: dt.datetime | None
    created_at: dt.datetime


class MemberPage(Schema):
    items: list[MemberOut]
    next_cursor: str | None


class MemberIn(Input):
    status: MemberStatus = MemberStatus.TARGETED


class MemberQuery(Input):
    cursor: PageCursor = None
    limit: PageLimit = 25


def _with_owner(data: dict) -> dict:
    if "owner" in data:
        data["owner"] = owner_reference(data["owner"])
    return data


def _read_campaign(campaign_id: int) -> Campaign:
    # Writes answer with the record as stored, so values look the same as on a later read.
    return get_or_404(Campaign.objects.select_related("owner"), campaign_id, "Campaign")


def _editable_campaign(request, campaign_id: int) -> Campaign:
    campaign = get_or_404(Campaign.objects.select_related("owner"), campaign_id, "Campaign")
    if not can_edit_campaign(request.user, campaign):
        raise PermissionDenied("Campaigns are changed by their owner, marketing managers and RevOps.")
    return campaign


@router.get("/campaigns", response=CampaignPage, tags=["Campaigns"])
def list_campaigns(request, query: Query[CampaignQuery]):
    owner_id, _ = owner_filter(request, query.owner, allows_unowned=False)
    page = selectors.campaign_page(
        search=query.q,
        channel=query.channel or "",
        type=query.type or "",
        owner_id=owner_id,
        sort=query.sort,
        cursor=query.cursor,
        limit=query.limit,
    )
    return page_response(page)


@router.post("/campaigns", response={201: CampaignOut}, tags=["Campaigns"])
def create_campaign(request, payload: CampaignIn):
    if not can_edit_campaign(request.user):
        raise PermissionDenied("Campaigns are created by marketing and RevOps.")
    data = _with_owner(payload.model_dump(exclude_unset=True))
    campaign = services.campaign_create(by=acting_as(request), **data)
    return Status(201, _read_campaign(campaign.pk))


@router.get("/campaigns/{campaign_id}", response=CampaignOut, tags=["Campaigns"])
def get_campaign(request, campaign_id: RecordId):
    return _read_campaign(campaign_id)


@router.patch("/campaigns/{campaign_id}", response=CampaignOut, tags=["Campaigns"])
def update_campaign(request, campaign_id: RecordId, payload: CampaignPatch):
    campaign = _editable_campaign(request, campaign_id)
    changes = _with_owner(payload.model_dump(exclude_unset=True))
    services.campaign_update(by=acting_as(request), campaign=campaign, changes=changes)
    return _read_campaign(campaign.pk)


@router.delete("/campaigns/{campaign_id}", response={204: None}, tags=["Campaigns"])
def delete_campaign(request, campaign_id: RecordId):
    campaign = _editable_campaign(request, campaign_id)
    services.campaign_delete(by=acting_as(request), campaign=campaign)
    return Status(204, None)


@router.get("/campaigns/{campaign_id}/members", response=MemberPage, tags=["Campaigns"])
def list_campaign_members(request, campaign_id: RecordId, query: Query[MemberQuery]):
    campaign = get_or_404(Campaign.objects.all(), campaign_id, "Campaign")
    return page_response(
        selectors.campaign_member_page(campaign_id=campaign.pk, cursor=query.cursor, limit=query.limit)
    )


@router.put("/campaigns/{campaign_id}/members/{person_id}", response=MemberOut, tags=["Campaigns"])
def set_campaign_member(request, campaign_id: RecordId, person_id: RecordId, payload: MemberIn):
    """Add a person to the campaign, or move their member status; sending it twice is harmless."""
    campaign = _editable_campaign(request, campaign_id)
    person = get_or_404(Person.objects.all(), person_id, "Person")
    member = services.campaign_member_set(
        by=acting_as(request), campaign=campaign, person=person, status=payload.status
    )
    return get_or_404(CampaignMember.objects.all(), member.pk, "Campaign member")
