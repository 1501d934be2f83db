"""Reads of lifetime value: won deals as purchases, fits, stored values and their distribution."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from tandem.clv.models import ClvFit, CustomerValue
from tandem.crm.models import Opportunity


@dataclass(frozen=True)
class Purchases:
    """Won deals as parallel lists: account id (or None), primary person id (or None), day, amount."""

    account_ids: list
    person_ids: list
    days: list[int]
    amounts: list[float]


def won_purchases(*, until: dt.date) -> Purchases:
    """Every won deal closed on or before `until`, by close date (else the day it was closed)."""
    account_ids, person_ids, days, amounts = [], [], [], []
    rows = Opportunity.objects.filter(is_won=True).values_list(
        "account_id", "primary_person_id", "close_date", "closed_at", "amount"
    )
    last = until.toordinal()
    for account_id, person_id, close_date, closed_at, amount in rows.iterator(chunk_size=5000):
        if close_date is None:
            if closed_at is None:
                continue
            close_date = timezone.localdate(closed_at)
        day = close_date.toordinal()
        if day > last:
            continue
        account_ids.append(account_id)
        person_ids.append(person_id)
        days.append(day)
        amounts.append(float(amount))
    return Purchases(account_ids, person_ids, days, amounts)


def latest_fit() -> ClvFit | None:
    return ClvFit.objects.select_related("fitted_by").order_by("-version").first()


def fit_list(*, limit: int = 20) -> list[ClvFit]:
    return list(ClvFit.objects.select_related("fitted_by").order_by("-version")[:limit])


def fit_get(*, version: int) -> ClvFit:
    return ClvFit.objects.select_related("fitted_by").get(version=version)


def account_value(*, account_id: int) -> CustomerValue | None:
    return CustomerValue.objects.select_related("fit").filter(account_id=account_id).first()


def person_value(*, person_id: int) -> CustomerValue | None:
    return CustomerValue.objects.select_related("fit").filter(person_id=person_id).first()


@dataclass(frozen=True)
class History:
    """Won deals of an account or a person, counted live."""

    won_deals: int
    won_amount: Decimal


def historical_value(*, account_id: int | None = None, person_id: int | None = None) -> History:
    """Historical CLV: the number and sum of won deals of the account (or where the person is primary)."""
    query = Opportunity.objects.filter(is_won=True)
    query = query.filter(account_id=account_id) if account_id is not None else query.filter(primary_person_id=person_id)
    totals = query.aggregate(count=Count("id"), amount=Sum("amount"))
    return History(won_deals=totals["count"], won_amount=totals["amount"] or Decimal("0"))


def value_queryset(*, kind: str, clv_min: Decimal | None = None) -> QuerySet:
    """Stored values of accounts (kind 'account') or people ('person'), highest predicted value first."""
    query = CustomerValue.objects.filter(Q(account__isnull=False) if kind == "account" else Q(person__isnull=False))
    if clv_min is not None:
        query = query.filter(predicted_value__gte=clv_min)
    related = "account" if kind == "account" else "person"
    return query.select_related(related).order_by("-predicted_value", "id")


@dataclass(frozen=True)
class Histogram:
    """Counts of predicted values in equal-width bins from 0; the last bin holds everything above."""

    edges: list[float]
    counts: list[int]
    total: int
    mean: float
    median: float
    total_value: float


def value_histogram(*, kind: str, bins: int = 20) -> Histogram:
    """Distribution of predicted values; bins up to the 99th percentile so one whale does not flatten it."""
    values = np.array(value_queryset(kind=kind).values_list("predicted_value", flat=True).order_by(), dtype=float)
    if values.size == 0:
        return Histogram(edges=[], counts=[], total=0, mean=0.0, median=0.0, total_value=0.0)
    top = float(np.percentile(values, 99)) or float(values.max()) or 1.0
    edges = np.linspace(0.0, top, bins + 1)
    counts, _ = np.histogram(np.clip(values, 0.0, top), bins=edges)
    return Histogram(
        edges=[float(edge) for edge in edges],
        counts=[int(count) for count in counts],
        total=int(values.size),
        mean=float(values.mean()),
        median=float(np.median(values)),
        total_value=float(values.sum()),
    )
