"""API of lifetime value: the fits, a refit, and the stored values of accounts and people."""

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.http import Http404
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from tandem.clv import selectors, services
from tandem.clv.models import ClvFit
from tandem.crm.models import Account, Person
from tandem.lib.http_api import Input, RecordId, acting_as, get_or_404

router = Router(tags=["Lifetime value"])


class FitOut(Schema):
    version: int
    unit: str
    calibration_end: dt.date
    customers: int
    repeat_customers: int
    r: float
    alpha: float
    a: float
    b: float
    bgnbd_log_likelihood: float
    p: float
    q: float
    gamma: float
    gamma_gamma_log_likelihood: float
    gamma_gamma_customers: int
    fitted_at: dt.datetime
    fitted_by: str
    seconds: float
    predicted_at: dt.datetime | None
    horizon_months: int | None
    monthly_discount_rate: float | None
    values_stored: int

    @staticmethod
    def resolve_fitted_by(fit) -> str:
        return fit.fitted_by_label


class RefitIn(Input):
    unit: Literal["weeks", "days"] = "weeks"
    horizon_months: int = Field(services.DEFAULT_HORIZON_MONTHS, ge=1, le=services.MAX_HORIZON_MONTHS)
    monthly_discount_rate: float = Field(services.DEFAULT_MONTHLY_DISCOUNT_RATE, ge=0, lt=1)


class ValueOut(Schema):
    account_id: int | None
    person_id: int | None
    name: str
    fit_version: int
    as_of: dt.date
    horizon_months: int | None
    purchases: int
    historical_value: Decimal
    first_purchase_on: dt.date
    last_purchase_on: dt.date
    frequency: int
    recency: float
    T: float
    monetary_value: float
    probability_alive: float
    expected_purchases: float
    expected_spend: float
    predicted_value: Decimal

    @staticmethod
    def resolve_name(value) -> str:
        return str(value.account if value.account_id else value.person)

    @staticmethod
    def resolve_fit_version(value) -> int:
        return value.fit.version

    @staticmethod
    def resolve_horizon_months(value) -> int | None:
        return value.fit.horizon_months

    @staticmethod
    def resolve_T(value) -> float:
        return value.age


class ValueQuery(Input):
    clv_min: Decimal | None = Field(None, ge=0, max_digits=16, decimal_places=2, description="Lowest predicted value.")
    limit: int = Field(25, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1_000_000)


class ValuePageOut(Schema):
    items: list[ValueOut]
    count: int


@router.get("/clv/fits", response=list[FitOut])
def list_fits(request):
    """The fits, newest first (the newest is in force)."""
    return selectors.fit_list()


@router.get("/clv/fits/latest", response=FitOut)
def latest_fit(request):
    fit = selectors.latest_fit()
    if fit is None:
        raise Http404("No lifetime value fit yet")
    return fit


@router.get("/clv/fits/{version}", response=FitOut)
def get_fit(request, version: RecordId):
    try:
        return selectors.fit_get(version=version)
    except ClvFit.DoesNotExist:
        raise Http404(f"Lifetime value fit v{version} not found") from None


@router.post("/clv/fits", response={201: FitOut})
def refit(request, payload: RefitIn):
    """Fit the models on today's won deals and store every account's and person's value (RevOps, managers)."""
    try:
        fit = services.clv_refit(
            by=acting_as(request),
            unit=payload.unit,
            horizon_months=payload.horizon_months,
            monthly_discount_rate=payload.monthly_discount_rate,
        )
    except services.ClvDataError as error:
        raise HttpError(409, f"Cannot fit lifetime value: {error}") from error
    return Status(201, fit)


def _page(kind: str, query: ValueQuery) -> dict:
    values = selectors.value_queryset(kind=kind, clv_min=query.clv_min).select_related("fit")
    return {"items": list(values[query.offset : query.offset + query.limit]), "count": values.count()}


@router.get("/clv/accounts", response=ValuePageOut)
def list_account_values(request, query: Query[ValueQuery]):
    """Accounts by predicted value, highest first; `clv_min` keeps those worth at least that much."""
    return _page("account", query)


@router.get("/clv/people", response=ValuePageOut)
def list_person_values(request, query: Query[ValueQuery]):
    return _page("person", query)


@router.get("/clv/accounts/{account_id}", response=ValueOut)
def get_account_value(request, account_id: RecordId):
    get_or_404(Account.objects.all(), account_id, "Account")
    value = selectors.account_value(account_id=account_id)
    if value is None:
        raise Http404(f"Account {account_id} has no lifetime value (no won deal at the last prediction)")
    return value


@router.get("/clv/people/{person_id}", response=ValueOut)
def get_person_value(request, person_id: RecordId):
    get_or_404(Person.objects.all(), person_id, "Person")
    value = selectors.person_value(person_id=person_id)
    if value is None:
        raise Http404(f"Person {person_id} has no lifetime value (not the primary person of a won deal)")
    return value
