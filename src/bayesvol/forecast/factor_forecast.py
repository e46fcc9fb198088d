"""Forecasts, portfolio weights and out-of-sample log scores of a fitted factor SV model.

The fit (``bayesvol.dfsv_fit.DfsvFit``; model ``bayesvol.models.dfsv``) works on the scaled
data y_t = (r_t - a) / s (a: the asset means, s: one overall scale). All the algebra below is
on that scale; results are mapped back (means s m + a, covariances s^2 C, densities of r
include the Jacobian -n log s).

State at the last fitted date T, per posterior draw j (``terminal_states``): theta^j (the
stored draws of q(theta), or MCMC), one draw of the log-variance path (h^j, h_id^j)_{1:T}
(from q(x | theta^j) for VI, the stored path draw for NUTS), and the Kalman filter's moments
of the factors at T given that path, f_T | y_{1:T}, theta^j, h^j ~ N(m_T^j, P_T^j)
(``filtering.factor_kalman.factor_kalman_step`` run over the fitted data; the same start
f_0 ~ N(0, diag(exp(h_1) / (1 - phi_f^2))) as the likelihood). The mixture over j is the
posterior at T (VI: approximately), held fixed for every forecast and score (no refit).

Moments (``forecast_moments``; exact given the draws). For s = 1, 2, ... per draw, with the
factor log-variances' VAR(1) (Phi_h, Q_h; diagonal by default) and the idiosyncratic AR(1)s
(elementwise; h_T, h_id_T the draw's state):

    E h_{T+s}   = mu_h + Phi_h (E h_{T+s-1} - mu_h)
    Var h_{T+s} = Phi_h Var h_{T+s-1} Phi_h^T + Q_h     (Var h_T = 0)
    E exp h_{k,T+s} = exp(E h_{k,T+s} + Var h_{k,T+s} / 2)  (lognormal mean; the same for h_id)
    m_s = Phi_f m_{s-1},   V_s = Phi_f V_{s-1} Phi_f^T + diag(E exp h_{T+s}),
    (m_0, V_0) = (m_T, P_T)
    E[r_{T+s} | j]   = Lambda m_s
    Cov[r_{T+s} | j] = Lambda V_s Lambda^T + diag(E exp h_id_{T+s})

and over the D draws (law of total covariance) the predictive covariance is

    Cov[r_{T+s} | y] = (1/D) sum_j Cov[r_{T+s} | j] + Cov_j(E[r_{T+s} | j]).

As s grows it tends to the average over draws of the stationary covariance
Lambda diag(E exp h / (1 - phi_f^2)) Lambda^T + diag(E exp h_id), E exp h_k = exp(Gamma_kk / 2)
(Gamma the stationary covariance of h, mu_h = 0), E exp h_id = exp(mu_id + sigma_id^2 /
(2 (1 - phi_id^2))).

Predictive draws (``predictive_draws``): per path, a draw j (uniform, seeded), f_T ~ N(m_T, P_T),
then h_{T+s} = mu_h + Phi_h (h_{T+s-1} - mu_h) + L_Qh eta, f_{T+s} = Phi_f f_{T+s-1} +
exp(h_{T+s}/2) nu, h_id likewise, r_{T+s} = Lambda f_{T+s} + exp(h_id_{T+s}/2) eps (the
simulator of the predictive in Gunawan, Kohn & Nott, "Variational approximation of factor
stochastic volatility models", Section 4). Each path also carries the conditional variance
of every asset, diag(Lambda diag(exp h_{T+s}) Lambda^T) + exp(h_id_{T+s}), whose square root
is the ``volatility`` of the forecast (the analogue of GARCH's sigma_{T+s}).

Student-t errors: each step also draws the mixing variables W ~ IG(v/2, v/2) of every factor
and asset, which multiply exp(h) and exp(h_id) in the draws; the moments and the reported
conditional variances use E W = v / (v - 2) instead (infinite for v <= 2).

Global minimum-variance portfolio (``gmv_forecast``; the paper's Section 5): with Sigma the
predictive covariance of r_{T+h}, w = Sigma^{-1} 1 / (1^T Sigma^{-1} 1), and the predictive
density of the portfolio return w^T r_{T+h} by the simulated paths (mean, sd, VaR and ES).

One-step log scores of new returns are in forecast/factor_score.py (``score_dfsv``,
re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from jax import lax

from ..dfsv_moments import log_variance_paths
from ..errors import InputError
from ..filtering.factor_kalman import factor_kalman_step
from ..filtering.rbpf import RbpfParams, student_mixing_draws
from ..inference.dfsv import family as fam
from ..models.student_mixing import mean_w
from ..portfolio.weights import gmv_weights  # one definition, re-exported here
from .garch_forecast import (
    RETURN_QUANTILES,
    VOL_QUANTILES,
    Forecast,
    _check_count,
    _check_horizon,
    _check_levels,
    _fmt_ts,
    _qname,
    forecast_index,
    level_label,
)
from .gmv import GmvForecast, gmv_of_draws, risk_of_draws

JOINT = "__joint__"
_ELEMENTS = 2**22          # bound on draws x paths x dates per compiled chunk
_PATH_CHUNK = 1024         # predictive paths per compiled chunk
_DRAW_CHUNK = 64           # posterior draws per compiled chunk of the moment program


# ------------------------------------------------------------------------------ the state at T
class TerminalStates(NamedTuple):
    """The posterior at the last fitted date, per draw (module docstring; scaled data).

    rows [D]: indices into ``fit.theta_draws``; params: ``RbpfParams`` with a leading [D] axis;
    h [D, K], h_id [D, N]: log-variances at T; m [D, K], P [D, K, K]: Kalman moments of f_T;
    R [D, K, K]: a square root of P.
    """

    rows: np.ndarray
    params: RbpfParams
    h: np.ndarray
    h_id: np.ndarray
    m: np.ndarray
    P: np.ndarray
    R: np.ndarray


@lru_cache(maxsize=16)
def _terminal_program(model, paths: str, from_draws: bool):
    """jit(vmap over draws): (theta, path draw or key) -> RbpfParams, h_T, h_id_T, m_T, P_T,
    R_T, filtering the fitted data y0 (0 where missing), maskf (float)."""
    pidx = model.path_globals()
    K = model.n_factors

    def one(theta, x_or_key, vparams, y0, maskf):
        if from_draws:
            x = x_or_key
        else:
            M, T = vparams["path_loc"].shape
            eps = jax.random.normal(x_or_key, (M, T), theta.dtype)
            x = jax.vmap(fam.bidiag_sample)(fam.path_mean(vparams, theta, pidx),
                                            vparams["path_logd"], vparams["path_c"], eps)
        h, h_id = log_variance_paths(model, paths, theta, x)
        p = model.constrain(theta)

        def step(carry, inputs):
            m, P, _ = carry
            s = factor_kalman_step(m, P, *inputs, p["Lambda"], p["Phi_f"])
            return (s.m_filt, s.P_filt, s.sqrt_filt), None

        init = (jnp.zeros(K, theta.dtype), model.initial_factor_cov(theta, h),
                jnp.zeros((K, K), theta.dtype))
        (m, P, R), _ = lax.scan(step, init, (y0, maskf, h, h_id))
        return RbpfParams.from_natural(p), h[-1], h_id[-1], m, P, R

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None, None)))


def _chunk(per_row: int, cap: int = 64) -> int:
    """Rows (draws) per compiled chunk: a power of two with rows x per_row <= 2^22, at most
    ``cap``. It does not depend on the number of draws, so forecasts and scores with any
    ``max_draws`` share one compiled program (short chunks are padded)."""
    fit_rows = max(1, _ELEMENTS // max(per_row, 1))
    return max(1, min(1 << int(math.log2(fit_rows)), cap))


def _pad_rows(n: int, chunk: int) -> np.ndarray:
    padded = -(-n // chunk) * chunk
    return np.concatenate([np.arange(n), np.zeros(padded - n, dtype=np.int64)])


def fitted_returns(fit) -> np.ndarray:
    """The fitted returns [T, N] on the original scale (NaN where missing); InputError for a
    fit saved without them."""
    y = getattr(fit, "returns", None)
    if y is None:
        raise InputError("this factor SV fit was saved without its returns, which forecasts "
                         "and scores need: refit it with this version of bayesvol")
    return np.asarray(y, dtype=float)


def draw_rows(fit, max_draws: int | None, seed: int) -> np.ndarray:
    """Rows of ``fit.theta_draws`` to use: all, or ``max_draws`` of them without replacement
    (seeded, sorted)."""
    total = fit.theta_draws.shape[0]
    if max_draws is None or max_draws >= total:
        return np.arange(total)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 8]))
    return np.sort(rng.choice(total, int(max_draws), replace=False))


def terminal_states(fit, max_draws: int | None = None, seed: int | None = None
                    ) -> TerminalStates:
    """The posterior at T per draw (module docstring): ``max_draws`` rows of the fit's draws
    (None: all; a seeded subsample otherwise). The path draw of row r uses the key
    fold_in(fold_in(key(fit.seed), 11), r), so it does not depend on the other rows."""
    seed = fit.seed if seed is None else seed
    model = fit.model
    y = fitted_returns(fit)
    mask = np.isfinite(y)
    y0 = jnp.asarray(np.where(mask, (y - fit.asset_mean) / fit.scale, 0.0))
    maskf = jnp.asarray(mask.astype(float))
    rows = draw_rows(fit, max_draws, seed)
    from_draws = fit.path_draws is not None
    T = y.shape[0]
    chunk = _chunk(model.n_paths * T)
    take = rows[_pad_rows(len(rows), chunk)]
    program = _terminal_program(model, "noncentred" if from_draws else fit.paths, from_draws)
    vparams = {k: jnp.asarray(v) for k, v in fit.params.items()} if not from_draws else {}
    base = jax.random.fold_in(jax.random.key(fit.seed), 11)
    outs = []
    for a in range(0, len(take), chunk):
        r = take[a:a + chunk]
        theta = jnp.asarray(fit.theta_draws[r])
        second = (jnp.asarray(fit.path_draws[r]) if from_draws else
                  jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(r)))
        outs.append(jax.tree_util.tree_map(np.asarray,
                                           program(theta, second, vparams, y0, maskf)))
    n = len(rows)
    prm, h, h_id, m, P, R = jax.tree_util.tree_map(lambda *a: np.concatenate(a)[:n], *outs)
    return TerminalStates(rows, prm, h, h_id, m, P, R)


# ------------------------------------------------------------------------------ moments
def _horizon_bucket(horizon: int) -> int:
    return max(16, 1 << (horizon - 1).bit_length())


def _mixing_means(prm: RbpfParams) -> tuple[jax.Array | float, jax.Array | float]:
    """E W = v / (v - 2) of Student-t errors per factor and asset (inf for v <= 2); 1 for
    Gaussian errors."""
    if not prm.student:
        return 1.0, 1.0
    return mean_w(prm.nu_f), mean_w(prm.nu_id)


@lru_cache(maxsize=16)
def _moment_program(steps: int):
    """jit: a chunk of draws' states and weights w -> the w-weighted sums over the chunk of
    E[r_{T+s} | j], Cov[r_{T+s} | j] and E E^T (module docstring), accumulated by a scan over
    the draws (no [D, steps, N, N] array)."""

    def one(prm: RbpfParams, h, h_id, m, P):
        w_f, w_id = _mixing_means(prm)

        def step(carry, _):
            mh, vh, mi, vi, mf, Vf = carry
            mh = prm.mu_h + prm.Phi_h @ (mh - prm.mu_h)
            vh = prm.Phi_h @ vh @ prm.Phi_h.T + prm.L_Qh @ prm.L_Qh.T
            mi = prm.mu_id + prm.phi_id * (mi - prm.mu_id)
            vi = prm.phi_id**2 * vi + prm.sigma_id**2
            mf = prm.Phi_f @ mf
            Vf = prm.Phi_f @ Vf @ prm.Phi_f.T + jnp.diag(
                w_f * jnp.exp(mh + 0.5 * jnp.diagonal(vh)))
            mean = prm.Lambda @ mf
            cov = prm.Lambda @ Vf @ prm.Lambda.T + jnp.diag(w_id * jnp.exp(mi + 0.5 * vi))
            return (mh, vh, mi, vi, mf, Vf), (mean, cov)

        init = (h, jnp.zeros_like(P), h_id, jnp.zeros_like(h_id), m, P)
        _, (mean, cov) = lax.scan(step, init, None, length=steps)
        return mean, cov

    def run(prm, h, h_id, m, P, w):
        def body(acc, inputs):
            *state, wj = inputs
            mean, cov = one(*state)
            return (acc[0] + wj * mean, acc[1] + wj * cov,
                    acc[2] + wj * mean[:, :, None] * mean[:, None, :]), None

        N = h_id.shape[1]
        z1 = jnp.zeros((steps, N), h.dtype)
        z2 = jnp.zeros((steps, N, N), h.dtype)
        sums, _ = lax.scan(body, (z1, z2, z2), (prm, h, h_id, m, P, w))
        return sums

    return jax.jit(run)


def _moments_scaled(term: TerminalStates, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictive mean and covariance on the scaled data: sums over fixed-size chunks of
    draws (pad rows weighted 0, so any number of draws uses one compiled program)."""
    D = term.h.shape[0]
    take = _pad_rows(D, _DRAW_CHUNK)
    weight = (np.arange(len(take)) < D).astype(float)
    program = _moment_program(_horizon_bucket(horizon))
    s1 = s2 = s3 = 0.0
    for a in range(0, len(take), _DRAW_CHUNK):
        r = take[a:a + _DRAW_CHUNK]
        prm = RbpfParams(*(jnp.asarray(x[r]) for x in term.params))
        out = program(prm, *(jnp.asarray(x[r]) for x in (term.h, term.h_id, term.m, term.P)),
                      jnp.asarray(weight[a:a + _DRAW_CHUNK]))
        s1, s2, s3 = (acc + np.asarray(o) for acc, o in zip((s1, s2, s3), out, strict=True))
    mean = s1 / D
    cov = s2 / D + s3 / D - mean[:, :, None] * mean[:, None, :]
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    return mean[:horizon], cov[:horizon]


def forecast_moments(fit, horizon: int = 10, max_draws: int | None = None,
                     seed: int | None = None, term: TerminalStates | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior predictive mean [h, N] and covariance [h, N, N] of r_{T+1..T+h} on the
    original scale (module docstring)."""
    horizon = _check_horizon(horizon)
    term = terminal_states(fit, max_draws, seed) if term is None else term
    mean, cov = _moments_scaled(term, horizon)
    return mean * fit.scale + np.asarray(fit.asset_mean), cov * fit.scale**2


def _step_index(fit, horizon: int) -> pd.Index:
    if isinstance(fit.times, pd.DatetimeIndex) and len(fit.times) > 2:
        return forecast_index(fit.times, horizon)
    return pd.RangeIndex(1, horizon + 1, name="step")


def _cov_array(fit, cov: np.ndarray, horizon: int) -> xr.DataArray:
    dates = _step_index(fit, horizon)
    coords = {"step": np.arange(1, horizon + 1), "asset": list(fit.assets),
              "asset2": list(fit.assets)}
    if isinstance(dates, pd.DatetimeIndex):
        coords["date"] = ("step", dates)
    return xr.DataArray(cov, dims=("step", "asset", "asset2"), coords=coords,
                        name="forecast_covariance")


def forecast_covariance(fit, horizon: int = 10, max_draws: int | None = None,
                        seed: int | None = None, term: TerminalStates | None = None
                        ) -> xr.DataArray:
    """Posterior-mean predictive covariance of r_{T+s}, s = 1..h, on the original scale
    (module docstring): a DataArray (step, asset, asset2), with a ``date`` coordinate on the
    step axis for daily panels. The means are in ``forecast_moments``."""
    horizon = _check_horizon(horizon)
    _, cov = forecast_moments(fit, horizon, max_draws, seed, term)
    return _cov_array(fit, cov, horizon)


# ------------------------------------------------------------------------------ simulation
@lru_cache(maxsize=16)
def _sim_program(steps: int):
    """jit(vmap over paths): (key, the path's draw: params and state at T) -> returns
    [steps, N] and conditional variances [steps, N] on the scaled data (module docstring)."""

    def one(key, prm, h, h_id, m, R):
        N, K = prm.Lambda.shape
        z = jax.random.normal(key, (K + steps * (2 * K + 2 * N),), h.dtype)
        f = m + R @ z[:K]
        Z = z[K:].reshape(steps, 2 * K + 2 * N)

        w_f, w_id = _mixing_means(prm)
        keys = jax.random.split(jax.random.fold_in(key, 1), steps)

        def step(carry, inputs):
            zt, kt = inputs
            h, h_id, f = carry
            h = prm.mu_h + prm.Phi_h @ (h - prm.mu_h) + prm.L_Qh @ zt[:K]
            h_id = prm.mu_id + prm.phi_id * (h_id - prm.mu_id) + prm.sigma_id * zt[K:K + N]
            u_f, u_id = student_mixing_draws(kt, prm, 1)      # Student-t: this step's log W
            u_f, u_id = jnp.reshape(u_f, (-1,)), jnp.reshape(u_id, (-1,))
            f_new = prm.Phi_f @ f + jnp.exp(0.5 * (h + u_f)) * zt[K + N:2 * K + N]
            r = prm.Lambda @ f_new + jnp.exp(0.5 * (h_id + u_id)) * zt[2 * K + N:]
            var = (prm.Lambda**2) @ (w_f * jnp.exp(h)) + w_id * jnp.exp(h_id)
            return (h, h_id, f_new), (r, var)

        _, (r, var) = lax.scan(step, (h, h_id, f), (Z, keys))
        return r, var

    return jax.jit(jax.vmap(one))


def _simulate(fit, term: TerminalStates, horizon: int, n_paths: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """(returns, conditional variances), each [n_paths, horizon, N], original scale. Path p
    uses draw j_p (uniform over the D states, numpy seeded by ``seed``) and the key
    fold_in(key(seed), p), so a path does not depend on how many are drawn."""
    D = term.h.shape[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9]))
    j = rng.integers(0, D, n_paths)
    take = _pad_rows(n_paths, _PATH_CHUNK)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(
        jnp.asarray(take, dtype=jnp.uint32))
    steps = _horizon_bucket(horizon)
    program = _sim_program(steps)
    jt = j[take]
    rets, vars_ = [], []
    for a in range(0, len(take), _PATH_CHUNK):
        rows = jt[a:a + _PATH_CHUNK]
        prm = RbpfParams(*(jnp.asarray(x[rows]) for x in term.params))
        r, v = program(keys[a:a + _PATH_CHUNK], prm,
                       *(jnp.asarray(x[rows]) for x in (term.h, term.h_id, term.m, term.R)))
        rets.append(np.asarray(r)[:, :horizon])
        vars_.append(np.asarray(v)[:, :horizon])
    ret = np.concatenate(rets)[:n_paths] * fit.scale + np.asarray(fit.asset_mean)
    var = np.concatenate(vars_)[:n_paths] * fit.scale**2
    return ret, var


def predictive_draws(fit, horizon: int = 10, n_paths: int = 4000, seed: int = 0,
                     max_draws: int | None = None, term: TerminalStates | None = None
                     ) -> np.ndarray:
    """Draws [n_paths, horizon, N] of r_{T+1..T+h} from the posterior predictive, original
    scale (module docstring). Same seed, same numbers."""
    horizon = _check_horizon(horizon)
    n_paths = _check_count("n_paths", n_paths, 1)
    seed = _check_count("seed", seed, 0)
    term = terminal_states(fit, max_draws) if term is None else term
    return _simulate(fit, term, horizon, n_paths, seed)[0]


# ------------------------------------------------------------------------------ GMV portfolio
def gmv_forecast(fit, horizon: int = 1, levels: Sequence[float] = (0.01, 0.05),
                 n_paths: int = 4000, seed: int = 0, max_draws: int | None = None
                 ) -> GmvForecast:
    """Global minimum-variance weights from the h-step predictive covariance and the
    predictive density of the portfolio return w^T r_{T+h} (module docstring)."""
    horizon = _check_horizon(horizon)
    levels = _check_levels(levels)
    n_paths = _check_count("n_paths", n_paths, 2)
    seed = _check_count("seed", seed, 0)
    term = terminal_states(fit, max_draws)
    _, cov = forecast_moments(fit, horizon, term=term)
    ret, _ = _simulate(fit, term, horizon, n_paths, seed)
    return gmv_of_draws(fit.assets, cov[horizon - 1], ret[:, horizon - 1], horizon, levels)


# ------------------------------------------------------------------------------ forecast
@dataclass(repr=False)
class FactorForecast(Forecast):
    """A ``Forecast`` (forecast.garch_forecast: volatility, return quantiles and risk per asset,
    ``to_frame``, ``to_dict``) of a factor SV fit, plus the predictive ``covariance``
    (step, asset, asset2) and the ``gmv`` portfolio at step 1. ``to_frame`` adds the rows
    ``cov_<ASSET2>`` (every step) and ``gmv_weight`` (step 1); ``to_dict`` adds
    ``covariance`` [h][N][N] and ``gmv``."""

    covariance: xr.DataArray | None = None
    gmv: GmvForecast | None = None
    mean: np.ndarray | None = field(default=None, repr=False)   # [h, N] predictive means

    def to_frame(self) -> pd.DataFrame:
        base = super().to_frame()
        dates = self._date_strings()
        rows = []
        if self.covariance is not None:
            cov = self.covariance.values
            for k in range(self.horizon):
                for i, a in enumerate(self.assets):
                    for j, b in enumerate(self.assets):
                        rows.append((a, k + 1, dates[k], f"cov_{b}", float(cov[k, i, j])))
        if self.gmv is not None:
            for a, v in self.gmv.weights.items():
                rows.append((a, self.gmv.horizon, dates[self.gmv.horizon - 1], "gmv_weight",
                             float(v)))
        extra = pd.DataFrame(rows, columns=base.columns)
        return pd.concat([base, extra], ignore_index=True) if rows else base

    def to_dict(self) -> dict:
        out = super().to_dict()
        if self.covariance is not None:
            out["covariance"] = np.asarray(self.covariance.values, float).tolist()
        if self.mean is not None:
            out["mean"] = np.asarray(self.mean, float).tolist()
        if self.gmv is not None:
            out["gmv"] = self.gmv.to_dict()
        return out


def forecast_dfsv(fit, horizon: int = 10, levels: Sequence[float] = (0.01, 0.05),
                  n_paths: int = 4000, seed: int = 0, max_draws: int | None = None
                  ) -> FactorForecast:
    """Posterior predictive forecast of every asset of a factor SV fit (module docstring):
    per asset the volatility (sqrt of the conditional variance of each path), return
    quantiles, VaR and ES at step 1 and for the h-step cumulative return (suffix ``_h``), as
    ``forecast.garch_forecast.Forecast``; plus the predictive covariance and the step-1 GMV
    portfolio. Raises InputError for horizon < 1, a level outside (0, 0.5) or n_paths < 2."""
    horizon = _check_horizon(horizon)
    levels = _check_levels(levels)
    n_paths = _check_count("n_paths", n_paths, 2)
    seed = _check_count("seed", seed, 0)
    term = terminal_states(fit, max_draws)
    mean, cov = forecast_moments(fit, horizon, term=term)
    ret, var = _simulate(fit, term, horizon, n_paths, seed)     # [P, h, N]
    index = _step_index(fit, horizon)
    sig = np.sqrt(var)
    vol_frames, ret_frames, risk = {}, {}, {}
    for i, asset in enumerate(fit.assets):
        vf = pd.DataFrame({"mean": sig[:, :, i].mean(0)}, index=index)
        for q, row in zip(VOL_QUANTILES, np.quantile(sig[:, :, i], VOL_QUANTILES, axis=0),
                          strict=True):
            vf[_qname(q)] = row
        vol_frames[asset] = vf
        rq = np.quantile(ret[:, :, i], RETURN_QUANTILES, axis=0)
        ret_frames[asset] = pd.DataFrame({_qname(q): rq[k] for k, q in
                                          enumerate(RETURN_QUANTILES)}, index=index)
        risk[asset] = {**risk_of_draws(ret[:, 0, i], levels),
                       **risk_of_draws(ret[:, :, i].sum(1), levels, "_h")}
    order = [f"{m}_{level_label(lv)}{s}" for s in ("", "_h") for lv in levels
             for m in ("VaR", "ES")]
    risk_frame = pd.DataFrame.from_dict(risk, orient="index")[order]
    risk_frame.index.name = "asset"
    last = _fmt_ts(fit.times[-1]) if isinstance(fit.times, pd.DatetimeIndex) else str(
        fit.times[-1])
    cov_da = _cov_array(fit, cov, horizon)
    model = "dfsv" if fit.model.factor_ar else "fsv"
    return FactorForecast(
        assets=tuple(fit.assets), horizon=horizon, levels=levels, n_paths=n_paths, seed=seed,
        dates=index, volatility=vol_frames, returns=ret_frames, risk=risk_frame,
        return_draws=np.moveaxis(ret, 2, 0), variance_draws=np.moveaxis(var, 2, 0),
        origin={a: last for a in fit.assets},
        info={"model": model, "dist": "normal", "method": fit.method},
        covariance=cov_da, gmv=gmv_of_draws(fit.assets, cov[0], ret[:, 0], 1, levels),
        mean=mean)


def __getattr__(name: str):
    """``score_dfsv`` and ``FactorScoreTerms`` live in factor_score.py (which imports this
    module's ``terminal_states``); they are re-exported here on first use."""
    if name in ("score_dfsv", "FactorScoreTerms", "new_panel_dfsv"):
        from . import factor_score

        return getattr(factor_score, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["JOINT", "FactorForecast", "GmvForecast", "TerminalStates", "draw_rows",
           "forecast_covariance", "forecast_dfsv", "forecast_moments", "gmv_forecast",
           "gmv_weights", "predictive_draws", "terminal_states"]
