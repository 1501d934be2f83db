"""API of the shared record: accounts, people, opportunities, activities and stage history."""

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from ninja import Field, Query, Router, Schema, Status
from pydantic.json_schema import SkipJsonSchema

from tandem.campaigns.models import Campaign
from tandem.crm import permissions, selectors, services
from tandem.crm.models import (
    Account,
    Activity,
    ActivityKind,
    ForecastCategory,
    Opportunity,
    Person,
)
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
    reference,
    references,
)
from tandem.users.models import Side

router = Router()

READ_ONLY = "Your role can read the record but not change it."


def _account_reference(pk, *, field):
    return reference(Account.objects.all(), pk, field=field, label="account")


def _person_reference(pk, *, field):
    return reference(Person.objects.all(), pk, field=field, label="person")


def _opportunity_reference(pk, *, field):
    return reference(Opportunity.objects.all(), pk, field=field, label="opportunity")


def _campaign_reference(pk, *, field):
    return reference(Campaign.objects.all(), pk, field=field, label="campaign")


def _owner_reference(pk, *, field):
    return owner_reference(pk, field=field)


def _check_known(values: list[str], known: list[str], field: str) -> None:
    unknown = [value for value in values if value not in known]
    if unknown:
        raise ValidationError({field: f"Unknown {field} '{unknown[0]}'; expected one of {', '.join(known)}."})


# ---------------------------------------------------------------- stage history


class StageChangeOut(Schema):
    id: int
    from_stage: str | None = Field(validation_alias="from_stage_id")
    to_stage: str = Field(validation_alias="to_stage_id")
    at: dt.datetime
    actor_type: str
    actor_label: str
    reason: str
    evidence: dict[str, Any]
    contract_version: int | None


class StageChangePage(Schema):
    items: list[StageChangeOut]
    next_cursor: str | None


class TransitionIn(Input):
    to_stage: str = Field(description="The key of the stage to move to, e.g. 'mql'.")
    reason: str = Field("", max_length=500)
    evidence: dict[str, Any] = Field(default_factory=dict)


class PageQuery(Input):
    cursor: PageCursor = None
    limit: PageLimit = 25


def _transition(request, *, subject, payload: TransitionIn, **subject_argument):
    stage = services.resolve_stage(payload.to_stage, "to_stage")
    # Accounts follow the people's rule: the owner's edit right plus the stage's side.
    if not permissions.can_move_stage(request.user, subject, stage):
        raise PermissionDenied(f"Your role may not move this record to {stage.name}.")
    return services.lifecycle_transition(
        to_stage=stage,
        by=acting_as(request),
        reason=payload.reason,
        evidence=payload.evidence,
        **subject_argument,
    )


# ---------------------------------------------------------------- accounts


class AccountOut(Schema):
    id: int
    name: str
    domain: str
    industry: str
    employee_count: int | None
    annual_revenue: Decimal | None
    country: str
    region: str
    owner: int | None = Field(validation_alias="owner_id")
    owner_email: str | None = None
    icp_tier: int | None
    is_target_account: bool
    lifecycle_stage: str | None = Field(validation_alias="lifecycle_stage_id")
    external_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_owner_email(account) -> str | None:
        return account.owner.email if account.owner_id else None


class AccountPage(Schema):
    items: list[AccountOut]
    next_cursor: str | None


class AccountIn(Input):
    name: str
    domain: str = ""
    industry: str = ""
    employee_count: int | None = Field(None, ge=0, le=2_147_483_647)
    annual_revenue: Decimal | None = None
    country: str = Field("", description="ISO 3166 alpha-2 code")
    region: str = ""
    owner: RecordId | None = Field(None, description="A user id.")
    icp_tier: int | None = Field(None, ge=0, le=32_767)
    is_target_account: bool = False
    external_id: str | None = None


AccountPatch = patch_schema(AccountIn)


class AccountQuery(Input):
    q: str = Field("", max_length=100, description="Start of the name or domain.")
    owner: str = Field("", description="A user id, or 'me'.")
    industry: str = ""
    region: str = ""
    is_target_account: bool | None = None
    icp_tier: int | None = Field(None, ge=0, le=32_767)
    clv_min: Decimal | None = Field(
        None, ge=0, max_digits=16, decimal_places=2, description="Lowest predicted lifetime value (CLV)."
    )
    sort: Literal["name", "created", "employees"] = "name"
    cursor: PageCursor = None
    limit: PageLimit = 25


def _read_account(account_id: int) -> Account:
    # Writes answer with the record as stored, so values look the same as on a later read.
    return get_or_404(Account.objects.select_related("owner"), account_id, "Account")


def _editable_account(request, account_id: int) -> Account:
    account = get_or_404(Account.objects.select_related("owner__team"), account_id, "Account")
    if not permissions.can_edit_account(request.user, account):
        raise PermissionDenied("You can change accounts you own, or your team's as their manager.")
    return account


@router.get("/accounts", response=AccountPage, tags=["Accounts"])
def list_accounts(request, query: Query[AccountQuery]):
    owner_id, _ = owner_filter(request, query.owner, allows_unowned=False)
    filters = selectors.AccountFilters(
        search=query.q,
        owner_id=owner_id,
        industry=query.industry,
        region=query.region,
        is_target_account=query.is_target_account,
        icp_tier=query.icp_tier,
        clv_min=query.clv_min,
    )
    page = selectors.account_list(filters=filters, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return page_response(page)


@router.post("/accounts", response={201: AccountOut}, tags=["Accounts"])
def create_account(request, payload: AccountIn):
    if not permissions.can_create_record(request.user):
        raise PermissionDenied(READ_ONLY)
    data = references(payload.model_dump(exclude_unset=True), {"owner": _owner_reference})
    account = services.account_create(by=acting_as(request), **data)
    return Status(201, _read_account(account.pk))


@router.get("/accounts/{account_id}", response=AccountOut, tags=["Accounts"])
def get_account(request, account_id: RecordId):
    return _read_account(account_id)


@router.patch("/accounts/{account_id}", response=AccountOut, tags=["Accounts"])
def update_account(request, account_id: RecordId, payload: AccountPatch):
    account = _editable_account(request, account_id)
    changes = references(payload.model_dump(exclude_unset=True), {"owner": _owner_reference})
    services.account_update(by=acting_as(request), account=account, changes=changes)
    return _read_account(account.pk)


@router.delete("/accounts/{account_id}", response={204: None}, tags=["Accounts"])
def delete_account(request, account_id: RecordId):
    account = get_or_404(Account.objects.select_related("owner__team"), account_id, "Account")
    if not permissions.can_delete(request.user, account):
        raise PermissionDenied("Only RevOps and the owner's manager may delete an account.")
    services.account_delete(by=acting_as(request), account=account)
    return Status(204, None)


@router.post("/accounts/{account_id}/transitions", response={201: StageChangeOut}, tags=["Accounts"])
def transition_account(request, account_id: RecordId, payload: TransitionIn):
    account = _editable_account(request, account_id)
    return Status(201, _transition(request, subject=account, payload=payload, account=account))


@router.get("/accounts/{account_id}/stage-changes", response=StageChangePage, tags=["Accounts"])
def list_account_stage_changes(request, account_id: RecordId, query: Query[PageQuery]):
    account = get_or_404(Account.objects.all(), account_id, "Account")
    return page_response(selectors.stage_change_list(account_id=account.pk, cursor=query.cursor, limit=query.limit))


# ---------------------------------------------------------------- people


class PersonOut(Schema):
    id: int
    email: str | None
    first_name: str
    last_name: str
    title: str
    phone: str
    account: int | None = Field(validation_alias="account_id")
    account_name: str | None = None
    lifecycle_stage: str = Field(validation_alias="lifecycle_stage_id")
    stage_entered_at: dt.datetime
    lead_status: str | None = Field(validation_alias="lead_status_id")
    owner: int | None = Field(validation_alias="owner_id")
    owner_email: str | None = None
    source: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    fit_score: int
    engagement_score: int
    predictive_score: int | None
    buying_role: str
    consent_email: bool
    consent_tracking: bool
    custom_fields: dict[str, Any]
    external_id: str | None
    last_activity_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(person) -> str | None:
        return person.account.name if person.account_id else None

    @staticmethod
    def resolve_owner_email(person) -> str | None:
        return person.owner.email if person.owner_id else None


class PersonPage(Schema):
    items: list[PersonOut]
    next_cursor: str | None


class PersonIn(Input):
    email: str
    first_name: str = ""
    last_name: str = ""
    title: str = ""
    phone: str = ""
    account: RecordId | None = Field(None, description="An account id.")
    lead_status: str | None = Field(None, description="A lead status key, e.g. 'attempting'.")
    owner: RecordId | None = Field(None, description="A user id.")
    source: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    buying_role: str = ""
    consent_email: bool = False
    consent_tracking: bool = False
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    external_id: str | None = None


class PersonCreate(PersonIn):
    lifecycle_stage: str = Field("lead", description="The first stage, e.g. 'subscriber'.")
    reason: str = Field("", max_length=500, description="Why the person enters the record.")


class PersonChanges(PersonIn):
    # Accepted only so that the service can say where stage moves go instead.
    lifecycle_stage: SkipJsonSchema[str | None] = None


PersonPatch = patch_schema(PersonChanges)

PERSON_REFERENCES = {"account": _account_reference, "owner": _owner_reference}


class PersonQuery(Input):
    stage: list[str] = Field(default_factory=list, description="Lifecycle stage keys (repeatable).")
    lead_status: str = ""
    owner: str = Field("", description="A user id, 'me', or 'none' for unowned people.")
    account: RecordId | None = None
    q: str = Field("", max_length=100, description="Start of the email, first or last name.")
    clv_min: Decimal | None = Field(
        None, ge=0, max_digits=16, decimal_places=2, description="Lowest predicted lifetime value (CLV)."
    )
    sort: Literal["last_activity", "created", "name", "fit_score", "engagement_score"] = "last_activity"
    cursor: PageCursor = None
    limit: PageLimit = 25


def _read_person(person_id: int) -> Person:
    return get_or_404(Person.objects.select_related("account", "owner"), person_id, "Person")


def _editable_person(request, person_id: int) -> Person:
    person = get_or_404(Person.objects.select_related("owner__team"), person_id, "Person")
    if not permissions.can_edit_person(request.user, person):
        raise PermissionDenied("You can change people you own, or your team's as their manager.")
    return person


@router.get("/people", response=PersonPage, tags=["People"])
def list_people(request, query: Query[PersonQuery]):
    stages = [stage for stage in query.stage if stage]
    if stages:
        _check_known(stages, [stage.key for stage in selectors.lifecycle_stages()], "stage")
    if query.lead_status:
        statuses = [status.key for status in selectors.lead_statuses()]
        _check_known([query.lead_status], statuses, "lead_status")
    owner_id, is_unowned = owner_filter(request, query.owner)
    filters = selectors.PersonFilters(
        stages=stages,
        lead_status=query.lead_status,
        owner_id=owner_id,
        is_unowned=is_unowned,
        account_id=query.account,
        search=query.q,
        clv_min=query.clv_min,
    )
    page = selectors.person_list(filters=filters, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return page_response(page)


@router.post("/people", response={201: PersonOut}, tags=["People"])
def create_person(request, payload: PersonCreate):
    if not permissions.can_create_record(request.user):
        raise PermissionDenied(READ_ONLY)
    data = references(payload.model_dump(exclude_unset=True), PERSON_REFERENCES)
    person = services.person_create(by=acting_as(request), **data)
    return Status(201, _read_person(person.pk))


@router.get("/people/{person_id}", response=PersonOut, tags=["People"])
def get_person(request, person_id: RecordId):
    return _read_person(person_id)


@router.patch("/people/{person_id}", response=PersonOut, tags=["People"])
def update_person(request, person_id: RecordId, payload: PersonPatch):
    person = _editable_person(request, person_id)
    changes = references(payload.model_dump(exclude_unset=True), PERSON_REFERENCES)
    services.person_update(by=acting_as(request), person=person, changes=changes)
    return _read_person(person.pk)


@router.delete("/people/{person_id}", response={204: None}, tags=["People"])
def delete_person(request, person_id: RecordId):
    person = get_or_404(Person.objects.select_related("owner__team"), person_id, "Person")
    if not permissions.can_delete(request.user, person):
        raise PermissionDenied("Only RevOps and the owner's manager may delete a person.")
    services.person_delete(by=acting_as(request), person=person)
    return Status(204, None)


@router.post("/people/{person_id}/transitions", response={201: StageChangeOut}, tags=["People"])
def transition_person(request, person_id: RecordId, payload: TransitionIn):
    person = _editable_person(request, person_id)
    return Status(201, _transition(request, subject=person, payload=payload, person=person))


@router.get("/people/{person_id}/stage-changes", response=StageChangePage, tags=["People"])
def list_person_stage_changes(request, person_id: RecordId, query: Query[PageQuery]):
    person = get_or_404(Person.objects.all(), person_id, "Person")
    return page_response(selectors.stage_change_list(person_id=person.pk, cursor=query.cursor, limit=query.limit))


# ---------------------------------------------------------------- opportunities


class OpportunityOut(Schema):
    id: int
    account: int | None = Field(validation_alias="account_id")
    account_name: str | None
    primary_person: int | None = Field(validation_alias="primary_person_id")
    name: str
    amount: Decimal
    currency: str
    stage: str = Field(validation_alias="stage_id")
    probability: int
    forecast_category: str
    close_date: dt.date | None
    owner: int | None = Field(validation_alias="owner_id")
    owner_email: str | None = None
    is_closed: bool
    is_won: bool
    lost_reason: str
    source_campaign: int | None = Field(validation_alias="source_campaign_id")
    external_id: str | None
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_account_name(opportunity) -> str | None:
        return opportunity.account.name if opportunity.account_id else None

    @staticmethod
    def resolve_owner_email(opportunity) -> str | None:
        return opportunity.owner.email if opportunity.owner_id else None


class OpportunityPage(Schema):
    items: list[OpportunityOut]
    next_cursor: str | None


class OpportunityIn(Input):
    account: RecordId = Field(description="An account id.")
    primary_person: RecordId | None = Field(None, description="A person id.")
    name: str
    amount: Decimal = Field(Decimal(0), ge=0)
    currency: str = Field("USD", description="ISO 4217 code.")
    stage: str = Field("discovery", description="An opportunity stage key.")
    probability: int | None = Field(None, ge=0, le=100, description="Defaults to the stage's.")
    forecast_category: ForecastCategory | None = Field(None, description="Defaults to the stage's.")
    close_date: dt.date
    owner: RecordId | None = Field(None, description="A user id.")
    lost_reason: str = ""
    source_campaign: RecordId | None = Field(None, description="A campaign id.")
    external_id: str | None = None


OpportunityPatch = patch_schema(OpportunityIn)

OPPORTUNITY_REFERENCES = {
    "account": _account_reference,
    "primary_person": _person_reference,
    "owner": _owner_reference,
    "source_campaign": _campaign_reference,
}


class OpportunityQuery(Input):
    q: str = Field("", max_length=100, description="Part of the name.")
    stage: list[str] = Field(default_factory=list, description="Opportunity stage keys (repeatable).")
    owner: str = Field("", description="A user id, or 'me'.")
    account: RecordId | None = None
    is_open: bool | None = None
    forecast_category: ForecastCategory | None = None
    sort: Literal["close_date", "amount", "created"] = "close_date"
    cursor: PageCursor = None
    limit: PageLimit = 25


def _read_opportunity(opportunity_id: int) -> Opportunity:
    queryset = Opportunity.objects.select_related("account", "owner")
    return get_or_404(queryset, opportunity_id, "Opportunity")


def _may_open_opportunities(user) -> bool:
    # As in the web UI: opportunities are opened by sales (and RevOps), not marketing.
    return permissions.can_create_record(user) and user.side != Side.MARKETING


@router.get("/opportunities", response=OpportunityPage, tags=["Opportunities"])
def list_opportunities(request, query: Query[OpportunityQuery]):
    stages = [stage for stage in query.stage if stage]
    if stages:
        keys = [stage.key for stage in selectors.opportunity_stages()]
        _check_known(stages, keys, "stage")
    owner_id, _ = owner_filter(request, query.owner, allows_unowned=False)
    filters = selectors.OpportunityFilters(
        search=query.q,
        stages=stages,
        owner_id=owner_id,
        account_id=query.account,
        is_open=query.is_open,
        forecast_category=query.forecast_category or "",
    )
    page = selectors.opportunity_list(filters=filters, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return page_response(page)


@router.post("/opportunities", response={201: OpportunityOut}, tags=["Opportunities"])
def create_opportunity(request, payload: OpportunityIn):
    if not _may_open_opportunities(request.user):
        raise PermissionDenied("Opportunities are opened by sales and RevOps.")
    data = references(payload.model_dump(exclude_unset=True), OPPORTUNITY_REFERENCES)
    opportunity = services.opportunity_create(by=acting_as(request), **data)
    return Status(201, _read_opportunity(opportunity.pk))


@router.get("/opportunities/{opportunity_id}", response=OpportunityOut, tags=["Opportunities"])
def get_opportunity(request, opportunity_id: RecordId):
    return _read_opportunity(opportunity_id)


@router.patch("/opportunities/{opportunity_id}", response=OpportunityOut, tags=["Opportunities"])
def update_opportunity(request, opportunity_id: RecordId, payload: OpportunityPatch):
    opportunity = get_or_404(Opportunity.objects.select_related("owner__team"), opportunity_id, "Opportunity")
    if not permissions.can_edit_opportunity(request.user, opportunity):
        raise PermissionDenied("Sales edit opportunities they own, or their team's as their manager.")
    changes = references(payload.model_dump(exclude_unset=True), OPPORTUNITY_REFERENCES)
    services.opportunity_update(by=acting_as(request), opportunity=opportunity, changes=changes)
    return _read_opportunity(opportunity.pk)


@router.delete("/opportunities/{opportunity_id}", response={204: None}, tags=["Opportunities"])
def delete_opportunity(request, opportunity_id: RecordId):
    opportunity = get_or_404(Opportunity.objects.select_related("owner__team"), opportunity_id, "Opportunity")
    if not permissions.can_delete(request.user, opportunity):
        raise PermissionDenied("Only RevOps and the owner's manager may delete an opportunity.")
    services.opportunity_delete(by=acting_as(request), opportunity=opportunity)
    return Status(204, None)


# ---------------------------------------------------------------- activities


class ActivityOut(Schema):
    id: int
    kind: str
    subject: str
    body: str
    occurred_at: dt.datetime
    due_at: dt.datetime | None
    is_done: bool
    user: int | None = Field(validation_alias="user_id")
    person: int | None = Field(validation_alias="person_id")
    account: int | None = Field(validation_alias="account_id")
    opportunity: int | None = Field(validation_alias="opportunity_id")
    created_at: dt.datetime


class ActivityPage(Schema):
    items: list[ActivityOut]
    next_cursor: str | None


class ActivityFields(Input):
    kind: ActivityKind
    subject: str
    body: str = ""
    occurred_at: dt.datetime | None = Field(None, description="Defaults to now.")
    due_at: dt.datetime | None = None
    is_done: bool = True


class ActivityIn(ActivityFields):
    person: RecordId | None = Field(None, description="A person id.")
    account: RecordId | None = Field(None, description="An account id; defaults to the person's.")
    opportunity: RecordId | None = Field(None, description="An opportunity id.")


ActivityPatch = patch_schema(ActivityFields)


class ActivityQuery(Input):
    person: RecordId | None = None
    account: RecordId | None = None
    opportunity: RecordId | None = None
    cursor: PageCursor = None
    limit: PageLimit = 25


def _read_activity(activity_id: int) -> Activity:
    return get_or_404(Activity.objects.all(), activity_id, "Activity")


def _editable_activity(request, activity_id: int) -> Activity:
    activity = get_or_404(Activity.objects.select_related("user__team"), activity_id, "Activity")
    if not permissions.can_edit_activity(request.user, activity):
        raise PermissionDenied("You can change activities you logged, or your team's as manager.")
    return activity


@router.get("/activities", response=ActivityPage, tags=["Activities"])
def list_activities(request, query: Query[ActivityQuery]):
    page = selectors.activity_list(
        person_id=query.person,
        account_id=query.account,
        opportunity_id=query.opportunity,
        cursor=query.cursor,
        limit=query.limit,
    )
    return page_response(page)


@router.post("/activities", response={201: ActivityOut}, tags=["Activities"])
def create_activity(request, payload: ActivityIn):
    if not permissions.can_create_record(request.user):
        raise PermissionDenied(READ_ONLY)
    data = references(
        payload.model_dump(exclude_unset=True),
        {
            "person": _person_reference,
            "account": _account_reference,
            "opportunity": _opportunity_reference,
        },
    )
    activity = services.activity_create(by=acting_as(request), **data)
    return Status(201, _read_activity(activity.pk))


@router.get("/activities/{activity_id}", response=ActivityOut, tags=["Activities"])
def get_activity(request, activity_id: RecordId):
    return _read_activity(activity_id)


@router.patch("/activities/{activity_id}", response=ActivityOut, tags=["Activities"])
def update_activity(request, activity_id: RecordId, payload: ActivityPatch):
    activity = _editable_activity(request, activity_id)
    changes = payload.model_dump(exclude_unset=True)
    services.activity_update(by=acting_as(request), activity=activity, changes=changes)
    return _read_activity(activity.pk)


@router.delete("/activities/{activity_id}", response={204: None}, tags=["Activities"])
def delete_activity(request, activity_id: RecordId):
    activity = _editable_activity(request, activity_id)
    services.activity_delete(by=acting_as(request), activity=activity)
    return Status(204, None)
