"""Sampling frequency of a date axis: infer it, and reject files whose spacing changes regime.

Each gap between consecutive dates is put in a band: intraday (< 0.9 days; subdivided by bar
length relative to the median intraday gap), daily (up to 5.5 days, so weekends and holidays
of business-daily data stay daily), weekly (up to 10.5), monthly (up to 45), quarterly (up to
135), annual (up to 550) and irregular beyond. A single odd gap (a market closure, a missing
month, an overnight break between intraday bars) is normal; the file is rejected when

* two runs of at least ``MIN_RUN`` consecutive gaps fall in different bands (e.g. daily rows
  followed by monthly rows): the error names the row where the second run starts; or
* no band holds at least ``MIN_SHARE`` of the gaps (with ``MIN_GAPS`` gaps or more): the dates
  follow no single frequency, and the error names the first row off the dominant band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .validation import fmt_date

MIN_RUN = 3
MIN_SHARE = 0.75
MIN_GAPS = 8

_BANDS: tuple[tuple[float, str], ...] = (
    (0.9, "intraday"),
    (5.5, "daily"),
    (10.5, "weekly"),
    (45.0, "monthly"),
    (135.0, "quarterly"),
    (550.0, "annual"),
)
_DAY_NS = 86_400 * 10**9


def _gap_days(dates: pd.DatetimeIndex) -> np.ndarray:
    ns = np.asarray(dates.as_unit("ns").asi8, dtype=np.int64)
    return np.diff(ns).astype(np.float64) / _DAY_NS


def _band(days: float) -> str:
    for limit, name in _BANDS:
        if days < limit or (name != "intraday" and days <= limit):
            return name
    return "irregular"


def gap_classes(dates: pd.DatetimeIndex) -> list[str]:
    """Band of each gap between consecutive ``dates`` (length ``len(dates) - 1``)."""
    gaps = _gap_days(dates)
    classes = [_band(g) for g in gaps]
    intraday = gaps[gaps < _BANDS[0][0]]
    intraday = intraday[intraday > 0]
    if intraday.size:
        ref = float(np.median(intraday))
        for i, g in enumerate(gaps):
            if classes[i] == "intraday" and g > 0:
                classes[i] = f"intraday:{round(math.log2(g / ref))}"
    return classes


def _runs(classes: Sequence[str]) -> list[tuple[str, int, int]]:
    """Run-length encoding: (class, start index, length)."""
    runs: list[tuple[str, int, int]] = []
    for i, c in enumerate(classes):
        if runs and runs[-1][0] == c:
            name, start, length = runs[-1]
            runs[-1] = (name, start, length + 1)
        else:
            runs.append((c, i, 1))
    return runs


def _dominant(classes: Sequence[str]) -> tuple[str, float]:
    values, counts = np.unique(np.asarray(classes), return_counts=True)
    k = int(np.argmax(counts))
    return str(values[k]), float(counts[k]) / len(classes)


def _label(band: str) -> str:
    return band.split(":")[0]


def _format_span(days: float) -> str:
    seconds = days * 86_400
    for unit, size in (("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if seconds >= size and abs(seconds / size - round(seconds / size)) < 1e-6:
            return f"{round(seconds / size)}{unit}"
    return f"{seconds:g}s"


def infer_frequency(dates: pd.DatetimeIndex) -> str:
    """A readable name for the sampling frequency of ``dates``.

    One of ``"business daily"``, ``"daily"``, ``"weekly"``, ``"monthly"``, ``"quarterly"``,
    ``"annual"``, ``"intraday (5min)"`` (bar length), ``"irregular"`` or ``"single date"``.
    """
    dates = pd.DatetimeIndex(dates)
    if len(dates) < 2:
        return "single date"
    classes = gap_classes(dates)
    band, _ = _dominant(classes)
    if band.startswith("intraday"):
        gaps = _gap_days(dates)
        chosen = gaps[np.asarray(classes) == band]
        return f"intraday ({_format_span(float(np.median(chosen)))})"
    if band == "daily":
        weekend = bool(np.any(np.asarray(dates.day_of_week) >= 5))
        return "daily" if weekend else "business daily"
    return band


def check_frequency(
    dates: pd.DatetimeIndex,
    rows: Sequence[int] | np.ndarray,
    *,
    source: str | None,
    column: str | None = None,
) -> None:
    """Raise InputError if the spacing of ``dates`` changes regime or fits no one frequency.

    ``rows`` gives the row number (as the user sees it) of each date, for the message.
    """
    dates = pd.DatetimeIndex(dates)
    if len(dates) < 3:
        return
    classes = gap_classes(dates)
    long_runs = [r for r in _runs(classes) if r[2] >= MIN_RUN]
    for before, after in zip(long_runs, long_runs[1:], strict=False):
        if before[0] != after[0]:
            row = int(rows[after[1] + 1])
            when = fmt_date(dates[after[1] + 1])
            raise InputError(
                f"mixed frequencies: dates are {_label(before[0])} before this row and "
                f"{_label(after[0])} from here on ({when}); use one frequency per file",
                source=source, column=column, row=row,
            )
    band, share = _dominant(classes)
    if len(classes) >= MIN_GAPS and share < MIN_SHARE:
        first_off = next(i for i, c in enumerate(classes) if c != band)
        raise InputError(
            f"irregular dates: only {share:.0%} of the gaps between dates fit the main "
            f"frequency ({_label(band)}); first gap that does not fit ends here",
            source=source, column=column, row=int(rows[first_off + 1]),
        )
