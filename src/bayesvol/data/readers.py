"""load_returns: CSV, Parquet or DataFrame (wide or long; returns or prices) -> ReturnsPanel.

Wide: a date column (the first, or one named date/timestamp/datetime/time) and one column per
asset. Long: exactly the columns date, asset (or ticker/symbol) and value (or return/ret/
returns/price/close), any order, names case-insensitive. Every problem raises
:class:`~bayesvol.errors.InputError` naming the file, column and row (see ``validation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from . import validation as v
from .frequency import check_frequency
from .limits import check_magnitudes
from .panel import ReturnsPanel
from .sources import DATE_NAMES, RawTable, frame_table, read_table

ASSET_NAMES = ("asset", "ticker", "symbol")
VALUE_NAMES = ("value", "return", "returns", "ret", "price", "close")
LAYOUTS = ("auto", "wide", "long")


@dataclass
class _Grid:
    """Dates x assets values before any series-level check; ``rows`` numbers each date.

    ``cell_rows`` ([T, N], long layout only) numbers the row each value came from.
    """

    dates: pd.DatetimeIndex
    rows: np.ndarray
    assets: list[str]
    values: np.ndarray  # [T, N]
    cell_rows: np.ndarray | None = None


def _role(name: str) -> str | None:
    key = name.strip().lower()
    for role, names in (("date", DATE_NAMES), ("asset", ASSET_NAMES), ("value", VALUE_NAMES)):
        if key in names:
            return role
    return None


def _find(names: list[str], wanted: str) -> int | None:
    for exact in (True, False):
        for k, name in enumerate(names):
            if (name == wanted) if exact else (name.strip().lower() == wanted.strip().lower()):
                return k
    return None


def _long_columns(table: RawTable, date_column: str | None, forced: bool) -> tuple | None:
    """Positions of (date, asset, value) if the table is in long layout, else None."""
    names = table.names
    if len(names) != 3:
        return None
    roles = [_role(n) for n in names]
    if date_column is not None:
        k = _find(names, date_column)
        if k is None:
            return None
        roles[k] = "date"
    if sorted(r or "" for r in roles) == ["asset", "date", "value"]:
        return tuple(roles.index(r) for r in ("date", "asset", "value"))
    if forced:
        return (0, 1, 2)
    return None


def _date_index(table: RawTable, date_column: str | None) -> int:
    names, source = table.names, table.source
    if date_column is not None:
        k = _find(names, date_column)
        if k is None:
            raise InputError(f"no column named '{date_column}' for the dates", source=source)
        return k
    if table.date_hint is not None:
        return table.date_hint
    for k, name in enumerate(names):
        if name.strip().lower() in DATE_NAMES:
            return k
    if v.date_share(table.columns[0]) >= 0.5:
        return 0
    cells = np.asarray(table.columns[0], dtype=object)
    parsed = v.parse_date_values(cells).isna().to_numpy()
    i = int(np.argmax(parsed & ~np.array([v.is_missing(c) for c in cells], dtype=bool)))
    raise InputError(
        f"no date column: the first column does not hold dates (value {v.show(cells[i])}); "
        "put dates in the first column or name their column 'date'",
        source=source, column=names[0], row=int(table.rows[i]),
    )


def _wide(table: RawTable, date_column: str | None, prices: bool) -> _Grid:
    source, rows = table.source, table.rows
    j = _date_index(table, date_column)
    positions = [k for k in range(len(table.names)) if k != j]
    assets = [table.names[k] for k in positions]
    if not assets:
        raise InputError("no asset columns: the table only has a date column", source=source)
    v.check_names(assets, source=source, positions=[k + 1 for k in positions])
    date_name = table.names[j] or None
    dates = v.parse_dates(table.columns[j], rows, source=source, column=date_name)
    v.check_dates_order(dates, rows, source=source, column=date_name)
    values = np.empty((len(rows), len(assets)), dtype=np.float64)
    for col, k in enumerate(positions):
        name = table.names[k]
        values[:, col] = v.parse_numeric(table.columns[k], rows, source=source, column=name)
        v.check_cells(values[:, col], rows, source=source, column=name, prices=prices)
    return _Grid(dates, rows, assets, values)


def _long(table: RawTable, cols: tuple, prices: bool) -> _Grid:
    source, rows = table.source, table.rows
    d, a, k = cols
    names = table.names
    v.check_names(names, source=source, what="column")
    dates = v.parse_dates(table.columns[d], rows, source=source, column=names[d])
    labels = []
    for i, cell in enumerate(np.asarray(table.columns[a], dtype=object)):
        if v.is_missing(cell):
            raise InputError("missing asset name", source=source, column=names[a],
                             row=int(rows[i]))
        labels.append(str(cell).strip())
    values = v.parse_numeric(table.columns[k], rows, source=source, column=names[k])
    v.check_cells(values, rows, source=source, column=names[k], prices=prices)
    keys = pd.DataFrame({"d": dates.asi8, "a": labels})
    dup = np.flatnonzero(keys.duplicated(keep="first").to_numpy())
    if dup.size:
        i = int(dup[0])
        same = (keys["d"].to_numpy() == keys["d"].iat[i]) & (keys["a"].to_numpy() == labels[i])
        raise InputError(
            f"duplicated (date, asset) pair ({v.fmt_date(dates[i])}, {labels[i]}); first on row "
            f"{int(rows[np.argmax(same)])}",
            source=source, row=int(rows[i]),
        )
    stamps, t_codes = np.unique(dates.asi8, return_inverse=True)
    assets = list(pd.unique(np.asarray(labels, dtype=object)))
    a_codes = pd.Index(assets).get_indexer(labels)
    grid = np.full((len(stamps), len(assets)), np.nan)
    grid[t_codes, a_codes] = values
    cell_rows = np.zeros(grid.shape, dtype=np.int64)
    cell_rows[t_codes, a_codes] = rows
    date_rows = np.full(len(stamps), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(date_rows, t_codes, rows)
    return _Grid(pd.DatetimeIndex(stamps.astype("datetime64[ns]"), name="date"), date_rows,
                 [str(x) for x in assets], grid, cell_rows)


def _to_grid(table: RawTable, layout: str, date_column: str | None, prices: bool) -> _Grid:
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, got '{layout}'",
                         source=table.source)
    if layout != "wide":
        cols = _long_columns(table, date_column, forced=layout == "long")
        if cols is not None:
            return _long(table, cols, prices)
        if layout == "long":
            raise InputError(
                f"long layout needs exactly the columns date, asset, value; found "
                f"{len(table.names)} columns ({', '.join(table.names)[:80]})",
                source=table.source,
            )
    return _wide(table, date_column, prices)


def prices_to_returns(prices: np.ndarray, log: bool = True) -> np.ndarray:
    """Returns [T, N] from prices [T, N]: NaN in row 0 and wherever either price is missing.

    A return at t needs the prices at t and t-1, so a missing price inside an asset's window
    makes the returns at t and t+1 missing (no multi-period return is made up).
    """
    out = np.full(prices.shape, np.nan)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ratio = prices[1:] / prices[:-1]
        out[1:] = np.log(ratio) if log else ratio - 1.0
    return out


def _grid_panel(grid: _Grid, source: str) -> ReturnsPanel:
    return ReturnsPanel.from_values(grid.values.T, grid.dates, grid.assets, source)


def _check_options(scale: object, min_obs: object, label: str) -> tuple[float, int | None]:
    try:
        value = float(scale)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"scale must be a number, got {scale!r}", source=label) from None
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"scale must be a positive finite number, got {value:g}", source=label)
    if min_obs is None:
        return value, None
    if isinstance(min_obs, bool) or not isinstance(min_obs, int | np.integer) or min_obs < 0:
        raise InputError(f"min_obs must be a non-negative integer, got {min_obs!r}",
                         source=label)
    return value, int(min_obs)


def load_returns(
    path_or_frame: str | Path | pd.DataFrame,
    prices: bool = False,
    log: bool = True,
    scale: float = 1.0,
    min_obs: int | None = None,
    layout: str = "auto",
    date_column: str | None = None,
) -> ReturnsPanel:
    """Load and validate a returns (or prices) table into a :class:`ReturnsPanel`.

    Args:
        path_or_frame: a .csv/.txt/.parquet/.pq path, or a DataFrame (wide with a
            DatetimeIndex or a date column, or long).
        prices: the values are prices; returns are computed per asset (the first price of
            each asset, and the one after any missing price, gives no return).
        log: with ``prices``, log returns (True) or simple returns (False).
        scale: multiplies the returns (100 for percent).
        min_obs: reject any asset with fewer observed returns than this (``None``: no
            minimum here; fitting needs :data:`~bayesvol.data.limits.MIN_OBS_TO_FIT`).
        layout: "auto" (long when the columns are exactly date/asset/value), "wide", "long".
        date_column: name of the date column when it is not found automatically.

    Raises:
        InputError: a one-line message naming the file, column and row of the problem,
            including a return (after conversion and scaling) whose square overflows or
            that is absurd against the rest of its column (:mod:`bayesvol.data.limits`).
    """
    label = "<DataFrame>" if isinstance(path_or_frame, pd.DataFrame) else str(path_or_frame)
    scale, min_obs = _check_options(scale, min_obs, label)
    table = read_table(path_or_frame)
    grid = _to_grid(table, layout, date_column, prices)
    check_frequency(grid.dates, grid.rows, source=table.source)
    v.check_has_data(grid.values, grid.assets, source=table.source,
                     what="prices" if prices else "observations")
    cells = grid.rows if grid.cell_rows is None else grid.cell_rows  # row of each value
    if prices:
        returns = prices_to_returns(grid.values, log=log)[1:]
        dates, rows, cells = grid.dates[1:], grid.rows[1:], cells[1:]
    else:
        v.check_not_prices(grid.values, grid.assets, source=table.source)
        returns, dates, rows = grid.values, grid.dates, grid.rows
    v.check_series(returns, grid.assets, source=table.source,
                   min_obs=min_obs, prices=prices)
    with np.errstate(over="ignore", invalid="ignore"):
        returns = returns * scale
    for j, name in enumerate(grid.assets):
        v.check_cells(returns[:, j], rows, source=table.source, column=name, prices=False,
                      note=" after converting and scaling (overflow)")
    what = ("log return" if log else "simple return") if prices else "return"
    note = " (from the prices of this date and the one before)" if prices else ""
    if scale != 1.0:
        note += f" after scaling by {scale:g}"
    check_magnitudes(returns, cells, grid.assets, source=table.source, what=what, note=note)
    return _grid_panel(_Grid(dates, rows, grid.assets, returns), table.source)


def panel_from_wide_frame(df: pd.DataFrame, source: str = "<DataFrame>") -> ReturnsPanel:
    """Structural checks only (see :meth:`ReturnsPanel.from_frame`); used by ``from_frame``."""
    table = frame_table(df, source)
    grid = _wide(table, None, prices=False)
    v.check_has_data(grid.values, grid.assets, source=source)
    return _grid_panel(grid, source)


def as_panel(data) -> ReturnsPanel:
    """A ReturnsPanel from a panel, a wide DataFrame (dates x assets), a Series or a path."""
    if isinstance(data, ReturnsPanel):
        return data
    if isinstance(data, pd.Series):
        return load_returns(data.to_frame(name=data.name or "y"))
    if isinstance(data, pd.DataFrame):
        return load_returns(data)
    if isinstance(data, np.ndarray):
        arr = np.atleast_2d(np.asarray(data, dtype=float))
        dates = pd.bdate_range("2000-01-03", periods=arr.shape[1])
        return ReturnsPanel.from_values(arr, dates, [f"y{i}" for i in range(arr.shape[0])],
                                        source="<array>")
    return load_returns(data)
