import math

import numpy as np
import pytest
from scipy.special import hyp2f1

from tandem.clv import engine
from tandem.clv.engine import BetaGeoParameters, GammaGammaParameters, SummaryError

CDNOW_BGNBD = BetaGeoParameters(r=0.243, alpha=4.414, a=0.793, b=2.426)
SPEND = GammaGammaParameters(p=6.25, q=3.74, gamma=15.44)


def test_one_customer_log_likelihood_matches_the_closed_form():
    parameters = BetaGeoParameters(r=0.5, alpha=3.0, a=1.2, b=2.5)
    x, t_x, T = 3, 10.0, 20.0
    r, alpha, a, b = 0.5, 3.0, 1.2, 2.5

    def beta(u, v):
        return math.gamma(u) * math.gamma(v) / math.gamma(u + v)

    common = math.gamma(r + x) * alpha**r / math.gamma(r)
    likelihood = beta(a, b + x) / beta(a, b) * common * (alpha + T) ** -(r + x) + beta(a + 1, b + x - 1) / beta(
        a, b
    ) * common * (alpha + t_x) ** -(r + x)

    assert engine.bgnbd_log_likelihood(parameters, [x], [t_x], [T]) == pytest.approx(math.log(likelihood), rel=1e-12)


def test_a_customer_without_repeat_purchases_has_likelihood_of_no_purchase_in_T():
    parameters = BetaGeoParameters(r=0.5, alpha=3.0, a=1.2, b=2.5)
    # Only the always-alive branch: (alpha / (alpha + T))^r.
    assert engine.bgnbd_log_likelihood(parameters, [0], [0], [20]) == pytest.approx(0.5 * math.log(3 / 23), rel=1e-12)


def test_the_analytic_gradient_matches_finite_differences():
    x, t_x, T, _ = engine.simulate_customers(CDNOW_BGNBD, None, np.full(500, 39.0), seed=3)
    values = np.array([0.3, 5.0, 0.9, 2.0])
    weights = np.ones_like(x)
    x_values, x_inverse = np.unique(x, return_inverse=True)
    x_weights = np.bincount(x_inverse)
    _, gradient = engine._bgnbd_terms(values, x, t_x, T, x_values, x_weights, weights, gradient=True)
    for index in range(4):
        step = np.zeros(4)
        step[index] = 1e-6
        up = engine._bgnbd_terms(values + step, x, t_x, T, x_values, x_weights, weights, gradient=False)[0]
        down = engine._bgnbd_terms(values - step, x, t_x, T, x_values, x_weights, weights, gradient=False)[0]
        assert gradient[index] == pytest.approx((up - down) / 2e-6, rel=1e-5)


def test_one_repeat_buyer_spend_log_likelihood_matches_the_closed_form():
    p, q, gamma, x, zbar = 6.0, 3.5, 15.0, 3, 20.0
    expected = (
        math.lgamma(p * x + q)
        - math.lgamma(p * x)
        - math.lgamma(q)
        + q * math.log(gamma)
        + (p * x - 1) * math.log(zbar)
        + p * x * math.log(x)
        - (p * x + q) * math.log(gamma + x * zbar)
    )
    parameters = GammaGammaParameters(p=p, q=q, gamma=gamma)
    assert engine.gamma_gamma_log_likelihood(parameters, [x], [zbar]) == pytest.approx(expected, rel=1e-12)


def test_the_spend_gradient_matches_finite_differences():
    x, _, _, zbar = engine.simulate_customers(CDNOW_BGNBD, SPEND, np.full(2000, 39.0), seed=5)
    repeat = x > 0
    *_, prepared = engine._gamma_gamma_prepare(x[repeat], zbar[repeat], None)
    values = np.array([5.0, 3.0, 12.0])
    _, gradient = engine._gamma_gamma_terms(values, prepared, gradient=True)
    for index in range(3):
        step = np.zeros(3)
        step[index] = 1e-6
        up = engine._gamma_gamma_terms(values + step, prepared, gradient=False)[0]
        down = engine._gamma_gamma_terms(values - step, prepared, gradient=False)[0]
        assert gradient[index] == pytest.approx((up - down) / 2e-6, rel=1e-5)


def test_probability_alive_is_one_without_repeat_purchases_and_falls_with_silence():
    alive = engine.probability_alive(CDNOW_BGNBD, [0, 2, 2], [0, 38.0, 10.0], [38.86, 38.86, 38.86])
    assert alive[0] == 1.0
    assert 0 < alive[2] < alive[1] < 1
    # 1 / (1 + a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)) by hand for the third.
    expected = 1 / (1 + 0.793 / (2.426 + 1) * ((4.414 + 38.86) / (4.414 + 10.0)) ** 2.243)
    assert alive[2] == pytest.approx(expected, rel=1e-12)


def test_expected_purchases_of_a_newcomer_equals_the_unconditional_expectation():
    conditional = engine.expected_purchases(CDNOW_BGNBD, [5.0, 39.0, 78.0], [0, 0, 0], [0, 0, 0], [0, 0, 0])
    unconditional = engine.expected_purchases_new_customer(CDNOW_BGNBD, [5.0, 39.0, 78.0])
    np.testing.assert_allclose(conditional, unconditional, rtol=1e-10)


def test_expected_purchases_agrees_with_the_textbook_hypergeometric_form():
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    for x, t_x, T, t in [(2, 30.43, 38.86, 39.0), (7, 35.0, 38.86, 52.0), (0, 0.0, 20.0, 10.0)]:
        z = t / (alpha + T + t)
        numerator = (
            (a + b + x - 1)
            / (a - 1)
            * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        )
        denominator = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        assert engine.expected_purchases(CDNOW_BGNBD, t, x, t_x, T) == pytest.approx(numerator / denominator, rel=1e-9)


def _hypergeometric_series(A, B, C, z):
    """2F1 by summing its power series (all terms positive here, so no cancellation)."""
    term = total = 1.0
    n = 0
    while n < 10 or term > 1e-17 * total:
        term *= (A + n) * (B + n) / ((C + n) * (n + 1)) * z
        total += term
        n += 1
    return total


def test_expected_purchases_of_a_very_frequent_buyer_matches_the_summed_series():
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x, t_x, T, t = 400, 38.0, 38.86, 52.0
    z = t / (alpha + T + t)
    numerator = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * _hypergeometric_series(r + x, b + x, a + b + x - 1, z))
    )
    denominator = 1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)

    assert engine.expected_purchases(CDNOW_BGNBD, t, x, t_x, T) == pytest.approx(numerator / denominator, rel=1e-9)


def test_expected_purchases_stays_finite_where_the_textbook_form_overflows():
    x, T, t = 3000, 38.86, 52.0
    z = t / (4.414 + T + t)
    with np.errstate(all="ignore"):
        assert not np.isfinite(hyp2f1(0.243 + x, 2.426 + x, 0.793 + 2.426 + x - 1, z))
    value = engine.expected_purchases(CDNOW_BGNBD, t, x, 38.86, T)
    # Alive for sure (last purchase just now); about (r + x) / (alpha + T) purchases a week, less dropout.
    assert np.isfinite(value)
    assert 1000 < value < 52 * (0.243 + x) / (4.414 + T)


@pytest.mark.parametrize(
    "parameters",
    [CDNOW_BGNBD, BetaGeoParameters(r=0.4, alpha=9.0, a=150.0, b=300.0), BetaGeoParameters(r=2, alpha=3, a=3, b=0.7)],
)
def test_quadrature_over_the_dropout_probability_agrees_with_the_hypergeometric_form(parameters):
    x = np.array([0, 1, 2, 5, 20, 100.0])
    T = np.array([10, 38.86, 38.86, 50, 60, 60.0])
    t = np.array([39.0, 39, 5, 52, 52, 100])
    np.testing.assert_allclose(
        engine._purchases_while_alive_quadrature(parameters, x, T, t),
        engine._purchases_while_alive(parameters, x, T, t),
        rtol=1e-12,
    )


def test_a_homogeneous_dropout_rate_gives_finite_predictions():
    # A fit on a few customers can drive a and b to infinity with p = a / (a + b) fixed (here 0.3).
    parameters = BetaGeoParameters(r=0.38, alpha=9.28, a=2.1e6, b=4.9e6)
    with np.errstate(all="ignore"):
        assert not np.isfinite(hyp2f1(parameters.a + parameters.b - 1.38, parameters.a - 1, 7e6, 0.5))
    values = engine.expected_purchases(parameters, 52.0, [0, 4], [0, 60.0], [50.0, 70.0])
    # Nearly a fixed p = 0.3: while alive, (1 - (1 + p t / (alpha + T))^-(r + x)) / p purchases.
    p = 0.3
    alive = engine.probability_alive(parameters, [0, 4], [0, 60.0], [50.0, 70.0])
    fixed_p = [(1 - (1 + p * 52 / (9.28 + T)) ** -(0.38 + x)) / p for x, T in [(0, 50.0), (4, 70.0)]]
    np.testing.assert_allclose(values, np.array(fixed_p) * alive, rtol=1e-5)


def test_beta_quadrature_integrates_the_moments():
    points, weights = engine.beta_quadrature(0.793, 2.426)
    assert weights.sum() == pytest.approx(1.0, rel=1e-14)
    assert points @ weights == pytest.approx(0.793 / (0.793 + 2.426), rel=1e-12)
    mean_of_square = 0.793 * 1.793 / ((0.793 + 2.426) * (0.793 + 2.426 + 1))
    assert points**2 @ weights == pytest.approx(mean_of_square, rel=1e-12)


def test_expected_spend_shrinks_the_mean_towards_the_population():
    spend = engine.expected_spend(SPEND, [0, 1, 2], [0.0, 30.0, 30.0])
    population = 6.25 * 15.44 / (3.74 - 1)
    assert spend[0] == pytest.approx(population, rel=1e-12)
    assert spend[1] == pytest.approx(6.25 * (15.44 + 30) / (6.25 + 3.74 - 1), rel=1e-12)
    # The population mean (35.22) is above 30: more purchases pull the estimate closer to 30.
    assert population > spend[1] > spend[2] > 30


def test_lifetime_value_discounts_each_month_of_expected_purchases():
    values = engine.lifetime_values(
        CDNOW_BGNBD, SPEND, [2], [30.43], [38.86], [22.35], horizon_months=3, monthly_discount_rate=0.01
    )
    spend = engine.expected_spend(SPEND, [2], [22.35])[0]
    by_month = [engine.expected_purchases(CDNOW_BGNBD, 4.345 * m, 2, 30.43, 38.86) for m in range(4)]
    expected = sum(spend * (by_month[m] - by_month[m - 1]) / 1.01**m for m in range(1, 4))
    assert values.lifetime_value[0] == pytest.approx(expected, rel=1e-12)
    assert values.expected_purchases[0] == pytest.approx(by_month[3], rel=1e-12)
    undiscounted = engine.lifetime_values(
        CDNOW_BGNBD, SPEND, [2], [30.43], [38.86], [22.35], horizon_months=3, monthly_discount_rate=0.0
    )
    assert undiscounted.lifetime_value[0] == pytest.approx(spend * by_month[3], rel=1e-12)


def test_lifetime_value_in_days_uses_thirty_day_months():
    weeks = engine.lifetime_values(CDNOW_BGNBD, SPEND, [2], [30.43], [38.86], [22.35], horizon_months=12)
    in_days = BetaGeoParameters(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)
    days = engine.lifetime_values(
        in_days, SPEND, [2], [30.43 * 7], [38.86 * 7], [22.35], horizon_months=12, unit="days"
    )
    # 30 days is 4.286 weeks, a little less than the 4.345 weeks of a month counted in weeks.
    assert days.lifetime_value[0] < weeks.lifetime_value[0]
    assert days.lifetime_value[0] == pytest.approx(weeks.lifetime_value[0], rel=0.02)


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, -1], [1, 0], [2, 2], "frequency must be a whole number >= 0 (customer 1)"),
        ([1, 1.5], [1, 1], [2, 2], "frequency must be a whole number >= 0 (customer 1)"),
        ([1, 1], [3, 1], [2, 2], "recency must not be greater than T (customer 0)"),
        ([0, 1], [1, 1], [2, 2], "recency must be 0 when frequency is 0 (customer 0)"),
        ([1, 1], [1, 1], [2, float("nan")], "T must be a number >= 0 (customer 1)"),
    ],
)
def test_a_bad_summary_names_the_field_and_customer(frequency, recency, T, message):
    with pytest.raises(SummaryError) as raised:
        engine.bgnbd_fit(frequency, recency, T)
    assert str(raised.value) == message


def test_the_spend_model_refuses_customers_without_repeat_purchases():
    with pytest.raises(SummaryError, match=r"frequency must be a whole number > 0 \(customer 1\)"):
        engine.gamma_gamma_fit([2, 0], [10.0, 0.0])
    with pytest.raises(SummaryError, match=r"monetary_value must be a number > 0 \(customer 0\)"):
        engine.gamma_gamma_fit([2, 1], [-1.0, 3.0])


def test_fits_recover_the_parameters_of_simulated_customers():
    purchases = BetaGeoParameters(r=0.8, alpha=6.0, a=0.7, b=3.0)
    T = np.random.default_rng(1).uniform(20, 60, 50_000)
    x, t_x, T, zbar = engine.simulate_customers(purchases, SPEND, T, seed=11)

    fit = engine.bgnbd_fit(x, t_x, T)
    spend = engine.gamma_gamma_fit(x[x > 0], zbar[x > 0])

    assert fit.converged and spend.converged
    for name, value in purchases.as_dict().items():
        assert getattr(fit.parameters, name) == pytest.approx(value, rel=0.1), name
    for name, value in SPEND.as_dict().items():
        assert getattr(spend.parameters, name) == pytest.approx(value, rel=0.15), name
    # The truth cannot be more likely than the maximum.
    assert fit.log_likelihood >= engine.bgnbd_log_likelihood(purchases, x, t_x, T)


def test_weights_count_identical_customers():
    x, t_x, T = [0, 1, 3, 0], [0, 5.0, 20.0, 0], [30.0, 30.0, 30.0, 10.0]
    weighted = engine.bgnbd_fit(x, t_x, T, weights=[4, 2, 1, 3])
    repeated = engine.bgnbd_fit(
        [0] * 4 + [1] * 2 + [3] + [0] * 3, [0] * 4 + [5.0] * 2 + [20.0] + [0] * 3, [30.0] * 7 + [10.0] * 3
    )
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, rel=1e-9)
