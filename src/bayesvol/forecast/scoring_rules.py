"""Proper scoring rules and variance-forecast losses for forecast evaluation.

All scores here are *losses* oriented as their literature states them (lower is better for
CRPS, the energy score, MSE and QLIKE); the log score (``fit.score``) is the one score where
higher is better. Inputs are NumPy arrays; the functions broadcast over leading axes so a
whole backtest (dates x assets) is scored in one call.

CRPS (Gneiting & Raftery 2007, eq. 21), for a predictive distribution F given by M draws x_j
and the outcome y:

    CRPS(F, y) = E|X - y| - 1/2 E|X - X'|

computed exactly for the empirical distribution of the draws. With the draws sorted,
x_(1) <= ... <= x_(M), the second term is (1/M^2) sum_j (2j - M - 1) x_(j), so the whole
score is O(M log M) rather than O(M^2).

Energy score (Gneiting & Raftery 2007, eq. 22; Gneiting et al. 2008), for return vectors:

    ES(F, y) = E||X - y|| - 1/2 E||X - X'||

with the second expectation estimated from the M - 1 pairs of consecutive draws
(x_j, x_{j+1}), an unbiased and O(M) estimator (the draws are exchangeable). In one
dimension it is the CRPS.

Variance losses against a proxy s^2 (squared returns, or a realised variance), for a forecast
h of the variance (Patton 2011, "Volatility forecast comparison using imperfect volatility
proxies": both are robust to the noise of an unbiased proxy):

    MSE   = (s^2 - h)^2
    QLIKE = s^2 / h - log(s^2 / h) - 1            (0 when h = s^2, never negative)
"""

from __future__ import annotations

import numpy as np


def crps_draws(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of the empirical distribution of ``draws`` (last axis: draws) at outcomes ``y``.

    ``draws``: [..., M]; ``y``: broadcastable to ``draws.shape[:-1]``. NaN outcomes (not
    observed) give NaN. Lower is better; units are those of y.
    """
    x = np.sort(np.asarray(draws, dtype=float), axis=-1)
    y = np.asarray(y, dtype=float)
    m = x.shape[-1]
    if m < 2:
        raise ValueError(f"CRPS needs at least 2 predictive draws, got {m}")
    first = np.mean(np.abs(x - y[..., None]), axis=-1)
    j = np.arange(1, m + 1, dtype=float)
    spread = np.sum((2.0 * j - m - 1.0) * x, axis=-1) / m**2
    return first - spread


def energy_score(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Energy score of predictive return vectors at the outcome vectors ``y``.

    ``draws``: [..., M, S] (M draws of an S-vector); ``y``: [..., S]. Components of y that
    are NaN are left out of the norm (the score of the observed sub-vector, whose predictive
    draws are the same draws' components). Lower is better.
    """
    x = np.asarray(draws, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim < 2 or x.shape[-2] < 2:
        raise ValueError("energy_score needs draws shaped [..., M, S] with M >= 2")
    seen = np.isfinite(y)
    y0 = np.where(seen, y, 0.0)[..., None, :]
    w = seen[..., None, :]
    first = np.mean(np.sqrt(np.sum(np.where(w, (x - y0) ** 2, 0.0), axis=-1)), axis=-1)
    d = np.diff(x, axis=-2)
    second = np.mean(np.sqrt(np.sum(np.where(w, d**2, 0.0), axis=-1)), axis=-1)
    out = first - 0.5 * second
    return np.where(np.any(seen, axis=-1), out, np.nan)


def _check_variance(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=float)
    if np.any(h[np.isfinite(h)] <= 0):
        raise ValueError("variance forecasts must be positive")
    return h


def mse_variance(proxy: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Squared error (s^2 - h)^2 of variance forecasts ``h`` against the proxy ``proxy``."""
    return (np.asarray(proxy, dtype=float) - _check_variance(h)) ** 2


def qlike(proxy: np.ndarray, h: np.ndarray, normalised: bool = True) -> np.ndarray:
    """QLIKE loss of variance forecasts ``h`` against the proxy (Patton 2011).

    normalised=True: s^2/h - log(s^2/h) - 1 (0 for a perfect forecast); a proxy of exactly
    0 (a zero return) has no finite value there and gives NaN. normalised=False:
    s^2/h + log h, which differs from the normalised form by log s^2 + 1, a term the same
    for every model: differences between models (what Diebold-Mariano tests use) are
    identical, and zero returns keep a finite value.
    """
    s2 = np.asarray(proxy, dtype=float)
    h = _check_variance(h)
    if not normalised:
        return s2 / h + np.log(h)
    ratio = s2 / h
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ratio - np.log(ratio) - 1.0
    return np.where(ratio > 0, out, np.nan)
