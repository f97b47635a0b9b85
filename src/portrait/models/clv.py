"""Customer lifetime value: the BG/NBD purchase model and the Gamma-Gamma spend model, fitted by maximum likelihood.

BG/NBD (Fader, Hardie and Lee 2005): while alive, a customer buys at a Poisson rate λ ~ Gamma(r, α);
after each purchase she drops out with probability p ~ Beta(a, b). A customer is summarised by
``frequency`` x (repeat purchases), ``recency`` t_x (time of the last purchase since the first) and
``T`` (time since the first purchase). Gamma-Gamma (Fader and Hardie's note on the spend model): the
value of one purchase is Gamma(p, ν) with ν ~ Gamma(q, γ), independent of the purchase process; a
customer is summarised by x and the mean value of the x repeat purchases.

The log-likelihoods and their gradients are vectorised over customers and written with
``scipy.special``; terms that depend on x alone are computed once per distinct x. Parameters are
optimised on the log scale with L-BFGS-B; standard errors come from the inverse of the Hessian
(central differences of the analytic gradient), mapped back to the natural scale. Data too thin to
fit, and fits that do not converge, raise :class:`InputError` with a one-line message: no model is
better than a wrong one.

The time unit is the caller's: the refresh (``build``) works in days.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, expit, gammaln, hyp2f1
from threadpoolctl import ThreadpoolController

from portrait import snapshots
from portrait.engine import run
from portrait.errors import InputError
from portrait.models import record_report
from portrait.workspace import Workspace

MIN_CUSTOMERS = 30  # a BG/NBD fit needs at least this many customers ...
MIN_REPEAT_BUYERS = 10  # ... of whom this many bought again; Gamma-Gamma needs this many repeat buyers too
MAX_RELATIVE_SE = 10.0  # a fit whose standard error passes 10× its estimate is refused: its likelihood is flat
MAX_GRADIENT = 1e-5  # a fit is converged when no log-parameter moves the mean log-likelihood by more than this
LOG_BOUND = 25.0  # log-parameters are kept within ±25; a fit that runs to the bound is not identified
PURCHASE_DAYS = 90  # refresh: expected purchases in the next 90 days
HORIZON_DAYS = 365  # refresh: CLV over the next 365 days ...
STEPS = 12  # ... in 12 equal periods, each discounted
TABLE = "clv_scores"
BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "gamma")

FloatArray = NDArray[np.float64]


@dataclass
class Fit:
    """A fitted model: parameters, standard errors, log-likelihood and how the optimiser fared."""

    model: str
    params: dict[str, float]
    se: dict[str, float]
    loglik: float
    converged: bool
    iterations: int
    n: int
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (for reports and JSON)."""
        return {
            "model": self.model,
            "params": self.params,
            "se": self.se,
            "loglik": self.loglik,
            "converged": self.converged,
            "iterations": self.iterations,
            "n": self.n,
            "seconds": self.seconds,
            **self.extra,
        }


def _array(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: {int((~np.isfinite(arr)).sum())} missing or infinite values; drop or fill them")
    return arr


def _check_rfm(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, t_x, t_cal = _array(frequency, "frequency"), _array(recency, "recency"), _array(T, "T")
    if not (len(x) == len(t_x) == len(t_cal)):
        raise InputError(f"frequency, recency and T differ in length ({len(x)}, {len(t_x)}, {len(t_cal)})")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise InputError("frequency: repeat purchases must be whole numbers ≥ 0")
    if np.any(t_x < 0) or np.any(t_cal < 0):
        raise InputError("recency and T (time since the first purchase) must be ≥ 0")
    if np.any(t_x > t_cal):
        raise InputError(f"recency: {int((t_x > t_cal).sum())} customers have recency > T; recency ends before T")
    if np.any((x == 0) & (t_x != 0)):
        raise InputError("recency: customers without repeat purchases must have recency 0")
    return x, t_x, t_cal


@functools.cache
def _blas() -> ThreadpoolController:
    """The process's thread pools, found once (a lookup costs ~10 ms; switching the limit then costs ~30 µs)."""
    return ThreadpoolController()


def _dot(u: FloatArray, v: FloatArray) -> float:
    """Σ u·v without BLAS: its threads, woken for a dot product, cost more than the sum on a busy machine."""
    return float(np.einsum("i,i->", u, v))


class _ByFrequency:
    """Customers grouped by their distinct repeat-purchase count (terms in x alone are computed per group)."""

    def __init__(self, x: FloatArray) -> None:
        self.values, self.index, counts = np.unique(x, return_inverse=True, return_counts=True)
        self.counts = counts.astype(np.float64)


def _minimise(
    objective: Any, start: FloatArray, names: tuple[str, ...], model: str
) -> tuple[FloatArray, float, int, FloatArray]:
    """Minimise a (value, gradient) objective on log-parameters; refuse non-convergence; return φ, value, its, cov."""
    from scipy.optimize import minimize  # imported when a fit runs: it costs a refresh with thin data a second

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    # one BLAS thread: the optimiser's small vector operations wake BLAS threads that, on a busy machine, cost
    # several times the fit (measured: 5× on the CDNOW cohort with two cores shared)
    with _blas().limit(limits=1, user_api="blas"), np.errstate(all="ignore"):
        res = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-8},
        )
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun):
        raise InputError(
            f"{model}: the optimiser failed (the likelihood is not finite); the data cannot fit this model"
        )
    at_bound = [names[i] for i, v in enumerate(res.x) if abs(v) > LOG_BOUND - 1]
    if at_bound:
        raise InputError(
            f"{model}: parameter {', '.join(at_bound)} runs off to its limit — the data cannot identify the model "
            "(too little variation between customers)"
        )
    grad = objective(res.x)[1]
    if not res.success or np.max(np.abs(grad)) > MAX_GRADIENT:
        reason = (
            f"it stopped after {res.nit} iterations short of its tolerances"
            if not res.success
            else f"it stopped with gradient {np.max(np.abs(grad)):.1g} per customer"
        )
        raise InputError(
            f"{model}: the optimiser did not converge ({reason}); the likelihood has no clear maximum for these data"
        )
    with _blas().limit(limits=1, user_api="blas"):
        hessian = _hessian(objective, res.x)
    try:
        eig = np.linalg.eigvalsh(hessian)
        if eig.min() <= 0:
            raise np.linalg.LinAlgError
        cov = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        raise InputError(
            f"{model}: the likelihood has no clear maximum (flat or saddle-shaped); the data are too thin to fit"
        ) from None
    return res.x, float(res.fun), int(res.nit), cov


# Mixing distributions whose shape runs past this have lost their spread: the heterogeneity the model describes
# is gone from the data, the likelihood climbs a ridge towards a simpler model and the parameters are not identified.
# (The coefficient of variation of a Gamma's draws is 1/√shape; a Beta(a, b)'s spread shrinks like 1/√(a + b).)
MAX_SHAPE = 1e4
SHAPES = {"r": ("r",), "a + b": ("a", "b"), "p": ("p",), "q": ("q",)}


def _identified(params: dict[str, float], se: dict[str, float], model: str) -> None:
    """Refuse a fit whose mixing distribution collapsed or whose parameters the data cannot pin down."""
    for label, names in SHAPES.items():
        if all(k in params for k in names) and sum(params[k] for k in names) > MAX_SHAPE:
            value = sum(params[k] for k in names)
            raise InputError(
                f"{model}: {label} = {value:.3g} runs off towards infinity — the customers show no variation in "
                f"{'purchase rates' if label == 'r' else 'dropout' if label == 'a + b' else 'spend'}, so the "
                "model is not identified"
            )
    loose = [k for k, v in params.items() if not se[k] <= MAX_RELATIVE_SE * v]
    if loose:
        raise InputError(
            f"{model}: the data cannot pin down {', '.join(loose)} (standard error over {MAX_RELATIVE_SE:g}× the "
            "estimate; the likelihood is nearly flat) — too little variation between customers"
        )


def _hessian(objective: Any, phi: FloatArray, step: float = 1e-5) -> FloatArray:
    """Hessian of the objective at φ by central differences of its analytic gradient, symmetrised."""
    k = len(phi)
    h = np.empty((k, k))
    with np.errstate(all="ignore"):
        for i in range(k):
            e = np.zeros(k)
            e[i] = step
            h[:, i] = (objective(phi + e)[1] - objective(phi - e)[1]) / (2 * step)
    return (h + h.T) / 2


def _natural(phi: FloatArray, cov_phi: FloatArray, scale: float, names: tuple[str, ...]) -> tuple[dict, dict]:
    """Natural-scale parameters and their standard errors (delta method: se(θ) = θ·se(log θ))."""
    theta = np.exp(phi)
    se = theta * np.sqrt(np.clip(np.diag(cov_phi) / scale, 0, None))
    return dict(zip(names, map(float, theta), strict=True)), dict(zip(names, map(float, se), strict=True))


# --- BG/NBD -------------------------------------------------------------------------------------------------------


def bgnbd_loglik(
    params: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, gradient: bool = False
) -> float | tuple[float, FloatArray]:
    """BG/NBD log-likelihood of (r, α, a, b) over all customers; with ``gradient``, also its gradient in (r, α, a, b)."""
    x, t_x, t_cal = _check_rfm(frequency, recency, T)
    value, grad = _bgnbd_value_grad(np.asarray(params, dtype=np.float64), _BgnbdData(x, t_x, t_cal))
    return (value, grad) if gradient else value


class _BgnbdData:
    """The customers of a BG/NBD fit, arranged for fast likelihood evaluations.

    Customers with the same history contribute the same term, so each distinct history is kept once with its
    count: one-time buyers by T, repeat buyers by (x, t_x, T) when their T values repeat (whole days, or weeks
    made of days, as in CDNOW: 23 570 customers, 84 distinct first-purchase days).
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, t_cal: FloatArray) -> None:
        self.n = len(x)
        self.groups = _ByFrequency(x)
        repeat = x > 0
        # one-time buyers: only log(α + T) matters
        self.T0, counts0 = np.unique(t_cal[~repeat], return_counts=True)
        self.c0 = counts0.astype(np.float64)
        x1, t_x1, T1 = x[repeat], t_x[repeat], t_cal[repeat]
        self.c1 = np.ones(len(x1))
        if len(x1) and len(np.unique(T1)) <= len(T1) // 2:
            rows, counts1 = np.unique(np.column_stack([x1, t_x1, T1]), axis=0, return_counts=True)
            if len(rows) <= len(x1) // 2:
                x1, t_x1, T1 = rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy()
                self.c1 = counts1.astype(np.float64)
        self.x1, self.t_x1, self.T1 = x1, t_x1, T1
        self.g1 = _ByFrequency(self.x1)


def _bgnbd_value_grad(theta: FloatArray, d: _BgnbdData) -> tuple[float, FloatArray]:
    r, alpha, a, b = theta
    xu, nu = d.groups.values, d.groups.counts
    log_alpha = np.log(alpha)
    # terms in x alone
    ll = float(
        _dot(nu, gammaln(r + xu) - gammaln(r) + gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu))
        + d.n * r * log_alpha
    )
    g_r = float(_dot(nu, digamma(r + xu) - digamma(r))) + d.n * log_alpha
    g_alpha = d.n * r / alpha
    g_a = float(_dot(nu, digamma(a + b) - digamma(a + b + xu)))
    g_b = float(_dot(nu, digamma(a + b) + digamma(b + xu) - digamma(b) - digamma(a + b + xu)))
    # one-time buyers: log L = ... − r log(α + T)
    if len(d.T0):
        lt0 = _dot(d.c0, np.log(alpha + d.T0))
        ll -= r * lt0
        g_r -= lt0
        g_alpha -= r * _dot(d.c0, 1.0 / (alpha + d.T0))
    # repeat buyers: log L = ... + log(exp(A3) + exp(A4))
    if len(d.x1):
        xv, idx, c = d.g1.values, d.g1.index, d.c1
        rx = r + d.x1
        l_cal = np.log(alpha + d.T1)
        l_last = np.log(alpha + d.t_x1)
        # A3 = −(r+x)·log(α+T), A4 = log a − log(b+x−1) − (r+x)·log(α+t_x); with D = A4 − A3 and e = exp(−|D|):
        # log(exp A3 + exp A4) = A3 + max(D, 0) + log1p(e), and the weight of A4 is 1/(1+e) or e/(1+e)
        a3 = -rx * l_cal
        diff = (np.log(a) - np.log(b + xv - 1))[idx] + rx * (l_cal - l_last)
        e = np.exp(-np.abs(diff))
        w4 = np.where(diff > 0, 1.0, e) / (1.0 + e)
        w3 = 1.0 - w4
        ll += _dot(c, a3 + np.maximum(diff, 0) + np.log1p(e))
        cw3, cw4 = c * w3, c * w4
        g_r -= _dot(cw3, l_cal) + _dot(cw4, l_last)
        g_alpha -= _dot(rx, cw3 / (alpha + d.T1) + cw4 / (alpha + d.t_x1))
        g_a += float(cw4.sum()) / a
        g_b -= _dot(np.bincount(idx, weights=cw4, minlength=len(xv)), 1.0 / (b + xv - 1))
    return ll, np.array([g_r, g_alpha, g_a, g_b])


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Fit:
    """Fit BG/NBD by maximum likelihood; refuse (InputError) thin data or a fit that does not converge."""
    started = time.perf_counter()
    x, t_x, t_cal = _check_rfm(frequency, recency, T)
    n, repeat = len(x), int((x > 0).sum())
    if n < MIN_CUSTOMERS:
        raise InputError(f"BG/NBD: too few customers ({n}); at least {MIN_CUSTOMERS} are needed to fit")
    if repeat < MIN_REPEAT_BUYERS:
        raise InputError(
            f"BG/NBD: too few repeat buyers ({repeat} of {n}); at least {MIN_REPEAT_BUYERS} must have bought again"
        )
    if np.ptp(t_cal) == 0 and np.ptp(x) == 0 and np.ptp(t_x) == 0:
        raise InputError("BG/NBD: every customer has the same history; there is no variation to fit")
    data = _BgnbdData(x, t_x, t_cal)

    def objective(phi: FloatArray) -> tuple[float, FloatArray]:
        theta = np.exp(phi)
        value, grad = _bgnbd_value_grad(theta, data)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(phi)
        return -value / n, -grad * theta / n

    start = np.log([1.0, max(float(t_cal.mean()), 1e-6) / max(float(x.mean()), 0.1), 1.0, 1.0])
    phi, value, iterations, cov = _minimise(objective, start, BGNBD_PARAMS, "BG/NBD")
    params, se = _natural(phi, cov, n, BGNBD_PARAMS)
    _identified(params, se, "BG/NBD")
    return Fit(
        "bgnbd",
        params,
        se,
        -value * n,
        True,
        iterations,
        n,
        round(time.perf_counter() - started, 4),
        {"repeat_buyers": repeat},
    )


def p_alive(fit: Fit, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability that each customer is still alive (1 for customers without repeat purchases)."""
    x, t_x, t_cal = _check_rfm(frequency, recency, T)
    r, alpha, a, b = (fit.params[k] for k in BGNBD_PARAMS)
    out = np.ones_like(x)
    rep = x > 0
    xr = x[rep]
    # P(alive) = 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)), in logs
    log_odds_dead = np.log(a) - np.log(b + xr - 1) + (r + xr) * (np.log(alpha + t_cal[rep]) - np.log(alpha + t_x[rep]))
    out[rep] = expit(-log_odds_dead)
    return out


def _purchases_while_alive(
    r: float, alpha: float, a: float, b: float, t: float, x: FloatArray, T: FloatArray
) -> FloatArray:
    """(a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)], z = t/(α+T+t).

    By Euler's transformation the bracket is 1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z), whose first two
    parameters do not grow with x: accurate (checked against mpmath) and free of overflow for long histories, where
    the direct form multiplies a huge ₂F₁ by a vanishing power. At a = 1 the form is 0/0 but the function is smooth:
    there it is the mean of its values at 1 ± 10⁻⁴.
    """
    if abs(a - 1.0) < 5e-5:
        return (
            _purchases_while_alive(r, alpha, 1 - 1e-4, b, t, x, T)
            + _purchases_while_alive(r, alpha, 1 + 1e-4, b, t, x, T)
        ) / 2
    z = t / (alpha + T + t)
    c = a + b + x - 1.0
    h = np.asarray(hyp2f1(a + b - 1.0 - r, a - 1.0, c, z), dtype=np.float64)
    bad = ~np.isfinite(h)
    if bad.any():  # SciPy's ₂F₁ overflows for some large c with z near 1 (e.g. ₂F₁(2, 1; 101; 0.9) = inf)
        h = h.copy()
        h[bad] = _hyp2f1_series(
            a + b - 1.0 - r, a - 1.0, np.broadcast_to(c, h.shape)[bad], np.broadcast_to(z, h.shape)[bad]
        )
    bracket = 1.0 - (1.0 - z) ** (a - 1.0) * h
    return (a + b + x - 1.0) / (a - 1.0) * bracket


def _hyp2f1_series(p: float, q: float, c: FloatArray, z: FloatArray) -> FloatArray:
    """₂F₁(p, q; c; z) by its power series, for 0 ≤ z < 1 (terms shrink like z^k once k passes |p|, |q|, c)."""
    total = np.ones_like(c)
    term = np.ones_like(c)
    for k in range(200_000):
        term = term * (p + k) * (q + k) / ((c + k) * (k + 1)) * z
        total = total + term
        if np.all(np.abs(term) <= 1e-17 * np.abs(total)) and k > max(abs(p), abs(q)):
            break
    return total


def expected_purchases(fit: Fit, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
    """Each customer's expected number of purchases in the next ``t`` time units, given her history.

    E[X(t) | x, t_x, T] = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))] · P(alive).
    """
    if t < 0:
        raise InputError(f"expected purchases: the period must be ≥ 0, got {t}")
    x, t_x, t_cal = _check_rfm(frequency, recency, T)
    r, alpha, a, b = (fit.params[k] for k in BGNBD_PARAMS)
    (xu, tu), index = _distinct_pairs(x, t_cal)
    return _purchases_while_alive(r, alpha, a, b, t, xu, tu)[index] * p_alive(fit, x, t_x, t_cal)


def _distinct_pairs(x: FloatArray, T: FloatArray) -> tuple[tuple[FloatArray, FloatArray], FloatArray | slice]:
    """The distinct (x, T) pairs and each customer's index into them, when both are whole numbers (days).

    The ₂F₁ of the expected purchases depends on x and T alone; in whole days a million customers share a few
    thousand pairs, so it is evaluated once per pair. With fractional times every customer is her own pair.
    """
    if len(x) < 1000 or np.any(T != np.round(T)) or T.max() > 2**31:
        return (x, T), slice(None)
    key = x.astype(np.int64) * (int(T.max()) + 1) + T.astype(np.int64)
    distinct, index = np.unique(key, return_inverse=True)
    if len(distinct) > len(x) // 2:
        return (x, T), slice(None)
    width = int(T.max()) + 1
    return ((distinct // width).astype(np.float64), (distinct % width).astype(np.float64)), index


def unconditional_expected_purchases(fit: Fit, t: ArrayLike) -> FloatArray:
    """Expected purchases of a new customer in ``t`` time units after the first purchase (the population curve)."""
    tt = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = (fit.params[k] for k in BGNBD_PARAMS)
    zero = np.zeros(1)
    return np.array([_purchases_while_alive(r, alpha, a, b, float(u), zero, zero)[0] for u in tt.ravel()]).reshape(
        tt.shape
    )


# --- Gamma-Gamma --------------------------------------------------------------------------------------------------


class _SpendData:
    """Repeat buyers of a Gamma-Gamma fit, arranged for fast likelihood evaluations."""

    def __init__(self, x: FloatArray, m: FloatArray) -> None:
        self.n = len(x)
        self.groups = _ByFrequency(x)
        self.x, self.xm = x, x * m
        self.sum_x_log_xm = float(_dot(x, np.log(x * m)))  # Σ x·(log x + log m̄)
        self.sum_log_m = float(np.log(m).sum())


def _spend_value_grad(theta: FloatArray, d: _SpendData) -> tuple[float, FloatArray]:
    p, q, gamma = theta
    xu, nu = d.groups.values, d.groups.counts
    px_q = p * xu + q
    ll = float(_dot(nu, gammaln(px_q) - gammaln(p * xu) - gammaln(q))) + d.n * q * np.log(gamma)
    ll += p * d.sum_x_log_xm - d.sum_log_m
    g_p = float(_dot(nu * xu, digamma(px_q) - digamma(p * xu))) + d.sum_x_log_xm
    g_q = float(_dot(nu, digamma(px_q) - digamma(q))) + d.n * np.log(gamma)
    g_gamma = d.n * q / gamma
    base = gamma + d.xm
    log_base = np.log(base)
    weight = p * d.x + q
    ll -= float(_dot(weight, log_base))
    g_p -= float(_dot(d.x, log_base))
    g_q -= float(log_base.sum())
    g_gamma -= float(np.sum(weight / base))
    return ll, np.array([g_p, g_q, g_gamma])


def gamma_gamma_loglik(
    params: ArrayLike, frequency: ArrayLike, monetary: ArrayLike, gradient: bool = False
) -> float | tuple[float, FloatArray]:
    """Gamma-Gamma log-likelihood of (p, q, γ) over repeat buyers; with ``gradient``, also its gradient."""
    x, m = _array(frequency, "frequency"), _array(monetary, "monetary")
    value, grad = _spend_value_grad(np.asarray(params, dtype=np.float64), _SpendData(x, m))
    return (value, grad) if gradient else value


def fit_gamma_gamma(frequency: ArrayLike, monetary: ArrayLike) -> Fit:
    """Fit Gamma-Gamma on the customers with repeat purchases (x > 0) and a positive mean value; refuse thin data."""
    started = time.perf_counter()
    x, m = _array(frequency, "frequency"), _array(monetary, "monetary")
    if len(x) != len(m):
        raise InputError(f"frequency and monetary differ in length ({len(x)}, {len(m)})")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise InputError("frequency: repeat purchases must be whole numbers ≥ 0")
    use = (x > 0) & (m > 0)
    x, m = x[use], m[use]
    n = len(x)
    if n < MIN_REPEAT_BUYERS:
        raise InputError(
            f"Gamma-Gamma: too few repeat buyers with a positive spend ({n}); at least {MIN_REPEAT_BUYERS} are needed"
        )
    if np.ptp(m) <= 1e-9 * float(m.mean()):
        raise InputError("Gamma-Gamma: every repeat buyer has the same mean spend; there is no variation to fit")
    data = _SpendData(x, m)

    def objective(phi: FloatArray) -> tuple[float, FloatArray]:
        theta = np.exp(phi)
        value, grad = _spend_value_grad(theta, data)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(phi)
        return -value / n, -grad * theta / n

    # start from the moments: one purchase's value has mean p·E[1/ν]; p = 1, q = 2, γ = mean spend
    start = np.log([1.0, 2.0, float(m.mean())])
    phi, value, iterations, cov = _minimise(objective, start, GAMMA_GAMMA_PARAMS, "Gamma-Gamma")
    params, se = _natural(phi, cov, n, GAMMA_GAMMA_PARAMS)
    _identified(params, se, "Gamma-Gamma")
    if params["q"] <= 1:
        raise InputError(
            f"Gamma-Gamma: fitted q = {params['q']:.3f} ≤ 1, so the mean spend is not finite; spends are too dispersed"
        )
    return Fit("gamma_gamma", params, se, -value * n, True, iterations, n, round(time.perf_counter() - started, 4))


def expected_avg_value(fit: Fit, frequency: ArrayLike, monetary: ArrayLike) -> FloatArray:
    """Each customer's expected value per purchase: (γ + x·m̄)·p / (p·x + q − 1); the population mean when x = 0."""
    x, m = _array(frequency, "frequency"), _array(monetary, "monetary")
    p, q, gamma = (fit.params[k] for k in GAMMA_GAMMA_PARAMS)
    m = np.where(x > 0, np.clip(m, 0, None), 0.0)
    return (gamma + x * m) * p / (p * x + q - 1)


def clv(
    bgnbd: Fit,
    gamma_gamma: Fit,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    horizon: float,
    discount: float = 0.0,
    steps: int = STEPS,
) -> FloatArray:
    """Expected, discounted value of each customer's purchases over ``horizon``.

    CLV = v̂ · Σ_{k=1..steps} (E[X(k·h/steps)] − E[X((k−1)·h/steps)]) / (1 + discount)^k, where ``discount``
    is the rate per period of length h/steps and v̂ the Gamma-Gamma expected value per purchase.
    """
    if horizon <= 0 or steps < 1:
        raise InputError(f"CLV: the horizon must be > 0 and steps ≥ 1, got {horizon} and {steps}")
    if discount < 0:
        raise InputError(f"CLV: the discount rate must be ≥ 0, got {discount}")
    x, t_x, t_cal = _check_rfm(frequency, recency, T)
    value = expected_avg_value(gamma_gamma, x, monetary)
    r, alpha, a, b = (bgnbd.params[k] for k in BGNBD_PARAMS)
    # E[X(t)] = W(t; x, T) · P(alive): the increments share the factor P(alive), and W depends on (x, T) alone
    (xu, tu), index = _distinct_pairs(x, t_cal)
    total = np.zeros_like(xu)
    before = np.zeros_like(xu)
    for k in range(1, steps + 1):
        upto = _purchases_while_alive(r, alpha, a, b, horizon * k / steps, xu, tu)
        total += (upto - before) / (1 + discount) ** k
        before = upto
    return value * total[index] * p_alive(bgnbd, x, t_x, t_cal)


# --- the refresh stage and the report -----------------------------------------------------------------------------


def customer_histories(con: duckdb.DuckDBPyConnection, as_of: date) -> pa.Table:
    """Per buyer, in days as of ``as_of``: repeat purchase days x, recency t_x, age T and mean repeat-day value.

    A purchase is a day with at least one paid (not refunded) order; its value is the day's paid amount. Time runs
    from the first purchase day: t_x to the last purchase day, T to the last day of data (the day before ``as_of``),
    as in Fader, Hardie and Lee's CDNOW summary.
    """
    last_day = f"DATE '{as_of.isoformat()}' - 1"
    return con.sql(
        f"""WITH days AS (
               SELECT user_id, order_date AS day, round(sum(COALESCE(amount, 0)), 2) AS value
               FROM order_facts WHERE NOT refunded GROUP BY ALL),
           firsts AS (SELECT user_id, min(day) AS first_day FROM days GROUP BY user_id)
           SELECT d.user_id,
                  CAST(count(*) - 1 AS DOUBLE) AS frequency,
                  CAST(date_diff('day', f.first_day, max(d.day)) AS DOUBLE) AS recency,
                  CAST(date_diff('day', f.first_day, {last_day}) AS DOUBLE) AS "T",
                  CAST(COALESCE(round(sum(d.value) FILTER (WHERE d.day > f.first_day), 2)
                                / NULLIF(count(*) FILTER (WHERE d.day > f.first_day), 0), 0) AS DOUBLE) AS monetary
           FROM days d JOIN firsts f USING (user_id)
           GROUP BY d.user_id, f.first_day
           ORDER BY d.user_id"""
    ).to_arrow_table()


def _empty_scores(con: duckdb.DuckDBPyConnection) -> None:
    run(
        con,
        f"""CREATE OR REPLACE TABLE {TABLE} AS
            SELECT user_id, CAST(NULL AS DOUBLE) AS expected_purchases_{PURCHASE_DAYS}d,
                   CAST(NULL AS DOUBLE) AS p_alive, CAST(NULL AS DOUBLE) AS expected_avg_value,
                   CAST(NULL AS DOUBLE) AS clv_{HORIZON_DAYS}d
            FROM customer_table ORDER BY user_id""",
    )


def build(con: duckdb.DuckDBPyConnection, as_of: date, ws: Workspace) -> None:
    """Refresh stage: fit both models on the snapshot's buyers, write ``clv_scores`` and the model report."""
    annual = ws.config.clv.discount_rate
    per_step = (1 + annual) ** (1 / STEPS) - 1
    settings = {
        "unit": "day",
        "as_of": as_of.isoformat(),
        "purchase_days": PURCHASE_DAYS,
        "horizon_days": HORIZON_DAYS,
        "steps": STEPS,
        "discount_rate": annual,
    }
    hist = customer_histories(con, as_of)
    x, t_x, t_cal, m = (hist.column(c).to_numpy() for c in ("frequency", "recency", "T", "monetary"))
    try:
        bg = fit_bgnbd(x, t_x, t_cal)
    except InputError as exc:
        _empty_scores(con)
        record_report(con, "clv", "skipped", str(exc), {**settings, "buyers": len(x)})
        return
    alive = p_alive(bg, x, t_x, t_cal)
    purchases = expected_purchases(bg, PURCHASE_DAYS, x, t_x, t_cal)
    message = f"BG/NBD fitted on {bg.n} buyers ({bg.extra['repeat_buyers']} repeat buyers)"
    try:
        gg: Fit | None = fit_gamma_gamma(x, m)
    except InputError as exc:
        gg, spend_note = None, str(exc)
        value = lifetime = np.full_like(x, np.nan)
        message += f"; no CLV: {spend_note}"
    else:
        value = expected_avg_value(gg, x, m)
        lifetime = clv(bg, gg, x, t_x, t_cal, m, HORIZON_DAYS, per_step, STEPS)
        message += f"; Gamma-Gamma on {gg.n} repeat buyers"
    scores = pa.table(
        {
            "user_id": hist.column("user_id"),
            f"expected_purchases_{PURCHASE_DAYS}d": purchases,
            "p_alive": alive,
            "expected_avg_value": pa.array(value, from_pandas=True),
            f"clv_{HORIZON_DAYS}d": pa.array(lifetime, from_pandas=True),
        }
    )
    con.register("_clv_arrow", scores)
    run(
        con,
        f"""CREATE OR REPLACE TABLE {TABLE} AS
            SELECT c.user_id, s.* EXCLUDE (user_id)
            FROM customer_table c LEFT JOIN _clv_arrow s USING (user_id) ORDER BY c.user_id""",
    )
    con.unregister("_clv_arrow")
    report = {
        **settings,
        "buyers": bg.n,
        "bgnbd": bg.as_dict(),
        "gamma_gamma": gg.as_dict() if gg else {"status": "skipped", "message": spend_note},
    }
    record_report(con, "clv", "ok", message, report)


def clv_report(ws: Workspace, top: int = 10) -> dict[str, Any]:
    """The CLV fit of the current snapshot (parameters, standard errors, log-likelihoods) and the top customers."""
    ws.require("read")
    if top < 0:
        raise InputError(f"top: must be ≥ 0, got {top}")
    with snapshots.reader(ws) as (con, snap):
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "model_reports" not in present:
            raise InputError("this snapshot has no model reports; run `portrait refresh` again")
        row = con.execute("SELECT status, message, report FROM model_reports WHERE model = 'clv'").fetchall()
        if not row:
            raise InputError("this snapshot has no CLV model; run `portrait refresh` again")
        status, message, report = row[0]
        out: dict[str, Any] = {
            "snapshot": snap.id,
            "as_of": snap.as_of,
            "status": status,
            "message": message,
            **json.loads(report),
        }
        value = f"clv_{HORIZON_DAYS}d"
        rows = con.execute(
            f"""SELECT user_id, expected_purchases_{PURCHASE_DAYS}d, p_alive, expected_avg_value, {value}
                FROM {TABLE} WHERE {value} IS NOT NULL ORDER BY {value} DESC, user_id LIMIT ?""",
            [top],
        ).fetchall()
    names = ("user_id", f"expected_purchases_{PURCHASE_DAYS}d", "p_alive", "expected_avg_value", value)
    out["top"] = [dict(zip(names, r, strict=True)) for r in rows]
    return out
