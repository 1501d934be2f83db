"""Customer lifetime value models on plain arrays: BG/NBD and Gamma-Gamma (no database).

- BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while alive, a
  customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each repeat purchase they drop
  out with probability p ~ Beta(a, b). The data per customer are x (repeat purchases), t_x (time
  of the last purchase, from the first) and T (time since the first purchase), in one time unit.
- Gamma-Gamma (Fader & Hardie 2005, "The Gamma-Gamma Model of Monetary Value"): a purchase's
  value is Gamma(p, nu) with nu ~ Gamma(q, gamma) per customer; fitted on the repeat buyers'
  mean repeat spend zbar.

Both are fitted by maximum likelihood with L-BFGS on log-parameters and the analytic gradient.
Terms that depend only on the integer x (gammaln, betaln, digamma) are computed once per distinct
x, so a fit on a million customers costs a few array passes per iteration.

Expected purchases use Gauss' hypergeometric function 2F1 after Euler's transformation,
(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), which keeps
its arguments small and its value bounded for large x where the textbook form overflows.
"""

from dataclasses import asdict, dataclass

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

# Log-parameters are kept within exp(+-LOG_BOUND) so that a degenerate data set cannot push the
# optimiser to infinities.
LOG_BOUND = 18.0
# Months per time unit's worth of steps, as the lifetimes library counts them (4.345 weeks, 30 days).
UNITS_PER_MONTH = {"weeks": 4.345, "days": 30.0}
# Above this a (the dropout Beta's first shape), expected purchases are taken by quadrature: 2F1's
# arguments grow with a and overflow near a = 10^4. Both routes agree to 1e-9 where both work.
LARGE_A = 200.0
QUADRATURE_NODES = 48


class SummaryError(ValueError):
    """A customer summary that the models cannot use; `row` is the 0-based customer index."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None, rule: str = ""):
        super().__init__(message)
        self.row = row
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class BetaGeoParameters:
    """BG/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaParameters:
    """Gamma-Gamma parameters: spend ~ Gamma(p, nu), nu ~ Gamma(q, gamma)."""

    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FitResult:
    """A maximum-likelihood fit: parameters, the log-likelihood at them, and how it went."""

    parameters: BetaGeoParameters | GammaGammaParameters
    log_likelihood: float
    customers: int
    iterations: int
    converged: bool
    message: str


@dataclass(frozen=True)
class LifetimeValues:
    """Per-customer predictions over a horizon (arrays aligned with the input customers)."""

    probability_alive: np.ndarray
    expected_purchases: np.ndarray
    expected_spend: np.ndarray
    lifetime_value: np.ndarray


# ---------------------------------------------------------------------------------------------
# Input checks


def check_summary(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The summary as float arrays, or SummaryError naming the first bad customer and field."""
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    if not (x.shape == t_x.shape == T.shape) or x.ndim != 1:
        raise SummaryError("frequency, recency and T must be one-dimensional arrays of the same length")
    if x.size == 0:
        raise SummaryError("no customers to fit")
    checks = [
        ("frequency", ~np.isfinite(x) | (x < 0) | (x != np.floor(x)), "must be a whole number >= 0"),
        ("recency", ~np.isfinite(t_x) | (t_x < 0), "must be a number >= 0"),
        ("T", ~np.isfinite(T) | (T < 0), "must be a number >= 0"),
        ("recency", t_x > T, "must not be greater than T"),
        ("recency", (x == 0) & (t_x != 0), "must be 0 when frequency is 0"),
    ]
    for field, bad, rule in checks:
        if bad.any():
            row = int(np.argmax(bad))
            raise SummaryError(f"{field} {rule} (customer {row})", row=row, field=field, rule=rule)
    return x, t_x, T


def check_spend(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
    """Repeat buyers' (x, zbar) for the spend model: x > 0 and zbar > 0 for every customer given."""
    x = np.asarray(frequency, dtype=float)
    zbar = np.asarray(monetary_value, dtype=float)
    if x.shape != zbar.shape or x.ndim != 1:
        raise SummaryError("frequency and monetary_value must be one-dimensional arrays of the same length")
    if x.size == 0:
        raise SummaryError("no repeat buyers to fit the spend model on")
    for field, bad, rule in [
        ("frequency", ~np.isfinite(x) | (x <= 0) | (x != np.floor(x)), "must be a whole number > 0"),
        ("monetary_value", ~np.isfinite(zbar) | (zbar <= 0), "must be a number > 0"),
    ]:
        if bad.any():
            row = int(np.argmax(bad))
            raise SummaryError(f"{field} {rule} (customer {row})", row=row, field=field, rule=rule)
    return x, zbar


def distinct_rows(columns: list[np.ndarray], weights: np.ndarray | None = None):
    """Distinct rows of parallel columns: (their columns, summed weights, each input row's group).

    Summaries made from dates repeat a lot (every one-time buyer of a day has the same x, t_x and
    T), so the models work on distinct rows with counts rather than on every customer.
    """
    n = columns[0].size
    weights = np.ones(n) if weights is None else weights
    order = np.lexsort(columns[::-1])
    ordered = [column[order] for column in columns]
    changed = np.zeros(n, dtype=bool)
    changed[0] = True
    for column in ordered:
        changed[1:] |= column[1:] != column[:-1]
    group_in_order = np.cumsum(changed) - 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = group_in_order
    starts = np.flatnonzero(changed)
    return [column[starts] for column in ordered], np.bincount(group_in_order, weights=weights[order]), inverse


# ---------------------------------------------------------------------------------------------
# BG/NBD


def _bgnbd_terms(parameters, x, t_x, T, x_values, x_weights, weights, *, gradient: bool):
    """Sum of weighted log-likelihoods and (optionally) its gradient in (r, alpha, a, b)."""
    r, alpha, a, b = parameters
    n = weights.sum()
    # Terms of the distinct x values.
    by_x = gammaln(r + x_values) - gammaln(r) + betaln(a, b + x_values) - betaln(a, b)
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    is_repeat = x > 0
    first = -(r + x) * log_alpha_T
    second = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * log_alpha_tx
    mixed = np.where(is_repeat, np.logaddexp(first, np.where(is_repeat, second, 0.0)), first)
    log_likelihood = float(x_weights @ by_x + n * r * np.log(alpha) + weights @ mixed)
    if not gradient:
        return log_likelihood, None
    share_second = np.where(is_repeat, np.exp(second - mixed), 0.0)
    share_first = 1.0 - share_second
    digamma_abx = digamma(a + b + x_values)
    d_r = (
        x_weights @ (digamma(r + x_values) - digamma(r))
        + n * np.log(alpha)
        - weights @ (share_first * log_alpha_T + share_second * log_alpha_tx)
    )
    d_alpha = n * r / alpha - weights @ ((r + x) * (share_first / (alpha + T) + share_second / (alpha + t_x)))
    d_a = x_weights @ (digamma(a + b) - digamma_abx) + (weights @ share_second) / a
    d_b = x_weights @ (digamma(b + x_values) - digamma_abx - digamma(b) + digamma(a + b)) - weights @ (
        share_second / (b + np.maximum(x, 1) - 1)
    )
    return log_likelihood, np.array([d_r, d_alpha, d_a, d_b])


def bgnbd_log_likelihood(parameters: BetaGeoParameters, frequency, recency, T, *, weights=None) -> float:
    """The BG/NBD log-likelihood of the customers (equation 6 of Fader, Hardie & Lee 2005)."""
    x, t_x, T, weights, x_values, x_weights = _bgnbd_prepare(frequency, recency, T, weights)
    values = (parameters.r, parameters.alpha, parameters.a, parameters.b)
    return _bgnbd_terms(values, x, t_x, T, x_values, x_weights, weights, gradient=False)[0]


def _bgnbd_prepare(frequency, recency, T, weights):
    """Checked distinct (x, t_x, T) rows with their weights, and the distinct x with theirs."""
    x, t_x, T = check_summary(frequency, recency, T)
    weights = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    (x, t_x, T), weights, _ = distinct_rows([x, t_x, T], weights)
    x_values, x_inverse = np.unique(x, return_inverse=True)
    return x, t_x, T, weights, x_values, np.bincount(x_inverse, weights=weights)


def _bgnbd_start(x, t_x, T, weights) -> np.ndarray:
    """Starting values: r = 1 and alpha from the mean purchase rate of the customers; a = 1, b = 3."""
    rate = float(weights @ x) / max(float(weights @ T), 1e-12)
    alpha = 1.0 / max(rate, 1e-6)
    return np.log([1.0, min(alpha, 1e6), 1.0, 3.0])


def bgnbd_fit(frequency, recency, T, *, weights=None, initial: BetaGeoParameters | None = None) -> FitResult:
    """Fit BG/NBD by maximum likelihood; `weights` counts identical customers (default 1 each)."""
    customers = len(frequency)
    x, t_x, T, weights, x_values, x_weights = _bgnbd_prepare(frequency, recency, T, weights)
    scale = float(weights.sum())

    def objective(log_parameters):
        parameters = np.exp(log_parameters)
        value, grad = _bgnbd_terms(parameters, x, t_x, T, x_values, x_weights, weights, gradient=True)
        if not np.isfinite(value):
            return np.inf, np.zeros(4)
        # Per-customer mean, and the chain rule for log-parameters.
        return -value / scale, -grad * parameters / scale

    start = (
        _bgnbd_start(x, t_x, T, weights)
        if initial is None
        else np.log([initial.r, initial.alpha, initial.a, initial.b])
    )
    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * 4,
        options={"maxiter": 500, "ftol": 1e-14, "gtol": 1e-9},
    )
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return FitResult(
        parameters=BetaGeoParameters(r=r, alpha=alpha, a=a, b=b),
        log_likelihood=-float(result.fun) * scale,
        customers=customers,
        iterations=int(result.nit),
        converged=bool(result.success),
        message=str(result.message),
    )


def _as_arrays(*values):
    return [np.asarray(value, dtype=float) for value in values]


def probability_alive(parameters: BetaGeoParameters, frequency, recency, T) -> np.ndarray:
    """P(alive | x, t_x, T): 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))."""
    x, t_x, T = _as_arrays(frequency, recency, T)
    r, alpha, a, b = parameters.r, parameters.alpha, parameters.a, parameters.b
    log_odds_dead = np.log(a) - np.log(b + np.maximum(x, 1) - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def beta_quadrature(shape_a: float, shape_b: float, nodes: int = QUADRATURE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Gauss quadrature of the Beta(shape_a, shape_b) distribution: points in (0, 1), weights summing to 1.

    Golub-Welsch on the Jacobi recurrence (weight (1-u)^(shape_b-1) (1+u)^(shape_a-1) on [-1, 1],
    u = 2p - 1); normalising the eigenvector weights avoids the Beta function, which overflows for
    the large shapes a homogeneous dropout rate drives the fit to.
    """
    alpha, beta = shape_b - 1.0, shape_a - 1.0
    k = np.arange(1, nodes, dtype=float)
    s = 2 * k + alpha + beta
    diagonal = np.empty(nodes)
    diagonal[0] = (beta - alpha) / (alpha + beta + 2)
    diagonal[1:] = (beta - alpha) * (beta + alpha) / (s * (s + 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        off_squared = 4 * k * (k + alpha) * (k + beta) * (k + alpha + beta) / (s**2 * (s + 1) * (s - 1))
    # k = 1 with the (k + alpha + beta) / (s - 1) factor cancelled, which is 0 / 0 when alpha + beta = -1.
    off_squared[0] = 4 * (1 + alpha) * (1 + beta) / ((2 + alpha + beta) ** 2 * (3 + alpha + beta))
    points, vectors = eigh_tridiagonal(diagonal, np.sqrt(off_squared))
    weights = vectors[0] ** 2
    return np.clip((1.0 + points) / 2.0, 1e-300, 1.0), weights / weights.sum()


def _purchases_while_alive_quadrature(parameters: BetaGeoParameters, x, T, t) -> np.ndarray:
    """E over p ~ Beta(a, b + x) of (1 - ((alpha + T) / (alpha + T + p t))^(r + x)) / p, by quadrature.

    The same expectation as the 2F1 form (FHL 2005, from which it is derived), for the parameters
    where 2F1's arguments are too large for it.
    """
    r, alpha, a, b = parameters.r, parameters.alpha, parameters.a, parameters.b
    x, T, t = np.broadcast_arrays(*_as_arrays(x, T, t))
    result = np.empty(x.shape)
    for value in np.unique(x):
        rows = x == value
        points, weights = beta_quadrature(a, b + value)
        ratio = t[rows, None] / (alpha + T[rows, None]) * points[None, :]
        integrand = -np.expm1(-(r + value) * np.log1p(ratio)) / points[None, :]
        result[rows] = integrand @ weights
    return result


def _purchases_while_alive(parameters: BetaGeoParameters, x, T, t) -> np.ndarray:
    """(a+b+x-1)/(a-1) (1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))).

    Expected purchases in the next t while alive at T. For large a (a homogeneous dropout rate)
    2F1 overflows, and the expectation is taken by quadrature over the dropout probability instead.
    """
    r, alpha, a, b = parameters.r, parameters.alpha, parameters.a, parameters.b
    x, T, t = np.broadcast_arrays(*_as_arrays(x, T, t))
    if a > LARGE_A:
        return _purchases_while_alive_quadrature(parameters, x, T, t)
    if abs(a - 1.0) < 1e-6:
        # The expression is continuous in a; a = 1 exactly would divide 0 by 0.
        a = 1.0 + 1e-6
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        tail = np.power(1.0 - z, a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        result = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
    broken = ~np.isfinite(result)
    if broken.any():
        result[broken] = _purchases_while_alive_quadrature(parameters, x[broken], T[broken], t[broken])
    return result


def expected_purchases(parameters: BetaGeoParameters, t, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t units (equation 10 of FHL 2005)."""
    x, t_x, T = _as_arrays(frequency, recency, T)
    t = np.asarray(t, dtype=float)
    return _purchases_while_alive(parameters, x, T, t) * probability_alive(parameters, x, t_x, T)


def expected_purchases_new_customer(parameters: BetaGeoParameters, t) -> np.ndarray:
    """E[X(t)]: expected repeat purchases of a customer in the first t units after their first."""
    r, alpha, a, b = parameters.r, parameters.alpha, parameters.a, parameters.b
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1.0) / (a - 1.0) * (1.0 - np.power(alpha / (alpha + t), r) * hyp2f1(r, b, a + b - 1.0, z))


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma


def _gamma_gamma_terms(parameters, prepared, *, gradient: bool):
    """Sum of weighted log-likelihoods and (optionally) its gradient in (p, q, gamma).

    Per customer: ln G(px+q) - ln G(px) - ln G(q) + q ln gamma + (px-1) ln zbar + px ln x
    - (px+q) ln(gamma + x zbar); the parts without gamma are summed once in `prepared`.
    """
    p, q, gamma = parameters
    weights, weighted_x, x_zbar, x_values, x_weights, spend_sum, log_zbar_sum = prepared
    n = weights.sum()
    px = p * x_values
    log_total = np.log(gamma + x_zbar)
    weighted_log_total = weights @ log_total
    x_weighted_log_total = weighted_x @ log_total
    log_likelihood = float(
        x_weights @ (gammaln(px + q) - gammaln(px))
        - n * gammaln(q)
        + n * q * np.log(gamma)
        + p * spend_sum
        - log_zbar_sum
        - p * x_weighted_log_total
        - q * weighted_log_total
    )
    if not gradient:
        return log_likelihood, None
    inverse_total = 1.0 / (gamma + x_zbar)
    digamma_pxq = digamma(px + q)
    d_p = x_weights @ (x_values * (digamma_pxq - digamma(px))) + spend_sum - x_weighted_log_total
    d_q = x_weights @ digamma_pxq - n * digamma(q) + n * np.log(gamma) - weighted_log_total
    d_gamma = n * q / gamma - p * (weighted_x @ inverse_total) - q * (weights @ inverse_total)
    return log_likelihood, np.array([d_p, d_q, d_gamma])


def _gamma_gamma_prepare(frequency, monetary_value, weights):
    x, zbar = check_spend(frequency, monetary_value)
    weights = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    x_values, x_inverse = np.unique(x, return_inverse=True)
    x_weights = np.bincount(x_inverse, weights=weights)
    log_zbar = np.log(zbar)
    weighted_x = weights * x
    spend_sum = float(weighted_x @ (log_zbar + np.log(x)))
    prepared = (weights, weighted_x, x * zbar, x_values, x_weights, spend_sum, float(weights @ log_zbar))
    return x, zbar, weights, prepared


def gamma_gamma_log_likelihood(parameters: GammaGammaParameters, frequency, monetary_value, *, weights=None) -> float:
    """The Gamma-Gamma log-likelihood of repeat buyers' mean repeat spend."""
    _, _, _, prepared = _gamma_gamma_prepare(frequency, monetary_value, weights)
    values = (parameters.p, parameters.q, parameters.gamma)
    return _gamma_gamma_terms(values, prepared, gradient=False)[0]


def gamma_gamma_fit(
    frequency, monetary_value, *, weights=None, initial: GammaGammaParameters | None = None
) -> FitResult:
    """Fit the Gamma-Gamma spend model on repeat buyers (frequency > 0) by maximum likelihood."""
    x, zbar, weights, prepared = _gamma_gamma_prepare(frequency, monetary_value, weights)
    scale = float(weights.sum())

    def objective(log_parameters):
        parameters = np.exp(log_parameters)
        value, grad = _gamma_gamma_terms(parameters, prepared, gradient=True)
        if not np.isfinite(value):
            return np.inf, np.zeros(3)
        return -value / scale, -grad * parameters / scale

    if initial is None:
        # Mean spend = p gamma / (q - 1): start from p = 1, q = 2 and the gamma that matches it.
        mean_spend = float(weights @ zbar) / scale
        start = np.log([1.0, 2.0, mean_spend])
    else:
        start = np.log([initial.p, initial.q, initial.gamma])
    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * 3,
        options={"maxiter": 500, "ftol": 1e-14, "gtol": 1e-9},
    )
    p, q, gamma = (float(v) for v in np.exp(result.x))
    return FitResult(
        parameters=GammaGammaParameters(p=p, q=q, gamma=gamma),
        log_likelihood=-float(result.fun) * scale,
        customers=int(x.size),
        iterations=int(result.nit),
        converged=bool(result.success),
        message=str(result.message),
    )


def expected_spend(parameters: GammaGammaParameters, frequency, monetary_value) -> np.ndarray:
    """E[Z | x, zbar] = p (gamma + x zbar) / (p x + q - 1); the population mean p gamma / (q - 1) for x = 0."""
    x, zbar = _as_arrays(frequency, monetary_value)
    p, q, gamma = parameters.p, parameters.q, parameters.gamma
    zbar = np.where(x > 0, zbar, 0.0)
    return p * (gamma + x * zbar) / (p * x + q - 1.0)


# ---------------------------------------------------------------------------------------------
# Lifetime value


def lifetime_values(
    purchases: BetaGeoParameters,
    spend: GammaGammaParameters,
    frequency,
    recency,
    T,
    monetary_value,
    *,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    unit: str = "weeks",
) -> LifetimeValues:
    """Discounted CLV over `horizon_months`, as the lifetimes library's customer_lifetime_value.

    Month m's expected purchases E[Y(m)] - E[Y(m-1)] times the expected spend per purchase,
    discounted by (1 + monthly_discount_rate)^m; a month is 4.345 weeks or 30 days.
    """
    if unit not in UNITS_PER_MONTH:
        raise ValueError(f"unit must be one of {', '.join(UNITS_PER_MONTH)}, not {unit!r}")
    if horizon_months < 1:
        raise ValueError("horizon_months must be at least 1")
    if monthly_discount_rate < 0:
        raise ValueError("monthly_discount_rate must be >= 0")
    x, t_x, T, zbar = _as_arrays(frequency, recency, T, monetary_value)
    alive = probability_alive(purchases, x, t_x, T)
    spend_per_purchase = expected_spend(spend, x, zbar)
    month = UNITS_PER_MONTH[unit]
    # E[Y(t)] = P(alive) x purchases-while-alive(x, T, t), so P(alive) and the spend factor out
    # of the monthly sum: 2F1 is evaluated once per distinct (x, T) pair and month.
    (x_distinct, T_distinct), _, group = distinct_rows([x, T])
    discounted = np.zeros_like(x_distinct)
    cumulative = previous = np.zeros_like(x_distinct)
    for step in range(1, horizon_months + 1):
        cumulative = _purchases_while_alive(purchases, x_distinct, T_distinct, step * month)
        discounted += (cumulative - previous) / (1.0 + monthly_discount_rate) ** step
        previous = cumulative
    return LifetimeValues(
        probability_alive=alive,
        expected_purchases=cumulative[group] * alive,
        expected_spend=spend_per_purchase,
        lifetime_value=spend_per_purchase * alive * discounted[group],
    )


# ---------------------------------------------------------------------------------------------
# Simulation (for tests and the benchmark)


def simulate_customers(
    purchases: BetaGeoParameters,
    spend: GammaGammaParameters | None,
    T,
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw (x, t_x, T, zbar) from the BG/NBD and Gamma-Gamma generative stories.

    Each customer buys at rate lambda ~ Gamma(r, alpha) and drops out after each repeat purchase
    with probability p ~ Beta(a, b), so they make K ~ Geometric(p) >= 1 repeat purchases if
    watched forever. Of N ~ Poisson(lambda T) arrivals in (0, T], x = min(K, N) happen; the x-th
    arrival time is T times the x-th order statistic of N uniforms, Beta(x, N - x + 1).
    """
    rng = np.random.default_rng(seed)
    T = np.asarray(T, dtype=float)
    n = T.size
    rate = rng.gamma(purchases.r, 1.0 / purchases.alpha, n)
    dropout = rng.beta(purchases.a, purchases.b, n)
    while_alive = rng.geometric(np.clip(dropout, 1e-12, 1.0))
    arrivals = rng.poisson(rate * T)
    x = np.minimum(while_alive, arrivals)
    repeat = x > 0
    t_x = np.zeros(n)
    t_x[repeat] = T[repeat] * rng.beta(x[repeat], arrivals[repeat] - x[repeat] + 1)
    zbar = np.zeros(n)
    if spend is not None:
        nu = rng.gamma(spend.q, 1.0 / spend.gamma, n)
        zbar[repeat] = rng.gamma(spend.p * x[repeat], 1.0 / (x[repeat] * nu[repeat]))
    return x.astype(float), t_x, T, zbar
