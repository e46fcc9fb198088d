"""Performance of a portfolio from its per-date returns r_t and weights w_t.

With the returns treated as simple returns and A periods per year (252 for daily data):

    realised volatility  = sd(r) sqrt(A)                           (sample sd, ddof = 1)
    Sharpe ratio         = mean(r) / sd(r) sqrt(A)                 (no risk-free rate)
    turnover             = (1 / (T - 1)) sum_{t>1} sum_i |w_{t,i} - w_{t-1,i}|
                           (mean traded fraction of wealth per date, both sides counted)
    maximum drawdown     = max_t (1 - W_t / max_{s<=t} W_s),   W_t = prod_{s<=t} (1 + r_s / u)

where u is the value of a 100% return in the data's units (``unit``: 100 for returns in
percent, bayesvol's convention and what ``bayesvol simulate`` writes; 1 for fractions).
Volatility and Sharpe are in the data's units and need no u.

Weights are held constant between rebalancing dates (no drift), so turnover counts only the
rebalancing trades.
"""

from __future__ import annotations

import numpy as np


def realised_volatility(returns: np.ndarray, periods_per_year: float = 252.0) -> float:
    """Annualised sample standard deviation of the returns."""
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    return float(np.std(r, ddof=1) * np.sqrt(periods_per_year)) if r.size > 1 else np.nan


def sharpe_ratio(returns: np.ndarray, periods_per_year: float = 252.0) -> float:
    """Annualised mean over standard deviation (no risk-free rate)."""
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return np.nan
    sd = np.std(r, ddof=1)
    return float(np.mean(r) / sd * np.sqrt(periods_per_year)) if sd > 0 else np.nan


def turnover(weights: np.ndarray) -> float:
    """Mean over dates of sum_i |w_t,i - w_{t-1},i| for weights [T, N]."""
    w = np.nan_to_num(np.asarray(weights, dtype=float))
    if w.shape[0] < 2:
        return 0.0
    return float(np.mean(np.sum(np.abs(np.diff(w, axis=0)), axis=1)))


def max_drawdown(returns: np.ndarray, unit: float = 1.0) -> float:
    """Largest fall of wealth W_t = prod (1 + r_s / unit) from its running maximum (0..1)."""
    if not unit > 0:
        raise ValueError(f"unit must be > 0 (100 for percent returns), got {unit}")
    r = np.nan_to_num(np.asarray(returns, dtype=float)) / unit
    wealth = np.cumprod(1.0 + r)
    peak = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    return float(np.max(1.0 - wealth / peak)) if r.size else 0.0


def portfolio_metrics(returns: np.ndarray, weights: np.ndarray,
                      periods_per_year: float = 252.0, unit: float = 1.0) -> dict[str, float]:
    """All four measures plus the mean return (annualised) and the number of dates."""
    r = np.asarray(returns, dtype=float)
    return {"dates": int(np.isfinite(r).sum()),
            "mean_return": float(np.nanmean(r) * periods_per_year) if r.size else np.nan,
            "volatility": realised_volatility(r, periods_per_year),
            "sharpe": sharpe_ratio(r, periods_per_year),
            "turnover": turnover(weights), "max_drawdown": max_drawdown(r, unit)}
