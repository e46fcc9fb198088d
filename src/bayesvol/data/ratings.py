"""Credit-rating histories -> pooled event counts for the credit-intensity model
(the dynamic pooled marked point process of Koopman, Lucas & Monteiro 2008 and Creal,
Koopman & Lucas 2013, section 4.2 of Niesert 2017; docs/models/credit-intensity.md).

Rating histories (:func:`events_from_ratings`): a table with the columns ``firm``, ``date`` and
``rating`` (any order, names case-insensitive; ``issuer``/``company``/``id`` are accepted for
the firm), one row per rating action: the firm holds that rating from that date on.
Ratings are S&P letter ratings AAA, AA, A, BBB, BB, B, CCC with the modifiers + and -, CC, C,
D and SD (case and blanks ignored). They are grouped into three classes:

    IG   investment grade: BBB- or better
    SIG  sub-investment grade: BB+ down to C
    DEF  default: D or SD (absorbing: a firm rated anything but D/SD/NR after its default
         is an error; give a re-rated issuer a new firm id)
    NR   "NR", "WR" or "WD" (not rated / withdrawn): the firm leaves the risk set on that
         date, without an event (right-censoring); a later rating brings it back, again
         without an event.

The k = 4 event types, in this order: IG_SIG (IG -> SIG), IG_DEF (IG -> DEF), SIG_IG
(SIG -> IG), SIG_DEF (SIG -> DEF). An event is a change of class between two consecutive
rating actions of a firm, at the date of the second; changes inside a class (A -> BBB) are no
events. A firm is at risk of IG_SIG and IG_DEF while rated IG, of SIG_IG and SIG_DEF while
rated SIG, from the date of its rating action to the date of its next one (or to ``end``).

Time unit: **years** of 365.25 days, tau = (date - start) / 365.25 days, with ``start`` the
first date in the table unless given. All events on one date are pooled into one event time
tau_t with counts y_{j,t} (Niesert 2017 had monthly data). Between tau_{t-1} and tau_t the
risk set can change without an event (a firm enters or is withdrawn); K_{j,t} is then the
time-weighted average number of firms at risk on (tau_{t-1}, tau_t], so that
(tau_t - tau_{t-1}) K_{j,t} is the exact exposure (firm-years at risk) and the likelihood
y_t' log lambda_t - (tau_t - tau_{t-1}) K_t' lambda_t is exact for intensities that are
constant between events. When nothing changes between events (as in the simulator) K_{j,t}
is the integer number at risk just before tau_t, which :class:`EventTable` also keeps as
``at_risk``.

Event files (:func:`read_events`, written by :meth:`EventTable.to_csv`): a CSV (or Parquet)
with a column ``time`` (the event time tau_t in years since the start of observation, strictly
increasing and positive) and, for every event type NAME, the columns ``y_NAME`` (the number of
NAME events at that time, a non-negative integer) and ``K_NAME`` (the number of firms at risk of
NAME, >= 0, may be fractional as above); the order of the ``y_`` columns is the order of the
types. An optional ``date`` column is kept for labels. A row whose counts are all zero is a
censoring row (no event: it only adds the survival term).

Every problem raises :class:`~bayesvol.errors.InputError` with one line naming the file,
column and row. No JAX here: the arrays are NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import InputError
from . import validation as v
from .sources import read_table

RATING_TYPES = ("IG_SIG", "IG_DEF", "SIG_IG", "SIG_DEF")
"""The k = 4 rating-transition types, in the order of Niesert (2017), section 4.2.1."""
YEAR_DAYS = 365.25
IG, SIG, DEF, NR = "IG", "SIG", "DEF", "NR"
_TYPE_OF = {(IG, SIG): 0, (IG, DEF): 1, (SIG, IG): 2, (SIG, DEF): 3}
_SOURCE_CLASS = (IG, IG, SIG, SIG)  # the class at risk of each type

_LETTERS_IG = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-")
_LETTERS_SIG = ("BB+", "BB", "BB-", "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C")
RATING_CLASS: dict[str, str] = {
    **{r: IG for r in _LETTERS_IG}, **{r: SIG for r in _LETTERS_SIG},
    "D": DEF, "SD": DEF, "NR": NR, "WR": NR, "WD": NR,
}
"""Rating string (upper case, no blanks) -> class IG, SIG, DEF or NR."""

_FIRM_NAMES = ("firm", "issuer", "company", "id")
_COLUMN_NAMES = {"firm": _FIRM_NAMES, "date": ("date",), "rating": ("rating",)}


class EventData(NamedTuple):
    """Model input of the credit-intensity model (arrays, time axis first; a leading unit
    axis when passed to the inference runner).

    dtau: [T] tau_t - tau_{t-1} (years); y: [T, k] event counts; K: [T, k] numbers at risk
    (dtau_t K_t is the exposure); mask: [T] 1.0 for a real row, 0.0 for padding.
    """

    dtau: np.ndarray
    y: np.ndarray
    K: np.ndarray
    mask: np.ndarray


@dataclass
class EventTable:
    """Pooled event times and counts (module docstring).

    time: [T] tau_t in years since ``start``; y: [T, k] counts; K: [T, k] (time-weighted)
    numbers at risk; at_risk: [T, k] integer numbers at risk just before tau_t (None when
    read from an event file); dates: the calendar dates (None when unknown); types: the k
    type names; source: the file it came from; firms: number of firms in the histories.
    """

    time: np.ndarray
    y: np.ndarray
    K: np.ndarray
    types: tuple[str, ...] = RATING_TYPES
    at_risk: np.ndarray | None = None
    dates: pd.DatetimeIndex | None = None
    start: pd.Timestamp | None = None
    source: str = "<events>"
    firms: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def dtau(self) -> np.ndarray:
        """tau_t - tau_{t-1}, tau_0 = 0."""
        return np.diff(np.concatenate([[0.0], np.asarray(self.time, float)]))

    @property
    def n_times(self) -> int:
        return int(len(self.time))

    @property
    def n_obs(self) -> int:
        """Number of event times (rows), as reported in a fit's summary."""
        return self.n_times

    @property
    def assets(self) -> tuple[str, ...]:
        """The event types (the labels a fit summary lists as its series)."""
        return tuple(self.types)

    def counts(self) -> dict[str, int]:
        """Total number of events per type."""
        return {t: int(n) for t, n in zip(self.types, np.asarray(self.y).sum(0), strict=True)}

    def data(self, pad_to: int | None = None) -> EventData:
        """The model's EventData (no unit axis), padded with mask-0 rows to ``pad_to``."""
        T, k = np.asarray(self.y).shape
        L = T if pad_to is None else max(int(pad_to), T)
        dtau, y, K, m = np.zeros(L), np.zeros((L, k)), np.zeros((L, k)), np.zeros(L)
        dtau[:T], y[:T], K[:T], m[:T] = self.dtau, self.y, self.K, 1.0
        return EventData(dtau, y, K, m)

    def to_frame(self) -> pd.DataFrame:
        """The event-file layout of :func:`read_events` (module docstring)."""
        cols: dict[str, object] = {}
        if self.dates is not None:
            cols["date"] = [v.fmt_date(d) for d in self.dates]
        cols["time"] = np.asarray(self.time, float)
        for j, name in enumerate(self.types):
            cols[f"y_{name}"] = np.asarray(self.y[:, j]).astype(np.int64)
        for j, name in enumerate(self.types):
            cols[f"K_{name}"] = np.asarray(self.K[:, j], float)
        return pd.DataFrame(cols)

    def to_csv(self, path: str | Path) -> None:
        """Write the event file (full float precision), through a temporary name."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        self.to_frame().to_csv(tmp, index=False, float_format="%.17g")
        tmp.replace(path)


# --------------------------------------------------------------------------- histories
def rating_class(rating: object) -> str | None:
    """Class IG / SIG / DEF / NR of a rating string (None if unknown)."""
    if not isinstance(rating, str):
        return None
    return RATING_CLASS.get("".join(rating.split()).upper())


def _columns(names: list[str], source: str, wanted: dict[str, tuple[str, ...]]) -> dict:
    out = {}
    low = [n.strip().lower() for n in names]
    for role, aliases in wanted.items():
        hit = next((low.index(a) for a in aliases if a in low), None)
        if hit is None:
            raise InputError(f"missing column '{role}' (found: {', '.join(names)[:80]}); "
                             "a rating history needs the columns firm, date, rating",
                             source=source, column=role)
        out[role] = hit
    return out


def _as_time(d: pd.DatetimeIndex | pd.Timestamp, start: pd.Timestamp):
    return (d - start) / pd.Timedelta(days=YEAR_DAYS)


def events_from_ratings(histories: str | Path | pd.DataFrame, start: object = None,
                        end: object = None, include_tail: bool = False) -> EventTable:
    """Pooled event times, counts and at-risk numbers from rating histories (module docstring).

    Args:
        histories: a CSV/Parquet path or a DataFrame with the columns firm, date, rating.
        start: start of observation (tau = 0); default the first date in the table.
        end: end of observation (the last rating of a firm holds until then); default the
            last date in the table. Rows outside [start, end] are an error.
        include_tail: add a censoring row (no events) at ``end`` for the time after the
            last event (its survival term); the thesis's likelihood (21) leaves it out.

    Raises:
        InputError: missing column, empty table, missing firm, unparseable date, unknown
            rating, duplicate (firm, date) with different ratings, a rating after a default,
            a row outside [start, end] or no event at all; naming file, column and row.
    """
    table = read_table(histories)
    src = table.source
    if table.n_rows == 0:
        raise InputError("no rating rows", source=src)
    pos = _columns(table.names, src, _COLUMN_NAMES)
    rows = table.rows
    name = {r: table.names[k] for r, k in pos.items()}
    firm_cells = np.asarray(table.columns[pos["firm"]], dtype=object)
    firms = []
    for i, cell in enumerate(firm_cells):
        if v.is_missing(cell):
            raise InputError("missing firm id", source=src, column=name["firm"],
                             row=int(rows[i]))
        firms.append(str(cell).strip())
    dates = v.parse_dates(table.columns[pos["date"]], rows, source=src, column=name["date"])
    rating_cells = np.asarray(table.columns[pos["rating"]], dtype=object)
    ratings, classes = [], []
    for i, cell in enumerate(rating_cells):
        cls = None if v.is_missing(cell) else rating_class(str(cell))
        if cls is None:
            what = "missing rating" if v.is_missing(cell) else f"unknown rating {v.show(cell)}"
            raise InputError(f"{what}: use S&P letter ratings AAA..C with + or -, D, SD, "
                             "or NR/WR/WD for not rated", source=src, column=name["rating"],
                             row=int(rows[i]))
        ratings.append("".join(str(cell).split()).upper())
        classes.append(cls)
    df = pd.DataFrame({"firm": firms, "date": dates, "rating": ratings, "cls": classes,
                       "row": rows}).sort_values(["firm", "date", "row"], kind="stable")
    t0 = df["date"].min() if start is None else _timestamp(start, "start", src)
    t1 = df["date"].max() if end is None else _timestamp(end, "end", src)
    if t1 <= t0:
        raise InputError(f"end {v.fmt_date(t1)} is not after start {v.fmt_date(t0)}", source=src)
    outside = (df["date"] < t0) | (df["date"] > t1)
    if outside.any():
        r = df[outside].iloc[0]
        raise InputError(f"date {v.fmt_date(r['date'])} is outside the observation window "
                         f"{v.fmt_date(t0)} .. {v.fmt_date(t1)}", source=src,
                         column=name["date"], row=int(r["row"]))
    df = _drop_duplicates(df, src, name)
    same_firm = df["firm"].to_numpy()[1:] == df["firm"].to_numpy()[:-1]
    cls = df["cls"].to_numpy()
    prev_cls = np.concatenate([[None], np.where(same_firm, cls[:-1], None)])
    # default is absorbing: nothing but D/SD/NR after a firm's first default
    is_def = pd.Series(cls == DEF, index=df.index)
    defaulted_before = is_def.groupby(df["firm"]).cumsum().to_numpy() - (cls == DEF)
    bad = np.flatnonzero((defaulted_before > 0) & (cls != DEF) & (cls != NR))
    if bad.size:
        r = df.iloc[int(bad[0])]
        first = df[(df["firm"] == r["firm"]) & (df["cls"] == DEF)].iloc[0]
        raise InputError(f"firm '{r['firm']}' is rated {r['rating']} on "
                         f"{v.fmt_date(r['date'])} after its default on "
                         f"{v.fmt_date(first['date'])} (row {int(first['row'])}); a default is "
                         "absorbing: give a re-rated issuer a new firm id", source=src,
                         column=name["rating"], row=int(r["row"]))
    ev_type = np.array([_TYPE_OF.get((p, c), -1) for p, c in zip(prev_cls, cls, strict=True)])
    if not np.any(ev_type >= 0):
        raise InputError("no rating transition between IG, SIG and DEF in the histories: "
                         "nothing to model", source=src)
    tau = np.asarray(_as_time(pd.DatetimeIndex(df["date"]), t0), float)
    tau_end = float(_as_time(t1, t0))
    # spells at risk: a row rated IG or SIG holds until the firm's next row (or the end)
    next_tau = np.concatenate([np.where(same_firm, tau[1:], tau_end), [tau_end]])
    ev_dates = np.unique(df["date"].to_numpy()[ev_type >= 0])
    ev_tau = np.asarray(_as_time(pd.DatetimeIndex(ev_dates), t0), float)
    T, k = len(ev_tau), len(RATING_TYPES)
    y = np.zeros((T, k))
    idx = np.searchsorted(ev_tau, tau[ev_type >= 0])
    np.add.at(y, (idx, ev_type[ev_type >= 0]), 1.0)
    times = ev_tau
    dates_out = pd.DatetimeIndex(ev_dates, name="date")
    if include_tail and tau_end > ev_tau[-1]:
        times = np.concatenate([ev_tau, [tau_end]])
        y = np.vstack([y, np.zeros((1, k))])
        dates_out = dates_out.append(pd.DatetimeIndex([t1], name="date"))
    dtau = np.diff(np.concatenate([[0.0], times]))
    K = np.zeros((len(times), k))
    at_risk = np.zeros((len(times), k), dtype=np.int64)
    for c in (IG, SIG):
        sel = cls == c
        s, e = tau[sel], next_tau[sel]
        exposure = np.diff(np.concatenate([[0.0], _cumulative_exposure(s, e, times)]))
        n_before = (np.searchsorted(np.sort(s), times, side="left")
                    - np.searchsorted(np.sort(e), times, side="left"))
        for j, src_cls in enumerate(_SOURCE_CLASS):
            if src_cls == c:
                K[:, j] = exposure / dtau
                at_risk[:, j] = n_before
    # K from exposure / dtau: snap to the integer count where the risk set did not change
    snap = np.abs(K - at_risk) < 1e-9 * np.maximum(1.0, at_risk)
    K = np.where(snap, at_risk.astype(float), K)
    return EventTable(time=times, y=y, K=K, types=RATING_TYPES, at_risk=at_risk,
                      dates=dates_out, start=t0, source=src, firms=int(df["firm"].nunique()))


def _timestamp(value: object, what: str, src: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise InputError(f"{what} {value!r} is not a date", source=src)
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def _drop_duplicates(df: pd.DataFrame, src: str, name: dict) -> pd.DataFrame:
    """Identical repeated (firm, date, rating) rows are dropped; different ratings on one
    (firm, date) raise InputError naming both rows."""
    key = df[["firm", "date"]]
    dup = key.duplicated(keep=False).to_numpy()
    if not dup.any():
        return df
    for (_firm, _date), grp in df[dup].groupby(["firm", "date"], sort=False):
        if grp["rating"].nunique() > 1:
            first, other = grp.iloc[0], grp[grp["rating"] != grp["rating"].iloc[0]].iloc[0]
            raise InputError(f"firm '{first['firm']}' has two ratings on "
                             f"{v.fmt_date(first['date'])}: {first['rating']} (row "
                             f"{int(first['row'])}) and {other['rating']}", source=src,
                             column=name["rating"], row=int(other["row"]))
    return df[~key.duplicated(keep="first").to_numpy()]


def _cumulative_exposure(s: np.ndarray, e: np.ndarray, x: np.ndarray) -> np.ndarray:
    """F(x) = sum over spells [s_i, e_i) of |[s_i, e_i) n [0, x)|, for each x (sorted sums,
    O((n + m) log n)): sum_{s_i < x}(x - s_i) - sum_{e_i < x}(x - e_i)."""
    out = np.zeros(len(x))
    for arr, sign in ((np.sort(s), 1.0), (np.sort(e), -1.0)):
        csum = np.concatenate([[0.0], np.cumsum(arr)])
        n = np.searchsorted(arr, x, side="left")
        out += sign * (x * n - csum[n])
    return out


# ------------------------------------------------------------------------- event files
def read_events(path: str | Path | pd.DataFrame, start: object = None) -> EventTable:
    """Read an event-count file (module docstring: columns time, y_NAME, K_NAME[, date]).

    ``start``: the calendar date of time 0; without a ``date`` column the event dates are
    then start + time * 365.25 days (otherwise ``dates`` is None).

    Raises:
        InputError: missing ``time`` or a ``y_``/``K_`` column without its partner, a
            non-numeric cell, a negative or non-integer count, a negative number at risk,
            events of a type with nobody at risk, or times not positive and increasing.
    """
    table = read_table(path)
    src, rows, names = table.source, table.rows, table.names
    low = [n.strip().lower() for n in names]
    if "time" not in low:
        raise InputError(f"missing column 'time' (found: {', '.join(names)[:80]}); an event "
                         "file needs time, y_NAME and K_NAME columns", source=src,
                         column="time")
    col = {n: table.columns[i] for i, n in enumerate(names)}
    types = [n[2:] for n in names if n.startswith("y_") and len(n) > 2]
    if not types:
        raise InputError("no event-count columns: name them y_NAME (with K_NAME for the "
                         "numbers at risk)", source=src)
    for t in types:
        if f"K_{t}" not in col:
            raise InputError(f"missing column 'K_{t}' (the numbers at risk of the events "
                             f"in 'y_{t}')", source=src, column=f"K_{t}")
    for n in names:
        if n.startswith("K_") and n[2:] not in types:
            raise InputError(f"column '{n}' has no matching 'y_{n[2:]}'", source=src, column=n)
    tname = names[low.index("time")]
    time = v.parse_numeric(col[tname], rows, source=src, column=tname)
    _finite(time, rows, src, tname)
    if time[0] <= 0:
        raise InputError(f"time {time[0]:g} is not positive: times are years since the "
                         "start of observation", source=src, column=tname, row=int(rows[0]))
    down = np.flatnonzero(np.diff(time) <= 0)
    if down.size:
        i = int(down[0]) + 1
        raise InputError(f"times must increase: {time[i]:g} after {time[i - 1]:g}",
                         source=src, column=tname, row=int(rows[i]))
    y = np.zeros((len(time), len(types)))
    K = np.zeros_like(y)
    for j, t in enumerate(types):
        y[:, j] = v.parse_numeric(col[f"y_{t}"], rows, source=src, column=f"y_{t}")
        K[:, j] = v.parse_numeric(col[f"K_{t}"], rows, source=src, column=f"K_{t}")
        _finite(y[:, j], rows, src, f"y_{t}")
        _finite(K[:, j], rows, src, f"K_{t}")
        bad = np.flatnonzero((y[:, j] < 0) | (y[:, j] != np.round(y[:, j])))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"count {y[i, j]:g} is not a non-negative integer", source=src,
                             column=f"y_{t}", row=int(rows[i]))
        bad = np.flatnonzero(K[:, j] < 0)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"number at risk {K[i, j]:g} is negative", source=src,
                             column=f"K_{t}", row=int(rows[i]))
        bad = np.flatnonzero((y[:, j] > 0) & (K[:, j] <= 0))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"{y[i, j]:g} event(s) with nobody at risk (K_{t} = "
                             f"{K[i, j]:g})", source=src, column=f"y_{t}", row=int(rows[i]))
    dates = None
    if "date" in low:
        dname = names[low.index("date")]
        dates = v.parse_dates(col[dname], rows, source=src, column=dname)
    t0 = None if start is None else _timestamp(start, "start", src)
    if dates is None and t0 is not None:
        dates = pd.DatetimeIndex(t0 + pd.to_timedelta(time * YEAR_DAYS, unit="D"),
                                 name="date").round("s")
    return EventTable(time=time, y=y, K=K, types=tuple(types), dates=dates, start=t0,
                      source=src)


def _finite(x: np.ndarray, rows: np.ndarray, src: str, column: str) -> None:
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise InputError("missing or non-finite value", source=src, column=column,
                         row=int(rows[int(bad[0])]))


def load_events(path: str | Path | pd.DataFrame) -> EventTable:
    """An event table from either format: an event file (a ``time`` column) or rating
    histories (columns firm, date, rating)."""
    table = read_table(path)
    low = {n.strip().lower() for n in table.names}
    if "time" in low and any(n.startswith("y_") for n in table.names):
        return read_events(path)
    return events_from_ratings(path)
