"""Checks on the pieces of a returns table: column names, dates, cells and whole series.

Every check raises :class:`~bayesvol.errors.InputError` with a one-line message naming the
source, the column and the row (``rows`` maps each data row to the number the user sees: the
line in a text file, header = line 1; the 1-based row position in a DataFrame or Parquet file).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

NA_TOKENS = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "<na>"})
PRICE_MEDIAN = 2.0
"""Returns whose observed values are all positive with a median above this look like prices."""

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DATE_LIKE_INT = re.compile(r"\d{4}|\d{6}|\d{8}")
_MIN_DATE = pd.Timestamp("1678-01-01")
_MAX_DATE = pd.Timestamp("2261-12-31")


def show(value: object, width: int = 40) -> str:
    """A short one-line ``repr`` of a cell for messages."""
    text = repr(value.strip() if isinstance(value, str) else value)
    return text if len(text) <= width else text[: width - 3] + "..."


def fmt_date(ts: pd.Timestamp) -> str:
    """A date for messages: ``2023-01-02``, or with the time when it is not midnight."""
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat(sep=" ")


def is_missing(value: object) -> bool:
    """True for an empty cell: None, NaN/NaT, or a string such as '', 'NA', 'nan', 'null'."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return value.strip().lower() in NA_TOKENS
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return False


def check_names(
    names: Sequence[str], *, source: str | None, positions: Sequence[int] | None = None,
    what: str = "asset",
) -> None:
    """Reject empty or duplicated column names (named by 1-based column ``positions``)."""
    seen: dict[str, int] = {}
    positions = list(positions) if positions is not None else list(range(1, len(names) + 1))
    for j, name in zip(positions, names, strict=True):
        if not name.strip():
            raise InputError(f"column {j} has no {what} name in the header", source=source)
        if name in seen:
            raise InputError(
                f"duplicated {what} name (columns {seen[name]} and {j})",
                source=source, column=name,
            )
        seen[name] = j


def _parse_candidates(series: pd.Series) -> list[pd.Series]:
    """Parsed versions of ``series`` under several format rules (strict ones first)."""
    out = []
    options: list[dict] = [{}, {"dayfirst": True}, {"format": "ISO8601"}, {"format": "mixed"}]
    for kwargs in options:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append(pd.to_datetime(series, errors="coerce", utc=True, **kwargs))
        except Exception:  # noqa: BLE001  (a parser rule that cannot apply is skipped)
            continue
    return out


def _is_datetime(values: object) -> bool:
    dtype = getattr(values, "dtype", None)
    return dtype is not None and (
        isinstance(dtype, pd.DatetimeTZDtype) or getattr(dtype, "kind", "") == "M"
    )


def _date_text(value: object) -> object:
    """A cell as the date parser should see it: None for anything that cannot be a date."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text) and not _DATE_LIKE_INT.fullmatch(text):
            return None
        return text
    if isinstance(value, float | np.floating):
        return None
    return value


def parse_date_values(values: object) -> pd.Series:
    """Parse a column of dates leniently; returns naive UTC datetimes with NaT where it failed.

    Plain numbers other than 4-, 6- or 8-digit integers (years, YYYYMM, YYYYMMDD) are not dates.
    """
    if _is_datetime(values):
        parsed = pd.Series(pd.to_datetime(pd.Series(values), utc=True))
        return parsed.dt.tz_convert(None).reset_index(drop=True)
    series = pd.Series([_date_text(v) for v in np.asarray(values, dtype=object)], dtype=object)
    if series.empty:
        return pd.Series([], dtype="datetime64[ns]")
    best = None
    for cand in _parse_candidates(series):
        if best is None or cand.isna().sum() < best.isna().sum():
            best = cand
        if not best.isna().any():
            break
    if best is None:
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    return pd.to_datetime(best, utc=True).dt.tz_convert(None)


def date_share(values: object) -> float:
    """Fraction of the non-empty cells of ``values`` that parse as dates."""
    if _is_datetime(values):
        return 1.0
    values = np.asarray(values, dtype=object)
    present = ~np.array([is_missing(v) for v in values], dtype=bool)
    if not present.any():
        return 0.0
    return float(parse_date_values(values[present]).notna().mean())


def parse_dates(
    values: object, rows: np.ndarray, *, source: str | None, column: str | None
) -> pd.DatetimeIndex:
    """Parse a date column; InputError on an empty, unparseable or out-of-range date."""
    raw = values if _is_datetime(values) else np.asarray(values, dtype=object)
    if not _is_datetime(raw):
        for i, v in enumerate(raw):
            if is_missing(v):
                raise InputError("missing date", source=source, column=column,
                                 row=int(rows[i]))
    parsed = parse_date_values(raw)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        what = "missing date" if _is_datetime(raw) else f"unparseable date {show(raw[i])}"
        raise InputError(what, source=source, column=column, row=int(rows[i]))
    outside = np.flatnonzero(((parsed < _MIN_DATE) | (parsed > _MAX_DATE)).to_numpy())
    if outside.size:
        i = int(outside[0])
        shown = fmt_date(parsed.iloc[i]) if _is_datetime(raw) else show(raw[i])
        raise InputError(
            f"date {shown} is out of range (years 1678-2261)",
            source=source, column=column, row=int(rows[i]),
        )
    return pd.DatetimeIndex(parsed.dt.as_unit("ns"), name="date")


def check_dates_order(
    dates: pd.DatetimeIndex, rows: np.ndarray, *, source: str | None, column: str | None
) -> None:
    """Reject duplicated dates (naming both rows) and dates not in increasing order."""
    dup = np.flatnonzero(dates.duplicated(keep="first"))
    if dup.size:
        i = int(dup[0])
        j = int(np.flatnonzero(dates == dates[i])[0])
        raise InputError(
            f"duplicated date {fmt_date(dates[i])} (also on row {int(rows[j])})",
            source=source, column=column, row=int(rows[i]),
        )
    ns = dates.asi8
    down = np.flatnonzero(np.diff(ns) < 0)
    if down.size:
        i = int(down[0]) + 1
        raise InputError(
            f"dates out of order: {fmt_date(dates[i])} comes after {fmt_date(dates[i - 1])} "
            f"(row {int(rows[i - 1])}); sort the file by date",
            source=source, column=column, row=int(rows[i]),
        )


def _to_float(value: object) -> float:
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text) or text.lower().lstrip("+-") in {"inf", "infinity"}:
            return float(text)
        raise ValueError(text)
    if isinstance(value, bool | np.bool_):
        raise ValueError(value)
    return float(value)  # type: ignore[arg-type]


def parse_numeric(
    values: np.ndarray, rows: np.ndarray, *, source: str | None, column: str | None,
    note: str = "",
) -> np.ndarray:
    """Convert one column of cells to float64 (NaN for empty cells); InputError on text."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiu":
        return arr.astype(np.float64)
    obj = np.asarray(values, dtype=object)
    strings = pd.api.types.infer_dtype(obj, skipna=False) == "string"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = pd.to_numeric(pd.Series(obj, dtype=object), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan)
    except Exception:  # noqa: BLE001  (fall back to the cell-by-cell path below)
        out = np.full(len(obj), np.nan)
    todo = np.flatnonzero(np.isnan(out))
    if strings and todo.size:  # text cells: drop the empty ones without a Python loop
        text = pd.Series(obj[todo], dtype=object).str.strip().str.lower()
        todo = todo[~text.isin(NA_TOKENS).to_numpy()]
    for i in todo:
        v = obj[i]
        if is_missing(v):
            continue
        try:
            out[i] = _to_float(v)
        except (ValueError, TypeError, OverflowError):
            raise InputError(
                f"non-numeric value {show(v)}{note}", source=source, column=column,
                row=int(rows[i]),
            ) from None
    if not strings:  # pandas reads True as 1.0; a boolean is not a return
        flags = np.fromiter((isinstance(x, bool | np.bool_) for x in obj), bool, len(obj))
        if flags.any():
            i = int(np.argmax(flags))
            raise InputError(f"non-numeric value {show(obj[i])}{note}", source=source,
                             column=column, row=int(rows[i]))
    return out


def check_cells(
    values: np.ndarray, rows: np.ndarray, *, source: str | None, column: str | None,
    prices: bool, note: str = "",
) -> None:
    """Reject infinite values, and non-positive prices when ``prices`` is true."""
    inf = np.flatnonzero(np.isinf(values))
    if inf.size:
        i = int(inf[0])
        raise InputError(f"infinite value {values[i]}{note}", source=source, column=column,
                         row=int(rows[i]))
    if prices:
        bad = np.flatnonzero(values <= 0)
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"non-positive price {values[i]:g}{note}; prices must be > 0",
                source=source, column=column, row=int(rows[i]),
            )


def check_has_data(values: np.ndarray, assets: Sequence[str], *, source: str | None,
                   what: str = "observations") -> None:
    """Reject an asset column (``values`` is [T, N]) with no observed value at all."""
    counts = np.sum(~np.isnan(values), axis=0)
    for j in np.flatnonzero(counts == 0):
        raise InputError(f"no {what}: every cell is empty", source=source, column=assets[j])


def check_not_prices(values: np.ndarray, assets: Sequence[str], *, source: str | None) -> None:
    """Reject returns that look like prices: all observed values > 0 with median > 2."""
    for j, name in enumerate(assets):
        col = values[:, j]
        col = col[~np.isnan(col)]
        if col.size and np.all(col > 0) and float(np.median(col)) > PRICE_MEDIAN:
            raise InputError(
                f"values look like prices (all positive, median {np.median(col):g}); "
                "pass --prices (or prices=True)",
                source=source, column=name,
            )


def check_series(
    returns: np.ndarray, assets: Sequence[str], *, source: str | None, min_obs: int | None,
    prices: bool,
) -> None:
    """Reject assets with no returns, a constant series, or fewer than ``min_obs`` returns."""
    for j, name in enumerate(assets):
        col = returns[:, j]
        col = col[~np.isnan(col)]
        if col.size == 0:
            raise InputError(
                "no returns: no two consecutive prices" if prices else "no observations",
                source=source, column=name,
            )
        if col.size >= 2 and np.all(col == col[0]):
            raise InputError(
                f"constant series: all {col.size} observed returns equal {col[0]:g}; "
                "there is no volatility to model",
                source=source, column=name,
            )
        if min_obs is not None and col.size < min_obs:
            raise InputError(
                f"only {col.size} observations, fewer than min_obs={min_obs}",
                source=source, column=name,
            )
