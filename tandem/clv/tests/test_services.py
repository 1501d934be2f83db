import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from tandem.audit.actors import Actor
from tandem.audit.models import AuditEntry
from tandem.clv import engine, selectors, services
from tandem.clv.models import ClvFit, CustomerValue
from tandem.clv.tests.factories import AS_OF, HISTORIES, START, make_history, make_won_deal
from tandem.crm.tests.factories import make_account, make_person

pytestmark = pytest.mark.django_db


def _expected_summary(histories, *, as_of=AS_OF, unit_days=7.0):
    """Frequency, recency, T and mean repeat spend of the HISTORIES, worked out by hand."""
    end = (as_of - START).days
    x = np.array([len(days) - 1 for days, _ in histories], dtype=float)
    t_x = np.array([(days[-1] - days[0]) / unit_days for days, _ in histories])
    T = np.array([(end - days[0]) / unit_days for days, _ in histories])
    zbar = np.array([np.mean(amounts[1:]) if len(amounts) > 1 else 0.0 for _, amounts in histories])
    return x, t_x, T, zbar


def test_fit_on_the_won_deals_is_a_new_audited_version(cast):
    make_history()
    # Neither a lost deal nor one closed after the calibration end counts.
    account = make_account(name="Customer 0 twin", domain="twin.com")
    make_won_deal(account=account, close_date=AS_OF + dt.timedelta(days=1), amount=999)
    make_won_deal(account=account, close_date=AS_OF, amount=999, stage_key="closed_lost")

    fit = services.clv_fit_create(by=cast.revops, calibration_end=AS_OF)

    x, t_x, T, zbar = _expected_summary(HISTORIES)
    purchases = engine.bgnbd_fit(x, t_x, T)
    spend = engine.gamma_gamma_fit(x[x > 0], zbar[x > 0])
    assert (fit.version, fit.customers, fit.repeat_customers, fit.gamma_gamma_customers) == (1, 12, 6, 6)
    assert (fit.r, fit.alpha, fit.a, fit.b) == pytest.approx(tuple(purchases.parameters.as_dict().values()), rel=1e-9)
    # Six repeat buyers leave q and gamma on a flat ridge, where the optimiser's stopping point moves
    # with rounding: the stored fit must be as likely as the direct one and predict the same spend.
    stored_spend = engine.GammaGammaParameters(p=fit.p, q=fit.q, gamma=fit.gamma)
    repeat = x > 0
    assert engine.gamma_gamma_log_likelihood(stored_spend, x[repeat], zbar[repeat]) == pytest.approx(
        spend.log_likelihood, rel=1e-7
    )
    assert engine.expected_spend(stored_spend, x[repeat], zbar[repeat]) == pytest.approx(
        engine.expected_spend(spend.parameters, x[repeat], zbar[repeat]), rel=1e-4
    )
    assert fit.p == pytest.approx(spend.parameters.p, rel=1e-3)
    assert fit.bgnbd_log_likelihood == pytest.approx(purchases.log_likelihood, rel=1e-9)
    assert (fit.fitted_by, fit.fitted_by_label, fit.unit, fit.calibration_end) == (
        cast.revops,
        "Rita RevOps",
        "weeks",
        AS_OF,
    )
    entry = AuditEntry.objects.get(action="clv.fit")
    assert (entry.actor, entry.entity_id, entry.after["customers"]) == (cast.revops, fit.pk, 12)

    second = services.clv_fit_create(by=Actor.system("tests"), calibration_end=AS_OF, unit="days")
    assert second.version == 2
    assert second.alpha == pytest.approx(fit.alpha * 7, rel=1e-3)  # the same rate, counted per day
    assert selectors.latest_fit() == second


def test_only_revops_and_managers_refit(cast):
    make_history()
    for user in (cast.marketer, cast.sdr, cast.ae, cast.leadership):
        with pytest.raises(PermissionDenied):
            services.clv_refit(by=user)
    assert not ClvFit.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="clv.").exists()
    for user in (cast.marketing_manager, cast.sales_manager):
        with time_machine.travel(dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC), tick=False):
            assert services.clv_refit(by=user).values_stored == 24


def test_too_little_history_is_refused_with_the_reason(cast):
    account = make_account()
    make_won_deal(account=account, close_date=dt.date(2026, 1, 5), amount=100)
    with pytest.raises(services.ClvDataError, match=r"^1 customers have a won deal closed by 2026-06-30; at least 10"):
        services.clv_fit_create(by=cast.revops, calibration_end=AS_OF)
    with pytest.raises(services.ClvDataError, match="no lifetime value fit yet"):
        services.clv_values_store(by=cast.revops)
    assert not ClvFit.objects.exists()


def test_values_of_accounts_and_people_with_the_fit(cast):
    accounts, people = make_history()
    loner = make_person(email="solo@example.com")
    make_won_deal(person=loner, close_date=dt.date(2026, 3, 1), amount=640)
    fit = services.clv_fit_create(by=cast.revops, calibration_end=AS_OF)

    with time_machine.travel(dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC), tick=False):
        services.clv_values_store(by=cast.revops, horizon_months=6, monthly_discount_rate=0.02)

    fit.refresh_from_db()
    assert (fit.horizon_months, fit.monthly_discount_rate, fit.values_stored) == (6, 0.02, 25)
    assert CustomerValue.objects.filter(account__isnull=False).count() == 12
    assert CustomerValue.objects.filter(person__isnull=False).count() == 13
    # The first account, by hand: summary, then the engine with the stored parameters.
    x, t_x, T, zbar = _expected_summary(HISTORIES[:1])
    expected = engine.lifetime_values(
        engine.BetaGeoParameters(r=fit.r, alpha=fit.alpha, a=fit.a, b=fit.b),
        engine.GammaGammaParameters(p=fit.p, q=fit.q, gamma=fit.gamma),
        x,
        t_x,
        T,
        zbar,
        horizon_months=6,
        monthly_discount_rate=0.02,
    )
    value = selectors.account_value(account_id=accounts[0].pk)
    assert value.predicted_value == Decimal(str(round(float(expected.lifetime_value[0]), 2)))
    assert value.probability_alive == pytest.approx(expected.probability_alive[0], rel=1e-12)
    assert value.expected_purchases == pytest.approx(expected.expected_purchases[0], rel=1e-12)
    assert (value.purchases, value.frequency, value.historical_value, value.monetary_value) == (
        5,
        4,
        Decimal("5700.00"),
        1175.0,
    )
    assert (value.first_purchase_on, value.last_purchase_on, value.as_of) == (
        dt.date(2025, 1, 1),
        dt.date(2026, 1, 26),
        AS_OF,
    )
    # A person's own deals give the same history as their account's here.
    person_value = selectors.person_value(person_id=people[0].pk)
    assert person_value.predicted_value == value.predicted_value
    solo = selectors.person_value(person_id=loner.pk)
    assert (solo.frequency, solo.historical_value, solo.probability_alive) == (0, Decimal("640.00"), 1.0)
    # Without repeat purchases the expected spend is the population's mean.
    assert solo.expected_spend == pytest.approx(fit.p * fit.gamma / (fit.q - 1), rel=1e-12)
    assert AuditEntry.objects.filter(action="clv.predict", entity_id=fit.pk).count() == 1


def test_a_refit_replaces_the_stored_values(cast):
    accounts, _ = make_history()
    with time_machine.travel(dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC), tick=False):
        first = services.clv_refit(by=cast.revops)
        make_won_deal(account=accounts[2], close_date=dt.date(2026, 6, 29), amount=5000)
        second = services.clv_refit(by=cast.revops, horizon_months=24)

    assert CustomerValue.objects.count() == 24
    assert set(CustomerValue.objects.values_list("fit_id", flat=True)) == {second.pk}
    value = selectors.account_value(account_id=accounts[2].pk)
    assert (value.frequency, value.historical_value) == (1, Decimal("5800.00"))
    assert first.version == 1 and second.version == 2


def test_histogram_counts_every_value(cast):
    make_history()
    with time_machine.travel(dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC), tick=False):
        services.clv_refit(by=cast.revops)
    histogram = selectors.value_histogram(kind="account", bins=5)
    values = sorted(
        float(v) for v in CustomerValue.objects.filter(account__isnull=False).values_list("predicted_value", flat=True)
    )
    assert histogram.total == 12 == sum(histogram.counts)
    assert len(histogram.edges) == 6 and histogram.edges[0] == 0.0
    assert histogram.total_value == pytest.approx(sum(values))
    assert histogram.median == pytest.approx((values[5] + values[6]) / 2)
