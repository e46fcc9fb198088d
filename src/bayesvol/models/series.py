"""From a ReturnsPanel to per-asset model arrays: left-aligned, bucket-padded series.

Each asset's row is shifted to start at its first observation (its recursion starts at its
own listing date) and padded at the end with mask 0 (delisted, or padding to a bucket length
so that panels of similar length reuse one compiled program).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class SeriesData(NamedTuple):
    """Left-aligned returns of one or more assets: y (NaN-free), mask (1.0 observed)."""

    y: jax.Array  # [..., T]
    mask: jax.Array  # [..., T] float


def bucket_length(t: int, minimum: int = 256) -> int:
    """Round a series length up to a bucket (powers of two times 1, 1.25, 1.5, 1.75)."""
    if t <= minimum:
        return minimum
    base = 2 ** int(np.floor(np.log2(t)))
    for f in (1.0, 1.25, 1.5, 1.75, 2.0):
        if base * f >= t:
            return int(base * f)
    return 2 * base


def align_left_arrays(values: np.ndarray, mask: np.ndarray, first: np.ndarray,
                      pad_to: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, m) [N, L]: each row from its first observation on, zeros / mask 0 after its end."""
    n, t = values.shape
    length = t if pad_to is None else max(pad_to, t)
    y = np.zeros((n, length))
    m = np.zeros((n, length))
    for i in range(n):
        seg_v = values[i, first[i]:]
        seg_m = mask[i, first[i]:]
        y[i, : seg_v.size] = np.where(seg_m, seg_v, 0.0)
        m[i, : seg_m.size] = seg_m
    return y, m


def align_left(values: np.ndarray, mask: np.ndarray, first: np.ndarray, pad_to: int | None = None
               ) -> SeriesData:
    """SeriesData of :func:`align_left_arrays`."""
    y, m = align_left_arrays(values, mask, first, pad_to)
    return SeriesData(jnp.asarray(y), jnp.asarray(m))


def series_arrays(panel, bucket: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, m, last) of a panel: left-aligned arrays [N, L] and each asset's last index in them."""
    last = np.asarray(panel.last) - np.asarray(panel.first)
    length = int(np.max(last + 1))
    y, m = align_left_arrays(panel.values, panel.mask, panel.first,
                             bucket_length(length) if bucket else length)
    return y, m, last


def series_data(panel, bucket: bool = True) -> SeriesData:
    """Left-aligned, bucket-padded (y, mask) of a panel."""
    y, m, _ = series_arrays(panel, bucket)
    return SeriesData(jnp.asarray(y), jnp.asarray(m))


class PerAssetSeriesModel:
    """Shared plumbing of models fitted to each asset's own series (garch, beta-t-egarch).

    ``program_key``: the repr of the (frozen dataclass) model, priors included, which
    determines every program traced from it (inference/runner.py keeps those between
    processes); ``prepare`` and ``series``: the left-aligned, bucket-padded arrays above.
    """

    @property
    def program_key(self) -> str:
        return repr(self)

    def prepare(self, panel) -> SeriesData:
        """Model input from a ReturnsPanel: left-aligned, bucket-padded."""
        return series_data(panel)

    def series(self, panel) -> SeriesData:
        """Per-asset (y, mask) for volatility, forecasts and scores (= ``prepare``)."""
        return series_data(panel)
