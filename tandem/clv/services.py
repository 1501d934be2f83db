"""Writes of lifetime value: fitting the models on the won deals and storing every customer's value."""

import datetime as dt
import time
from decimal import Decimal

import numpy as np
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tandem.audit.actors import ActorType, as_actor
from tandem.audit.services import audit_record
from tandem.clv import engine, selectors
from tandem.clv.models import ClvFit, CustomerValue, TimeUnit
from tandem.clv.permissions import can_refit_clv
from tandem.clv.summary import CustomerSummary, summarize_transactions

MIN_CUSTOMERS = 10
MIN_REPEAT_BUYERS = 3
DEFAULT_HORIZON_MONTHS = 12
DEFAULT_MONTHLY_DISCOUNT_RATE = 0.01
MAX_HORIZON_MONTHS = 120


class ClvDataError(ValueError):
    """The workspace's history cannot support a fit or a prediction; the message says why."""


def _require_refitter(by) -> None:
    actor = as_actor(by)
    if actor.type in (ActorType.USER, ActorType.API) and not can_refit_clv(actor.user):
        raise PermissionDenied("Only RevOps and the marketing and sales managers refit lifetime value.")


def _customer_key(account_id, person_id) -> str | None:
    """A customer is the account of a won deal, or its primary person when it has no account."""
    if account_id is not None:
        return f"a{account_id}"
    if person_id is not None:
        return f"p{person_id}"
    return None


def _summaries(purchases: selectors.Purchases, *, level: str, until: dt.date, unit: str) -> CustomerSummary:
    """Summaries per customer ('customer'), per account ('account') or per primary person ('person')."""
    keys, days, amounts = [], [], []
    for account_id, person_id, day, amount in zip(
        purchases.account_ids, purchases.person_ids, purchases.days, purchases.amounts, strict=True
    ):
        if level == "customer":
            key = _customer_key(account_id, person_id)
        elif level == "account":
            key = None if account_id is None else f"a{account_id}"
        else:
            key = None if person_id is None else f"p{person_id}"
        if key is not None:
            keys.append(key)
            days.append(day)
            amounts.append(amount)
    return summarize_transactions(keys, days, amounts, calibration_end=until, unit=unit)


def clv_fit_create(*, by, unit: str = TimeUnit.WEEKS, calibration_end: dt.date | None = None) -> ClvFit:
    """Fit BG/NBD and Gamma-Gamma on the customers' won deals up to `calibration_end` (today); audited."""
    _require_refitter(by)
    if unit not in TimeUnit.values:
        raise ClvDataError(f"unit must be one of {', '.join(TimeUnit.values)}, not {unit!r}")
    end = calibration_end or timezone.localdate()
    started = time.perf_counter()
    summary = _summaries(selectors.won_purchases(until=end), level="customer", until=end, unit=unit)
    customers = len(summary.customer_ids)
    if customers < MIN_CUSTOMERS:
        raise ClvDataError(
            f"{customers} customers have a won deal closed by {end.isoformat()}; at least {MIN_CUSTOMERS} are needed."
        )
    purchases = engine.bgnbd_fit(summary.frequency, summary.recency, summary.T)
    spenders = (summary.frequency > 0) & (summary.monetary_value > 0)
    if spenders.sum() < MIN_REPEAT_BUYERS:
        raise ClvDataError(
            f"{int(spenders.sum())} customers have repeat purchases with an amount; "
            f"at least {MIN_REPEAT_BUYERS} are needed to fit spend."
        )
    spend = engine.gamma_gamma_fit(summary.frequency[spenders], summary.monetary_value[spenders])
    if spend.parameters.q <= 1:
        raise ClvDataError(
            f"the spend model's q is {spend.parameters.q:.3g} (<= 1): the mean spend it implies is not finite."
        )
    actor = as_actor(by)
    with transaction.atomic():
        version = (ClvFit.objects.select_for_update().aggregate(top=Max("version"))["top"] or 0) + 1
        fit = ClvFit.objects.create(
            version=version,
            unit=unit,
            calibration_end=end,
            customers=customers,
            repeat_customers=int((summary.frequency > 0).sum()),
            **purchases.parameters.as_dict(),
            bgnbd_log_likelihood=purchases.log_likelihood,
            **spend.parameters.as_dict(),
            gamma_gamma_log_likelihood=spend.log_likelihood,
            gamma_gamma_customers=spend.customers,
            fitted_at=timezone.now(),
            fitted_by=actor.user if actor.user is not None and actor.user.pk else None,
            fitted_by_label=actor.display[:200],
            seconds=time.perf_counter() - started,
        )
        audit_record(
            by=by,
            action="clv.fit",
            instance=fit,
            after={
                "unit": unit,
                "calibration_end": end.isoformat(),
                "customers": customers,
                **{name: round(value, 6) for name, value in purchases.parameters.as_dict().items()},
                **{name: round(value, 6) for name, value in spend.parameters.as_dict().items()},
                "log_likelihood": round(purchases.log_likelihood, 3),
            },
            summary=f"Lifetime value fit v{version} on {customers} customers",
        )
    return fit


def _money(value: float) -> Decimal:
    return Decimal(str(round(float(value), 2)))


def _values(fit: ClvFit, summary: CustomerSummary, values: engine.LifetimeValues, *, level: str, as_of: dt.date):
    for index, key in enumerate(summary.customer_ids):
        record_id = int(key[1:])
        yield CustomerValue(
            fit=fit,
            account_id=record_id if level == "account" else None,
            person_id=record_id if level == "person" else None,
            as_of=as_of,
            purchases=int(summary.frequency[index]) + 1,
            historical_value=_money(summary.total_value[index]),
            first_purchase_on=dt.date.fromordinal(int(summary.first_day[index])),
            last_purchase_on=dt.date.fromordinal(int(summary.last_day[index])),
            frequency=int(summary.frequency[index]),
            recency=float(summary.recency[index]),
            age=float(summary.T[index]),
            monetary_value=float(summary.monetary_value[index]),
            probability_alive=float(values.probability_alive[index]),
            expected_purchases=float(values.expected_purchases[index]),
            expected_spend=float(values.expected_spend[index]),
            predicted_value=_money(values.lifetime_value[index]),
        )


def clv_values_store(
    *,
    by,
    fit: ClvFit | None = None,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    monthly_discount_rate: float = DEFAULT_MONTHLY_DISCOUNT_RATE,
    as_of: dt.date | None = None,
) -> ClvFit:
    """Compute every account's and person's lifetime value with `fit` (the latest) and replace the stored ones."""
    _require_refitter(by)
    if not 1 <= horizon_months <= MAX_HORIZON_MONTHS:
        raise ClvDataError(f"horizon_months must be between 1 and {MAX_HORIZON_MONTHS}, not {horizon_months}")
    if not 0 <= monthly_discount_rate < 1:
        raise ClvDataError(f"monthly_discount_rate must be at least 0 and below 1, not {monthly_discount_rate}")
    fit = fit or selectors.latest_fit()
    if fit is None:
        raise ClvDataError("there is no lifetime value fit yet; fit the models first.")
    as_of = as_of or timezone.localdate()
    purchases_model = engine.BetaGeoParameters(r=fit.r, alpha=fit.alpha, a=fit.a, b=fit.b)
    spend_model = engine.GammaGammaParameters(p=fit.p, q=fit.q, gamma=fit.gamma)
    purchases = selectors.won_purchases(until=as_of)
    rows = []
    for level in ("account", "person"):
        summary = _summaries(purchases, level=level, until=as_of, unit=fit.unit)
        if not summary.customer_ids:
            continue
        values = engine.lifetime_values(
            purchases_model,
            spend_model,
            summary.frequency,
            summary.recency,
            summary.T,
            summary.monetary_value,
            horizon_months=horizon_months,
            monthly_discount_rate=monthly_discount_rate,
            unit=fit.unit,
        )
        rows.extend(_values(fit, summary, values, level=level, as_of=as_of))
    with transaction.atomic():
        CustomerValue.objects.all().delete()
        CustomerValue.objects.bulk_create(rows, batch_size=2000)
        fit.predicted_at = timezone.now()
        fit.horizon_months = horizon_months
        fit.monthly_discount_rate = monthly_discount_rate
        fit.values_stored = len(rows)
        fit.save(update_fields=["predicted_at", "horizon_months", "monthly_discount_rate", "values_stored"])
        total = float(np.sum([float(row.predicted_value) for row in rows])) if rows else 0.0
        audit_record(
            by=by,
            action="clv.predict",
            instance=fit,
            after={
                "as_of": as_of.isoformat(),
                "horizon_months": horizon_months,
                "monthly_discount_rate": monthly_discount_rate,
                "values_stored": len(rows),
            },
            summary=f"Lifetime values of {len(rows)} accounts and people, fit v{fit.version}: {total:,.0f} in total",
        )
    return fit


def clv_refit(
    *,
    by,
    unit: str = TimeUnit.WEEKS,
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    monthly_discount_rate: float = DEFAULT_MONTHLY_DISCOUNT_RATE,
) -> ClvFit:
    """Fit the models on today's history and store everyone's value with the new fit."""
    fit = clv_fit_create(by=by, unit=unit)
    return clv_values_store(by=by, fit=fit, horizon_months=horizon_months, monthly_discount_rate=monthly_discount_rate)
