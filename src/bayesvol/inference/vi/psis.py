"""Pareto-smoothed importance sampling (PSIS) correction of VI draws (Yao et al. 2018).

For draws z_s ~ q, the importance log-weights are log w_s = log p(y, z_s) - log q(z_s).
ArviZ's ``psislw`` smooths the largest weights with a generalised Pareto fit and returns its
shape k-hat, the diagnostic of how well q covers p: k < 0.5 good, 0.5-0.7 usable, > 0.7 the
weights cannot be trusted. When k < ``k_max`` the draws are resampled (with replacement,
seeded) with probabilities proportional to the smoothed weights, which moves q's marginals
towards the posterior's (the skew a Gaussian q cannot represent); otherwise the raw q draws
are kept and the fit reports that VI is unreliable. The effective sample size of the weights,
1 / sum(w^2), is reported too.
"""

from __future__ import annotations

import numpy as np

K_MAX = 0.7


def psis_resample(z: np.ndarray, log_weights: np.ndarray, seed: int, k_max: float = K_MAX
                  ) -> tuple[np.ndarray, float, float, bool]:
    """Resample draws z [n, d] by PSIS weights; returns (draws, k_hat, ess, resampled)."""
    import arviz as az  # imported here: it costs seconds at start-up

    lw = np.asarray(log_weights, dtype=float)
    if not np.all(np.isfinite(lw)):
        return z, float("inf"), 0.0, False
    lw_smooth, k_hat = az.psislw(lw - np.max(lw))
    w = np.exp(lw_smooth - np.max(lw_smooth))
    w /= w.sum()
    ess = float(1.0 / np.sum(w**2))
    k_hat = float(k_hat)
    if not k_hat < k_max:
        return z, k_hat, ess, False
    idx = np.random.default_rng(seed).choice(len(w), size=len(w), replace=True, p=w)
    return z[idx], k_hat, ess, True
