"""Helpers shared by the simulators: dates, asset names, argument checks, JSON conversion.

Conventions (docs: input-formats.md): a simulated panel has business-day dates starting
2000-01-03, one column per asset named ``A01, A02, ...`` (zero-padded to at least two digits),
returns laid out ``[n_assets, T]`` with NaN where an asset is not listed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..errors import InputError

START_DATE = "2000-01-03"


class Simulation(Protocol):
    """What every simulator returns: returns [N, T], dates, asset names and a truth dict."""

    returns: np.ndarray
    dates: pd.DatetimeIndex
    assets: tuple[str, ...]
    truth: dict[str, Any]

    def to_frame(self) -> pd.DataFrame: ...


def business_dates(T: int) -> pd.DatetimeIndex:
    """``T`` business days from 2000-01-03, named ``date``."""
    return pd.bdate_range(START_DATE, periods=T, name="date")


def asset_names(n: int) -> tuple[str, ...]:
    """Column names ``A01 .. Ann`` (at least two digits, zero-padded)."""
    width = max(2, len(str(n)))
    return tuple(f"A{i + 1:0{width}d}" for i in range(n))


def returns_frame(
    returns: np.ndarray, dates: pd.DatetimeIndex, assets: Sequence[str]
) -> pd.DataFrame:
    """Wide DataFrame indexed by ``date``, one column per asset, NaN where unobserved."""
    frame = pd.DataFrame(np.asarray(returns, dtype=np.float64).T, index=dates,
                         columns=list(assets))
    frame.index.name = "date"
    return frame


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (bools refused), else InputError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def as_float_array(name: str, value: Any) -> np.ndarray:
    """A finite float64 array (scalar or array input), else InputError."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {value!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite, got {value!r}")
    return arr


def per_asset(name: str, value: Any, n: int) -> np.ndarray:
    """Broadcast a scalar or a length-``n`` vector to shape ``(n,)``, else InputError."""
    arr = as_float_array(name, value)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise InputError(f"{name} must be a scalar or have length {n}, got shape {arr.shape}")
    return arr.copy()


def reported(value: np.ndarray, was_scalar: bool) -> float | list[float]:
    """A per-asset parameter as the truth dict reports it: scalar if given as one."""
    return float(value[0]) if was_scalar else [float(v) for v in value]


def to_jsonable(obj: Any) -> Any:
    """Convert numpy / JAX arrays and scalars to lists and floats; NaN and inf become None."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, str | bool) or obj is None:
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    arr = np.asarray(obj)
    if arr.dtype == bool:
        return arr.tolist()
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64).tolist()
    arr = arr.astype(np.float64)
    if arr.ndim == 0:
        return to_jsonable(float(arr))
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()
