"""Exact Gaussian filtering pieces for the state-space parts of the models, and the particle
filter built on them.

- ``factor_kalman_filter``, ``factor_kalman_smoother``, ``factor_ffbs``, ``factor_loglik``:
  Kalman filter (information form), RTS smoother and forward-filtering backward-sampling for
  the factors of the dynamic factor SV model given the log-variance paths; one filter step,
  ``factor_kalman_step``, is shared with the particle filter (factor_kalman.py).
- ``rbpf_filter``, ``rbpf_scan``: the Rao-Blackwellised particle filter of the DFSV model
  (particles over the log-variances, the factors integrated out per particle by the Kalman
  step; an unbiased likelihood estimate, per-date predictive increments, a final cloud to
  continue from) (rbpf.py).
"""

from .factor_fisher import factor_loglik_fisher
from .factor_kalman import (
    FactorFilterResult,
    FactorSmootherResult,
    KalmanStep,
    factor_ffbs,
    factor_kalman_filter,
    factor_kalman_smoother,
    factor_kalman_step,
    factor_loglik,
)
from .rbpf import (
    RbpfParams,
    RbpfResult,
    RbpfState,
    rbpf_filter,
    rbpf_point_state,
    rbpf_scan,
    rbpf_start_state,
)

__all__ = [
    "FactorFilterResult", "FactorSmootherResult", "KalmanStep", "RbpfParams", "RbpfResult",
    "RbpfState", "factor_ffbs", "factor_kalman_filter", "factor_kalman_smoother",
    "factor_kalman_step", "factor_loglik", "factor_loglik_fisher", "rbpf_filter",
    "rbpf_point_state", "rbpf_scan", "rbpf_start_state",
]
