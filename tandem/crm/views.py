"""Web pages of the shared record: parse input, check permission, call a service or selector, render."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_POST

from tandem.crm import list_filters, permissions, selectors, services
from tandem.crm.forms import (
    ACCOUNT_FORM_FIELDS,
    OPPORTUNITY_FORM_FIELDS,
    PERSON_FORM_FIELDS,
    AccountForm,
    ActivityForm,
    OpportunityForm,
    PersonForm,
    StageMoveForm,
)
from tandem.crm.models import Account, AccountMatch, ForecastCategory, Opportunity, Person
from tandem.lib.record_forms import add_service_errors, changed_values, initial_for
from tandem.users.models import User

PAGE_SIZE = 25


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _page_or_error(request, load):
    """Run a list selector; a bad sort or cursor becomes a message, not an error page."""
    try:
        return load(request.GET.get("cursor") or None)
    except ValidationError as error:
        for field, problems in error.message_dict.items():
            messages.error(request, f"{field}: {' '.join(problems)}")
        return load(None) if request.GET.get("cursor") else None


def _query_without_cursor(request) -> str:
    query = request.GET.copy()
    query.pop("cursor", None)
    return query.urlencode()


def _owners():
    return User.objects.filter(is_active=True).only("id", "full_name", "email")


# ---------------------------------------------------------------- people


@login_required
@require_GET
def person_list(request):
    try:
        filters = list_filters.person_filters(request.GET, request.user)
    except ValidationError as error:
        for field, problems in error.message_dict.items():
            messages.error(request, f"{field}: {' '.join(problems)}")
        filters = selectors.PersonFilters()
    sort = request.GET.get("sort") or "last_activity"
    page = _page_or_error(
        request, lambda cursor: selectors.person_list(filters=filters, sort=sort, cursor=cursor, limit=PAGE_SIZE)
    )
    return render(
        request,
        "crm/person_list.html",
        {
            "page": page,
            "filters": filters,
            "sort": sort,
            "stages": selectors.lifecycle_stages(),
            "statuses": selectors.lead_statuses(),
            "drill_down": list_filters.describe(filters),
            "owners": _owners(),
            "owner_value": request.GET.get("owner", ""),
            "query": _query_without_cursor(request),
            "sorts": [(key, selectors.SORT_LABELS[key]) for key in selectors.PERSON_SORTS],
            "can_create": permissions.can_create_record(request.user),
        },
    )


@login_required
def person_create(request):
    if not permissions.can_create_record(request.user):
        raise PermissionDenied("Your role can read the record but not create people.")
    form = PersonForm(request.POST or None, initial={"owner": request.user.pk, "lifecycle_stage": "lead"})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        stage = data.pop("lifecycle_stage")
        try:
            person = services.person_create(by=request.user, lifecycle_stage=stage, **data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{person} was created.")
            return redirect("crm:person-detail", person_id=person.pk)
    return render(
        request,
        "record_form.html",
        {
            "form": form,
            "heading": "New person",
            "cancel_url": reverse("crm:person-list"),
            "submit_label": "Create person",
        },
    )


@login_required
@require_GET
def person_detail(request, person_id: int):
    try:
        person = selectors.person_detail(person_id=person_id)
    except Person.DoesNotExist:
        return render(request, "404.html", {"what": f"Person {person_id}"}, status=404)
    allowed = [
        stage
        for stage in services.allowed_next_stages(person.lifecycle_stage_id)
        if permissions.can_move_stage(request.user, person, stage)
    ]
    return render(
        request,
        "crm/person_detail.html",
        {
            "person": person,
            "timeline": selectors.person_timeline(person, kind=request.GET.get("timeline", "")),
            "timeline_kinds": selectors.TIMELINE_KINDS,
            "timeline_kind": request.GET.get("timeline", ""),
            "stage_path": selectors.stage_path(person),
            "stage_form": StageMoveForm(allowed_stages=allowed) if allowed else None,
            "activity_form": ActivityForm(),
            "matches": selectors.account_matches(person),
            "can_edit": permissions.can_edit_person(request.user, person),
            "can_delete": permissions.can_delete(request.user, person),
            "opportunities": person.opportunities.select_related("stage")[:10],
        },
    )


@login_required
def person_edit(request, person_id: int):
    person = get_object_or_404(Person, pk=person_id)
    if not permissions.can_edit_person(request.user, person):
        raise PermissionDenied("You can edit people you own, or your team's as their manager.")
    fields = list(PERSON_FORM_FIELDS)
    form = PersonForm(request.POST or None, initial=initial_for(person, fields))
    del form.fields["lifecycle_stage"]
    if request.method == "POST" and form.is_valid():
        try:
            services.person_update(by=request.user, person=person, changes=changed_values(form))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Changes saved.")
            return redirect("crm:person-detail", person_id=person.pk)
    return render(
        request,
        "record_form.html",
        {
            "form": form,
            "heading": f"Edit {person}",
            "cancel_url": reverse("crm:person-detail", args=[person.pk]),
        },
    )


@login_required
@require_POST
def person_move_stage(request, person_id: int):
    person = get_object_or_404(Person, pk=person_id)
    allowed = [
        stage
        for stage in services.allowed_next_stages(person.lifecycle_stage_id)
        if permissions.can_move_stage(request.user, person, stage)
    ]
    form = StageMoveForm(request.POST, allowed_stages=allowed)
    if not allowed:
        raise PermissionDenied("You may not move this person's stage.")
    if form.is_valid():
        try:
            services.lifecycle_transition(
                person=person,
                to_stage=form.cleaned_data["to_stage"],
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{person} moved to {form.cleaned_data['to_stage'].name}.")
            return redirect("crm:person-detail", person_id=person.pk)
    for field, problems in form.errors.items():
        messages.error(request, f"{field.replace('_', ' ').replace('__all__', 'Stage')}: {' '.join(problems)}")
    return redirect("crm:person-detail", person_id=person.pk)


@login_required
@require_POST
def person_log_activity(request, person_id: int):
    person = get_object_or_404(Person, pk=person_id)
    if not permissions.can_create_record(request.user):
        raise PermissionDenied("Your role can read the record but not log activities.")
    form = ActivityForm(request.POST)
    if form.is_valid():
        services.activity_create(by=request.user, person=person, **form.cleaned_data)
        messages.success(request, "Activity logged.")
    else:
        for field, problems in form.errors.items():
            messages.error(request, f"{field}: {' '.join(problems)}")
    return redirect("crm:person-detail", person_id=person.pk)


@login_required
@require_POST
def person_delete(request, person_id: int):
    person = get_object_or_404(Person, pk=person_id)
    if not permissions.can_delete(request.user, person):
        raise PermissionDenied("Only RevOps and the owner's manager may delete a person.")
    services.person_delete(by=request.user, person=person)
    messages.success(request, f"{person} was deleted. The audit log keeps what they were.")
    return redirect("crm:person-list")


@login_required
@require_POST
def account_match_undo(request, match_id: int):
    match = get_object_or_404(AccountMatch.objects.select_related("person"), pk=match_id)
    if not permissions.can_edit_person(request.user, match.person):
        raise PermissionDenied("You may not change this person's account.")
    try:
        services.account_match_undo(match=match, by=request.user)
        messages.success(request, "The account link was undone.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("crm:person-detail", person_id=match.person_id)


@login_required
@require_GET
def person_suggest(request):
    term = next((value for value in request.GET.values() if value), "")[:100]
    rows = (
        selectors.person_list(filters=selectors.PersonFilters(search=term), sort="name", limit=10).rows if term else []
    )
    return HttpResponse(format_html_join("", '<option value="{} (#{})"></option>', ((row, row.pk) for row in rows)))


# ---------------------------------------------------------------- accounts


@login_required
@require_GET
def account_list(request):
    filters = list_filters.account_filters(request.GET, request.user)
    sort = request.GET.get("sort") or "name"
    page = _page_or_error(
        request, lambda cursor: selectors.account_list(filters=filters, sort=sort, cursor=cursor, limit=PAGE_SIZE)
    )
    return render(
        request,
        "crm/account_list.html",
        {
            "page": page,
            "filters": filters,
            "sort": sort,
            "owners": _owners(),
            "owner_value": request.GET.get("owner", ""),
            "query": _query_without_cursor(request),
            "sorts": [(key, selectors.SORT_LABELS[key]) for key in selectors.ACCOUNT_SORTS],
            "can_create": permissions.can_create_record(request.user),
        },
    )


@login_required
def account_create(request):
    if not permissions.can_create_record(request.user):
        raise PermissionDenied("Your role can read the record but not create accounts.")
    form = AccountForm(request.POST or None, initial={"owner": request.user.pk})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            account = services.account_create(by=request.user, **data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{account} was created.")
            return redirect("crm:account-detail", account_id=account.pk)
    return render(
        request,
        "record_form.html",
        {
            "form": form,
            "heading": "New account",
            "cancel_url": reverse("crm:account-list"),
            "submit_label": "Create account",
        },
    )


@login_required
@require_GET
def account_detail(request, account_id: int):
    account = Account.objects.select_related("owner", "lifecycle_stage").filter(pk=account_id).first()
    if account is None:
        return render(request, "404.html", {"what": f"Account {account_id}"}, status=404)
    return render(
        request,
        "crm/account_detail.html",
        {
            "account": account,
            "timeline": selectors.account_timeline(account),
            "people": account.people.select_related("lifecycle_stage", "owner").order_by("-last_activity_at")[:50],
            "people_count": account.people.count(),
            "opportunities": account.opportunities.select_related("stage", "owner")[:50],
            "domains": account.domains.all(),
            "can_edit": permissions.can_edit_account(request.user, account),
            "can_delete": permissions.can_delete(request.user, account),
        },
    )


@login_required
def account_edit(request, account_id: int):
    account = get_object_or_404(Account, pk=account_id)
    if not permissions.can_edit_account(request.user, account):
        raise PermissionDenied("You can edit accounts you own, or your team's as their manager.")
    form = AccountForm(request.POST or None, initial=initial_for(account, ACCOUNT_FORM_FIELDS))
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(by=request.user, account=account, changes=changed_values(form))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Changes saved.")
            return redirect("crm:account-detail", account_id=account.pk)
    return render(
        request,
        "record_form.html",
        {
            "form": form,
            "heading": f"Edit {account}",
            "cancel_url": reverse("crm:account-detail", args=[account.pk]),
        },
    )


@login_required
@require_POST
def account_delete(request, account_id: int):
    account = get_object_or_404(Account, pk=account_id)
    if not permissions.can_delete(request.user, account):
        raise PermissionDenied("Only RevOps and the owner's manager may delete an account.")
    try:
        services.account_delete(by=request.user, account=account)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("crm:account-detail", account_id=account.pk)
    messages.success(request, f"{account} was deleted.")
    return redirect("crm:account-list")


@login_required
@require_GET
def account_suggest(request):
    term = next((value for value in request.GET.values() if value), "")[:100]
    rows = selectors.account_list(filters=selectors.AccountFilters(search=term), limit=10).rows if term else []
    return HttpResponse(
        format_html_join("", '<option value="{} (#{})">{}</option>', ((row, row.pk, row.domain) for row in rows))
    )


# ---------------------------------------------------------------- opportunities


@login_required
@require_GET
def opportunity_list(request):
    try:
        filters = list_filters.opportunity_filters(request.GET, request.user)
    except ValidationError as error:
        for field, problems in error.message_dict.items():
            messages.error(request, f"{field}: {' '.join(problems)}")
        filters = selectors.OpportunityFilters()
    sort = request.GET.get("sort") or "close_date"
    page = _page_or_error(
        request, lambda cursor: selectors.opportunity_list(filters=filters, sort=sort, cursor=cursor, limit=PAGE_SIZE)
    )
    return render(
        request,
        "crm/opportunity_list.html",
        {
            "page": page,
            "filters": filters,
            "sort": sort,
            "owners": _owners(),
            "owner_value": request.GET.get("owner", ""),
            "status": request.GET.get("status", ""),
            "stages": selectors.opportunity_stages(),
            "categories": ForecastCategory.choices,
            "drill_down": list_filters.describe(filters),
            "win_rate": selectors.opportunity_win_rate(filters=filters),
            "query": _query_without_cursor(request),
            "sorts": [(key, selectors.SORT_LABELS[key]) for key in selectors.OPPORTUNITY_SORTS],
            "can_create": permissions.can_create_record(request.user) and request.user.side != "marketing",
        },
    )


@login_required
def opportunity_create(request):
    if not permissions.can_create_record(request.user) or request.user.side == "marketing":
        raise PermissionDenied("Opportunities are opened by sales.")
    initial = {"owner": request.user.pk, "stage": "discovery", "currency": "USD"}
    if request.GET.get("account"):
        initial["account"] = _int_or_none(request.GET.get("account"))
    form = OpportunityForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            opportunity = services.opportunity_create(
                by=request.user,
                account=data.pop("account"),
                name=data.pop("name"),
                stage=data.pop("stage"),
                close_date=data.pop("close_date"),
                **{key: value for key, value in data.items() if value not in (None, "")},
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{opportunity} was created.")
            return redirect("crm:opportunity-detail", opportunity_id=opportunity.pk)
    return render(
        request,
        "record_form.html",
        {
            "form": form,
            "heading": "New opportunity",
            "cancel_url": reverse("crm:opportunity-list"),
            "submit_label": "Create opportunity",
        },
    )


@login_required
@require_GET
def opportunity_detail(request, opportunity_id: int):
    opportunity = (
        Opportunity.objects.select_related("account", "owner", "stage", "primary_person", "source_campaign")
        .filter(pk=opportunity_id)
        .first()
    )
    if opportunity is None:
        return render(request, "404.html", {"what": f"Opportunity {opportunity_id}"}, status=404)
    return render(
        request,
        "crm/opportunity_detail.html",
        {
            "opportunity": opportunity,
            "timeline": selectors.opportunity_timeline(opportunity),
            "can_edit": permissions.can_edit_opportunity(request.user, opportunity),
            "can_delete": permissions.can_delete(request.user, opportunity),
        },
    )


@login_required
def opportunity_edit(request, opportunity_id: int):
    opportunity = get_object_or_404(Opportunity, pk=opportunity_id)
    if not permissions.can_edit_opportunity(request.user, opportunity):
        raise PermissionDenied("You can edit opportunities you own, or your team's as their manager.")
    form = OpportunityForm(request.POST or None, initial=initial_for(opportunity, OPPORTUNITY_FORM_FIELDS))
    if request.method == "POST" and form.is_valid():
        try:
            services.opportunity_update(by=request.user, opportunity=opportunity, changes=changed_values(form))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Changes saved.")
            return redirect("crm:opportunity-detail", opportunity_id=opportunity.pk)
    return render(
        request,
        "record_form.html",
        {
            "form": form,
            "heading": f"Edit {opportunity}",
            "cancel_url": reverse("crm:opportunity-detail", args=[opportunity.pk]),
        },
    )


@login_required
@require_POST
def opportunity_delete(request, opportunity_id: int):
    opportunity = get_object_or_404(Opportunity, pk=opportunity_id)
    if not permissions.can_delete(request.user, opportunity):
        raise PermissionDenied("Only RevOps and the owner's manager may delete an opportunity.")
    services.opportunity_delete(by=request.user, opportunity=opportunity)
    messages.success(request, f"{opportunity} was deleted.")
    return redirect("crm:opportunity-list")
