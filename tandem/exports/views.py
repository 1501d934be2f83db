"""Download a list page as CSV or XLSX, with the filters it shows (its query string)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from tandem.crm.selectors import AccountFilters, OpportunityFilters, PersonFilters
from tandem.exports import permissions
from tandem.exports.downloads import download_response
from tandem.exports.models import ExportKind
from tandem.exports.writers import ExportTooLargeError
from tandem.lib.validation_messages import describe_validation_error

LIST_PAGES = {
    ExportKind.PEOPLE: "crm:person-list",
    ExportKind.ACCOUNTS: "crm:account-list",
    ExportKind.OPPORTUNITIES: "crm:opportunity-list",
}


# The list pages read their query strings this way (tandem/crm/views.py); an export of a page must
# read them the same, so that it holds the rows the page shows.
def _int_or_none(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _owner(request) -> tuple[int | None, bool]:
    value = request.GET.get("owner", "")
    if value == "me":
        return request.user.pk, False
    if value == "none":
        return None, True
    return _int_or_none(value), False


def _person_filters(request) -> PersonFilters:
    owner_id, is_unowned = _owner(request)
    return PersonFilters(
        stages=[stage for stage in request.GET.getlist("stage") if stage],
        lead_status=request.GET.get("lead_status", ""),
        owner_id=owner_id,
        is_unowned=is_unowned,
        account_id=_int_or_none(request.GET.get("account")),
        search=request.GET.get("q", "")[:100],
    )


def _account_filters(request) -> AccountFilters:
    return AccountFilters(
        search=request.GET.get("q", "")[:100],
        owner_id=_owner(request)[0],
        industry=request.GET.get("industry", ""),
        region=request.GET.get("region", ""),
        is_target_account=True if request.GET.get("target") == "1" else None,
        icp_tier=_int_or_none(request.GET.get("icp_tier")),
    )


def _opportunity_filters(request) -> OpportunityFilters:
    return OpportunityFilters(
        search=request.GET.get("q", "")[:100],
        stages=[stage for stage in request.GET.getlist("stage") if stage],
        owner_id=_owner(request)[0],
        account_id=_int_or_none(request.GET.get("account")),
        is_open={"open": True, "closed": False}.get(request.GET.get("status", "")),
        forecast_category=request.GET.get("forecast_category", ""),
    )


FILTERS = {
    ExportKind.PEOPLE: _person_filters,
    ExportKind.ACCOUNTS: _account_filters,
    ExportKind.OPPORTUNITIES: _opportunity_filters,
}


@login_required
@require_GET
def export_list(request, kind: str, file_format: str):
    kind = ExportKind(kind)
    if not permissions.can_export(request.user):
        raise PermissionDenied("You may not export this list.")
    filters = FILTERS[kind](request)
    try:
        return download_response(by=request.user, kind=kind, file_format=file_format, filters=filters)
    except (ValidationError, ExportTooLargeError) as error:
        message = describe_validation_error(error) if isinstance(error, ValidationError) else str(error)
        messages.error(request, f"Nothing was exported. {message}")
        query = request.GET.urlencode()
        return redirect(reverse(LIST_PAGES[kind]) + (f"?{query}" if query else ""))
