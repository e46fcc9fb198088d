"""Sequential updating of a VI fit with new data: Seq-SVB and UVB (spec/svi-garch.md 2.10, 3.3).

A fit to y_{1:T} is updated with a new block B = y_{T+1:T+h}; the result is a new Fit on the
concatenated data (so volatility/forecast cover everything).

Seq-SVB (Gunawan et al. 2021; spec 2.10, Algorithm 4) re-runs VI on ALL data y_{1:T+h} with
the true prior, warm-started at the previous variational parameters lambda_T (fresh optimiser
state and patience counter, as Algorithm 2 re-initialises them). It targets p(theta | y_{1:T+h}).

UVB (Tomasetti et al. 2022; spec 2.10, Algorithm 3, eq. 34) turns the previous approximation
q_T = N(mu_T, Sigma_T) (on the unconstrained z) into the prior and uses the likelihood of the
new block only:

    p~(z | y_{1:T+h})  propto  L(z; B) N(z; mu_T, Sigma_T)                              (34)
    log p~ = l_B(z) - 1/2 |L_T^{-1}(z - mu_T)|^2 - sum_i log (L_T)_ii - d/2 log 2 pi
    (Sigma_T = L_T L_T^T; pseudo-prior gradient -Sigma_T^{-1}(z - mu_T) by autodiff)

again warm-started at lambda_T. mu_T and L_T travel in the data pytree (asset axis first), not in
the hashable target object, so one compiled program serves every update of the same shapes.

Variance entering the block (``carry``; the paper leaves it [UNSPECIFIED], spec 2.10):
    "plugin" (default)  sigma^2_{T+1} is computed once, by running the recursion over all past
        data at the previous posterior mean z = mu_T (GarchModel.next_variance), and is held
        fixed: the block recursion sigma^2_t = omega + alpha e_{t-1}^2 + beta sigma^2_{t-1},
        t = T+2..T+h, starts from that number for every z. Cost O(h) per likelihood, as the
        paper's UVB timings (Table 3) imply; the approximation is that sigma^2_{T+1} does not
        move with z.
    "exact"  sigma^2_{T+1}(z) is recomputed for every z by re-running the recursion over the
        whole history (start value by the model's ``start`` rule applied to the OLD data only,
        as in the previous fit), and only the block's terms are summed:
        l_B(z) = log p(y_B | y_{1:T}, z) = l(z; y_{1:T+h}) - l(z; y_{1:T}). Exact, cost O(T).
For an asset whose last old observation is before the last old date, the block starts right
after that observation; the unobserved dates in between only propagate the variance.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.linalg import solve_triangular

from ..data import ReturnsPanel, as_panel
from ..errors import InputError
from ..models.garch import GarchModel, SeriesData, bucket_length
from ..results import Fit, series_data
from .runner import VIOptions, check_vi_result, psis_diagnostics, run_vi_batch
from .vi.families import get_family

METHODS = ("seqsvb", "uvb")
CARRIES = ("plugin", "exact")
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


class BlockData(NamedTuple):
    """UVB input, asset axis first: the series, the block indicator, and the pseudo-prior.

    plugin: y/mask hold the block only (left-aligned at its start), block = 1, s1 = sigma^2 at
    the block start.  exact: y/mask hold the whole history (left-aligned at the asset's first
    observation), block = 1 on the new dates (0 on the old ones), s1 unused.
    """

    y: jax.Array  # [N, L]
    mask: jax.Array  # [N, L]
    block: jax.Array  # [N, L]
    s1: jax.Array  # [N]
    mu: jax.Array  # [N, d] previous variational mean
    chol: jax.Array  # [N, d, d] Cholesky factor of the previous variational covariance


def loglik_terms_from(model: GarchModel, p: dict[str, jax.Array], data: SeriesData,
                      s1: jax.Array) -> jax.Array:
    """Per-observation log-likelihood of one asset with the recursion started at sigma_1^2 = s1.

    Same recursion and missing-value rule as GarchModel.variance_path/loglik_terms (spec 1.1),
    only the start value is given: s_t = a_t + b_t s_{t-1}, a_t = omega + alpha m e^2,
    b_t = beta + alpha (1 - m).
    """
    return model.loglik_terms(p, data, s1)


def gaussian_logpdf_chol(z: jax.Array, mu: jax.Array, chol: jax.Array) -> jax.Array:
    """log N(z; mu, L L^T) = -1/2 |L^{-1}(z - mu)|^2 - sum log L_ii - d/2 log 2 pi."""
    u = solve_triangular(chol, z - mu, lower=True)
    return -0.5 * jnp.dot(u, u) - jnp.sum(jnp.log(jnp.diag(chol))) - z.shape[-1] * _HALF_LOG_2PI


@dataclass(frozen=True)
class UVBTarget:
    """UVB pseudo-posterior (34) as a runner model: block log-likelihood + log N(z; mu, Sigma).

    Hashable (holds only the GarchModel and the carry rule); the block, the start variance and
    the Gaussian pseudo-prior come in the ``BlockData`` pytree.
    """

    model: GarchModel
    carry: str = "plugin"

    @property
    def dim(self) -> int:
        return self.model.dim

    def log_likelihood(self, z: jax.Array, data: BlockData) -> jax.Array:
        """l_B(z): log-likelihood of the new block only, variance carried per ``carry``."""
        p, _ = self.model.constrain_with_logdet(z)
        if self.carry == "plugin":
            s1 = data.s1
        else:  # the old fit's start rule on the old data, then the recursion through the block
            e = self.model.residuals(p, SeriesData(data.y, data.mask))
            s1 = self.model.start_variance(p, e, data.mask * (1.0 - data.block))
        terms = loglik_terms_from(self.model, p, SeriesData(data.y, data.mask), s1)
        return jnp.sum(terms * data.block)

    def log_prior(self, z: jax.Array, data: BlockData) -> jax.Array:
        return gaussian_logpdf_chol(z, data.mu, data.chol)

    def log_joint(self, z: jax.Array, data: BlockData) -> jax.Array:
        return self.log_likelihood(z, data) + self.log_prior(z, data)

    def initial_z(self, data: BlockData) -> jax.Array:
        return data.mu

    def numpyro_model(self, data: BlockData) -> None:
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        z = numpyro.sample("z", dist.ImproperUniform(constraints.real_vector, (), (self.dim,)))
        numpyro.factor("log_joint", self.log_joint(z, data))


# ------------------------------------------------------------------------------ data helpers
def _continuation_dates(dates: pd.DatetimeIndex, h: int) -> pd.DatetimeIndex:
    """h dates after ``dates[-1]``: business days for a weekday-only daily panel (or a single
    date), otherwise steps of the median spacing of the fit's dates."""
    daily = bool((dates == dates.normalize()).all())
    step = pd.Timedelta(int(np.median(np.diff(dates.asi8))), "ns") if len(dates) > 1 else None
    if step is None or (daily and (dates.day_of_week < 5).all() and step <= pd.Timedelta("3D")):
        return pd.bdate_range(dates[-1] + pd.offsets.BDay(1), periods=h)
    return pd.DatetimeIndex([dates[-1] + (j + 1) * step for j in range(h)])


def _new_block(fit: Fit, new_returns) -> ReturnsPanel:
    """The new returns as a panel in the fit's asset order, checked to follow the old dates."""
    old = fit.panel
    if isinstance(new_returns, np.ndarray):
        arr = np.asarray(new_returns, dtype=float)
        arr = arr[None, :] if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[0] != old.n_assets:
            raise InputError(f"new returns array of shape {np.shape(new_returns)} does not "
                             f"match the fit's {old.n_assets} asset(s); pass [N, h]")
        new = ReturnsPanel.from_values(arr, _continuation_dates(old.dates, arr.shape[1]),
                                       old.assets, source="<array>")
    else:

        new = as_panel(new_returns)
    missing = [a for a in old.assets if a not in new.assets]
    extra = [a for a in new.assets if a not in old.assets]
    if missing or extra:
        what = (f"asset '{missing[0]}' of the fit is missing" if missing
                else f"asset '{extra[0]}' is not in the fit")
        raise InputError(f"new returns must have the fit's assets ({', '.join(old.assets)}): "
                         f"{what}", source=new.source)
    bad = new.dates[new.dates <= old.dates[-1]]
    if len(bad):
        def fmt(ts: pd.Timestamp) -> str:
            return str(ts.date()) if ts == ts.normalize() else ts.isoformat(sep=" ")

        raise InputError(f"new returns must come strictly after the fit's last date "
                         f"{fmt(old.dates[-1])}: {fmt(bad[0])} does not", source=new.source)
    return new.select(old.assets)


def _concat(old: ReturnsPanel, new: ReturnsPanel) -> ReturnsPanel:
    values = np.concatenate([old.values, new.values], axis=1)
    return ReturnsPanel.from_values(values, old.dates.append(new.dates), old.assets,
                                    source=old.source)


@lru_cache(maxsize=16)
def _plugin_program(model: GarchModel):
    def one(mu, data, last):
        return model.next_variance(model.constrain(mu), data, last)

    return jax.jit(jax.vmap(one))


def uvb_data(model: GarchModel, old: ReturnsPanel, full: ReturnsPanel, mu: np.ndarray,
             cov: np.ndarray, carry: str = "plugin") -> BlockData:
    """BlockData of a UVB update from panel ``old`` to ``full`` (= old + new dates).

    mu [N, d], cov [N, d, d]: the previous q's mean and covariance (the pseudo-prior). The block
    of asset i starts at old.last[i] + 1 (dates index of ``full``).
    """
    if carry not in CARRIES:
        raise InputError(f"unknown carry '{carry}': choose plugin or exact")
    n, t_all = full.n_assets, full.n_times
    start = old.last + 1
    chol = np.linalg.cholesky(0.5 * (cov + np.swapaxes(cov, 1, 2))
                              + 1e-12 * np.eye(cov.shape[-1]))
    if carry == "plugin":
        length = bucket_length(int(t_all - start.min()), minimum=32)
        y, m, blk = np.zeros((n, length)), np.zeros((n, length)), np.ones((n, length))
        filled = full.filled()
        for i in range(n):
            k = t_all - start[i]
            y[i, :k] = filled[i, start[i]:]
            m[i, :k] = full.mask[i, start[i]:]
        od = series_data(old)
        s1 = _plugin_program(model)(jnp.asarray(mu), od, jnp.asarray(old.last - old.first))
    else:
        sd = series_data(full)
        y, m = np.asarray(sd.y), np.asarray(sd.mask)
        pos = np.arange(y.shape[1])[None, :]
        blk = (pos >= (start - full.first)[:, None]).astype(float)
        s1 = np.zeros(n)
    return BlockData(jnp.asarray(y), jnp.asarray(m), jnp.asarray(blk), jnp.asarray(s1),
                     jnp.asarray(mu), jnp.asarray(chol))


# ------------------------------------------------------------------------------- updating
def update_fit(fit: Fit, new_returns, method: str = "seqsvb", seed: int | None = None,
               carry: str = "plugin", vi: VIOptions | dict | None = None) -> Fit:
    """Update a VI fit with returns after its last date by Seq-SVB or UVB (spec 2.10).

    new_returns: a DataFrame (dates x the fit's assets), a ReturnsPanel, or an array [N, h]
    (1-D for one asset; dates continue the fit's at its frequency). method: "seqsvb" (VI on all
    data from lambda_T, Algorithm 4) or "uvb" (block likelihood x N(mu_T, Sigma_T), eq. 34,
    variance entering the block per ``carry``: "plugin" or "exact", module docstring).
    vi: VIOptions or a dict overriding the fit's options (default: the fit's own). Returns a
    Fit on old + new data with method "vi"; diagnostics record update_method, carry,
    iterations, converged, n_new and update_seconds. Raises ValueError for a non-VI fit and
    InputError for returns that do not follow the fit's dates or assets.
    """

    if fit.method != "vi" or fit.vi_params is None:
        raise ValueError(f"sequential updating needs a VI fit with variational parameters "
                         f"(this fit is '{fit.method}'; refit with method='vi')")
    method = {"seq-svb": "seqsvb", "seq_svb": "seqsvb"}.get(method.lower(), method.lower())
    if method not in METHODS:
        raise InputError(f"unknown update method '{method}': choose seqsvb or uvb")
    if carry not in CARRIES:
        raise InputError(f"unknown carry '{carry}': choose plugin or exact")
    t0 = time.perf_counter()
    new = _new_block(fit, new_returns)
    full = _concat(fit.panel, new)
    base = dict(fit.options)
    fields = {f.name for f in dataclasses.fields(VIOptions)}
    if isinstance(vi, VIOptions):
        opts = vi
    else:  # the fit's own options (fields of older versions dropped), overridden by ``vi``
        try:
            opts = VIOptions(**{**{k: v for k, v in base.items() if k in fields}, **(vi or {})})
        except TypeError as exc:
            raise InputError(f"bad VI options {vi!r}: {exc}") from None
    old_family = get_family(base.get("family", "fullrank"))
    family = get_family(opts.family)
    params = jax.tree_util.tree_map(jnp.asarray, dict(fit.vi_params))
    mu, cov = jax.vmap(old_family.mean_cov)(params)
    if family.name != old_family.name:
        params = jax.vmap(family.init)(mu, cov)
    seed = fit.seed if seed is None else int(seed)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), full.n_times)
    if method == "seqsvb":
        res = run_vi_batch(fit.model, series_data(full), key, opts, params0=params)
    else:
        data = uvb_data(fit.model, fit.panel, full, np.asarray(mu), np.asarray(cov), carry)
        res = run_vi_batch(UVBTarget(fit.model, carry), data, key, opts, params0=params)
    check_vi_result(res, full.assets)
    seconds = time.perf_counter() - t0
    diag = {"update_method": method, "carry": carry if method == "uvb" else None,
            "iterations": int(np.max(res.iterations)),
            "iterations_per_asset": res.iterations.tolist(),
            "converged": bool(np.all(res.converged)), "n_new": int(new.n_times),
            "n_new_obs": new.n_obs_per_asset.tolist(), "update_seconds": seconds,
            "updates": int(fit.diagnostics.get("updates", 0)) + 1, **psis_diagnostics(res)}
    return Fit(model=fit.model, panel=full, method="vi", z=res.z, diagnostics=diag,
               runtime={"total": seconds}, elbo=res.elbo, elbo_trace=res.elbo_trace,
               vi_params=res.params, options=dataclasses.asdict(opts), seed=seed)


def sequential_schedule(T_n: int, T_N: int, c: int) -> list[tuple[int, int]]:
    """Block boundaries of spec 2.10: T_{n+j} = T_n + j (T_N - T_n) / c, j = 1..c.

    Returns c half-open index ranges [(T_{n+j-1}, T_{n+j})): block j is y[T_{n+j-1}:T_{n+j}]
    (0-based), i.e. y_{T_{n+j-1}+1 : T_{n+j}} in the paper's 1-based notation. When c does not
    divide T_N - T_n the boundaries are floored, so blocks differ by at most one.
    """
    T_n, T_N, c = int(T_n), int(T_N), int(c)
    if not 0 < T_n < T_N:
        raise InputError(f"need 0 < T_n < T_N, got T_n={T_n}, T_N={T_N}")
    if not 1 <= c <= T_N - T_n:
        raise InputError(f"need 1 <= c <= T_N - T_n = {T_N - T_n}, got c={c}")
    bounds = [T_n + (j * (T_N - T_n)) // c for j in range(c + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def run_sequential(data_panel, T_n: int, c: int, method: str = "seqsvb", *,
                   T_N: int | None = None, seed: int = 0, carry: str = "plugin",
                   vi: VIOptions | dict | None = None, **fit_kwargs) -> list[Fit]:
    """Fit y[:T_n] by VI, then apply c updates (spec 2.10 schedule, Fig. 6); all fits returned.

    data_panel: anything api.as_panel accepts; T_N defaults to its number of dates.
    fit_kwargs go to bayesvol.fit (dist, mean, start, priors, ...). The result has c + 1 fits;
    fit j+1's diagnostics["update_seconds"] is the wall time of update j (compilation included
    the first time a shape is seen; warm up first when timing).
    """
    from ..api import fit as fit_vi

    panel = as_panel(data_panel)
    T_N = panel.n_times if T_N is None else int(T_N)
    if T_N > panel.n_times:
        raise InputError(f"T_N={T_N} is beyond the data's {panel.n_times} dates")
    blocks = sequential_schedule(T_n, T_N, c)
    opts = vi if isinstance(vi, VIOptions) else VIOptions(**(vi or {}))
    fits = [fit_vi(panel.slice_time(0, T_n), method="vi", seed=seed, vi=opts, **fit_kwargs)]
    for j, (lo, hi) in enumerate(blocks):
        fits.append(update_fit(fits[-1], panel.slice_time(lo, hi), method=method,
                               seed=seed + j + 1, carry=carry, vi=opts))
    return fits
