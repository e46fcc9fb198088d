"""ReturnsPanel: a ragged panel of asset returns on one date axis, with its observation mask.

Each asset has a window ``[first, last]`` of observed dates. Cells before ``first`` mean "not
yet listed", cells after ``last`` "delisted", and unobserved cells inside the window are
missing observations (models skip them in the likelihood and propagate the state through).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError


def _bounds(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and last True of each row of ``mask`` ([N, T]); -1 for empty rows."""
    if mask.shape[1] == 0:
        empty = np.full(mask.shape[0], -1, dtype=np.int64)
        return empty, empty.copy()
    any_ = mask.any(axis=1)
    first = np.where(any_, np.argmax(mask, axis=1), -1).astype(np.int64)
    last = np.where(any_, mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1), -1)
    return first, last.astype(np.int64)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


def _fmt_date(ts: pd.Timestamp, daily: bool) -> str:
    return ts.strftime("%Y-%m-%d") if daily else ts.isoformat(sep=" ")


@dataclass(frozen=True, eq=False)
class ReturnsPanel:
    """Returns of N assets on T dates; ``np.nan`` and ``mask == False`` where not observed.

    Arrays are stored as read-only copies. Equality (``==``) compares the data and ignores
    ``source``. Build one with :func:`bayesvol.data.load_returns`, :meth:`from_frame` or
    :meth:`from_values`.
    """

    values: np.ndarray
    mask: np.ndarray
    first: np.ndarray
    last: np.ndarray
    dates: pd.DatetimeIndex
    assets: tuple[str, ...]
    source: str | None = None

    def __post_init__(self) -> None:
        def fail(message: str) -> None:
            raise InputError(f"invalid ReturnsPanel: {message}", source=self.source)

        values = np.asarray(self.values, dtype=np.float64)
        mask = np.asarray(self.mask)
        if values.ndim != 2:
            fail(f"values must be 2-D [N, T], got shape {values.shape}")
        n, t = values.shape
        if mask.shape != values.shape or mask.dtype != np.bool_:
            fail(f"mask must be a bool array of shape {values.shape}")
        if not np.array_equal(mask, ~np.isnan(values)):
            fail("values must be NaN exactly where mask is False")
        if np.isinf(values).any():
            fail("values must be finite where observed")
        assets = tuple(self.assets)
        if len(assets) != n or not all(isinstance(a, str) for a in assets):
            fail(f"assets must be {n} strings, got {len(assets)}")
        if len(set(assets)) != n:
            fail("asset names must be unique")
        try:
            dates = pd.DatetimeIndex(self.dates, name="date")
        except (TypeError, ValueError) as exc:
            fail(f"dates must be a DatetimeIndex ({exc})")
        if len(dates) != t:
            fail(f"{len(dates)} dates for {t} time points")
        if dates.tz is not None:
            dates = dates.tz_convert(None)
        dates = dates.as_unit("ns")
        if dates.hasnans or (t > 1 and not dates.is_monotonic_increasing) or not dates.is_unique:
            fail("dates must be unique, increasing and not NaT")
        first, last = _bounds(mask)
        if (first < 0).any():
            fail(f"asset '{assets[int(np.argmax(first < 0))]}' has no observations")
        for name, given, want in (("first", self.first, first), ("last", self.last, last)):
            given = np.asarray(given)
            if given.shape != (n,) or not np.array_equal(given.astype(np.int64), want):
                fail(f"{name} does not match the mask")
        for name, value in (("values", values), ("mask", mask), ("first", first),
                            ("last", last)):
            object.__setattr__(self, name, _frozen(value))
        object.__setattr__(self, "dates", dates)
        object.__setattr__(self, "assets", assets)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_values(cls, values: np.ndarray, dates: Iterable, assets: Iterable[str],
                    source: str | None = None) -> ReturnsPanel:
        """Build a panel from ``values`` [N, T] with NaN where not observed."""
        values = np.asarray(values, dtype=np.float64)
        mask = ~np.isnan(values)
        first, last = _bounds(mask) if values.ndim == 2 else (np.zeros(0), np.zeros(0))
        return cls(values, mask, first, last, pd.DatetimeIndex(dates),
                   tuple(str(a) for a in assets), source)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, source: str | None = None) -> ReturnsPanel:
        """Wide frame (DatetimeIndex or a date column; one column per asset) -> panel.

        Checks the structure (dates parse, unique and increasing; unique asset names;
        numeric, finite cells; every asset observed at least once) but not the data-quality
        rules of :func:`~bayesvol.data.load_returns` (constant series, prices, frequency).
        """
        from .readers import panel_from_wide_frame

        return panel_from_wide_frame(df, source=source or "<DataFrame>")

    # -- shape ------------------------------------------------------------------------------
    @property
    def n_assets(self) -> int:
        """Number of assets N."""
        return int(self.values.shape[0])

    @property
    def n_times(self) -> int:
        """Number of dates T."""
        return int(self.values.shape[1])

    @property
    def n_obs(self) -> int:
        """Total number of observed returns."""
        return int(self.mask.sum())

    @property
    def n_obs_per_asset(self) -> np.ndarray:
        """Observed returns per asset, [N] int64."""
        return self.mask.sum(axis=1).astype(np.int64)

    def interior_missing(self) -> np.ndarray:
        """[N, T] bool: inside an asset's ``[first, last]`` window but not observed."""
        t = np.arange(self.n_times)
        inside = (t >= self.first[:, None]) & (t <= self.last[:, None])
        return inside & ~self.mask

    # -- conversion -------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Wide frame: DatetimeIndex named "date", one float column per asset, NaN gaps."""
        return pd.DataFrame(np.array(self.values.T, copy=True), index=self.dates.copy(),
                            columns=list(self.assets))

    def filled(self, fill: float = 0.0) -> np.ndarray:
        """Values [N, T] with unobserved cells set to ``fill`` (feed this and ``mask`` to JAX)."""
        return np.where(self.mask, self.values, fill)

    # -- subsets ----------------------------------------------------------------------------
    def select(self, assets: str | Iterable[str]) -> ReturnsPanel:
        """The panel restricted to ``assets`` (a name or names), in the order given."""
        names = [assets] if isinstance(assets, str) else [str(a) for a in assets]
        index = {a: i for i, a in enumerate(self.assets)}
        missing = [a for a in names if a not in index]
        if missing:
            raise InputError(f"unknown asset '{missing[0]}'", source=self.source)
        if len(set(names)) != len(names):
            raise InputError("an asset is selected twice", source=self.source)
        idx = np.array([index[a] for a in names], dtype=np.int64)
        return ReturnsPanel(self.values[idx], self.mask[idx], self.first[idx], self.last[idx],
                            self.dates, tuple(names), self.source)

    def slice_time(self, start: int, stop: int) -> ReturnsPanel:
        """Dates ``[start, stop)`` (Python slice rules); assets left without data are dropped."""
        lo, hi, _ = slice(start, stop).indices(self.n_times)
        hi = max(hi, lo)
        values, mask = self.values[:, lo:hi], self.mask[:, lo:hi]
        keep = mask.any(axis=1)
        first, last = _bounds(mask[keep])
        return ReturnsPanel(values[keep], mask[keep], first, last, self.dates[lo:hi],
                            tuple(a for a, k in zip(self.assets, keep, strict=True) if k),
                            self.source)

    # -- reporting --------------------------------------------------------------------------
    def summary(self) -> dict:
        """Plain-Python description: assets, date range, frequency, counts, gaps per asset.

        Per asset: first/last observed date, observations, ``not_yet_listed`` (leading gap),
        ``delisted`` (trailing gap) and ``interior_missing``; ``totals`` sums the three gaps.
        """
        from .frequency import infer_frequency

        dates = self.dates
        daily = bool(len(dates) == 0 or (dates == dates.normalize()).all())
        interior = self.interior_missing().sum(axis=1)
        per_asset = {}
        for i, name in enumerate(self.assets):
            per_asset[name] = {
                "first": _fmt_date(dates[self.first[i]], daily),
                "last": _fmt_date(dates[self.last[i]], daily),
                "observations": int(self.mask[i].sum()),
                "not_yet_listed": int(self.first[i]),
                "delisted": int(self.n_times - 1 - self.last[i]),
                "interior_missing": int(interior[i]),
            }
        totals = {k: int(sum(p[k] for p in per_asset.values()))
                  for k in ("not_yet_listed", "delisted", "interior_missing")}
        return {
            "source": self.source,
            "assets": list(self.assets),
            "n_assets": self.n_assets,
            "n_times": self.n_times,
            "n_obs": self.n_obs,
            "start": _fmt_date(dates[0], daily) if len(dates) else None,
            "end": _fmt_date(dates[-1], daily) if len(dates) else None,
            "frequency": infer_frequency(dates),
            "per_asset": per_asset,
            "totals": totals,
        }

    # -- comparison -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReturnsPanel):
            return NotImplemented
        return (
            self.assets == other.assets
            and self.dates.equals(other.dates)
            and np.array_equal(self.mask, other.mask)
            and np.array_equal(self.values, other.values, equal_nan=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        span = f"{self.dates[0]}..{self.dates[-1]}" if self.n_times else "empty"
        return (f"ReturnsPanel(n_assets={self.n_assets}, n_times={self.n_times}, "
                f"n_obs={self.n_obs}, dates={span}, source={self.source!r})")
