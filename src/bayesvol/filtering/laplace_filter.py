"""A fast approximate filter for the DFSV model given its parameters: a Laplace update of the
log-variances with the factors integrated out by the Kalman filter.

The notebook of seed 001 filtered a multivariate SV model by a one-step Laplace update: at
each date, maximise log N(r_t; 0, Sigma(x)) + log N(x; x_pred, P_pred) over the state x by
BFGS, and take the inverse Hessian at the mode as the updated covariance (an iterated-EKF
step). Generalised here to the DFSV state (model as in ``filtering.rbpf``): the state is the
log-variances x_t = (h_t [K], h_id_t [N]), whose transition is the factors' VAR(1) (Phi_h,
Q_h) next to the idiosyncratic AR(1)s, and the factors f_t are integrated out by the Kalman
filter conditional on the filtered modes:

    predict:  x_pred = mu + F (x_{t-1|t-1} - mu),  P_pred = F P_{t-1} F^T + Q,
              F = blockdiag(Phi_h, diag(phi_id)),  Q = blockdiag(Q_h, diag(sigma_id^2)),
              mu = (mu_h, mu_id)
    update:   g(x) = log p(r_t | x, r_{1:t-1}) + log N(x; x_pred, P_pred)
              log p(r_t | x, r_{1:t-1}) = the Kalman step's predictive log density
              (``factor_kalman.factor_kalman_step`` from the factor moments m_{t-1}, P_{t-1})
              x_t = argmax g by ``newton_steps`` damped Newton steps from x_pred, with the
              exact Hessian H (autodiff); P_t = (-H(x_t))^{-1}
              (m_t, P_t^f) = the Kalman update of the factors at x_t
    log-likelihood increment (Laplace's approximation of the integral over x):
              log p^(r_t | r_{1:t-1}) = g(x_t) + d/2 log(2 pi) + 1/2 log det P_t,  d = K + N
              = log p(r_t | x_t, .) - (x_t - x_pred)^T P_pred^{-1} (x_t - x_pred) / 2
                + (log det P_t - log det P_pred) / 2.

Differences from the notebook: no pairwise tanh correlations (the factor structure keeps
every covariance positive definite), an exact Hessian instead of BFGS's running estimate, and
the factors integrated out. With vol-of-vols near 0 the prior of x is a point mass and the
filter is the exact Kalman filter at x = mu (tested); otherwise its likelihood is biased, and
the Rao-Blackwellised particle filter (``filtering.rbpf``, unbiased) is the reference it is
checked against. Start: x_0 ~ the stationary law (covariance Gamma_h for h, and
sigma_id^2 / (1 - phi_id^2) for h_id), f_0 ~ N(0, diag(exp(mu_h) / (1 - diag(Phi_f)^2))).
One ``lax.scan`` over dates, the Newton steps unrolled inside.
Missing returns (mask False) carry no information, as in the Kalman filter.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from .factor_kalman import factor_kalman_step
from .rbpf import RbpfParams


class LaplaceFilterResult(NamedTuple):
    """loglik (the sum of the increments), loglik_t [T]; the filtered log-variance means
    h [T, K], h_id [T, N] and their sds h_sd, h_id_sd; the filtered factor means f [T, K];
    grad_norm [T] (the max |gradient| at each date's mode: large values flag a failed
    Newton update)."""

    loglik: jax.Array
    loglik_t: jax.Array
    h: jax.Array
    h_id: jax.Array
    h_sd: jax.Array
    h_id_sd: jax.Array
    f: jax.Array
    grad_norm: jax.Array


def _filter(params: RbpfParams, y: jax.Array, mask: jax.Array, newton_steps: int):
    N, K = params.Lambda.shape
    dtype = params.Lambda.dtype
    mu = jnp.concatenate([params.mu_h, params.mu_id])
    d = K + N
    eye = jnp.eye(d, dtype=dtype)
    F = eye.at[:K, :K].set(params.Phi_h).at[K:, K:].set(jnp.diag(params.phi_id))
    Q = jnp.zeros((d, d), dtype).at[:K, :K].set(params.L_Qh @ params.L_Qh.T)
    Q = Q.at[K:, K:].set(jnp.diag(params.sigma_id**2))
    y0 = jnp.where(mask, y, 0.0).astype(dtype)
    maskf = mask.astype(dtype)
    phi_f2 = jnp.diagonal(params.Phi_f) ** 2
    floor = 1e-12  # keeps P_pred invertible where a variance is constant (sigma = phi = 0)

    def step(carry, inputs):
        mx, Px, mf, Pf = carry
        y_t, mk_t = inputs
        x_pred = mu + F @ (mx - mu)
        P_pred = F @ Px @ F.T + Q + floor * eye
        P_inv = jnp.linalg.inv(P_pred)
        _, logdet_pred = jnp.linalg.slogdet(P_pred)

        def g(x):
            lik = factor_kalman_step(mf, Pf, y_t, mk_t, x[:K], x[K:], params.Lambda,
                                     params.Phi_f).loglik
            r = x - x_pred
            return lik - 0.5 * r @ P_inv @ r

        grad, hess = jax.grad(g), jax.hessian(g)
        x, gx = x_pred, g(x_pred)
        for _ in range(newton_steps):  # unrolled: no loop nested inside the scan
            A = -hess(x)
            A = 0.5 * (A + A.T)
            # Levenberg damping where -H is not positive definite far from the mode
            lam = jnp.maximum(0.0, -jnp.min(jnp.linalg.eigvalsh(A))) + 1e-9
            x_new = x + jnp.linalg.solve(A + lam * eye, grad(x))
            g_new = g(x_new)
            better = jnp.isfinite(g_new) & (g_new >= gx)
            x, gx = jnp.where(better, x_new, x), jnp.where(better, g_new, gx)
        A = -hess(x)
        A = 0.5 * (A + A.T)
        P_post = jnp.linalg.inv(A)
        _, logdet = jnp.linalg.slogdet(P_post)
        # g holds log N(x; x_pred, P_pred) up to -(d log 2 pi + log det P_pred) / 2
        ll = gx + 0.5 * (logdet - logdet_pred)
        ks = factor_kalman_step(mf, Pf, y_t, mk_t, x[:K], x[K:], params.Lambda, params.Phi_f)
        gnorm = jnp.max(jnp.abs(grad(x)))
        sd = jnp.sqrt(jnp.clip(jnp.diagonal(P_post), 0.0, None))
        return (x, P_post, ks.m_filt, ks.P_filt), (ll, x, sd, ks.m_filt, gnorm)

    # the carry holds the moments at "date 0": x_0 ~ the stationary law, so the prediction
    # of date 1 (F P0 F^T + Q = P0) is the stationary law too; f_0 as documented
    var_id = params.sigma_id**2 / jnp.maximum(1.0 - params.phi_id**2, 1e-12)
    Px0 = jnp.zeros((d, d), dtype).at[:K, :K].set(params.L_Gh @ params.L_Gh.T)
    mx0, Px0 = mu, Px0.at[K:, K:].set(jnp.diag(var_id))
    mf0 = jnp.zeros(K, dtype)
    Pf0 = jnp.diag(jnp.exp(params.mu_h) / (1.0 - phi_f2))
    _, (ll_t, x, sd, f, gnorm) = jax.lax.scan(step, (mx0, Px0, mf0, Pf0), (y0, maskf))
    return LaplaceFilterResult(jnp.sum(ll_t), ll_t, x[:, :K], x[:, K:], sd[:, :K], sd[:, K:],
                               f, gnorm)


_filter_jit = jax.jit(_filter, static_argnames=("newton_steps",))


def laplace_filter(params: RbpfParams, y, mask=None, newton_steps: int = 6
                   ) -> LaplaceFilterResult:
    """Run the Laplace filter (module docstring) over y [T, N] given ``params``
    (``RbpfParams``, e.g. ``RbpfParams.from_natural(model.constrain(theta))``, on the data's
    scale). mask [T, N] bool (None: y finite). Jitted: one compilation per shape.
    Raises InputError on bad shapes or options."""
    params = RbpfParams(*(jnp.asarray(a, float) for a in params))
    if params.student:
        raise InputError("the Laplace filter is for Gaussian errors; use the particle filter "
                         "(filtering.rbpf) for Student-t errors")
    y = np.asarray(y, float)
    N, K = params.Lambda.shape
    if y.ndim != 2 or y.shape[1] != N:
        raise InputError(f"y must be [T, N={N}], got shape {y.shape}")
    mask = np.isfinite(y) if mask is None else np.asarray(mask, bool) & np.isfinite(y)
    if int(newton_steps) < 1:
        raise InputError(f"newton_steps must be >= 1, got {newton_steps}")
    return _filter_jit(params, jnp.asarray(np.where(mask, y, 0.0)), jnp.asarray(mask),
                       newton_steps=int(newton_steps))
