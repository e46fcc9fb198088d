"""Limits a returns series must respect to be fitted: length and magnitude of its values.

* ``MIN_OBS_TO_FIT``: the fewest observed returns an asset needs to be fitted (``fit`` and
  ``bayesvol check`` share it).
* ``check_magnitudes`` rejects, per column, the first value (by row) that is

  - too large to square in float64: ``|x| > MAX_ABS_RETURN`` (about 1.3e154), since every
    volatility model squares returns; or
  - absurd against the rest of its column: ``|x - median| > ABSURD_SDS * max(s, MIN_SCALE)``,
    with ``s`` a robust standard deviation of the column (see :func:`robust_scale`).
    ``ABSURD_SDS`` is a million robust standard deviations: a -20% crash in returns of
    typical size 1% is about 20, and even a hundredfold jump of a penny stock is a few
    thousand, so only a typo or a corrupt cell (such as 1e6 among returns of about 0.01)
    trips it. The floor ``MIN_SCALE`` keeps a nearly constant column (a money-market fund)
    from making an ordinary value absurd: nothing within 10 of the median is ever rejected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError

MIN_OBS_TO_FIT = 30
"""Fewest observed returns per asset that a model can be fitted to."""

MAX_ABS_RETURN = float(np.sqrt(np.finfo(np.float64).max))
"""Largest |return| whose square is finite in float64 (about 1.34e154)."""

ABSURD_SDS = 1e6
"""A value more than this many robust standard deviations from its column's median is absurd."""

MIN_SCALE = 1e-5
"""Floor on the robust standard deviation used by the absurdity rule."""

_MAD_TO_SD = 1.4826  # MAD of a normal sample times this estimates its standard deviation


def robust_scale(values: np.ndarray) -> float:
    """Robust standard deviation of the observed (non-NaN) ``values``: 1.4826 x MAD.

    When more than half of the values equal the median (MAD = 0, e.g. an illiquid asset with
    mostly zero returns) the MAD of the values that differ from the median is used instead;
    0.0 when all values are equal.
    """
    col = values[~np.isnan(values)]
    if col.size == 0:
        return 0.0
    dev = np.abs(col - np.median(col))
    mad = float(np.median(dev))
    if mad == 0.0:
        moved = dev[dev > 0]
        mad = float(np.median(moved)) if moved.size else 0.0
    return _MAD_TO_SD * mad


def _row(rows: np.ndarray, i: int, j: int) -> int:
    return int(rows[i, j]) if rows.ndim == 2 else int(rows[i])


def check_magnitudes(
    values: np.ndarray, rows: np.ndarray, assets: Sequence[str], *, source: str | None,
    what: str = "value", note: str = "",
) -> None:
    """Reject a value whose square overflows or that is absurd against its column.

    ``values`` is [T, N] (NaN where not observed) and ``rows`` ([T], or [T, N] when each
    value has its own row, as in a long file) numbers the rows as the user sees them. The
    message names the source, the column and the row of the first bad value of the first
    bad column.
    """
    for j, name in enumerate(assets):
        col = values[:, j]
        with np.errstate(invalid="ignore"):
            huge = np.abs(col) > MAX_ABS_RETURN
        if huge.any():
            i = int(np.argmax(huge))
            raise InputError(
                f"{what} {col[i]:g}{note} is too large: its square overflows float64 "
                f"(|{what}| must be below {MAX_ABS_RETURN:.3g})",
                source=source, column=name, row=_row(rows, i, j),
            )
        if np.isnan(col).all():
            continue
        scale, median = max(robust_scale(col), MIN_SCALE), float(np.nanmedian(col))
        with np.errstate(invalid="ignore", over="ignore"):
            dev = np.abs(col - median) / scale
        absurd = dev > ABSURD_SDS
        if absurd.any():
            i = int(np.argmax(absurd))
            raise InputError(
                f"{what} {col[i]:g}{note} is absurd against the rest of the column: it lies "
                f"{dev[i]:.3g} robust standard deviations (of {scale:.3g}) from the median "
                f"{median:g}, beyond the limit of {ABSURD_SDS:g}",
                source=source, column=name, row=_row(rows, i, j),
            )
