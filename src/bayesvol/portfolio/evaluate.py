"""Rows of one block's forecasts and portfolios, ready for Parquet (docs/backtests.md).

Forecast rows, one per (date, asset of the window): the realised return r, predictive mean
and variance, the log predictive density (``fit.score`` for Bayesian models), CRPS from the
predictive draws (``forecast.scoring_rules.crps_draws``), QLIKE and squared error of the
variance against the proxy r^2 (``qlike`` in the unnormalised form r^2/h + log h, finite for
zero returns, same differences between models as the normalised one; ``mse_variance``), and
per level a VaR and ES (``forecast.risk`` from the draws: positive losses) with the hit
indicator r < -VaR.

Portfolio rows, one per (date, portfolio): weights rebalanced at the block's first date and
every ``rebalance`` dates after it from that date's forecast covariance Sigma_t, held in
between; the realised portfolio return w^T r_t (a missing return counts as 0) and the
forecast volatility sqrt(w^T Sigma_t w).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..forecast.garch_forecast import level_label
from ..forecast.risk import expected_shortfall, value_at_risk
from ..forecast.scoring_rules import crps_draws, mse_variance, qlike
from .forecasters import Block, BlockForecast
from .weights import portfolio_weights


def weight_column(asset: str) -> str:
    """The name of an asset's weight column in portfolios.parquet."""
    return f"w[{asset}]"


def forecast_rows(fc: BlockForecast, block: Block, model: str, window: int,
                  fit_end: pd.Timestamp, levels: tuple[float, ...]) -> pd.DataFrame:
    """Long frame: one row per (date, asset) of the block (module docstring)."""
    y = block.values.T  # [H, N]
    h, n = y.shape
    var = np.where(np.isfinite(fc.variance) & (fc.variance > 0), fc.variance, np.nan)
    proxy = y**2
    cols: dict[str, np.ndarray] = {
        "date": np.repeat(np.asarray(block.dates), n),
        "model": np.full(h * n, model, dtype=object),
        "asset": np.tile(np.asarray(fc.assets, dtype=object), h),
        "window": np.full(h * n, window, dtype=np.int64),
        "fit_end": np.full(h * n, np.datetime64(pd.Timestamp(fit_end), "ns")),
        "fit": np.full(h * n, fc.kind, dtype=object),
        "return": y.ravel(),
        "mean": fc.mean.ravel(),
        "variance": var.ravel(),
        "volatility": np.sqrt(var).ravel(),
        "log_score": np.where(np.isfinite(y), fc.log_score, np.nan).ravel(),
        "crps": crps_draws(fc.draws, y).ravel(),
        "qlike": qlike(proxy, var, normalised=False).ravel(),
        "sq_error": mse_variance(proxy, var).ravel(),
    }
    seen = np.isfinite(y)
    for lv in levels:
        lab = level_label(lv)
        v = value_at_risk(fc.draws, lv, axis=-1)
        cols[f"VaR_{lab}"] = v.ravel()
        cols[f"ES_{lab}"] = expected_shortfall(fc.draws, lv, axis=-1).ravel()
        hit = pd.array(np.where(seen, y < -v, False).ravel(), dtype="boolean")
        hit[~seen.ravel()] = pd.NA
        cols[f"hit_{lab}"] = hit
    frame = pd.DataFrame(cols)
    frame["seconds"] = fc.seconds / max(h * n, 1)
    return frame


def portfolio_rows(fc: BlockForecast, block: Block, model: str, window: int,
                   all_assets: tuple[str, ...], rebalance: int, use_skfolio: bool
                   ) -> pd.DataFrame:
    """Long frame: one row per (date, portfolio) of the block (module docstring)."""
    y = np.nan_to_num(block.values.T)
    h = y.shape[0]
    col_of = {a: all_assets.index(a) for a in fc.assets}
    idx = np.array([col_of[a] for a in fc.assets], dtype=np.int64)
    rows = []
    held: dict[str, np.ndarray] = {}
    for j in range(h):  # a loop over rebalancing dates of the block (weights are per date)
        cov = fc.cov[j]
        rebalanced = j % rebalance == 0
        if rebalanced:
            held = portfolio_weights(cov, use_skfolio=use_skfolio)
        for name, w in held.items():
            full = np.zeros(len(all_assets))
            full[idx] = w
            quad = float(w @ np.nan_to_num(cov) @ w)
            rows.append({"date": block.dates[j], "model": model, "portfolio": name,
                         "window": window, "rebalanced": rebalanced,
                         "return": float(w @ y[j]),
                         "forecast_volatility": float(np.sqrt(max(quad, 0.0))),
                         **{weight_column(a): full[k] for k, a in enumerate(all_assets)}})
    return pd.DataFrame(rows)
