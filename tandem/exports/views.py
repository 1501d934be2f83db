"""Download a list page as CSV or XLSX, with the filters it shows (its query string)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from tandem.crm import list_filters
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


# The list pages read their query strings through tandem/crm/list_filters.py; an export of a page
# reads them the same, so that it holds the rows the page shows.
def _person_filters(request) -> PersonFilters:
    return list_filters.person_filters(request.GET, request.user)


def _account_filters(request) -> AccountFilters:
    return list_filters.account_filters(request.GET, request.user)


def _opportunity_filters(request) -> OpportunityFilters:
    return list_filters.opportunity_filters(request.GET, request.user)


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
    try:
        filters = FILTERS[kind](request)
        return download_response(by=request.user, kind=kind, file_format=file_format, filters=filters)
    except (ValidationError, ExportTooLargeError) as error:
        message = describe_validation_error(error) if isinstance(error, ValidationError) else str(error)
        messages.error(request, f"Nothing was exported. {message}")
        query = request.GET.urlencode()
        return redirect(reverse(LIST_PAGES[kind]) + (f"?{query}" if query else ""))
