"""The factor log-likelihood of a DFSV model with its gradient by Fisher's identity.

Value: log p(y | Lambda, Phi_f, h, h_id) from the Kalman filter (``factor_kalman.py``),
factors integrated out. Gradient (Fisher's identity):

    grad_theta log p(y | theta) = E_{f | y, theta}[grad_theta log p(y, f | theta)],

the gradient of the expected complete-data log-likelihood with the RTS smoother's moments held
fixed: two scans that are not differentiated, then vectorised algebra over time. Measured about
3.5x cheaper than reverse mode through the filter's scan (N = 6, T = 400), equal to it up to
rounding (tested against finite differences). A ``custom_vjp``: first derivatives only.

Static factors (Phi_f = 0, the factor SV model of Gunawan, Kohn & Nott, "Variational
approximation of factor stochastic volatility models", Eqs. (1)-(3)): f_t ~ N(0, Q_t) are
independent over time given h, so there is no recursion and ``fsv_loglik_fisher`` computes
every date at once (vectorised over t, no ``lax.scan``; the paper's

    log p(y | h, h_id, theta) = sum_t log N(y_t; 0, Lambda Q_t Lambda^T + D_t)

with Woodbury and the determinant lemma, as in the paper's Section 4), with the same
Fisher-identity gradient from the exact posterior moments of each f_t.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from .factor_kalman import factor_kalman_filter, factor_kalman_smoother

_LOG_2PI = math.log(2.0 * math.pi)


def _expected_complete_loglik(y0, maskf, Lambda, Phi_f, h, h_id, P0, moments):
    """E_{f ~ p(f | y, h, h_id, theta_0)}[log p(y, f | h, h_id, theta)] with the smoothed moments
    of f at theta_0 held fixed (``moments`` = means [T, K], covs [T, K, K], cross_covs [T, K, K]
    with cross_covs[t] = Cov(f_t, f_{t-1}), mean0 [K], cov0 [K, K]):

        sum_t -1/2 sum_{i obs} [log 2 pi + h_id_ti + e^{-h_id_ti} ((y_ti - Lambda_i m_t)^2
                                                        + Lambda_i P_t Lambda_i^T)]
      + sum_t -1/2 sum_k [log 2 pi + h_tk + e^{-h_tk} ((m_t - Phi_f m_{t-1})_k^2 + V_t,kk)]
      + E log N(f_0; 0, P0)          (omitted when P0 = 0: f_0 = 0 is known)

    with V_t = P_t - C_t Phi_f^T - Phi_f C_t^T + Phi_f P_{t-1} Phi_f^T, C_t = cross_covs[t].
    """
    means, covs, cross, mean0, cov0 = moments
    d = maskf * jnp.exp(-h_id)
    resid = y0 - means @ Lambda.T
    lpl = jnp.einsum("ik,tkl,il->ti", Lambda, covs, Lambda)
    obs = -0.5 * jnp.sum(maskf * (_LOG_2PI + h_id) + d * (resid**2 + lpl))
    prev_m = jnp.concatenate([mean0[None], means[:-1]], axis=0)
    prev_P = jnp.concatenate([cov0[None], covs[:-1]], axis=0)
    e = means - prev_m @ Phi_f.T
    cphi = jnp.einsum("tkj,lj->tkl", cross, Phi_f)               # C_t Phi^T
    V = (covs - cphi - jnp.swapaxes(cphi, 1, 2)
         + jnp.einsum("kj,tjm,lm->tkl", Phi_f, prev_P, Phi_f))
    var = jnp.diagonal(V, axis1=1, axis2=2)
    state = -0.5 * jnp.sum(_LOG_2PI + h + jnp.exp(-h) * (e**2 + var))
    known = jnp.all(P0 == 0.0)
    K = P0.shape[0]
    L0 = jnp.linalg.cholesky(jnp.where(known, jnp.eye(K, dtype=P0.dtype), P0))
    Linv = jax.scipy.linalg.solve_triangular(L0, jnp.eye(K, dtype=P0.dtype), lower=True)
    second = cov0 + jnp.outer(mean0, mean0)
    init = -0.5 * (K * _LOG_2PI + 2.0 * jnp.sum(jnp.log(jnp.diag(L0)))
                   + jnp.trace(Linv @ second @ Linv.T))
    return obs + state + jnp.where(known, 0.0, init)


@jax.custom_vjp
def _fisher_loglik(y0, maskf, Lambda, Phi_f, h, h_id, P0):
    """log p(y | h, h_id, theta) by the Kalman filter, with its gradient by Fisher's identity:

        grad_theta log p(y | theta) = E_{f | y, theta}[grad_theta log p(y, f | theta)],

    i.e. the gradient of ``_expected_complete_loglik`` at theta_0 = theta, which needs the RTS
    smoother's moments once (two scans, not differentiated) and is then vectorised over time;
    reverse mode through the filter's scan costs several times more. Equal to the gradient of
    ``factor_loglik`` up to rounding (tested). First derivatives only.
    """
    return factor_kalman_filter(y0, maskf > 0, Lambda, Phi_f, h, h_id, None, P0).loglik


def _fisher_fwd(y0, maskf, Lambda, Phi_f, h, h_id, P0):
    fr = factor_kalman_filter(y0, maskf > 0, Lambda, Phi_f, h, h_id, None, P0)
    sm = factor_kalman_smoother(fr, Phi_f, h)
    moments = (sm.means, sm.covs, sm.cross_covs, sm.mean0, sm.cov0)
    return fr.loglik, ((y0, maskf, Lambda, Phi_f, h, h_id, P0), moments)


def _fisher_bwd(res, g):
    (y0, maskf, Lambda, Phi_f, h, h_id, P0), moments = res
    grads = jax.grad(
        lambda y0, lam, phi, h, hid, p0: _expected_complete_loglik(
            y0, maskf, lam, phi, h, hid, p0, moments),
        argnums=(0, 1, 2, 3, 4, 5))(y0, Lambda, Phi_f, h, h_id, P0)
    gy, gl, gp, gh, gid, gp0 = (g * x for x in grads)
    return gy, jnp.zeros_like(maskf), gl, gp, gh, gid, gp0


_fisher_loglik.defvjp(_fisher_fwd, _fisher_bwd)


def _outer_rows(Lambda: jax.Array) -> jax.Array:
    """[N, K K] rows vec(Lambda_i^T Lambda_i), so that sum_i d_i Lambda_i^T Lambda_i is one
    matrix product (d [T, N] @ this) instead of T small ones."""
    N, K = Lambda.shape
    return (Lambda[:, :, None] * Lambda[:, None, :]).reshape(N, K * K)


def _static_moments(y0, maskf, Lambda, h, h_id):
    """Per-date log-likelihood terms and posterior moments of f_t when Phi_f = 0, all dates at
    once. With d_t = mask_t exp(-h_id_t), Q_t = diag(exp(h_t)) = L_t L_t^T (L_t diagonal),

        S_t = I + L_t Lambda^T diag(d_t) Lambda L_t = U_t U_t^T,   W_t = U_t^{-1} L_t,
        m_t = E[f_t | y_t] = W_t^T W_t Lambda^T (d_t y_t),
        P_t = Cov[f_t | y_t] = W_t^T W_t = (Q_t^{-1} + Lambda^T diag(d_t) Lambda)^{-1},
        log p(y_t) = -(n_t log 2 pi + sum_obs h_id_t + 2 sum log diag U_t
                       + sum_i d_ti (y_ti - Lambda_i m_t)^2 + |L_t^{-1} m_t|^2) / 2,

    the Kalman update of ``factor_kalman.py`` with m_{t|t-1} = 0, P_{t|t-1} = Q_t (the
    quadratic form again a sum of two non-negative terms). Returns (ll_t [T], m [T, K],
    P [T, K, K], d [T, N], resid [T, N] = y - m Lambda^T)."""
    T = y0.shape[0]
    K = Lambda.shape[1]
    d = maskf * jnp.exp(-h_id)                                   # [T, N]
    sq = jnp.exp(0.5 * h)                                        # [T, K], diag of L_t
    A = (d @ _outer_rows(Lambda)).reshape(T, K, K)               # Lambda^T D_t^{-1} Lambda
    S = jnp.eye(K, dtype=y0.dtype) + sq[:, :, None] * A * sq[:, None, :]
    U = jnp.linalg.cholesky(S)                                   # [T, K, K]
    Uinv = solve_triangular(U, jnp.broadcast_to(jnp.eye(K, dtype=y0.dtype), U.shape),
                            lower=True)
    W = Uinv * sq[:, None, :]                                    # U^{-1} L
    P = jnp.einsum("tjk,tjl->tkl", W, W)
    g = (d * y0) @ Lambda                                        # [T, K]
    m = jnp.einsum("tkl,tl->tk", P, g)
    resid = y0 - m @ Lambda.T
    quad = jnp.sum(d * resid**2, axis=1) + jnp.sum((m / sq) ** 2, axis=1)
    logdet = (jnp.sum(maskf * h_id, axis=1)
              + 2.0 * jnp.sum(jnp.log(jnp.diagonal(U, axis1=1, axis2=2)), axis=1))
    ll_t = -0.5 * (jnp.sum(maskf, axis=1) * _LOG_2PI + logdet + quad)
    return ll_t, m, P, d, resid


@jax.custom_vjp
def _static_loglik(y0, maskf, Lambda, h, h_id):
    """sum_t log N(y_t[obs]; 0, Lambda Q_t Lambda^T + D_t) (``_static_moments``), gradient by
    Fisher's identity: the gradient of the expected complete-data log-likelihood
    (``_expected_complete_loglik`` with Phi_f = 0) at the posterior moments m_t, P_t held
    fixed, in closed form (``_static_bwd``)."""
    return jnp.sum(_static_moments(y0, maskf, Lambda, h, h_id)[0])


def _static_fwd(y0, maskf, Lambda, h, h_id):
    ll_t, m, P, d, resid = _static_moments(y0, maskf, Lambda, h, h_id)
    return jnp.sum(ll_t), (maskf, Lambda, h, m, P, d, resid)


def _static_bwd(res, g):
    """With r = y - m Lambda^T, lpl_ti = Lambda_i P_t Lambda_i^T (Fisher's identity):

        d/dh_id_ti   = (d_ti (r_ti^2 + lpl_ti) - mask_ti) / 2
        d/dh_tk      = (exp(-h_tk) (m_tk^2 + P_t,kk) - 1) / 2
        d/dLambda_i  = sum_t d_ti (r_ti m_t^T - Lambda_i P_t)
        d/dy_ti      = -d_ti r_ti
    """
    maskf, Lambda, h, m, P, d, resid = res
    T, K = m.shape
    N = Lambda.shape[0]
    Pf = P.reshape(T, K * K)
    lpl = Pf @ _outer_rows(Lambda).T                             # [T, N]
    dr = d * resid
    g_hid = 0.5 * (d * (resid**2 + lpl) - maskf)
    g_h = 0.5 * (jnp.exp(-h) * (m**2 + jnp.diagonal(P, axis1=1, axis2=2)) - 1.0)
    DP = (d.T @ Pf).reshape(N, K, K)                             # sum_t d_ti P_t
    g_lam = dr.T @ m - jnp.einsum("il,ikl->ik", Lambda, DP)
    return -g * dr, jnp.zeros_like(maskf), g * g_lam, g * g_h, g * g_hid


_static_loglik.defvjp(_static_fwd, _static_bwd)


def fsv_loglik_fisher(y: jax.Array, mask: jax.Array | None, Lambda: jax.Array, h: jax.Array,
                      h_id: jax.Array) -> jax.Array:
    """``factor_loglik`` for Phi_f = 0 (static factors, f_t ~ N(0, diag(exp(h_t))) independent
    over t): sum_t log N(y_t[obs]; 0, Lambda diag(exp(h_t)) Lambda^T + diag(exp(h_id_t))[obs]),
    every date at once (module docstring), gradient by Fisher's identity. y, mask [T, N]; NaN
    allowed where mask is False."""
    y = jnp.asarray(y)
    mask = jnp.ones(y.shape, bool) if mask is None else jnp.asarray(mask, bool)
    maskf = mask.astype(y.dtype)
    y0 = jnp.where(mask, y, 0.0)
    return _static_loglik(y0, maskf, Lambda, h, h_id)


def factor_loglik_fisher(y: jax.Array, mask: jax.Array | None, Lambda: jax.Array,
                         Phi_f: jax.Array, h: jax.Array, h_id: jax.Array,
                         P0: jax.Array | None = None) -> jax.Array:
    """``factor_loglik`` with f_0 ~ N(0, P0) (P0 None or 0: f_0 = 0), its gradient by Fisher's
    identity (``_fisher_loglik``). y, mask [T, N]; NaN allowed where mask is False. P0 must be
    0 or positive definite."""
    y = jnp.asarray(y)
    mask = jnp.ones(y.shape, bool) if mask is None else jnp.asarray(mask, bool)
    maskf = mask.astype(y.dtype)
    y0 = jnp.where(mask, y, 0.0)
    K = Lambda.shape[1]
    P0 = jnp.zeros((K, K), y.dtype) if P0 is None else jnp.asarray(P0, y.dtype)
    return _fisher_loglik(y0, maskf, Lambda, Phi_f, h, h_id, P0)
