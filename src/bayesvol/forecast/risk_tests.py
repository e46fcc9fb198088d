"""Backtests of Value-at-Risk and Expected Shortfall forecasts.

VaR and ES are positive losses (forecast/risk.py): a *hit* on date t is r_t < -VaR_t. With
T dates, n hits and the level (tail probability) p:

Kupiec (1995) proportion of failures, unconditional coverage, chi^2(1) under H0: P(hit) = p:

    LR_uc = -2 [ (T - n) log(1 - p) + n log p - (T - n) log(1 - n/T) - n log(n/T) ]

Christoffersen (1998) independence, chi^2(1): hits as a first-order Markov chain with counts
n_ij of transitions i -> j and pi_01 = n_01 / (n_00 + n_01), pi_11 = n_11 / (n_10 + n_11),
pi = (n_01 + n_11) / (n_00 + n_01 + n_10 + n_11):

    LR_ind = -2 [ log L(pi) - log L(pi_01, pi_11) ],
    log L(a, b) = n_00 log(1 - a) + n_01 log a + n_10 log(1 - b) + n_11 log b,

and conditional coverage LR_cc = LR_uc + LR_ind, chi^2(2). (0 log 0 = 0 throughout.)

Acerbi & Szekely (2014), test 2 of ES ("Z2"), with ES_t > 0 and hit indicator I_t:

    Z2 = sum_t r_t I_t / (T p ES_t) + 1

E[Z2] = 0 when the forecast distribution is right; a negative value says the losses beyond
VaR were larger, or more frequent, than forecast. Its p-value is found by simulation under
the forecast itself: given predictive draws per date, outcomes are drawn from them, Z2 is
recomputed with the same VaR and ES, and p = P(Z2_sim <= Z2_observed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else float(x * np.log(y))


def _hits(returns: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Boolean hits on observed dates only (a NaN return or forecast is left out)."""
    r = np.asarray(returns, dtype=float)
    v = np.asarray(var, dtype=float)
    if r.shape != v.shape or r.ndim != 1:
        raise ValueError(f"returns and VaR must be 1-d of one length, got {r.shape} and {v.shape}")
    keep = np.isfinite(r) & np.isfinite(v)
    return r[keep] < -v[keep]


def kupiec(hits: np.ndarray, level: float) -> tuple[float, float]:
    """(LR_uc, p-value) of Kupiec's unconditional coverage test for boolean ``hits``."""
    h = np.asarray(hits, dtype=bool)
    t, n = h.size, int(h.sum())
    if t == 0:
        return float("nan"), float("nan")
    rate = n / t
    lr = -2.0 * (_xlogy(t - n, 1 - level) + _xlogy(n, level)
                 - _xlogy(t - n, 1 - rate) - _xlogy(n, rate))
    lr = max(lr, 0.0)
    return lr, float(stats.chi2.sf(lr, 1))


def christoffersen(hits: np.ndarray, level: float) -> dict[str, float]:
    """Christoffersen's independence and conditional-coverage tests for boolean ``hits``.

    Returns LR_ind, p_ind, LR_cc, p_cc (NaN where fewer than two dates).
    """
    h = np.asarray(hits, dtype=bool)
    if h.size < 2:
        return {"lr_ind": np.nan, "p_ind": np.nan, "lr_cc": np.nan, "p_cc": np.nan}
    prev, nxt = h[:-1], h[1:]
    n00 = int(np.sum(~prev & ~nxt))
    n01 = int(np.sum(~prev & nxt))
    n10 = int(np.sum(prev & ~nxt))
    n11 = int(np.sum(prev & nxt))
    pi01 = n01 / max(n00 + n01, 1)
    pi11 = n11 / max(n10 + n11, 1)
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)

    def loglik(a: float, b: float) -> float:
        return _xlogy(n00, 1 - a) + _xlogy(n01, a) + _xlogy(n10, 1 - b) + _xlogy(n11, b)

    lr_ind = max(-2.0 * (loglik(pi, pi) - loglik(pi01, pi11)), 0.0)
    lr_uc, _ = kupiec(h, level)
    lr_cc = lr_uc + lr_ind
    return {"lr_ind": lr_ind, "p_ind": float(stats.chi2.sf(lr_ind, 1)),
            "lr_cc": lr_cc, "p_cc": float(stats.chi2.sf(lr_cc, 2))}


def _z2(r: np.ndarray, var: np.ndarray, es: np.ndarray, level: float) -> np.ndarray:
    """Z2 along the last axis (dates)."""
    hit = r < -var
    return np.sum(np.where(hit, r / es, 0.0), axis=-1) / (r.shape[-1] * level) + 1.0


def acerbi_szekely_z2(returns: np.ndarray, var: np.ndarray, es: np.ndarray, level: float,
                      draws: np.ndarray | None = None, n_sim: int = 2000,
                      seed: int = 0) -> tuple[float, float]:
    """(Z2, p-value) of Acerbi & Szekely's second ES test.

    ``draws`` [T, M]: predictive return draws per date, from which the null distribution of
    Z2 is simulated (``n_sim`` replicates); without them the p-value is NaN.
    """
    r = np.asarray(returns, dtype=float)
    v = np.asarray(var, dtype=float)
    e = np.asarray(es, dtype=float)
    keep = np.isfinite(r) & np.isfinite(v) & np.isfinite(e)
    if not keep.any():
        return float("nan"), float("nan")
    if np.any(e[keep] <= 0):
        raise ValueError("ES forecasts must be positive losses")
    z = float(_z2(r[keep], v[keep], e[keep], level))
    if draws is None:
        return z, float("nan")
    d = np.asarray(draws, dtype=float)[keep]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, d.shape[1], size=(n_sim, d.shape[0]))
    sim = d[np.arange(d.shape[0])[None, :], pick]
    z_sim = _z2(sim, v[keep][None, :], e[keep][None, :], level)
    return z, float((np.sum(z_sim <= z) + 1) / (n_sim + 1))


@dataclass(frozen=True)
class RiskBacktest:
    """One model's VaR/ES backtest at one level."""

    level: float
    dates: int
    hits: int
    expected: float
    hit_rate: float
    lr_uc: float
    p_uc: float
    lr_ind: float
    p_ind: float
    lr_cc: float
    p_cc: float
    z2: float
    p_z2: float


def risk_backtest(returns: np.ndarray, var: np.ndarray, es: np.ndarray, level: float,
                  draws: np.ndarray | None = None, seed: int = 0) -> RiskBacktest:
    """All three tests of one VaR/ES forecast series at ``level`` (see module docstring)."""
    if not 0.0 < level < 0.5:
        raise ValueError(f"risk level must be in (0, 0.5), got {level}")
    hits = _hits(returns, var)
    lr_uc, p_uc = kupiec(hits, level)
    ch = christoffersen(hits, level)
    z2, p_z2 = acerbi_szekely_z2(returns, var, es, level, draws=draws, seed=seed)
    return RiskBacktest(level, int(hits.size), int(hits.sum()), level * hits.size,
                        float(hits.mean()) if hits.size else float("nan"), lr_uc, p_uc,
                        ch["lr_ind"], ch["p_ind"], ch["lr_cc"], ch["p_cc"], z2, p_z2)
