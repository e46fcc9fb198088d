"""The overlap accuracy of SVI-GARCH paper 2.12, per parameter marginal:

    accuracy = 100 * (1 - 1/2 * integral |q(x) - p(x)| dx)   [%]

q and p are given by draws (VI and MCMC, on the natural scale); both are smoothed by Gaussian
kernel density estimates (Scott's bandwidth) and integrated by the trapezoid rule on a common
grid that extends four bandwidths past the pooled range. 100 means identical marginals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import gaussian_kde


def overlap_accuracy(q_draws: np.ndarray, p_draws: np.ndarray, grid_size: int = 1024,
                     max_draws: int = 20000, seed: int = 0) -> float:
    """Accuracy (%) of the marginal given by ``q_draws`` against ``p_draws`` (1-D each)."""
    rng = np.random.default_rng(seed)
    q = np.asarray(q_draws, dtype=float).ravel()
    p = np.asarray(p_draws, dtype=float).ravel()
    if q.size < 2 or p.size < 2 or not (np.all(np.isfinite(q)) and np.all(np.isfinite(p))):
        raise ValueError("accuracy needs at least two finite draws on each side")
    q = q if q.size <= max_draws else rng.choice(q, max_draws, replace=False)
    p = p if p.size <= max_draws else rng.choice(p, max_draws, replace=False)
    if np.ptp(q) == 0 and np.ptp(p) == 0:
        return 100.0 if q[0] == p[0] else 0.0
    kq, kp = gaussian_kde(q), gaussian_kde(p)
    bw = max(np.sqrt(kq.covariance[0, 0]), np.sqrt(kp.covariance[0, 0]))
    lo = min(q.min(), p.min()) - 4 * bw
    hi = max(q.max(), p.max()) + 4 * bw
    x = np.linspace(lo, hi, grid_size)
    diff = np.abs(kq(x) - kp(x))
    return float(100.0 * (1.0 - 0.5 * np.trapezoid(diff, x)))


def accuracy_table(q: dict[str, np.ndarray], p: dict[str, np.ndarray]) -> pd.DataFrame:
    """Accuracy per parameter for dicts name -> draws (names present in both)."""
    names = [k for k in q if k in p]
    return pd.DataFrame({"parameter": names,
                         "accuracy": [overlap_accuracy(q[k], p[k]) for k in names]}
                        ).set_index("parameter")
