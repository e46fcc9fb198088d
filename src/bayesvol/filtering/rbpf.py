"""Rao-Blackwellised particle filter (RBPF) for the dynamic factor SV model.

Model (N assets, K factors; arrays time-first, y and mask [T, N]):

    r_t        = Lambda f_t + eps_t,                     eps_t ~ N(0, diag(exp(h_id_t)))
    f_t        = Phi_f f_{t-1} + nu_t,                   nu_t  ~ N(0, diag(exp(h_t)))
    h_t        = mu_h + Phi_h (h_{t-1} - mu_h) + L_Qh eta_t,            eta_t ~ N(0, I_K)
    h_id_t     = mu_id + phi_id * (h_id_{t-1} - mu_id) + sigma_id * z_t, z_t  ~ N(0, I_N)

(a VAR(1) for the factor log-variances, Q_h = L_Qh L_Qh^T, diagonal for the model's default;
elementwise AR(1)s for the idiosyncratic ones; a constant idiosyncratic log-variance log sigma2
is the case mu_id = log sigma2, phi_id = 0, sigma_id = 0).

Given the log-variance paths the factors form a linear Gaussian state space, so they are
integrated out exactly per particle (Rao-Blackwellisation: Chen & Liu 2000, "Mixture Kalman
filters"; Doucet, de Freitas, Murphy & Russell 2000). Each particle j carries the
log-variance state s_t^j = (h_t^j, h_id_t^j), the Kalman moments m_{t|t}^j, P_{t|t}^j of
f_t | r_{1:t}, s_{1:t}^j, and a normalised log weight log W_t^j. One step (bootstrap proposal
from the AR(1) transitions, Gordon, Salmond & Smith 1993):

    s_t^j  ~ p(s_t | s_{t-1}^j)                                    (propagate)
    g_t^j  = p(r_t[obs] | r_{1:t-1}, s_{1:t}^j)                    (Kalman step, Woodbury form:
             N(r_t[obs]; Lambda m_{t|t-1}^j, (Lambda P_{t|t-1}^j Lambda^T + D_t^j)[obs, obs]))
    log p^(r_t | r_{1:t-1}) = log sum_j W_{t-1}^j g_t^j           (the increment)
    W_t^j  = W_{t-1}^j g_t^j / sum_i W_{t-1}^i g_t^i

then, when ESS_t = 1 / sum_j (W_t^j)^2 < ess_threshold * P (or at every step with
``resample="always"``), systematic resampling (Carpenter, Clifford & Fearnhead 1999; Douc,
Cappe & Moulines 2005) of whole particles (state and Kalman moments) to equal weights.
The likelihood estimate

    p^(r_{1:T}) = prod_t sum_j W_{t-1}^j g_t^j

is unbiased (Del Moral 2004; Andrieu, Doucet & Holenstein 2010), so ``loglik`` =
sum_t log p^(r_t | r_{1:t-1}) is unbiased in exp (and biased low in the log by about half its
variance). A missing r_{t,i} (mask False) gets idiosyncratic precision 0, exactly as in
``factor_kalman_filter``; a date with every asset missing has g_t^j = 1 (a pure prediction).

With ``marginals=True`` each step also returns the one-step marginal predictive density of
each asset, a Gaussian mixture over the particles,

    p^(r_{t,i} | r_{1:t-1}) = sum_j W_{t-1}^j N(r_{t,i}; (Lambda m_{t|t-1}^j)_i,
                                        (Lambda P_{t|t-1}^j Lambda^T)_ii + exp(h_id_{t,i}^j)),

(NaN where r_{t,i} is missing).

Start: either the stationary law (``fresh``: the first step draws h_1 and h_id_1 from their
stationary laws, h_1 ~ N(mu_h, L_Gh L_Gh^T) with Gamma_h = Phi_h Gamma_h Phi_h^T + Q_h, and
sets f_0 ~ N(0, diag(exp(h_1) / (1 - diag(Phi_f)^2))), the start of
``bayesvol.models.dfsv``), or any cloud, e.g. the final ``state`` of an earlier run to
continue on new data, or ``rbpf_point_state`` (every particle at one (h, h_id, m, P), as for
a posterior draw of the state at the last fitted date); both run the same compiled program.

Everything is one ``lax.scan`` over time of a ``vmap`` over particles of the shared Kalman step
(``factor_kalman.factor_kalman_step``); ``rbpf_scan`` is the traceable core (vmap it over
parameter draws), ``rbpf_filter`` the jitted entry point. The random numbers of step t come from
``jax.random.split(key, T)[t]`` (one normal vector per step: the AR(1) innovations of every
particle and the systematic-resampling uniform U = Phi(z)): same key, same numbers.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import logsumexp, ndtr

from ..errors import InputError
from ..models.factor_var import stationary_cov
from .factor_kalman import factor_kalman_step

__all__ = [
    "RbpfParams",
    "RbpfResult",
    "RbpfState",
    "rbpf_filter",
    "rbpf_point_state",
    "rbpf_scan",
    "rbpf_start_state",
    "student_mixing_draws",
    "systematic_resample",
]

_LOG_2PI = math.log(2.0 * math.pi)
RESAMPLE = ("ess", "always")


class RbpfParams(NamedTuple):
    """Parameters of the DFSV model in natural units (module docstring).

    Lambda [N, K], Phi_f [K, K], mu_h [K], Phi_h [K, K], L_Qh [K, K] (lower Cholesky factor
    of Q_h), L_Gh [K, K] (lower Cholesky factor of the stationary covariance Gamma_h),
    mu_id, phi_id, sigma_id [N]; nu_f [K] and nu_id [N], the Student-t degrees of freedom
    (empty arrays, shape [0], for Gaussian errors; the shape decides at trace time). A pytree:
    add a leading axis to every leaf to vmap over parameter draws.
    """

    Lambda: jax.Array
    Phi_f: jax.Array
    mu_h: jax.Array
    Phi_h: jax.Array
    L_Qh: jax.Array
    L_Gh: jax.Array
    mu_id: jax.Array
    phi_id: jax.Array
    sigma_id: jax.Array
    nu_f: jax.Array
    nu_id: jax.Array

    @classmethod
    def diagonal(cls, Lambda, Phi_f, mu_h, phi_h, sigma_h, mu_id, phi_id, sigma_id,
                 nu_f=None, nu_id=None) -> RbpfParams:
        """From K independent factor AR(1)s (vectors phi_h, sigma_h [K]); nu_f, nu_id None
        for Gaussian errors."""
        phi_h, sigma_h = jnp.asarray(phi_h), jnp.asarray(sigma_h)
        mu_id = jnp.asarray(mu_id)
        empty = jnp.zeros((0,), mu_id.dtype)
        return cls(jnp.asarray(Lambda), jnp.asarray(Phi_f), jnp.asarray(mu_h), jnp.diag(phi_h),
                   jnp.diag(sigma_h), jnp.diag(sigma_h / jnp.sqrt(1.0 - phi_h**2)),
                   mu_id, jnp.asarray(phi_id), jnp.asarray(sigma_id),
                   empty if nu_f is None else jnp.asarray(nu_f),
                   empty if nu_id is None else jnp.asarray(nu_id))

    @property
    def student(self) -> bool:
        """True for Student-t errors (static: from the shapes)."""
        return self.nu_f.shape[-1] > 0

    @classmethod
    def from_natural(cls, p: dict) -> RbpfParams:
        """From the natural parameters of ``DfsvModel.constrain`` (keys Lambda, Phi_f, mu,
        Phi_h, Q_h (or its factor Q_h_chol, and Gamma_h_chol) and mu_id, phi_id, sigma_id, or
        sigma2 for a constant idiosyncratic variance: mu_id = log sigma2, phi_id = sigma_id =
        0; nu_f, nu_id for Student-t errors). Works on batched dicts."""
        Lambda = jnp.asarray(p["Lambda"])
        K = Lambda.shape[-1]
        mu_h = p.get("mu", jnp.zeros(Lambda.shape[:-2] + (K,), Lambda.dtype))
        if "sigma2" in p:
            mu_id = jnp.log(jnp.asarray(p["sigma2"]))
            phi_id = sigma_id = jnp.zeros_like(mu_id)
        else:
            mu_id, phi_id, sigma_id = p["mu_id"], p["phi_id"], p["sigma_id"]
        Phi_h = jnp.asarray(p["Phi_h"])
        L_Q = (jnp.asarray(p["Q_h_chol"]) if "Q_h_chol" in p
               else jnp.linalg.cholesky(jnp.asarray(p["Q_h"])))
        if "Gamma_h_chol" in p:
            L_G = jnp.asarray(p["Gamma_h_chol"])
        else:
            gamma = jnp.vectorize(stationary_cov, signature="(k,k),(k,k)->(k,k)")
            L_G = jnp.linalg.cholesky(gamma(Phi_h, L_Q @ jnp.swapaxes(L_Q, -1, -2)))
        mu_id = jnp.asarray(mu_id)
        empty = jnp.zeros(mu_id.shape[:-1] + (0,), mu_id.dtype)
        return cls(Lambda, jnp.asarray(p["Phi_f"]), jnp.asarray(mu_h), Phi_h, L_Q, L_G,
                   mu_id, jnp.asarray(phi_id), jnp.asarray(sigma_id),
                   jnp.asarray(p["nu_f"]) if "nu_f" in p else empty,
                   jnp.asarray(p["nu_id"]) if "nu_id" in p else empty)


class RbpfState(NamedTuple):
    """A particle cloud: h [P, K], h_id [P, N] log-variances at the current date, Kalman
    moments m [P, K], P [P, K, K] of the factors at that date, normalised log weights
    log_w [P] (logsumexp(log_w) = 0)."""

    h: jax.Array
    h_id: jax.Array
    m: jax.Array
    P: jax.Array
    log_w: jax.Array


class RbpfResult(NamedTuple):
    """Output of ``rbpf_filter`` / ``rbpf_scan``.

    loglik: scalar, sum of loglik_t (its exp is an unbiased estimate of p(r_{1:T}[obs]));
    loglik_t [T]: log p^(r_t[obs] | r_{1:t-1}); ess [T]: effective sample size after weighing
    at t; resampled [T]: whether the cloud was resampled at the end of step t;
    marginal_t [T, N]: log p^(r_{t,i} | r_{1:t-1}) (NaN where missing; None unless asked);
    state: the final cloud (continue a run by passing it back as ``state``).
    """

    loglik: jax.Array
    loglik_t: jax.Array
    ess: jax.Array
    resampled: jax.Array
    marginal_t: jax.Array | None
    state: RbpfState


def systematic_resample(key: jax.Array, log_w: jax.Array) -> jax.Array:
    """Indices [P] of a systematic resample of P particles with log weights ``log_w``:
    u_j = (U + j) / P, U ~ U(0, 1), index_j = min{i : sum_{l <= i} W_l > u_j}."""
    return _systematic(jax.random.uniform(key, (), dtype=log_w.dtype), log_w)


def _systematic(u0: jax.Array, log_w: jax.Array) -> jax.Array:
    """``systematic_resample`` with the uniform U = u0 given."""
    n = log_w.shape[0]
    w = jnp.exp(log_w - logsumexp(log_w))
    cw = jnp.cumsum(w)
    cw = cw / cw[-1]
    u = (u0 + jnp.arange(n, dtype=log_w.dtype)) / n
    return jnp.clip(jnp.searchsorted(cw, u, side="right"), 0, n - 1)


def student_mixing_draws(key: jax.Array, params: RbpfParams, n_part: int
                         ) -> tuple[jax.Array, jax.Array] | tuple[float, float]:
    """u = log W [n_part, K] and [n_part, N] with W ~ IG(v/2, v/2), i.e. log(v/2) - log G,
    G ~ Gamma(v/2); (0, 0) for Gaussian errors (no random numbers drawn)."""
    if not params.student:
        return 0.0, 0.0
    half = 0.5 * jnp.concatenate([params.nu_f, params.nu_id])
    g = jax.random.loggamma(key, jnp.broadcast_to(half, (n_part,) + half.shape))
    u = jnp.log(half) - g
    K = params.nu_f.shape[-1]
    return u[:, :K], u[:, K:]


def _stationary_sd(phi: jax.Array, sigma: jax.Array) -> jax.Array:
    return sigma / jnp.sqrt(1.0 - phi * phi)


def rbpf_start_state(params: RbpfParams, n_particles: int) -> RbpfState:
    """The placeholder cloud of a stationary start (``rbpf_scan(..., fresh=True)``): every
    particle at the levels (mu_h, mu_id), m = 0, P = 0, equal weights; the first step then
    draws h_1, h_id_1 from their stationary laws and sets P_0 = diag(exp(h_1) /
    (1 - diag(Phi_f)^2)). Plain numpy: nothing is compiled."""
    lam = np.asarray(params.Lambda)
    N, K = lam.shape
    rep = np.ones((n_particles, 1))
    return RbpfState(rep * np.asarray(params.mu_h, float), rep * np.asarray(params.mu_id, float),
                     np.zeros((n_particles, K)), np.zeros((n_particles, K, K)),
                     np.full(n_particles, -math.log(n_particles)))


def rbpf_point_state(h: jax.Array, h_id: jax.Array, m: jax.Array, P: jax.Array,
                     n_particles: int) -> RbpfState:
    """P equally weighted copies of one state: h [K], h_id [N], m [K], P [K, K]."""
    def rep(x):
        return jnp.broadcast_to(x, (n_particles,) + x.shape)

    log_w = jnp.full((n_particles,), -math.log(n_particles), jnp.result_type(m.dtype, float))
    return RbpfState(rep(h), rep(h_id), rep(m), rep(P), log_w)


def _marginal_logpdf(Lambda, m_pred, P_pred, h_id, y_t, mask_t, log_w):
    """log sum_j W_j N(y_ti; (Lambda m_pred^j)_i, (Lambda P_pred^j Lambda^T)_ii + e^{h_id_i^j})
    [N], NaN where missing."""
    mean = m_pred @ Lambda.T                                          # [P, N]
    var = jnp.einsum("ik,pkl,il->pi", Lambda, P_pred, Lambda) + jnp.exp(h_id)
    lp = -0.5 * (_LOG_2PI + jnp.log(var) + (y_t - mean) ** 2 / var)
    out = logsumexp(log_w[:, None] + lp, axis=0)
    return jnp.where(mask_t > 0, out, jnp.nan)


def rbpf_scan(
    key: jax.Array,
    params: RbpfParams,
    y: jax.Array,
    mask: jax.Array,
    state: RbpfState,
    fresh: jax.Array | bool = False,
    resample: str = "ess",
    ess_threshold: float | jax.Array = 0.5,
    marginals: bool = False,
) -> RbpfResult:
    """The RBPF over T dates from the cloud ``state`` (module docstring); traceable, so it can
    be vmapped over (key, params, state) and jitted by the caller.

    Args:
        key: PRNG key (step t uses ``jax.random.split(key, T)[t]``).
        params: ``RbpfParams`` (scaled as the data).
        y: [T, N] returns (any value where ``mask`` is False). mask: [T, N] bool.
        state: the cloud at the date before the first row of y (its log-variances are moved
            by one AR(1) step before weighing).
        fresh: instead start from the model's stationary law at the first date (``state``
            is then only a placeholder of the right shapes: ``rbpf_start_state``); a traced
            bool, so fresh and continued runs share one compiled program.
        resample: "ess" (when ESS < ess_threshold * P) or "always".
        marginals: also return each asset's one-step marginal log predictive density.
    """
    if resample not in RESAMPLE:
        raise InputError(f"resample must be 'ess' or 'always', got {resample!r}")
    dtype = params.Lambda.dtype
    n_part = state.log_w.shape[0]
    N, K = params.Lambda.shape
    T = y.shape[0]
    y0 = jnp.where(mask, y, 0.0).astype(dtype)
    maskf = mask.astype(dtype)
    first = (jnp.arange(T) == 0) & jnp.asarray(fresh, bool)
    phi_f2 = jnp.diagonal(params.Phi_f) ** 2
    keys = jax.random.split(key, T)
    kalman = jax.vmap(factor_kalman_step, in_axes=(0, 0, None, None, 0, 0, None, None))

    def step(st: RbpfState, inputs):
        key_t, y_t, mk_t, first_t = inputs
        # one normal draw per step (a single sampler call keeps compilation short): the
        # AR(1) innovations of every particle and, through Phi, the resampling uniform
        z = jax.random.normal(key_t, (n_part * (K + N) + 1,), dtype)
        z_h = z[:n_part * K].reshape(n_part, K)
        z_id = z[n_part * K:-1].reshape(n_part, N)
        u0 = jnp.clip(ndtr(z[-1]), 0.0, 1.0 - 1e-12)
        # propagate the log-variances by their AR(1) transitions (bootstrap proposal); at a
        # fresh start, draw them from the stationary laws instead
        Phi_h = jnp.where(first_t, 0.0, params.Phi_h)
        sd_h = jnp.where(first_t, params.L_Gh, params.L_Qh)
        phi_id = jnp.where(first_t, 0.0, params.phi_id)
        sd_id = jnp.where(first_t, _stationary_sd(params.phi_id, params.sigma_id),
                          params.sigma_id)
        h = params.mu_h + (st.h - params.mu_h) @ Phi_h.T + z_h @ sd_h.T
        h_id = params.mu_id + phi_id * (st.h_id - params.mu_id) + sd_id * z_id
        m0 = jnp.where(first_t, 0.0, st.m)
        P0 = jnp.where(first_t, jax.vmap(jnp.diag)(jnp.exp(h) / (1.0 - phi_f2)), st.P)
        # Student-t errors: this date's mixing variables, u = log W, W ~ IG(v/2, v/2), drawn
        # per particle from their prior (independent over time), added to the log-variances
        u_f, u_id = student_mixing_draws(jax.random.fold_in(key_t, 1), params, n_part)
        # Kalman step per particle: the weights are the one-step predictive densities
        ks = kalman(m0, P0, y_t, mk_t, h + u_f, h_id + u_id, params.Lambda, params.Phi_f)
        lw = st.log_w + ks.loglik
        inc = logsumexp(lw)
        log_w = lw - inc
        ess = 1.0 / jnp.sum(jnp.exp(2.0 * log_w))
        marg = (_marginal_logpdf(params.Lambda, ks.m_pred, ks.P_pred, h_id + u_id, y_t, mk_t,
                                 st.log_w) if marginals else None)
        # systematic resampling of whole particles (state and Kalman moments)
        do = jnp.asarray(True) if resample == "always" else ess < ess_threshold * n_part
        idx = jnp.where(do, _systematic(u0, log_w), jnp.arange(n_part))
        new = RbpfState(h, h_id, ks.m_filt, ks.P_filt, log_w)
        new = jax.tree_util.tree_map(lambda a: a[idx], new)
        new = new._replace(log_w=jnp.where(do, -math.log(n_part), new.log_w).astype(dtype))
        return new, (inc, ess, do, marg)

    final, (inc, ess, did, marg) = lax.scan(step, state, (keys, y0, maskf, first))
    return RbpfResult(jnp.sum(inc), inc, ess, did, marg, final)


@partial(jax.jit, static_argnames=("resample", "marginals"))
def _filter(key, params, y, mask, state, fresh, resample, ess_threshold, marginals):
    return rbpf_scan(key, params, y, mask, state, fresh, resample, ess_threshold, marginals)


def rbpf_filter(
    key: jax.Array,
    params: RbpfParams,
    y: jax.Array,
    mask: jax.Array | None = None,
    state: RbpfState | None = None,
    n_particles: int = 500,
    resample: str = "ess",
    ess_threshold: float = 0.5,
    marginals: bool = False,
) -> RbpfResult:
    """Run the RBPF over y [T, N] (module docstring); jitted (one compilation per shape and
    static option).

    state None: start from the model's stationary law with ``n_particles`` particles, so
    ``exp(loglik)`` is an unbiased estimate of p(r_{1:T}[obs] | params) (with the vol-of-vols
    0 it equals ``factor_loglik`` with P0 = diag(exp(h_1) / (1 - phi_f^2))). Otherwise
    continue from ``state`` (e.g. the ``state`` of a previous result), whose log-variances
    are moved before the first date.
    mask [T, N] bool (None: y finite). Raises InputError on bad shapes or options.
    """
    Lambda = jnp.asarray(params.Lambda)
    dtype = jnp.result_type(Lambda.dtype, float)
    params = RbpfParams(*(jnp.asarray(a, dtype) for a in params))
    y = jnp.asarray(y, dtype)
    if Lambda.ndim != 2:
        raise InputError(f"Lambda must be N x K, got shape {Lambda.shape}")
    N, K = Lambda.shape
    if y.ndim != 2 or y.shape[1] != N:
        raise InputError(f"y must be [T, N={N}], got shape {y.shape}")
    mask = jnp.isfinite(y) if mask is None else jnp.asarray(mask, bool)
    if mask.shape != y.shape:
        raise InputError(f"mask must have shape {y.shape}, got {mask.shape}")
    if resample not in RESAMPLE:
        raise InputError(f"resample must be 'ess' or 'always', got {resample!r}")
    fresh = state is None
    if fresh:
        if int(n_particles) < 1:
            raise InputError(f"n_particles must be >= 1, got {n_particles}")
        state = rbpf_start_state(params, int(n_particles))
    state = RbpfState(*(jnp.asarray(a, dtype) for a in state))
    n = int(state.log_w.shape[0])
    if state.h.shape != (n, K) or state.h_id.shape != (n, N):
        raise InputError("state does not match the parameters' N and K")
    return _filter(key, params, y, mask, state, jnp.asarray(fresh), resample,
                   jnp.asarray(ess_threshold, dtype), bool(marginals))
