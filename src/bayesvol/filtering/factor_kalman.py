"""Exact Kalman filter, RTS smoother and FFBS for the factors of a dynamic factor SV model.

Given the log-variance paths h (factors, [T, K]) and h_id (idiosyncratic, [T, N]), the DFSV
model (``bayesvol.simulate.dfsv``) is a linear Gaussian state-space model in the factors:

    r_t = Lambda f_t + eps_t,        eps_t ~ N(0, D_t),  D_t = diag(exp(h_id_t))
    f_t = Phi_f f_{t-1} + nu_t,      nu_t  ~ N(0, Q_t),  Q_t = diag(exp(h_t))
    f_0 ~ N(m0, P0)                  (default m0 = 0, P0 = 0: f_0 = 0 known)

with r_t in R^N, f_t in R^K, Lambda N x K, Phi_f K x K. Arrays are time-first: y and mask are
[T, N]. A missing r_{t,i} (``mask[t, i]`` False; y may hold NaN there) gets idiosyncratic
precision zero, so it contributes nothing; a date with every asset missing is a pure
prediction step (its log-likelihood term is 0).

Filter (information form / Woodbury, O(N K^2 + K^3) a step, never an N x N matrix). With the
precision vector d_t = mask_t * exp(-h_id_t), A_t = Lambda^T diag(d_t) Lambda (K x K) and
e_t = r_t - Lambda m_{t|t-1} (missing entries set to 0):

    predict:  m_{t|t-1} = Phi_f m_{t-1|t-1},   P_{t|t-1} = Phi_f P_{t-1|t-1} Phi_f^T + Q_t
    factor:   P_{t|t-1} = L L^T (Cholesky),   S_t = I + L^T A_t L = U U^T (Cholesky)
              W_t = U^{-1} L^T,   u_t = W_t Lambda^T (d_t * e_t)
    update:   P_{t|t} = (P_{t|t-1}^{-1} + A_t)^{-1} = W_t^T W_t,
              m_{t|t} = m_{t|t-1} + W_t^T u_t

The one-step predictive density over the n_t observed entries,
log N(r_t[obs]; Lambda m_{t|t-1}, (Lambda P_{t|t-1} Lambda^T + D_t)[obs, obs]), uses the
matrix determinant lemma and the Woodbury identity:

    log det = sum_{i obs} h_id_{t,i} + log det(S_t) = sum_{obs} h_id + 2 sum log diag(U)
    quad    = e^T (Lambda P Lambda^T + D)^{-1} e
            = sum_i d_i (e_i - (Lambda delta)_i)^2 + |U^{-T} u_t|^2,   delta = m_{t|t} - m_{t|t-1}
    log p(r_t | r_{1:t-1}) = -(n_t log(2 pi) + log det + quad) / 2

(the quadratic form is written as a sum of two non-negative terms, the minimum over f of
|e - Lambda (f - m)|^2_D^{-1} + |f - m|^2_P^{-1}, so it never cancels catastrophically).

RTS smoother, with G_t = P_{t|t} Phi_f^T P_{t+1|t}^{-1} (Cholesky solve):

    m_{t|T} = m_{t|t} + G_t (m_{t+1|T} - m_{t+1|t})
    P_{t|T} = (I - G_t Phi_f) P_{t|t} (I - G_t Phi_f)^T + G_t (Q_{t+1} + P_{t+1|T}) G_t^T
    Cov(f_{t+1}, f_t | r_{1:T}) = P_{t+1|T} G_t^T

(the Joseph-type form of P_{t|t} - G_t (P_{t+1|t} - P_{t+1|T}) G_t^T: a sum of PSD terms).

FFBS draws f_T ~ N(m_{T|T}, P_{T|T}) and then, backwards, f_t | f_{t+1}, r_{1:t} ~ N(c, C) with

    C = (P_{t|t}^{-1} + Phi_f^T Q_{t+1}^{-1} Phi_f)^{-1} = R M^{-1} R^T,
    c = m_{t|t} + C Phi_f^T Q_{t+1}^{-1} (f_{t+1} - Phi_f m_{t|t}),

where P_{t|t} = R R^T (R = W_t^T, kept by the filter), B = Q_{t+1}^{-1/2} Phi_f R and
M = I + B^T B (eigenvalues >= 1), so no ill-conditioned matrix is ever factorised.

Everything is a ``lax.scan`` over time, jit-able, reverse-mode differentiable in every input
and vmappable (e.g. over Monte Carlo draws of h, h_id or over PRNG keys).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import cho_solve, solve_triangular

from ..errors import InputError

__all__ = [
    "FactorFilterResult",
    "FactorSmootherResult",
    "KalmanStep",
    "factor_kalman_step",
    "factor_ffbs",
    "factor_kalman_filter",
    "factor_kalman_smoother",
    "factor_loglik",
]

_LOG_2PI = math.log(2.0 * math.pi)


class FactorFilterResult(NamedTuple):
    """Output of ``factor_kalman_filter`` (t runs over the T rows, 0-based).

    loglik: scalar, sum of ``loglik_t``; loglik_t: [T], log p(r_t[obs] | r_{1:t-1});
    filt_means, filt_covs: [T, K], [T, K, K], m_{t|t}, P_{t|t};
    pred_means, pred_covs: [T, K], [T, K, K], m_{t|t-1}, P_{t|t-1};
    filt_sqrt: [T, K, K], a square root R_t with P_{t|t} = R_t R_t^T (not triangular);
    m0, P0: [K], [K, K], the initial law of f_0 that was used.
    """

    loglik: jax.Array
    loglik_t: jax.Array
    filt_means: jax.Array
    filt_covs: jax.Array
    pred_means: jax.Array
    pred_covs: jax.Array
    filt_sqrt: jax.Array
    m0: jax.Array
    P0: jax.Array


class FactorSmootherResult(NamedTuple):
    """Output of ``factor_kalman_smoother``.

    means, covs: [T, K], [T, K, K], E[f_t | r_{1:T}] and Cov[f_t | r_{1:T}];
    cross_covs: [T, K, K], ``cross_covs[t] = Cov(f_t, f_{t-1} | r_{1:T})`` (row 0 pairs f_1
    with f_0, and is zero when P0 = 0);
    mean0, cov0: [K], [K, K], the smoothed law of f_0.
    """

    means: jax.Array
    covs: jax.Array
    cross_covs: jax.Array
    mean0: jax.Array
    cov0: jax.Array


def _sym(a: jax.Array) -> jax.Array:
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


def _check_shapes(y, mask, Lambda, Phi_f, h, h_id, m0, P0) -> tuple[int, int, int]:
    if Lambda.ndim != 2:
        raise InputError(f"Lambda must be N x K, got shape {Lambda.shape}")
    N, K = Lambda.shape
    if y.ndim != 2 or y.shape[1] != N:
        raise InputError(f"y must be [T, N={N}], got shape {y.shape}")
    T = y.shape[0]
    checks = {
        "mask": (mask.shape, (T, N)), "Phi_f": (Phi_f.shape, (K, K)), "h": (h.shape, (T, K)),
        "h_id": (h_id.shape, (T, N)), "m0": (m0.shape, (K,)), "P0": (P0.shape, (K, K)),
    }
    for name, (got, want) in checks.items():
        if tuple(got) != want:
            raise InputError(f"{name} must have shape {want}, got {tuple(got)}")
    return T, N, K


def factor_kalman_filter(
    y: jax.Array,
    mask: jax.Array | None,
    Lambda: jax.Array,
    Phi_f: jax.Array,
    h: jax.Array,
    h_id: jax.Array,
    m0: jax.Array | None = None,
    P0: jax.Array | None = None,
) -> FactorFilterResult:
    """Kalman filter for the factors f_t given the log-variance paths (module docstring).

    Model: r_t = Lambda f_t + eps_t, eps_t ~ N(0, diag(exp(h_id_t))); f_t = Phi_f f_{t-1} +
    nu_t, nu_t ~ N(0, diag(exp(h_t))); f_0 ~ N(m0, P0).

    Args:
        y: [T, N] returns (any value, NaN included, where ``mask`` is False).
        mask: [T, N] boolean, True where r_{t,i} is observed (None: all observed).
        Lambda: [N, K] loadings. Phi_f: [K, K] factor VAR(1) matrix.
        h: [T, K] factor log-variances. h_id: [T, N] idiosyncratic log-variances.
        m0: [K] mean of f_0 (default 0). P0: [K, K] PSD covariance of f_0 (default 0).

    Returns:
        FactorFilterResult with loglik = sum_t log p(r_t[obs] | r_{1:t-1}, h, h_id), the
        per-date terms, filtered and predicted moments and square roots of P_{t|t}.

    Update per step (d = mask * exp(-h_id), e = r - Lambda m_pred, L L^T = P_pred):
        S = I + L^T Lambda^T diag(d) Lambda L = U U^T, W = U^{-1} L^T,
        u = W Lambda^T (d * e), P_filt = W^T W, m_filt = m_pred + W^T u,
        log p = -(n_obs log 2pi + sum_obs h_id + 2 sum log diag U
                  + sum d (e - Lambda (m_filt - m_pred))^2 + |U^{-T} u|^2) / 2.
    """
    Lambda = jnp.asarray(Lambda)
    dtype = jnp.result_type(Lambda.dtype, float)
    Lambda = Lambda.astype(dtype)
    y = jnp.asarray(y, dtype=dtype)
    Phi_f = jnp.asarray(Phi_f, dtype=dtype)
    h = jnp.asarray(h, dtype=dtype)
    h_id = jnp.asarray(h_id, dtype=dtype)
    mask = jnp.ones(y.shape, dtype=bool) if mask is None else jnp.asarray(mask, dtype=bool)
    K = Lambda.shape[-1] if Lambda.ndim == 2 else 0
    m0 = jnp.zeros((K,), dtype) if m0 is None else jnp.asarray(m0, dtype)
    P0 = jnp.zeros((K, K), dtype) if P0 is None else jnp.asarray(P0, dtype)
    _check_shapes(y, mask, Lambda, Phi_f, h, h_id, m0, P0)
    return _filter(y, mask, Lambda, Phi_f, h, h_id, m0, P0)


class KalmanStep(NamedTuple):
    """One step of the factor filter (``factor_kalman_step``): filtered m_{t|t}, P_{t|t}, the
    predictive log density ``loglik``, predicted m_{t|t-1}, P_{t|t-1}, and a square root R
    with P_{t|t} = R R^T."""

    m_filt: jax.Array
    P_filt: jax.Array
    loglik: jax.Array
    m_pred: jax.Array
    P_pred: jax.Array
    sqrt_filt: jax.Array


def factor_kalman_step(
    m: jax.Array,
    P: jax.Array,
    y_t: jax.Array,
    mask_t: jax.Array,
    h_t: jax.Array,
    hid_t: jax.Array,
    Lambda: jax.Array,
    Phi_f: jax.Array,
) -> KalmanStep:
    """One predict + update step of the factor Kalman filter (module docstring), shared by
    ``factor_kalman_filter`` and the Rao-Blackwellised particle filter (``filtering.rbpf``).

    Args: m [K], P [K, K] the filtered moments of f_{t-1}; y_t [N] (finite: 0 where missing);
    mask_t [N] float (1 observed, 0 missing); h_t [K], hid_t [N] the log-variances at t;
    Lambda [N, K]; Phi_f [K, K]. Pure, jit-able and vmappable (e.g. over particles).

        m_pred = Phi_f m,  P_pred = Phi_f P Phi_f^T + diag(exp(h_t)) = L L^T,
        d = mask * exp(-hid_t),  S = I + L^T Lambda^T diag(d) Lambda L = U U^T,
        W = U^{-1} L^T,  u = W Lambda^T (d * (y_t - Lambda m_pred)),
        P_filt = W^T W,  m_filt = m_pred + W^T u,
        loglik = -(n_obs log 2 pi + sum_obs hid + 2 sum log diag U
                   + sum d (e - Lambda (m_filt - m_pred))^2 + |U^{-T} u|^2) / 2.
    """
    K = Lambda.shape[1]
    eye = jnp.eye(K, dtype=Lambda.dtype)
    # predict
    m_pred = Phi_f @ m
    P_pred = _sym(Phi_f @ P @ Phi_f.T + jnp.diag(jnp.exp(h_t)))
    L = jnp.linalg.cholesky(P_pred)
    # update in information form: only K x K matrices
    d = mask_t * jnp.exp(-hid_t)                        # [N] observed precisions (0 if missing)
    sqrt_d = mask_t * jnp.exp(-0.5 * hid_t)
    B = sqrt_d[:, None] * (Lambda @ L)                  # [N, K], B^T B = L^T A L
    S = eye + B.T @ B
    U = jnp.linalg.cholesky(_sym(S))
    W = solve_triangular(U, L.T, lower=True)            # U^{-1} L^T, P_filt = W^T W
    e = y_t - Lambda @ m_pred                            # [N]; missing entries carry weight d = 0
    g = Lambda.T @ (d * e)                              # [K]
    u = W @ g
    delta = W.T @ u                                     # m_filt - m_pred
    m_filt = m_pred + delta
    P_filt = _sym(W.T @ W)
    # predictive log density by the determinant lemma and Woodbury, stable quad form
    resid = e - Lambda @ delta
    v = solve_triangular(U.T, u, lower=False)           # U^{-T} u = L^{-1} delta
    quad = jnp.sum(d * resid**2) + jnp.sum(v**2)
    logdet = jnp.sum(mask_t * hid_t) + 2.0 * jnp.sum(jnp.log(jnp.diag(U)))
    n_obs = jnp.sum(mask_t)
    ll = -0.5 * (n_obs * _LOG_2PI + logdet + quad)
    return KalmanStep(m_filt, P_filt, ll, m_pred, P_pred, W.T)


@jax.jit
def _filter(y, mask, Lambda, Phi_f, h, h_id, m0, P0) -> FactorFilterResult:
    """The filter proper on normalised, shape-checked arrays (one compilation per shape)."""
    y0 = jnp.where(mask, y, 0.0)                        # NaN-free, so gradients stay finite
    maskf = mask.astype(Lambda.dtype)

    def step(carry, inputs):
        m, P = carry
        y_t, mk_t, h_t, hid_t = inputs
        s = factor_kalman_step(m, P, y_t, mk_t, h_t, hid_t, Lambda, Phi_f)
        return (s.m_filt, s.P_filt), (s.loglik, s.m_filt, s.P_filt, s.m_pred, s.P_pred,
                                      s.sqrt_filt)

    _, (ll_t, mf, Pf, mp, Pp, Rf) = lax.scan(step, (m0, P0), (y0, maskf, h, h_id))
    return FactorFilterResult(jnp.sum(ll_t), ll_t, mf, Pf, mp, Pp, Rf, m0, P0)


def factor_loglik(
    y: jax.Array,
    mask: jax.Array | None,
    Lambda: jax.Array,
    Phi_f: jax.Array,
    h: jax.Array,
    h_id: jax.Array,
    m0: jax.Array | None = None,
    P0: jax.Array | None = None,
) -> jax.Array:
    """log p(r_{1:T}[obs] | Lambda, Phi_f, h, h_id) with the factors integrated out exactly.

    Equals sum_t log N(r_t[obs]; Lambda m_{t|t-1}, (Lambda P_{t|t-1} Lambda^T + D_t)[obs, obs])
    from ``factor_kalman_filter`` (same arguments); a scalar, differentiable in all inputs.
    (A thin wrapper over the jitted filter, so it shares the filter's compilation cache.)
    """
    return factor_kalman_filter(y, mask, Lambda, Phi_f, h, h_id, m0, P0).loglik


@jax.jit
def factor_kalman_smoother(
    filter_result: FactorFilterResult,
    Phi_f: jax.Array,
    h: jax.Array,
) -> FactorSmootherResult:
    """Rauch-Tung-Striebel smoother: moments of f_t given all observed r_{1:T}.

    With G_t = P_{t|t} Phi_f^T P_{t+1|t}^{-1} and Q_{t+1} = diag(exp(h_{t+1})), backwards from
    m_{T|T}, P_{T|T} (and down to f_0, whose filtered law is N(m0, P0)):

        m_{t|T} = m_{t|t} + G_t (m_{t+1|T} - m_{t+1|t})
        P_{t|T} = (I - G_t Phi_f) P_{t|t} (I - G_t Phi_f)^T + G_t (Q_{t+1} + P_{t+1|T}) G_t^T
        Cov(f_{t+1}, f_t | r_{1:T}) = P_{t+1|T} G_t^T

    Args: the filter output, and the same Phi_f [K, K] and h [T, K] given to the filter.
    """
    fr = filter_result
    Phi_f = jnp.asarray(Phi_f, dtype=fr.filt_means.dtype)
    h = jnp.asarray(h, dtype=fr.filt_means.dtype)
    K = fr.filt_means.shape[-1]
    eye = jnp.eye(K, dtype=fr.filt_means.dtype)
    # rows j = 0..T-1 of the states f_0..f_{T-1}, each paired with the prediction of f_{j+1}
    mf_prev = jnp.concatenate([fr.m0[None], fr.filt_means[:-1]], axis=0)
    Pf_prev = jnp.concatenate([fr.P0[None], fr.filt_covs[:-1]], axis=0)

    def step(carry, inputs):
        m_next, P_next = carry                          # smoothed f_{j+1}
        m_f, P_f, m_pred, P_pred, h_next = inputs
        L = jnp.linalg.cholesky(_sym(P_pred))
        G = cho_solve((L, True), Phi_f @ P_f).T         # P_f Phi^T P_pred^{-1}
        I_GF = eye - G @ Phi_f
        m_s = m_f + G @ (m_next - m_pred)
        P_s = I_GF @ P_f @ I_GF.T + G @ (jnp.diag(jnp.exp(h_next)) + P_next) @ G.T
        cross = P_next @ G.T                            # Cov(f_{j+1}, f_j | r)
        return (m_s, _sym(P_s)), (m_s, _sym(P_s), cross)

    init = (fr.filt_means[-1], fr.filt_covs[-1])
    _, (ms, Ps, cross) = lax.scan(
        step, init, (mf_prev, Pf_prev, fr.pred_means, fr.pred_covs, h), reverse=True)
    means = jnp.concatenate([ms[1:], fr.filt_means[-1:]], axis=0)
    covs = jnp.concatenate([Ps[1:], fr.filt_covs[-1:]], axis=0)
    return FactorSmootherResult(means, covs, cross, ms[0], Ps[0])


@jax.jit
def factor_ffbs(
    key: jax.Array,
    filter_result: FactorFilterResult,
    Phi_f: jax.Array,
    h: jax.Array,
) -> jax.Array:
    """One draw of f_{1:T} [T, K] from p(f_{1:T} | r_{1:T}, h, h_id) (forward filtering,
    backward sampling). Vmap over ``key`` for many draws.

    f_T = m_{T|T} + R_T z_T, and backwards for t = T-1, ..., 1 (P_{t|t} = R_t R_t^T,
    Q = diag(exp(h_{t+1})), B = Q^{-1/2} Phi_f R_t, M = I + B^T B = V V^T):

        f_t = m_{t|t} + R_t M^{-1} B^T Q^{-1/2} (f_{t+1} - Phi_f m_{t|t}) + R_t V^{-T} z_t,

    i.e. f_t | f_{t+1}, r_{1:t} ~ N(c, C), C = (P_{t|t}^{-1} + Phi_f^T Q^{-1} Phi_f)^{-1},
    c = m_{t|t} + C Phi_f^T Q^{-1} (f_{t+1} - Phi_f m_{t|t}), z_t ~ N(0, I_K).
    Reparameterised: differentiable in the filter output, Phi_f and h for a fixed key.
    """
    fr = filter_result
    dtype = fr.filt_means.dtype
    Phi_f = jnp.asarray(Phi_f, dtype=dtype)
    h = jnp.asarray(h, dtype=dtype)
    T, K = fr.filt_means.shape
    eye = jnp.eye(K, dtype=dtype)
    z = jax.random.normal(key, (T, K), dtype=dtype)
    f_last = fr.filt_means[-1] + fr.filt_sqrt[-1] @ z[-1]

    def step(f_next, inputs):
        m_f, R, h_next, z_t = inputs
        q_isqrt = jnp.exp(-0.5 * h_next)                # Q^{-1/2} diagonal
        B = q_isqrt[:, None] * (Phi_f @ R)
        V = jnp.linalg.cholesky(_sym(eye + B.T @ B))
        rhs = B.T @ (q_isqrt * (f_next - Phi_f @ m_f))
        mean = m_f + R @ cho_solve((V, True), rhs)
        f_t = mean + R @ solve_triangular(V.T, z_t, lower=False)
        return f_t, f_t

    _, fs = lax.scan(
        step, f_last, (fr.filt_means[:-1], fr.filt_sqrt[:-1], h[1:], z[:-1]), reverse=True)
    return jnp.concatenate([fs, f_last[None]], axis=0)
