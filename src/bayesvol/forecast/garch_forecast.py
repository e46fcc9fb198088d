"""Posterior predictive forecasts of a fitted GARCH(1,1) by simulation.

For asset i with left-aligned last observation index T and each of ``n_paths`` parameter draws
theta^(j) (resampled with replacement from the pooled chains x draws of the fit):

    sigma^2_{T+1} = omega + alpha e_T^2 + beta sigma_T^2           (model.next_variance)
    r_{T+k}       = m_{T+k} + sigma_{T+k} eps_{T+k},   eps iid unit-variance innovations
    sigma^2_{T+k+1} = omega + alpha (r_{T+k} - m_{T+k})^2 + beta sigma^2_{T+k}   (simulate_ahead)

with the mean m_{T+k} = mu + phi (r_{T+k-1} - mu) (mu and phi 0 unless the model fits them; r_T is
the last observed return)

so each path is one draw from the posterior predictive p(r_{T+1:T+h} | y) and parameter
uncertainty is integrated out. For GARCH(1,1) the mean of the variance path has the closed form

    E[sigma^2_{T+k} | theta] = s + (alpha + beta)^{k-1} (sigma^2_{T+1} - s),
    s = omega / (1 - alpha - beta)

which the tests check. Risk is reported as positive losses (forecast.risk): at horizon 1 on
r_{T+1}, and for the cumulative return R_h = sum_{k=1..h} r_{T+k} (suffix ``_h``).

One compiled program (jit of a vmap over rows = (asset, draw) pairs, in fixed-size chunks)
serves every asset of a fit; it is cached per (model, horizon).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..data.frequency import infer_frequency
from ..errors import InputError
from ..models.garch import SeriesData
from .risk import expected_shortfall, value_at_risk

VOL_QUANTILES = (0.05, 0.5, 0.95)
RETURN_QUANTILES = (0.01, 0.05, 0.5, 0.95, 0.99)
_CHUNK_ELEMENTS = 2**22  # rows x time points per compiled chunk (bounds memory)
_MAX_CHUNK = 2048


def _qname(q: float) -> str:
    return f"q{round(q * 100):02d}"


def _fmt_ts(ts) -> str:
    ts = pd.Timestamp(ts)
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat(sep=" ")


def level_label(level: float) -> str:
    """0.01 -> '1%', 0.025 -> '2.5%'."""
    return f"{100 * level:g}%"


@dataclass
class Forecast:
    """Posterior predictive forecast of every asset of a fit (module docstring).

    dates: the forecast index, a DatetimeIndex named "date" (daily panels) or the integer
    steps 1..h named "step". volatility[asset]: mean, q05, q50, q95 of sigma_{T+k};
    returns[asset]: q01, q05, q50, q95, q99 of r_{T+k}; risk: VaR/ES per level at step 1 and
    for the h-step cumulative return (columns ``VaR_1%``, ``ES_1%``, ``VaR_1%_h``, ...).
    return_draws / variance_draws: [N, n_paths, h]. origin[asset]: the date of the asset's
    last observation, from which step k counts.
    """

    assets: tuple[str, ...]
    horizon: int
    levels: tuple[float, ...]
    n_paths: int
    seed: int
    dates: pd.Index
    volatility: dict[str, pd.DataFrame]
    returns: dict[str, pd.DataFrame]
    risk: pd.DataFrame
    return_draws: np.ndarray
    variance_draws: np.ndarray
    origin: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # model, dist, method

    @property
    def steps(self) -> np.ndarray:
        """Steps ahead 1..h."""
        return np.arange(1, self.horizon + 1)

    def _date_strings(self) -> list[str | None]:
        if isinstance(self.dates, pd.DatetimeIndex):
            return [d.strftime("%Y-%m-%d") for d in self.dates]
        return [None] * self.horizon

    def to_frame(self) -> pd.DataFrame:
        """Long tidy frame: columns asset, step, date, quantity, value.

        quantity is ``volatility_<stat>`` or ``return_<q>`` at every step, ``VaR_a``/``ES_a``
        at step 1 and ``VaR_a_h``/``ES_a_h`` (cumulative return) at step h. date is None for
        non-daily panels.
        """
        dates = self._date_strings()
        rows: list[tuple] = []
        for asset in self.assets:
            for prefix, frame in (("volatility", self.volatility[asset]),
                                  ("return", self.returns[asset])):
                for col in frame.columns:
                    for k, v in enumerate(frame[col].to_numpy()):
                        rows.append((asset, k + 1, dates[k], f"{prefix}_{col}", float(v)))
            for col, v in self.risk.loc[asset].items():
                k = self.horizon if col.endswith("_h") else 1
                rows.append((asset, k, dates[k - 1], col, float(v)))
        return pd.DataFrame(rows, columns=["asset", "step", "date", "quantity", "value"])

    def to_dict(self) -> dict:
        """JSON-serialisable dict (plain lists, floats and strings)."""
        def table(frames: dict[str, pd.DataFrame]) -> dict:
            return {a: {c: [float(v) for v in f[c].to_numpy()] for c in f.columns}
                    for a, f in frames.items()}

        return {
            **{k: str(v) for k, v in self.info.items()},
            "assets": list(self.assets), "horizon": int(self.horizon),
            "levels": [float(x) for x in self.levels], "n_paths": int(self.n_paths),
            "seed": int(self.seed), "steps": [int(s) for s in self.steps],
            "dates": self._date_strings(), "origin": dict(self.origin),
            "volatility": table(self.volatility), "returns": table(self.returns),
            "risk": {a: {c: float(v) for c, v in row.items()} for a, row in self.risk.iterrows()},
        }

    def __repr__(self) -> str:
        return (f"Forecast(assets={len(self.assets)}, horizon={self.horizon}, "
                f"n_paths={self.n_paths}, levels={list(self.levels)})")


# ------------------------------------------------------------------------------ validation
def _check_horizon(horizon) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
        raise InputError(f"horizon must be an integer number of steps ahead (>= 1), "
                         f"got {horizon!r}")
    if horizon < 1:
        raise InputError(f"horizon must be >= 1 step ahead, got {horizon}")
    return int(horizon)


def _check_levels(levels) -> tuple[float, ...]:
    seq = [levels] if isinstance(levels, int | float | np.floating) else list(levels)
    if not seq:
        raise InputError("levels must name at least one tail probability, e.g. (0.01, 0.05)")
    out: list[float] = []
    for lv in seq:
        try:
            x = float(lv)
        except (TypeError, ValueError):
            raise InputError(f"risk level must be a number in (0, 0.5), got {lv!r}") from None
        if not (math.isfinite(x) and 0.0 < x < 0.5):
            raise InputError(f"risk level must be in (0, 0.5), e.g. 0.01 or 0.05; got {lv!r}")
        if x not in out:
            out.append(x)
    return tuple(out)


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------ simulation
def _chunk_rows(t_len: int) -> int:
    """Rows per compiled chunk: a power of two with rows x t_len <= 2^22 (64..2048).

    It depends on the series length only, so forecasts with any n_paths reuse one program.
    """
    return min(_MAX_CHUNK, max(64, 2 ** int(math.log2(max(_CHUNK_ELEMENTS // t_len, 1)))))


def _horizon_bucket(horizon: int) -> int:
    """Simulated steps: 16, 32, 64, ... >= horizon (paths are cut to ``horizon``).

    Horizons in one bucket share a compiled program, and with the same seed a shorter
    forecast is the first steps of a longer one in the same bucket.
    """
    return max(16, 2 ** math.ceil(math.log2(horizon)))


@lru_cache(maxsize=32)
def _path_fn(model, horizon: int):
    """vmap over rows (asset i, path j): -> (returns [h], variances [h]).

    Row (i, j) draws its innovations with the key fold_in(fold_in(key(seed), i), j).
    """

    def one(z, asset, path, last, seed, data):
        series = SeriesData(data.y[asset], data.mask[asset])
        p = model.constrain(z)
        s2_next = model.next_variance(p, series, last)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), asset), path)
        return model.simulate_ahead(p, s2_next, horizon, key, series.y[last])

    return jax.vmap(one, in_axes=(0, 0, 0, 0, None, None))


@lru_cache(maxsize=32)
def _path_program(model, horizon: int):
    """The compiled path simulator: kept between processes (bayesvol._config.call_stored)
    when the model has a ``program_key``, so a new session does not trace it again."""
    key = getattr(model, "program_key", None)
    if not isinstance(key, str):
        return jax.jit(_path_fn(model, horizon))
    from .._config import call_stored

    def program(*args):
        return call_stored("forecast_paths", f"{key}|horizon={horizon}",
                           lambda: _path_fn(model, horizon), *args)

    return program


def simulate_paths(model, data: SeriesData, z: np.ndarray, last: np.ndarray, horizon: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictive (returns, variances), each [N, P, h], for parameter draws z [N, P, d].

    ``data`` is left-aligned with the asset axis first and ``last[i]`` the left-aligned index
    of asset i's last observation. Path j of asset i simulates with the key
    fold_in(fold_in(key(seed), i), j), so its innovations depend on neither the other assets
    nor the number of paths. Rows run in fixed-size chunks of one compiled program.
    """
    n, n_paths, d = z.shape
    rows = n * n_paths
    chunk = _chunk_rows(int(data.y.shape[-1]))
    padded = -(-rows // chunk) * chunk
    take = np.concatenate([np.arange(rows), np.zeros(padded - rows, dtype=np.int64)])
    z_rows = z.reshape(rows, d)[take]  # pad rows repeat row 0 and are dropped below
    asset_rows = np.repeat(np.arange(n), n_paths)[take].astype(np.int32)
    path_rows = np.tile(np.arange(n_paths), n)[take].astype(np.int32)
    last_rows = np.repeat(np.asarray(last, dtype=np.int64), n_paths)[take]
    seed_arr = jnp.asarray(np.uint32(seed % 2**32))
    program = _path_program(model, _horizon_bucket(horizon))
    rets, vars_ = [], []
    for start in range(0, padded, chunk):
        sl = slice(start, start + chunk)
        r, v = program(z_rows[sl], asset_rows[sl], path_rows[sl], last_rows[sl], seed_arr,
                       data)
        rets.append(np.asarray(r))
        vars_.append(np.asarray(v))
    ret = np.concatenate(rets)[:rows, :horizon].reshape(n, n_paths, horizon)
    var = np.concatenate(vars_)[:rows, :horizon].reshape(n, n_paths, horizon)
    return ret, var


def forecast_index(dates: pd.DatetimeIndex, horizon: int) -> pd.Index:
    """The next ``horizon`` dates after the panel's last date, or steps 1..h.

    Business-daily panels step by business days (pandas BDay), daily panels that trade on
    weekends by calendar days; any other frequency gets the integer steps 1..h ("step").
    """
    freq = infer_frequency(pd.DatetimeIndex(dates))
    if freq in ("business daily", "daily"):
        last = pd.Timestamp(dates[-1]).normalize()
        offset = pd.offsets.BDay(1) if freq == "business daily" else pd.offsets.Day(1)
        return pd.date_range(last + offset, periods=horizon, freq=offset, name="date")
    return pd.RangeIndex(1, horizon + 1, name="step")


def forecast_fit(fit, horizon: int = 10, levels: Sequence[float] = (0.01, 0.05),
                 n_paths: int = 4000, seed: int = 0) -> Forecast:
    """Posterior predictive forecast of every asset of ``fit`` (module docstring).

    For each asset, ``n_paths`` parameter draws are resampled (with replacement, seeded) from
    its pooled chains x draws; for each draw sigma^2_{T+1} is computed from the data and one
    path of ``horizon`` returns and variances is simulated. Raises ValueError (InputError) for
    horizon < 1, a level outside (0, 0.5) or n_paths < 1. Same seed, same numbers.
    """
    horizon = _check_horizon(horizon)
    levels = _check_levels(levels)
    n_paths = _check_count("n_paths", n_paths, 1)
    seed = _check_count("seed", seed, 0)
    panel, model = fit.panel, fit.model
    z_all = np.asarray(fit.z, dtype=np.float64)
    n, d = z_all.shape[0], z_all.shape[-1]
    pooled = z_all.reshape(n, -1, d)
    z = np.empty((n, n_paths, d))
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        z[i] = pooled[i, rng.integers(0, pooled.shape[1], n_paths)]
    last = np.asarray(panel.last) - np.asarray(panel.first)
    ret, var = simulate_paths(model, fit.data(), z, last, horizon, seed)

    index = forecast_index(panel.dates, horizon)
    sig = np.sqrt(var)
    vol_frames, ret_frames = {}, {}
    for i, asset in enumerate(fit.assets):
        vf = pd.DataFrame({"mean": sig[i].mean(0)}, index=index)
        for q, row in zip(VOL_QUANTILES, np.quantile(sig[i], VOL_QUANTILES, axis=0),
                          strict=True):
            vf[_qname(q)] = row
        vol_frames[asset] = vf
        rq = np.quantile(ret[i], RETURN_QUANTILES, axis=0)
        ret_frames[asset] = pd.DataFrame({_qname(q): rq[j] for j, q in
                                          enumerate(RETURN_QUANTILES)}, index=index)
    risk = {}  # columns: VaR_a, ES_a per level at step 1, then the same with suffix _h
    cum = ret.sum(axis=2)
    for suffix, draws in (("", ret[:, :, 0]), ("_h", cum)):
        for lv in levels:
            lab = level_label(lv)
            risk[f"VaR_{lab}{suffix}"] = value_at_risk(draws, lv, axis=1)
            risk[f"ES_{lab}{suffix}"] = expected_shortfall(draws, lv, axis=1)
    risk_frame = pd.DataFrame(risk, index=pd.Index(list(fit.assets), name="asset"))
    origin = {a: _fmt_ts(panel.dates[int(panel.last[i])]) for i, a in enumerate(fit.assets)}
    info = {"model": model.config().get("model", type(model).__name__),
            "dist": getattr(model, "dist", ""), "method": fit.method}
    return Forecast(assets=tuple(fit.assets), horizon=horizon, levels=levels,
                    n_paths=n_paths, seed=seed, dates=index, volatility=vol_frames,
                    returns=ret_frames, risk=risk_frame, return_draws=ret,
                    variance_draws=var, origin=origin, info=info)
