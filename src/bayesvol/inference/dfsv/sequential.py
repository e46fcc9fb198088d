"""Sequential variational updating of the DFSV model: the engine half (padding, warm starts).

Gunawan, Kohn & Nott ("Variational approximation of factor stochastic volatility models",
Section 3.5, "seq-VA") update a variational fit as observations arrive: after j new dates
they fit q_lambda(theta, x_{1:t}) to the EXACT posterior p(theta, x_{1:t} | y_{1:t}), i.e.
maximise the full ELBO over all data y_{1:t},

    ELBO_t(lambda) = E_q[ log p(y_{1:t} | x_{1:t}, theta) + log p(x_{1:t} | theta)
                          + log p(theta) - log q_lambda(theta, x_{1:t}) ],

starting from the previous optimum lambda*_{t-j} (not the previous q as a prior, which targets
an approximate posterior). The API half (``bayesvol.dfsv_sequential``: ``DfsvFit.update``,
``sequential_dfsv``, ``select_factors``) builds fits from this module's pieces.

New path entries (the paper leaves their initialisation open). Each path j has the
bidiagonal-precision q of ``family.py``, Omega = C C^T; the previous q(x_{1:T}) is extended by
the AR(1) continuation at the posterior mean of the path's persistence,

    q(x_{1:T+n}) = q_old(x_{1:T}) prod_{s=1}^{n} N(x_{T+s}; l + phi (x_{T+s-1} - l), s^2),

(non-centred unit paths: l = 0, s = 1; centred: the path's level and vol-of-vol at the mean of
q(theta)). Its precision is Omega_old plus the AR(1) transition terms, still tridiagonal, so
the previous entries of C are kept and, by the forward bidiagonal Cholesky recursion, only
the last one changes: exp(2 d'_T) = exp(2 d_T) + phi^2 / s^2; the new rows follow from the
Cholesky factor of the trailing tridiagonal block (``extend_params``). The marginal of the old
dates is unchanged exactly; the new means are l + phi^s (mu_T - l).

Reusing compiled code (padding). A compiled program is specialised to the number of dates,
so the time axis is padded to a capacity bucket (``capacity_for``: the project's
``bucket_length`` rule, 1, 1.25, 1.5, 1.75 times a power of two, at least 64), with the mask
False on the padding; successive updates within one bucket run the same program. On padded
dates (after the last date with any observation):

- the Kalman filter adds nothing: with every asset missing the update step is the identity
  and the log-likelihood term is exactly 0 (``filtering.factor_kalman``; the static-factor
  likelihood likewise), so log p(y | x, theta) is that of the unpadded data for any pad x;
- the model's own AR(1) prior on padded paths would integrate out of p(theta, x_{1:T} | y),
  but NOT out of the ELBO: q is independent of theta, so the padded ELBO loses
  E_q[KL(q(x_pad | x_T) || p(x_pad | x_T, theta))] > 0 whenever q(phi) has any spread (about
  Var_q(phi) sum_pad E x_t^2 / 2, which acts like extra observations of phi and shrinks its
  variance). ``PaddedDfsvModel`` therefore gives padded entries a prior that does not depend
  on theta, x_t ~ N(0, 1) independently. The padded target is then exactly p(theta,
  x_{1:T} | y) times N(x_pad; 0, I); padded q's are q(theta, x_{1:T}) N(x_pad; 0, I) (link
  entry of C zero), and the ELBO integrand log p - log q at any draw equals the unpadded one
  at the same (theta, x_{1:T}), so the padded and unpadded ELBOs are the same random variable
  and share their optimum in (theta, x_{1:T}) (tested).

Back to the real dates (``truncate_params``): the exact marginal of the first T dates of a
bidiagonal q is the truncated C with its last diagonal entry set to the marginal variance,
exp(-2 d'_T) = Var_q(x_T) (``family.bidiag_marginal_var``), whatever the pad entries became
during optimisation. Dates after the last observation that are real (a block whose last dates
have no data at all) are treated as padding by the optimisation and then re-extended by the
AR(1) continuation above.

The data transform of ``fit_dfsv`` (asset means and one overall scale s) is recomputed on
all data at each update, as a batch fit would; the previous q is carried to the new scale
(``rescale_params``): with rho = s_old / s_new, Lambda -> rho Lambda (log Lambda_kk + log
rho), mu_id or log sigma2 + 2 log rho (a linear map theta' = a theta + b, so q(theta) stays
Gaussian: m' = a m + b, L' = diag(a) L); non-centred paths are unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import cholesky_banded

from ...models.dfsv import DfsvModel, _log1m_tanh2, padded_ar1_logpdf
from ...models.series import bucket_length
from . import family as fam
from .start import dfsv_start
from .vi import (
    DfsvVIOptions,
    DfsvVIResult,
    conditional_start,
    log_variance_moments,
    run_dfsv_vi,
)

PAD_MINIMUM = 64
MIX_PRIOR_LOG = -30.0   # log of the excess shape and rate of q(W | v) on padding: the prior


def capacity_for(T: int, capacity: int | None = None) -> int:
    """Padded length for T dates: ``capacity`` if given (must be >= T), else
    ``bucket_length(T, minimum=64)`` (1, 1.25, 1.5, 1.75 x a power of two)."""
    if capacity is None:
        return int(bucket_length(int(T), minimum=PAD_MINIMUM))
    capacity = int(capacity)
    if capacity < T:
        raise ValueError(f"capacity {capacity} is below the number of dates {T}")
    return capacity


def observed_span(mask: jax.Array | None, T: int) -> jax.Array:
    """[T] bool: True up to the last date with any observed asset (False on padding)."""
    if mask is None:
        return jnp.ones((T,), bool)
    seen = jnp.any(mask, axis=1)
    return jnp.flip(jnp.cumsum(jnp.flip(seen.astype(jnp.int32))) > 0)




@dataclass(frozen=True)
class PaddedDfsvModel(DfsvModel):
    """``DfsvModel`` on a time axis padded after the last observed date: padded path entries
    get the theta-free prior N(0, 1) instead of the AR(1) (module docstring); everything else,
    and every density on unpadded data, is the parent's. Which dates are padding is read from
    the mask at run time (``observed_span``), so one compiled program serves every number of
    observed dates up to the capacity. Hashable and distinct from ``DfsvModel`` (its own
    compiled programs)."""

    @classmethod
    def of(cls, model: DfsvModel) -> PaddedDfsvModel:
        return cls(**{f.name: getattr(model, f.name) for f in fields(DfsvModel)})

    def plain(self) -> DfsvModel:
        """The ``DfsvModel`` with the same settings."""
        return DfsvModel(**{f.name: getattr(self, f.name) for f in fields(DfsvModel)})

    def log_joint_mixed(self, theta: jax.Array, x: jax.Array, u: jax.Array, y: jax.Array,
                        mask: jax.Array | None, active: jax.Array | None = None
                        ) -> jax.Array:
        """Student-t errors in VI's coordinates, padded dates theta-free."""
        return super().log_joint_mixed(theta, x, u, y, mask, observed_span(mask, x.shape[1]))

    def log_joint_noncentred(self, theta: jax.Array, x: jax.Array, y: jax.Array,
                             mask: jax.Array | None) -> jax.Array:
        active = observed_span(mask, x.shape[1])
        h, h_id = self.scale_paths(theta, x)
        return (self.log_prior(theta) + self.log_unit_paths_prior(theta, x, active)
                + self.log_likelihood(theta, h, h_id, y, mask))

    def log_joint(self, theta: jax.Array, h: jax.Array, h_id: jax.Array | None,
                  y: jax.Array, mask: jax.Array | None) -> jax.Array:
        """Centred paths: padded log-variance entries ~ N(0, 1), theta-free."""
        if self.full_var or self.n_mix:
            raise ValueError("factor_var and Student-t errors need non-centred paths "
                             "(paths='noncentred')")
        active = observed_span(mask, h.shape[0])
        level, scale, raw = self.path_level_scale(theta)
        paths = h.T if h_id is None or self.idio != "ar1" else jnp.concatenate([h.T, h_id.T])
        lp = jax.vmap(padded_ar1_logpdf, in_axes=(0, 0, 0, 0, 0, None))(
            paths, level, jnp.tanh(raw), scale, _log1m_tanh2(raw), active)
        return (self.log_prior(theta) + jnp.sum(lp)
                + self.log_likelihood(theta, h, h_id, y, mask))


# ---------------------------------------------------------------- variational parameters
def _path_ar1(model: DfsvModel, theta: np.ndarray, paths: str
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(level, phi, innovation sd) [M] of each path at theta (numpy): unit paths have level 0
    and sd 1; centred paths the model's level and vol-of-vol."""
    lay = model.layout
    K = model.n_factors
    # factor_var: the diagonal of the unit VAR's B (a start for the new entries only)
    phi = (np.diagonal(np.asarray(model.factor_parts(jnp.asarray(theta)).B)) if model.full_var
           else np.tanh(theta[lay["phi_h"]]))
    level, sd = np.zeros(K), np.exp(theta[lay["sigma_h"]])
    if model.idio == "ar1":
        phi = np.concatenate([phi, np.tanh(theta[lay["phi_id"]])])
        level = np.concatenate([level, theta[lay["mu_id"]]])
        sd = np.concatenate([sd, np.exp(theta[lay["sigma_id"]])])
    if paths == "noncentred":
        return np.zeros_like(level), phi, np.ones_like(sd)
    return level, phi, sd


def pad_params(params: dict, capacity: int) -> dict:
    """Parameters over T dates -> over ``capacity`` dates, the padded entries N(0, 1) and
    unlinked (mean 0, log-diagonal 0, sub-diagonal 0, B 0): q(theta, x_{1:T}) N(x_pad; 0, I)."""
    M, T = params["path_loc"].shape
    extra = capacity - T
    if extra < 0:
        raise ValueError(f"capacity {capacity} is below the number of dates {T}")
    out = {k: np.asarray(v) for k, v in params.items()}
    if extra == 0:
        return out
    out["path_loc"] = np.pad(out["path_loc"], ((0, 0), (0, extra)))
    out["path_logd"] = np.pad(out["path_logd"], ((0, 0), (0, extra)))
    out["path_c"] = np.pad(out["path_c"], ((0, 0), (0, extra)))
    if "path_B" in out:
        out["path_B"] = np.pad(out["path_B"], ((0, 0), (0, extra), (0, 0)))
    for k in ("mix_la", "mix_lb"):      # Student-t: q(W | v) = the prior on padded dates
        if k in out:
            out[k] = np.pad(out[k], ((0, 0), (0, extra)), constant_values=MIX_PRIOR_LOG)
    return out


def extend_params(model: DfsvModel, params: dict, n_new: int, capacity: int | None = None,
                  paths: str = "noncentred") -> dict:
    """Parameters over T dates -> T + n_new dates continued by the AR(1) at the mean of
    q(theta) (module docstring), then padded to ``capacity`` (default T + n_new)."""
    loc = np.asarray(params["path_loc"], float)
    M, T = loc.shape
    capacity = T + n_new if capacity is None else int(capacity)
    if n_new < 0 or capacity < T + n_new:
        raise ValueError(f"cannot extend {T} dates by {n_new} within capacity {capacity}")
    out = pad_params(params, capacity)
    if n_new == 0:
        return out
    logd = np.asarray(params["path_logd"], float)
    level, phi, sd = _path_ar1(model, np.asarray(params["theta_loc"], float), paths)
    powers = phi[:, None] ** np.arange(1, n_new + 1)[None, :]             # [M, n]
    out["path_loc"][:, T:T + n_new] = level[:, None] + powers * (loc[:, -1] - level)[:, None]
    if "path_B" in out:
        B_T = np.asarray(params["path_B"], float)[:, -1]                  # [M, 3]
        out["path_B"][:, T:T + n_new] = powers[:, :, None] * B_T[:, None, :]
    # the trailing tridiagonal block, rows T-1 .. T+n-1: its bidiagonal Cholesky factor
    prec = 1.0 / sd**2
    diag = np.empty((M, n_new + 1))
    diag[:, 0] = np.exp(2.0 * logd[:, -1]) + phi**2 * prec
    diag[:, 1:] = ((1.0 + phi**2) * prec)[:, None]
    diag[:, -1] = prec
    new_logd = np.empty((M, n_new + 1))
    new_c = np.empty((M, n_new))
    for j in range(M):                      # one small banded Cholesky per path (LAPACK)
        ab = np.zeros((2, n_new + 1))
        ab[0] = diag[j]
        ab[1, :-1] = -phi[j] * prec[j]
        cb = cholesky_banded(ab, lower=True)
        new_logd[j] = np.log(cb[0])
        new_c[j] = cb[1, :-1]
    out["path_logd"][:, T - 1:T + n_new] = new_logd
    out["path_c"][:, T - 1:T + n_new - 1] = new_c
    if "mix_la" in out:     # Student-t: new dates' q(W | v) as at an average date, z^2 = 1
        out["mix_la"][:, T:T + n_new] = math.log(0.5)
        out["mix_lb"][:, T:T + n_new] = math.log(0.5)
    return out


@jax.jit
def _marginal_var(logd: jax.Array, c: jax.Array) -> jax.Array:
    return jax.vmap(fam.bidiag_marginal_var)(logd, c)


def truncate_params(params: dict, T: int) -> dict:
    """The exact marginal q(theta, x_{1:T}) of parameters over more dates (module docstring):
    the first T entries, the last log-diagonal set to -log Var_q(x_T) / 2."""
    out = {k: np.asarray(v) for k, v in params.items()}
    M, cap = out["path_loc"].shape
    if T > cap or T < 2:
        raise ValueError(f"cannot truncate {cap} dates to {T}")
    if T == cap:
        return out
    var = np.asarray(_marginal_var(jnp.asarray(out["path_logd"]), jnp.asarray(out["path_c"])))
    out["path_loc"] = out["path_loc"][:, :T].copy()
    logd = out["path_logd"][:, :T].copy()
    logd[:, -1] = -0.5 * np.log(var[:, T - 1])
    out["path_logd"] = logd
    out["path_c"] = out["path_c"][:, :T - 1].copy()
    if "path_B" in out:
        out["path_B"] = out["path_B"][:, :T].copy()
    for k in ("mix_la", "mix_lb"):      # independent over dates: the marginal is the slice
        if k in out:
            out[k] = out[k][:, :T].copy()
    return out


def rescale_params(model: DfsvModel, params: dict, log_ratio: float, paths: str = "noncentred",
                   blocks: fam.ThetaBlocks | None = None) -> dict:
    """q carried from data of scale s_old to scale s_new, log_ratio = log(s_old / s_new)
    (module docstring): theta' = a theta + b with a = rho on the off-diagonal loadings
    (rho = s_old / s_new) and b = log rho on log Lambda_kk, 2 log rho on mu_id / log sigma2;
    m' = a m + b, L' = diag(a) L, B' = B / a[idx] (conditional family); centred idiosyncratic
    paths + 2 log rho."""
    out = {k: np.array(v, dtype=float, copy=True) for k, v in params.items()}
    if log_ratio == 0.0:
        return out
    d = model.dim
    lay = model.layout
    rows, cols = model.loading_positions()
    lam = np.arange(lay["lambda"].start, lay["lambda"].stop)
    a, b = np.ones(d), np.zeros(d)
    diag = rows == cols
    a[lam[~diag]] = math.exp(log_ratio)
    b[lam[diag]] = log_ratio
    for name in ("mu_id", "sigma2"):
        if name in lay:
            b[lay[name]] = 2.0 * log_ratio
    out["theta_loc"] = a * out["theta_loc"] + b
    out["theta_logd"] = out["theta_logd"] + np.log(a)
    if "theta_off" in out:
        out["theta_off"] = a[:, None] * out["theta_off"]
    if "theta_blk" in out:
        if blocks is None:
            blocks = fam.theta_blocks(model)
        a_pad = np.concatenate([a, [1.0]])
        out["theta_blk"] = a_pad[blocks.idx][:, :, None] * out["theta_blk"]
    if "path_B" in out:
        out["path_B"] = out["path_B"] / a[model.path_globals()][:, None, :]
    if paths == "centred" and model.idio == "ar1":
        out["path_loc"][model.n_factors:] += 2.0 * log_ratio
    return out


# ---------------------------------------------------------------- the padded fit
def run_padded_vi(model: DfsvModel, y: np.ndarray, mask: np.ndarray, key: jax.Array,
                  opts: DfsvVIOptions, params0: dict | None = None,
                  capacity: int | None = None) -> tuple[DfsvVIResult, int]:
    """VI for y, mask [T, N] on the time axis padded to ``capacity`` (``capacity_for``), with
    ``PaddedDfsvModel``; returns the result on the T real dates (parameters by
    ``truncate_params``, then extended over any trailing dates without data; path moments
    cut to T; ``model`` the plain one) and the capacity used.

    params0: starting parameters over the T real dates (e.g. ``extend_params`` of a previous
    fit); None: the moment start of ``run_dfsv_vi`` on the unpadded data (a batch fit).
    """
    y = np.asarray(y, float)
    mask = np.asarray(mask, bool) & np.isfinite(y)
    T, N = y.shape
    cap = capacity_for(T, capacity)
    plain = model.plain() if isinstance(model, PaddedDfsvModel) else model
    padded = PaddedDfsvModel.of(plain)
    if params0 is None:
        start = dfsv_start(plain, y, mask, opts.paths)
        blocks = fam.theta_blocks(plain) if opts.family == "block" else None
        params0 = fam.init_params(start.theta, start.theta_var, start.path_loc, start.path_logd,
                                  start.path_c, opts.family, opts.conditional, blocks,
                                  mix_la=start.mix_la, mix_lb=start.mix_lb)
        if opts.conditional and opts.paths == "noncentred":
            params0["path_B"] = conditional_start(plain, start)
        params0 = {k: np.asarray(v) for k, v in params0.items()}
    if params0["path_loc"].shape[1] != T:
        raise ValueError(f"params0 cover {params0['path_loc'].shape[1]} dates, data {T}")
    y_pad = np.zeros((cap, N))
    y_pad[:T] = np.where(mask, y, 0.0)
    m_pad = np.zeros((cap, N), bool)
    m_pad[:T] = mask
    res = run_dfsv_vi(padded, y_pad, m_pad, key, opts, params0=pad_params(params0, cap))
    seen = np.flatnonzero(mask.any(axis=1))
    t_obs = int(seen[-1]) + 1 if seen.size else T
    params = truncate_params(res.params, max(t_obs, 2))
    if t_obs < T:
        params = extend_params(plain, params, T - max(t_obs, 2), T, opts.paths)
    res.params = params
    res.model = plain
    K = plain.n_factors
    if t_obs < T:       # trailing dates without data: moments of the re-extended paths
        loc, sd = log_variance_moments(plain, params, res.theta_draws, opts.paths)
        loc, sd = loc.T, sd.T
    else:
        loc = np.concatenate([res.h_mean] + ([res.h_id_mean] if res.h_id_mean is not None
                                             else []), axis=1)[:T]
        sd = np.concatenate([res.h_sd] + ([res.h_id_sd] if res.h_id_sd is not None
                                          else []), axis=1)[:T]
    res.h_mean, res.h_sd = loc[:, :K].copy(), sd[:, :K].copy()
    if res.h_id_mean is not None:
        res.h_id_mean, res.h_id_sd = loc[:, K:].copy(), sd[:, K:].copy()
    return res, cap


__all__ = ["PAD_MINIMUM", "PaddedDfsvModel", "capacity_for", "extend_params",
           "observed_span", "pad_params", "padded_ar1_logpdf", "rescale_params",
           "run_padded_vi", "truncate_params"]
