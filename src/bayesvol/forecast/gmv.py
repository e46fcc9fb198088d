"""The global minimum-variance portfolio of a predictive covariance and the predictive
density of its return (the factor SV paper's Section 5; used by forecast/factor_forecast.py).

With Sigma the predictive covariance of r_{T+h}, w = Sigma^{-1} 1 / (1^T Sigma^{-1} 1)
(``portfolio.weights.gmv_weights``); the draws of w^T r_{T+h} come from predictive return
paths, and VaR and ES (positive losses) from those draws (``forecast.risk``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..portfolio.weights import gmv_weights
from .garch_forecast import level_label
from .risk import expected_shortfall, value_at_risk


@dataclass
class GmvForecast:
    """The global minimum-variance portfolio for r_{T+h} and its predictive return.

    weights: w = Sigma^{-1} 1 / 1^T Sigma^{-1} 1 by asset (sum 1); covariance: Sigma, the
    predictive covariance of r_{T+h} used; draws [n_paths]: predictive draws of w^T r_{T+h};
    risk: VaR and ES (positive losses) per level, from the draws.
    """

    horizon: int
    weights: pd.Series
    covariance: pd.DataFrame
    levels: tuple[float, ...]
    draws: np.ndarray = field(repr=False)
    risk: pd.Series = field(repr=False)

    @property
    def variance(self) -> float:
        """w^T Sigma w, the predictive variance of the portfolio return (exact)."""
        w = self.weights.to_numpy()
        return float(w @ self.covariance.to_numpy() @ w)

    @property
    def mean(self) -> float:
        """Mean of the predictive draws of w^T r_{T+h}."""
        return float(np.mean(self.draws))

    @property
    def sd(self) -> float:
        """Standard deviation of the predictive draws of w^T r_{T+h}."""
        return float(np.std(self.draws, ddof=1))

    def to_dict(self) -> dict:
        return {"horizon": int(self.horizon),
                "weights": {str(a): float(v) for a, v in self.weights.items()},
                "mean": self.mean, "sd": self.sd, "variance": self.variance,
                "risk": {str(k): float(v) for k, v in self.risk.items()}}


def risk_of_draws(draws: np.ndarray, levels: Sequence[float], suffix: str = ""
                  ) -> dict[str, float]:
    """VaR and ES (positive losses) of return draws at each level, keys VaR_1%{suffix}..."""
    out = {}
    for lv in levels:
        lab = level_label(lv)
        out[f"VaR_{lab}{suffix}"] = float(value_at_risk(draws, lv))
        out[f"ES_{lab}{suffix}"] = float(expected_shortfall(draws, lv))
    return out


def gmv_of_draws(asset_names, cov_h: np.ndarray, ret_h: np.ndarray, horizon: int, levels
                 ) -> GmvForecast:
    """The GMV portfolio of the predictive covariance cov_h [N, N] and its return draws
    ret_h [n_paths, N] @ w."""
    w = gmv_weights(cov_h)
    assets = pd.Index(list(asset_names), name="asset")
    draws = ret_h @ w
    return GmvForecast(horizon=horizon, weights=pd.Series(w, index=assets, name="weight"),
                       covariance=pd.DataFrame(cov_h, index=assets, columns=list(assets)),
                       levels=tuple(levels), draws=draws,
                       risk=pd.Series(risk_of_draws(draws, levels)))
