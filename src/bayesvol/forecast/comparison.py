"""Comparing the forecast losses of models: Diebold-Mariano and the model confidence set.

Diebold & Mariano (1995), with the small-sample correction of Harvey, Leybourne & Newbold
(1997). For two loss series L1_t, L2_t (lower is better; pass minus the log score), the loss
differential d_t = L1_t - L2_t over the T dates where both are finite, its mean dbar, and a
HAC estimate of the long-run variance (Newey & West 1987, Bartlett weights, lag l):

    V = gamma_0 + 2 sum_{k=1}^{l} (1 - k / (l + 1)) gamma_k,
    DM = dbar / sqrt(V / T),
    DM_HLN = DM sqrt((T + 1 - 2 h + h (h - 1) / T) / T)   (h: forecast horizon),

compared with Student-t(T - 1) quantiles (two-sided). DM < 0: model 1 has the lower loss.
The default lag is floor(4 (T/100)^(2/9)) (Newey & West 1994's rule).

Model confidence set (Hansen, Lunde & Nason 2011), where more than two models take part:
the ``arch`` package's implementation (``arch.bootstrap.MCS``, block bootstrap), an optional
dependency (``pip install bayesvol[backtest]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class DieboldMariano:
    """Result of a Diebold-Mariano test of equal expected loss."""

    statistic: float
    p_value: float
    mean_difference: float
    dates: int
    lag: int

    @property
    def better(self) -> str:
        """'first', 'second' or 'neither' at the 5% level."""
        if not self.p_value < 0.05:
            return "neither"
        return "first" if self.mean_difference < 0 else "second"


def newey_west_lag(t: int) -> int:
    """floor(4 (T / 100)^(2/9)), Newey & West (1994)'s automatic lag for Bartlett weights."""
    return int(np.floor(4.0 * (t / 100.0) ** (2.0 / 9.0)))


def long_run_variance(d: np.ndarray, lag: int) -> float:
    """Newey-West (Bartlett) HAC estimate of the long-run variance of the series ``d``."""
    x = np.asarray(d, dtype=float) - np.mean(d)
    t = x.size
    v = float(x @ x) / t
    for k in range(1, min(lag, t - 1) + 1):  # a loop over lags (a handful), not over time
        v += 2.0 * (1.0 - k / (lag + 1.0)) * float(x[k:] @ x[:-k]) / t
    return v


def diebold_mariano(loss1: np.ndarray, loss2: np.ndarray, horizon: int = 1,
                    lag: int | None = None) -> DieboldMariano:
    """Diebold-Mariano test (with the HLN correction) of two loss series of one length."""
    a = np.asarray(loss1, dtype=float).ravel()
    b = np.asarray(loss2, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"loss series differ in length: {a.size} and {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    t = d.size
    if t < 10:
        raise ValueError(f"Diebold-Mariano needs at least 10 dates with both losses, got {t}")
    lag = newey_west_lag(t) if lag is None else int(lag)
    v = long_run_variance(d, lag)
    dbar = float(np.mean(d))
    if not v > 0:  # identical losses: no evidence either way
        return DieboldMariano(0.0, 1.0, dbar, t, lag)
    dm = dbar / np.sqrt(v / t)
    dm *= np.sqrt((t + 1 - 2 * horizon + horizon * (horizon - 1) / t) / t)
    p = float(2.0 * stats.t.sf(abs(dm), df=t - 1))
    return DieboldMariano(float(dm), p, dbar, t, lag)


def model_confidence_set(losses: pd.DataFrame, size: float = 0.1, reps: int = 1000,
                         block_size: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Hansen-Lunde-Nason model confidence set of the columns (models) of ``losses``.

    Rows are dates (rows with any missing loss are dropped). Returns one row per model with
    its MCS p-value and whether it is in the set at ``size``. Uses ``arch.bootstrap.MCS``
    (the 'max' statistic, stationary bootstrap).
    """
    try:
        from arch.bootstrap import MCS
    except ImportError as err:  # an optional dependency
        raise ImportError("the model confidence set needs the arch package: "
                          "pip install 'bayesvol[backtest]'") from err
    frame = losses.dropna()
    if frame.shape[1] < 2 or len(frame) < 10:
        raise ValueError("the model confidence set needs >= 2 models and >= 10 common dates")
    block = block_size or max(1, newey_west_lag(len(frame)))
    mcs = MCS(frame, size=size, reps=reps, block_size=block, method="max",
              bootstrap="stationary", seed=seed)
    mcs.compute()
    p = mcs.pvalues["Pvalue"].reindex(frame.columns)
    return pd.DataFrame({"mean_loss": frame.mean(), "p_value": p,
                         "in_set": p >= size}).rename_axis("model")
