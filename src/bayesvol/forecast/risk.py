"""Value-at-Risk and Expected Shortfall from predictive return draws.

For a level a (e.g. 0.01) and predictive draws r of a return:
    VaR_a = -q_a(r)                  (a positive number is a loss)
    ES_a  = -E[r | r <= q_a(r)]      (the mean loss beyond VaR; ES_a >= VaR_a)
"""

from __future__ import annotations

import numpy as np


def value_at_risk(draws: np.ndarray, level: float, axis: int = -1) -> np.ndarray:
    """VaR at ``level`` (tail probability) along ``axis``, as a positive loss."""
    _check_level(level)
    return -np.quantile(draws, level, axis=axis)


def expected_shortfall(draws: np.ndarray, level: float, axis: int = -1) -> np.ndarray:
    """ES at ``level``: minus the mean of draws at or below the level-quantile."""
    _check_level(level)
    d = np.moveaxis(np.asarray(draws), axis, -1)
    q = np.quantile(d, level, axis=-1, keepdims=True)
    tail = d <= q
    return -np.sum(np.where(tail, d, 0.0), axis=-1) / np.maximum(np.sum(tail, axis=-1), 1)


def _check_level(level: float) -> None:
    if not 0.0 < level < 0.5:
        raise ValueError(f"risk level must be in (0, 0.5), e.g. 0.01 or 0.05; got {level}")
