"""Checks shared by the factor SV test modules."""

from __future__ import annotations

import numpy as np


def assert_cov_matches_draws(cov: np.ndarray, draws: np.ndarray, steps, tail: float = 2.0
                             ) -> None:
    """The predictive covariance cov [h, N, N] against the sample covariance of predictive
    draws [n, h, N] at the given steps: within 5 Monte Carlo errors per entry, an entry's
    error being about sd_i sd_j sqrt(2 / n) times ``tail`` (heavier-tailed mixtures)."""
    n = draws.shape[0]
    for s in steps:
        sd = np.sqrt(np.diag(cov[s]))
        np.testing.assert_array_less(np.abs(np.cov(draws[:, s].T) - cov[s]),
                                     5 * tail * np.sqrt(2 / n) * np.outer(sd, sd))
