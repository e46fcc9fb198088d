"""Bayesian information criterion (Schwarz 1978):

    BIC = -2 log p(y | theta^_ML) + d log n,

d free parameters, n observations. BIC_0 - BIC_1 (Delta BIC) approximates 2 log BF_{1|0}
with an O(1) error that does not vanish as n grows (Kass & Raftery 1995, section 4.1.3), and
it ignores the prior entirely, so it is a rough screen, not a substitute for the marginal
likelihood. For a fit with posterior draws the maximum of the log-likelihood over the draws
stands in for the maximum likelihood (a lower bound, close with many draws in few
dimensions); an MLE fit uses its optimum. Per-asset models sum the assets' BICs (each asset
its own d and n); for a pooled model d counts every global and per-asset coordinate and n
every observation, which overstates the penalty of partially pooled parameters.
"""

from __future__ import annotations

import math


def bic(max_log_likelihood: float, n_params: int, n_obs: int) -> float:
    """-2 max log-likelihood + n_params log n_obs."""
    if n_obs < 1:
        raise ValueError(f"n_obs must be >= 1, got {n_obs}")
    return -2.0 * float(max_log_likelihood) + int(n_params) * math.log(int(n_obs))


def delta_bic(bic_0: float, bic_1: float) -> float:
    """Delta BIC = BIC_0 - BIC_1, the rough counterpart of 2 log BF_{1|0}."""
    return float(bic_0) - float(bic_1)
