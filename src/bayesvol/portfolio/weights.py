"""Portfolio weights from a forecast covariance matrix Sigma (N x N).

Global minimum variance, closed form (Merton 1972): minimise w^T Sigma w subject to
1^T w = 1, so

    w_gmv = Sigma^{-1} 1 / (1^T Sigma^{-1} 1)        (short positions allowed).

Long-only minimum variance (the same problem with w >= 0) and risk parity (equal risk
contributions w_i (Sigma w)_i = w^T Sigma w / N, Maillard, Roncalli & Teiletche 2010) are
solved by skfolio (``MeanRisk`` with the variance and ``min_weights=0``; ``RiskBudgeting`` with
the variance), an optional dependency (``pip install 'bayesvol[backtest]'``); without it those
portfolios are skipped. Equal weight is w_i = 1/N. Assets whose variance is not finite (not
listed on that date) get weight 0 and the others are optimised among themselves.
"""

from __future__ import annotations

import numpy as np

PORTFOLIOS = ("gmv", "min-variance", "risk-parity")
SKFOLIO_PORTFOLIOS = ("min-variance", "risk-parity")
SKFOLIO_MISSING = ("skfolio is not installed: the min-variance (long-only) and risk-parity "
                   "portfolios are skipped (pip install 'bayesvol[backtest]')")


def skfolio_available() -> bool:
    """Whether skfolio can be imported."""
    try:
        import skfolio  # noqa: F401
    except ImportError:
        return False
    return True


def _active(cov: np.ndarray) -> np.ndarray:
    d = np.diagonal(cov)
    return np.isfinite(d) & (d > 0)


def gmv_weights(cov: np.ndarray) -> np.ndarray:
    """w = Sigma^{-1} 1 / (1^T Sigma^{-1} 1) over the active assets (module docstring)."""
    cov = np.asarray(cov, dtype=float)
    act = _active(cov)
    w = np.zeros(cov.shape[0])
    if not act.any():
        return w
    sub = cov[np.ix_(act, act)]
    x = np.linalg.solve(sub, np.ones(sub.shape[0]))
    w[act] = x / x.sum()
    return w


def equal_weights(n: int, active: np.ndarray | None = None) -> np.ndarray:
    """1/N over the active assets."""
    act = np.ones(n, dtype=bool) if active is None else np.asarray(active, dtype=bool)
    return np.where(act, 1.0 / max(int(act.sum()), 1), 0.0)


def _fixed_covariance_class():
    """A skfolio covariance estimator that returns a given matrix (defined on first use, so
    skfolio is imported only when it is wanted)."""
    from skfolio.moments.covariance import BaseCovariance

    class FixedCovariance(BaseCovariance):
        """The covariance ``matrix`` whatever the returns."""

        def __init__(self, matrix=None):
            super().__init__(nearest=True)
            self.matrix = matrix

        def fit(self, X, y=None, **fit_params):
            x = np.asarray(X)
            self._set_covariance(np.asarray(self.matrix, dtype=float))
            self.location_ = np.zeros(x.shape[1])
            self.n_features_in_ = x.shape[1]
            return self

    return FixedCovariance


def skfolio_weights(cov: np.ndarray, which: str) -> np.ndarray:
    """Long-only minimum variance (``which="min-variance"``) or risk parity
    (``"risk-parity"``) weights by skfolio for the covariance ``cov``."""
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction, RiskBudgeting
    from skfolio.prior import EmpiricalPrior

    cov = np.asarray(cov, dtype=float)
    act = _active(cov)
    w = np.zeros(cov.shape[0])
    k = int(act.sum())
    if k == 0:
        return w
    if k == 1:
        w[act] = 1.0
        return w
    sub = cov[np.ix_(act, act)]
    scale = float(np.mean(np.diag(sub)))  # solvers prefer a covariance of order 1
    prior = EmpiricalPrior(covariance_estimator=_fixed_covariance_class()(sub / scale))
    if which == "min-variance":
        opt = MeanRisk(risk_measure=RiskMeasure.VARIANCE,
                       objective_function=ObjectiveFunction.MINIMIZE_RISK, min_weights=0.0,
                       prior_estimator=prior)
    elif which == "risk-parity":
        opt = RiskBudgeting(risk_measure=RiskMeasure.VARIANCE, prior_estimator=prior)
    else:
        raise ValueError(f"unknown portfolio '{which}'")
    opt.fit(np.zeros((2, k)))
    x = np.clip(np.asarray(opt.weights_, dtype=float), 0.0, None)
    w[act] = x / x.sum()
    return w


def portfolio_weights(cov: np.ndarray, use_skfolio: bool = True) -> dict[str, np.ndarray]:
    """Weights of every portfolio of PORTFOLIOS that can be built (skfolio ones only when
    ``use_skfolio`` and skfolio is installed)."""
    out = {"gmv": gmv_weights(cov)}
    if use_skfolio and skfolio_available():
        for name in SKFOLIO_PORTFOLIOS:
            out[name] = skfolio_weights(cov, name)
    return out
