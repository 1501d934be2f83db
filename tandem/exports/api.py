"""API of exports: any list, with the list's filters, as a CSV (streamed) or XLSX download."""

import datetime as dt
from typing import Literal

from django.core.exceptions import PermissionDenied, ValidationError
from ninja import Field, Query, Router

from tandem.campaigns.models import Channel
from tandem.crm.models import ForecastCategory
from tandem.crm.selectors import AccountFilters, OpportunityFilters, PersonFilters
from tandem.engagement.models import TouchpointType
from tandem.exports import permissions
from tandem.exports.downloads import CONTENT_TYPES, download_response
from tandem.exports.models import ExportKind
from tandem.exports.selectors import Filters, TouchpointFilters
from tandem.exports.writers import ExportTooLargeError
from tandem.lib.http_api import Input, RecordId, acting_as, owner_filter

router = Router(tags=["Export"])

DOWNLOAD = {
    "responses": {
        200: {
            "description": "The file: CSV (UTF-8, comma, header row) streamed, or an XLSX workbook.",
            "content": {content_type.split(";")[0]: {} for content_type in CONTENT_TYPES.values()},
        }
    }
}


class ExportQuery(Input):
    format: Literal["csv", "xlsx"] = Field("csv", description="csv (streamed) or xlsx (up to 1,048,575 rows).")


class PersonExportQuery(ExportQuery):
    stage: list[str] = Field(default_factory=list, description="Lifecycle stage keys (repeatable).")
    lead_status: str = ""
    owner: str = Field("", description="A user id, 'me', or 'none' for unowned people.")
    account: RecordId | None = None
    q: str = Field("", max_length=100, description="Start of the email, first or last name.")


class AccountExportQuery(ExportQuery):
    q: str = Field("", max_length=100, description="Start of the name or domain.")
    owner: str = Field("", description="A user id, or 'me'.")
    industry: str = ""
    region: str = ""
    is_target_account: bool | None = None
    icp_tier: int | None = Field(None, ge=0, le=32_767)


class OpportunityExportQuery(ExportQuery):
    q: str = Field("", max_length=100, description="Part of the name.")
    stage: list[str] = Field(default_factory=list, description="Opportunity stage keys (repeatable).")
    owner: str = Field("", description="A user id, or 'me'.")
    account: RecordId | None = None
    is_open: bool | None = None
    forecast_category: ForecastCategory | None = None


class TouchpointExportQuery(ExportQuery):
    person: RecordId | None = None
    campaign: RecordId | None = None
    type: TouchpointType | None = None
    channel: Channel | None = None
    occurred_from: dt.datetime | None = Field(None, description="From this time on (inclusive).")
    occurred_until: dt.datetime | None = Field(None, description="Before this time (exclusive).")


def _download(request, kind: ExportKind, file_format: str, filters: Filters):
    if not permissions.can_export(request.user):
        raise PermissionDenied("You may not export this list.")
    try:
        return download_response(by=acting_as(request), kind=kind, file_format=file_format, filters=filters)
    except ExportTooLargeError as error:
        raise ValidationError({"format": str(error)}) from None


@router.get("/people/export", openapi_extra=DOWNLOAD, summary="Export people")
def export_people(request, query: Query[PersonExportQuery]):
    owner_id, is_unowned = owner_filter(request, query.owner)
    filters = PersonFilters(
        stages=[stage for stage in query.stage if stage],
        lead_status=query.lead_status,
        owner_id=owner_id,
        is_unowned=is_unowned,
        account_id=query.account,
        search=query.q,
    )
    return _download(request, ExportKind.PEOPLE, query.format, filters)


@router.get("/accounts/export", openapi_extra=DOWNLOAD, summary="Export accounts")
def export_accounts(request, query: Query[AccountExportQuery]):
    owner_id, _ = owner_filter(request, query.owner, allows_unowned=False)
    filters = AccountFilters(
        search=query.q,
        owner_id=owner_id,
        industry=query.industry,
        region=query.region,
        is_target_account=query.is_target_account,
        icp_tier=query.icp_tier,
    )
    return _download(request, ExportKind.ACCOUNTS, query.format, filters)


@router.get("/opportunities/export", openapi_extra=DOWNLOAD, summary="Export opportunities")
def export_opportunities(request, query: Query[OpportunityExportQuery]):
    owner_id, _ = owner_filter(request, query.owner, allows_unowned=False)
    filters = OpportunityFilters(
        search=query.q,
        stages=[stage for stage in query.stage if stage],
        owner_id=owner_id,
        account_id=query.account,
        is_open=query.is_open,
        forecast_category=query.forecast_category or "",
    )
    return _download(request, ExportKind.OPPORTUNITIES, query.format, filters)


@router.get("/touchpoints/export", openapi_extra=DOWNLOAD, summary="Export touchpoints")
def export_touchpoints(request, query: Query[TouchpointExportQuery]):
    filters = TouchpointFilters(
        person_id=query.person,
        campaign_id=query.campaign,
        type=query.type or "",
        channel=query.channel or "",
        occurred_from=query.occurred_from,
        occurred_until=query.occurred_until,
    )
    return _download(request, ExportKind.TOUCHPOINTS, query.format, filters)
