"""Exact Gaussian filtering pieces for the state-space parts of the models.

- ``factor_kalman_filter``, ``factor_kalman_smoother``, ``factor_ffbs``, ``factor_loglik``:
  Kalman filter (information form), RTS smoother and forward-filtering backward-sampling for
  the factors of the dynamic factor SV model given the log-variance paths
  (factor_kalman.py).
"""

from .factor_fisher import factor_loglik_fisher
from .factor_kalman import (
    FactorFilterResult,
    FactorSmootherResult,
    factor_ffbs,
    factor_kalman_filter,
    factor_kalman_smoother,
    factor_loglik,
)

__all__ = [
    "FactorFilterResult", "FactorSmootherResult", "factor_ffbs", "factor_kalman_filter",
    "factor_kalman_smoother", "factor_loglik", "factor_loglik_fisher",
]
