"""Prior predictive simulation and posterior predictive checks of AR(1)-GARCH(1,1) models.

Both simulate the model's return process from scratch, one path per parameter draw theta:

    y_t = mu + phi (y_{t-1} - mu) + e_t,   e_t = sigma_t eps_t,   eps_t iid unit-variance
    sigma_t^2 = omega + alpha e_{t-1}^2 + beta sigma_{t-1}^2,      y_0 = mu

(mu = 0 and phi = 0 where the model has no such parameter; eps_t from the model's innovation
law, Student-t with nu_i degrees of freedom for hier-garch), through one jit(vmap) of a
``lax.scan`` over rows. Innovations are drawn by ``simulate._sampling.sample_innovations``
(fixed-size blocks, keys folded from the seed), so every result is deterministic given the
seed.

Prior predictive (:func:`prior_predictive`): each of ``num_draws`` draws is (g, z) from the
hyperprior and the population (``model.sample_prior``), giving ``n_assets`` parameter sets and
``n_assets`` paths of length T. The recursion starts at the unconditional variance
sigma_1^2 = omega / (1 - alpha - beta). The links keep alpha + beta < 1, but draws can lie so
close to 1 (or round to 1) that the unconditional variance is huge, infinite, or never
reached in T steps: draws with persistence >= ``max_persistence`` (default 0.999) start at
``start_variance`` instead (default exp(log_var_ref), a typical return variance), and are
flagged ``stationary = False``, as are draws with |phi| >= 1 (an explosive AR mean; their
paths are simulated as drawn). Optionally ``burn`` steps are simulated first and dropped.

Posterior predictive (:func:`posterior_predictive`): ``num_draws`` draws are subsampled
(without replacement, seeded; all of them when there are fewer) from the fit's chains x
draws, the same draw indices for every asset, so a pooled fit's joint draws stay joint. For
each asset and draw, a replicated series is simulated over the asset's listed window
[first_i, last_i], started like the fit's own recursion: sigma_1^2 = the model's start rule
applied to the observed data under that draw (for the default "sample" rule the mean of the
observed squared residuals, i.e. the first in-sample variance). Replicates are NaN wherever
the observed series is (outside the window and at interior gaps, through which the
replicate's process runs on unobserved), so observed and replicated statistics are computed
over the same dates.

Statistics per series (:func:`return_statistics`, on observed dates only):

    sd        realised volatility, the standard deviation of the returns
    q01, q05, q95, q99   empirical quantiles
    kurtosis  m4 / m2^2 (central moments; 3 for a normal sample)
    acf1_sq   first-order autocorrelation of squared returns over pairs of adjacent
              observed dates (volatility clustering)

:func:`ppc_table` gives, per asset and statistic, the observed value, the replicates' mean
and 5/95% quantiles, and the posterior predictive p-value P(T(y_rep) >= T(y)) (the share of
replicates at or above the observed value; values near 0 or 1 flag a misfit).
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

from ..distributions import get_innovation
from ..errors import InputError
from ..models.series import SeriesData
from ..simulate._sampling import sample_innovations

STATISTICS = ("sd", "q01", "q05", "q95", "q99", "kurtosis", "acf1_sq")
_QUANTILE_STATS = {"q01": 0.01, "q05": 0.05, "q95": 0.95, "q99": 0.99}


# ------------------------------------------------------------------------------ checks
def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_stats(statistics: Sequence[str]) -> tuple[str, ...]:
    stats = tuple(statistics)
    unknown = [s for s in stats if s not in STATISTICS]
    if unknown or not stats:
        raise InputError(f"unknown statistic(s) {unknown or '(none given)'}: choose from "
                         f"{', '.join(STATISTICS)}")
    return stats


# -------------------------------------------------------------------------- simulation
def _ar_garch_path(eps, omega, alpha, beta, phi, mu, s1):
    """One path of the AR(1)-GARCH(1,1) recursion from sigma_1^2 = s1, y_0 = mu."""

    def step(carry, z):
        y_prev, s = carry
        e = jnp.sqrt(s) * z
        y = mu + phi * (y_prev - mu) + e
        return (y, omega + alpha * e * e + beta * s), (y, s)

    _, (y, s) = jax.lax.scan(step, (mu, s1), eps)
    return y, s


_paths = jax.jit(jax.vmap(_ar_garch_path))


def _innovations(dist: str, key: jax.Array, shape: tuple[int, ...], params: dict) -> np.ndarray:
    """Unit-variance innovations [..., T] with shape parameters params[k] [...] per row."""
    inn = get_innovation(dist)
    shape_params = [np.asarray(params[k], dtype=float)[..., None] for k in inn.shape_params]
    return sample_innovations(inn.name, key, shape, *shape_params)


# -------------------------------------------------------------------------- statistics
def _dense_statistics(x: np.ndarray, adjacent: np.ndarray, statistics: Sequence[str]
                      ) -> dict[str, np.ndarray]:
    """Statistics of x [..., n] (observed values in time order) over the last axis.

    ``adjacent`` [n - 1]: True where elements k and k + 1 are consecutive dates.
    """
    x = np.asarray(x, dtype=float)
    out: dict[str, np.ndarray] = {}
    n = x.shape[-1]
    lead = x.shape[:-1]
    if n < 2:
        return {s: np.full(lead, np.nan) for s in statistics}
    dev = x - x.mean(-1, keepdims=True)
    m2 = np.mean(dev ** 2, -1)
    qs = [s for s in statistics if s in _QUANTILE_STATS]
    if qs:
        qv = np.quantile(x, [_QUANTILE_STATS[s] for s in qs], axis=-1)
        out.update({s: qv[j] for j, s in enumerate(qs)})
    with np.errstate(invalid="ignore", divide="ignore"):
        if "sd" in statistics:
            out["sd"] = np.sqrt(m2 * n / (n - 1))
        if "kurtosis" in statistics:
            out["kurtosis"] = np.mean(dev ** 4, -1) / m2 ** 2
        if "acf1_sq" in statistics:
            sq = x * x
            c = sq - sq.mean(-1, keepdims=True)
            num = np.sum(c[..., :-1] * c[..., 1:] * adjacent, -1)
            pairs = int(np.sum(adjacent))
            out["acf1_sq"] = ((num / pairs) / np.mean(c * c, -1) if pairs
                              else np.full(lead, np.nan))
    return {s: out[s] for s in statistics}


def return_statistics(returns: np.ndarray, statistics: Sequence[str] = STATISTICS
                      ) -> dict[str, np.ndarray]:
    """Statistics (module docstring) of returns [..., T] over the last axis, NaN = unobserved.

    All series must share one pattern of NaN (as the replicates of one asset do); dates
    where the first series is NaN are dropped from all of them.
    """
    r = np.asarray(returns, dtype=float)
    stats = _check_stats(statistics)
    first = r.reshape(-1, r.shape[-1])[0] if r.ndim > 1 else r
    obs = np.flatnonzero(np.isfinite(first))
    return _dense_statistics(r[..., obs], np.diff(obs) == 1, stats)


# ------------------------------------------------------------------------ prior predictive
@dataclass
class PriorPredictive:
    """Prior predictive draws of a pooled model (module docstring).

    returns, sigma2: [draws, N, T]; g: [draws, d_g] global draws (model coordinates);
    z: [draws, N, d_l] per-asset draws; params: natural per-asset parameters [draws, N];
    globals: natural globals [draws]; stationary: [draws, N] False where the path started at
    ``start_variance`` (persistence >= max_persistence) or |phi| >= 1; stats: one row per
    (draw, asset) with the columns of STATISTICS.
    """

    returns: np.ndarray
    sigma2: np.ndarray
    g: np.ndarray
    z: np.ndarray
    params: dict[str, np.ndarray]
    globals: dict[str, np.ndarray]
    stationary: np.ndarray
    stats: pd.DataFrame
    seed: int
    log_var_ref: float
    info: dict = field(default_factory=dict)

    @property
    def num_draws(self) -> int:
        return int(self.returns.shape[0])

    def summary(self, quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)
                ) -> pd.DataFrame:
        """Quantiles of each statistic over all draws and assets (rows: statistics)."""
        q = [float(x) for x in quantiles]
        table = self.stats.quantile(q).T
        table.columns = [f"q{100 * x:g}" for x in q]
        table.insert(0, "mean", self.stats.replace([np.inf, -np.inf], np.nan).mean())
        table["share_finite"] = np.isfinite(self.stats).mean()
        return table

    def __repr__(self) -> str:
        d, n, t = self.returns.shape
        return (f"PriorPredictive(model={self.info.get('model')}, draws={d}, assets={n}, T={t}, "
                f"stationary={self.stationary.mean():.1%})")


@lru_cache(maxsize=16)
def _prior_program(model, n_assets: int):
    """jit of a ``lax.map`` of ``model.sample_prior`` over keys (a vmap would batch the
    samplers' while loops, and compiles about 1.5x slower)."""

    def draws(keys, log_var_ref):
        return jax.lax.map(lambda key: model.sample_prior(key, n_assets, log_var_ref), keys)

    return jax.jit(draws)


def _resolve_model(model, model_options: dict):
    if isinstance(model, str):
        from ..models.registry import build_model

        try:
            return build_model(model, **model_options)
        except (TypeError, ValueError) as exc:
            raise InputError(str(exc)) from None
    if model_options:
        raise InputError("model options go with a model name, not a model object: "
                         f"{', '.join(model_options)}")
    return model


def prior_predictive(model="hier-garch", n_assets: int = 10, T: int = 1000,
                     num_draws: int = 200, seed: int = 0, log_var_ref: float = 0.0, *,
                     max_persistence: float = 0.999, start_variance: float | None = None,
                     burn: int = 0, statistics: Sequence[str] = STATISTICS,
                     **model_options) -> PriorPredictive:
    """Simulate returns from the prior predictive of a pooled model (module docstring).

    model: a registered name (then ``model_options`` build it, e.g. population="beta") or a
    model object with ``sample_prior``. ``log_var_ref``: log of a typical return variance,
    which sets omega's hyperprior (0.0: returns in percent with about 1% daily volatility).
    Each of ``num_draws`` draws is one (g, z) for ``n_assets`` assets and one path of T
    returns per asset. Same seed, same numbers.
    """
    model = _resolve_model(model, model_options)
    if not hasattr(model, "sample_prior"):
        raise InputError(f"model '{getattr(model, 'name', model)}' has no hierarchical prior "
                         "to sample (prior_predictive needs a pooled model, e.g. hier-garch)")
    n_assets = _check_int("n_assets", n_assets, 1)
    T = _check_int("T", T, 2)
    num_draws = _check_int("num_draws", num_draws, 1)
    seed = _check_int("seed", seed, 0)
    burn = _check_int("burn", burn, 0)
    stats_names = _check_stats(statistics)
    log_var_ref = float(log_var_ref)
    if not math.isfinite(log_var_ref):
        raise InputError(f"log_var_ref must be finite, got {log_var_ref}")
    if not 0.0 < float(max_persistence) <= 1.0:
        raise InputError(f"max_persistence must lie in (0, 1], got {max_persistence}")
    s_start = math.exp(log_var_ref) if start_variance is None else float(start_variance)
    if not (math.isfinite(s_start) and s_start > 0):
        raise InputError(f"start_variance must be a positive number, got {start_variance}")

    key = jax.random.key(seed)
    k_prior, k_eps = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    keys = jax.random.split(k_prior, num_draws)
    g, z = _prior_program(model, n_assets)(keys, jnp.asarray(log_var_ref))
    g, z = np.asarray(g), np.asarray(z)
    params = {k: np.asarray(v) for k, v in model.constrain(jnp.asarray(z)).items()}
    globals_ = {k: np.asarray(v) for k, v in model.constrain_global(jnp.asarray(g)).items()}

    omega, alpha, beta = params["omega"], params["alpha"], params["beta"]
    persistence = alpha + beta
    phi = params.get("phi", np.zeros_like(omega))
    mu = params.get("mu", np.zeros_like(omega))
    near_unit = ~(persistence < float(max_persistence))
    with np.errstate(divide="ignore", invalid="ignore"):
        s1 = np.where(near_unit, s_start, omega / np.where(near_unit, 1.0, 1.0 - persistence))
    stationary = ~near_unit & (np.abs(phi) < 1.0)

    steps = burn + T
    eps = _innovations(model.dist, k_eps, (num_draws, n_assets, steps), params)
    rows = num_draws * n_assets
    flat = [np.asarray(a, dtype=float).reshape(rows) for a in (omega, alpha, beta, phi, mu, s1)]
    y, s = _paths(jnp.asarray(eps.reshape(rows, steps)), *map(jnp.asarray, flat))
    y = np.asarray(y)[:, burn:].reshape(num_draws, n_assets, T)
    s = np.asarray(s)[:, burn:].reshape(num_draws, n_assets, T)

    st = _dense_statistics(y, np.ones(T - 1, dtype=bool), stats_names)
    index = pd.MultiIndex.from_product([range(num_draws), range(n_assets)],
                                       names=["draw", "asset"])
    stats = pd.DataFrame({k: v.reshape(-1) for k, v in st.items()}, index=index)
    info = {"model": model.name, "model_config": model.config(), "n_assets": n_assets, "T": T,
            "burn": burn, "max_persistence": float(max_persistence),
            "start_variance": s_start}
    return PriorPredictive(returns=y, sigma2=s, g=g, z=z, params=params, globals=globals_,
                           stationary=stationary, stats=stats, seed=seed,
                           log_var_ref=log_var_ref, info=info)


# -------------------------------------------------------------------- posterior predictive
@dataclass
class PosteriorPredictive:
    """Replicated return series of a fit (module docstring).

    returns, sigma2: [N, D, T] on the panel's dates, NaN where the observed series is NaN
    (sigma2: NaN outside each asset's window); observed: the panel's values [N, T];
    draw_index: [D] indices into the fit's flattened chains x draws.
    """

    assets: tuple[str, ...]
    dates: pd.DatetimeIndex
    returns: np.ndarray
    sigma2: np.ndarray
    observed: np.ndarray
    draw_index: np.ndarray
    seed: int
    info: dict = field(default_factory=dict)

    @property
    def num_draws(self) -> int:
        return int(self.returns.shape[1])

    def _index(self, asset: int | str) -> int:
        if isinstance(asset, str):
            if asset not in self.assets:
                raise KeyError(f"no asset '{asset}': {', '.join(self.assets)}")
            return self.assets.index(asset)
        i = int(asset)
        if not -len(self.assets) <= i < len(self.assets):
            raise IndexError(f"asset index {i} out of range for {len(self.assets)} assets")
        return i % len(self.assets)

    def statistics(self, statistics: Sequence[str] = STATISTICS
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """statistic -> (observed [N], replicated [N, D])."""
        stats = _check_stats(statistics)
        n, d = self.returns.shape[:2]
        obs = {s: np.full(n, np.nan) for s in stats}
        rep = {s: np.full((n, d), np.nan) for s in stats}
        for i in range(n):
            cols = np.flatnonzero(np.isfinite(self.observed[i]))
            adj = np.diff(cols) == 1
            o = _dense_statistics(self.observed[i, cols], adj, stats)
            r = _dense_statistics(self.returns[i][:, cols], adj, stats)
            for s in stats:
                obs[s][i], rep[s][i] = o[s], r[s]
        return {s: (obs[s], rep[s]) for s in stats}

    def table(self, statistics: Sequence[str] = STATISTICS) -> pd.DataFrame:
        """Posterior predictive checks: rows (asset, statistic); columns observed,
        rep_mean, rep_q05, rep_q95 and p_value = share of replicates >= observed."""
        rows = []
        for s, (obs, rep) in self.statistics(statistics).items():
            for i, asset in enumerate(self.assets):
                r = rep[i][np.isfinite(rep[i])]
                q05, q95 = np.quantile(r, [0.05, 0.95]) if r.size else (np.nan, np.nan)
                p = float(np.mean(r >= obs[i])) if r.size and np.isfinite(obs[i]) else np.nan
                rows.append((asset, s, float(obs[i]), float(np.mean(r)) if r.size else np.nan,
                             float(q05), float(q95), p))
        frame = pd.DataFrame(rows, columns=["asset", "statistic", "observed", "rep_mean",
                                            "rep_q05", "rep_q95", "p_value"])
        order = {a: k for k, a in enumerate(self.assets)}
        frame = frame.sort_values(["asset", "statistic"], key=lambda c: c.map(
            order if c.name == "asset" else {s: k for k, s in enumerate(STATISTICS)}),
            kind="stable")
        return frame.set_index(["asset", "statistic"])

    def rolling_volatility(self, asset: int | str = 0, window: int = 20,
                           quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)
                           ) -> pd.DataFrame:
        """Rolling ``window``-date sd of the observed series and quantiles over replicates
        of theirs, indexed by date (columns observed, q05, ..., NaN outside the window).

        Each rolling sd needs at least window // 2 observed returns.
        """
        i = self._index(asset)
        window = _check_int("window", window, 2)
        minp = max(2, window // 2)
        obs = pd.Series(self.observed[i], index=self.dates).rolling(window, min_periods=minp)
        reps = pd.DataFrame(self.returns[i].T, index=self.dates).rolling(
            window, min_periods=minp).std().to_numpy()
        out = pd.DataFrame({"observed": obs.std()}, index=self.dates)
        live = np.isfinite(reps).any(axis=1)
        qv = np.full((len(quantiles), reps.shape[0]), np.nan)
        if live.any():
            qv[:, live] = np.nanquantile(reps[live], list(quantiles), axis=1)
        for j, q in enumerate(quantiles):
            out[f"q{round(100 * q):02d}"] = qv[j]
        return out

    def __repr__(self) -> str:
        n, d, t = self.returns.shape
        return f"PosteriorPredictive(assets={n}, draws={d}, T={t}, seed={self.seed})"


@lru_cache(maxsize=16)
def _replicate_program(model):
    """jit(vmap over draws): (z, eps) x one asset's left-aligned data -> (y [L], s2 [L])."""

    def one(z, eps, y, m):
        p = model.constrain(z)
        series = SeriesData(y, m)
        s1 = model.start_variance(p, model.residuals(p, series), m)
        zero = jnp.zeros_like(p["omega"])
        return _ar_garch_path(eps, p["omega"], p["alpha"], p["beta"], p.get("phi", zero),
                              p.get("mu", zero), s1)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))


def _draw_indices(total: int, num_draws: int, seed: int) -> np.ndarray:
    if num_draws >= total:
        return np.arange(total)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    return np.sort(rng.choice(total, num_draws, replace=False))


def posterior_predictive(fit, num_draws: int = 200, seed: int = 0,
                         assets: Sequence[int | str] | None = None) -> PosteriorPredictive:
    """Replicated return series of every asset (or of ``assets``) of ``fit``, one per
    subsampled posterior draw, on each asset's observed window (module docstring).

    Memory: 2 x N x D x T float64 (returns and variances). Same seed, same numbers.
    """
    num_draws = _check_int("num_draws", num_draws, 1)
    seed = _check_int("seed", seed, 0)
    model, panel = fit.model, fit.panel
    all_assets = tuple(fit.assets)
    if assets is None:
        idx = list(range(len(all_assets)))
    else:
        idx = [fit._asset_index(a) for a in ([assets] if isinstance(assets, str | int)
                                              else assets)]
    z_all = np.asarray(fit.z, dtype=np.float64)
    d_z = z_all.shape[-1]
    flat = z_all.reshape(z_all.shape[0], -1, d_z)  # [N, chains * draws, d]
    draw_index = _draw_indices(flat.shape[1], num_draws, seed)
    n_draws = draw_index.size
    data = fit.data()
    length = int(data.y.shape[-1])
    program = _replicate_program(model)
    n_t = panel.n_times
    ret = np.full((len(idx), n_draws, n_t), np.nan)
    var = np.full((len(idx), n_draws, n_t), np.nan)
    key = jax.random.key(seed)
    for k, i in enumerate(idx):
        z = flat[i, draw_index]
        params = {kk: np.asarray(v) for kk, v in model.constrain(jnp.asarray(z)).items()}
        eps = _innovations(model.dist, jax.random.fold_in(key, i), (n_draws, length), params)
        y, s = program(jnp.asarray(z), jnp.asarray(eps), data.y[i], data.mask[i])
        first, last = int(panel.first[i]), int(panel.last[i])
        n = last - first + 1
        window = slice(first, last + 1)
        ret[k, :, window] = np.where(panel.mask[i, window], np.asarray(y)[:, :n], np.nan)
        var[k, :, window] = np.asarray(s)[:, :n]
    info = {"model": model.name, "method": fit.method, "num_draws": n_draws}
    return PosteriorPredictive(assets=tuple(all_assets[i] for i in idx), dates=panel.dates,
                               returns=ret, sigma2=var, observed=np.asarray(panel.values)[idx],
                               draw_index=draw_index, seed=seed, info=info)


def ppc_table(fit, num_draws: int = 200, seed: int = 0,
              statistics: Sequence[str] = STATISTICS) -> pd.DataFrame:
    """Posterior predictive check table of a fit (or of a PosteriorPredictive): rows (asset,
    statistic), columns observed, rep_mean, rep_q05, rep_q95, p_value (module docstring)."""
    pp = fit if isinstance(fit, PosteriorPredictive) else posterior_predictive(
        fit, num_draws=num_draws, seed=seed)
    return pp.table(statistics)


__all__ = ["STATISTICS", "PosteriorPredictive", "PriorPredictive", "posterior_predictive",
           "ppc_table", "prior_predictive", "return_statistics"]
