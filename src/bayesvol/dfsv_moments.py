"""Posterior moments of a factor SV fit's time-varying covariance and log-variance paths,
over posterior draws (jitted scans over draws; used by ``bayesvol.dfsv_fit.DfsvFit``).

For draw j, with loadings Lambda^j and log-variances h^j [T, K], h_id^j [T, N] (the stored
path draw for NUTS, or a draw from q(x | theta^j) for VI):

    Cov_t^j = Lambda^j diag(exp(h_t^j) m_f^j) Lambda^j^T + diag(exp(h_id_t^j) m_id^j),

(m = E W = v / (v - 2) for Student-t errors, the covariance given the log-variances with the
mixing integrated out; 1 for Gaussian errors)
    Corr_t^j = D^{-1/2} Cov_t^j D^{-1/2},  D = diag(Cov_t^j),

and ``moment_paths`` returns (1/D) sum_j Cov_t^j and (1/D) sum_j Corr_t^j at chosen dates;
``draw_log_variance_moments`` the mean and sd over MCMC draws of each log-variance path.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .inference.dfsv import family as fam
from .models.dfsv import DfsvModel


def log_variance_paths(model: DfsvModel, paths: str, theta: jax.Array, x: jax.Array
                        ) -> tuple[jax.Array, jax.Array]:
    """Factor [T, K] and idiosyncratic [T, N] log-variances of one draw (theta, x [M, T])."""
    T = x.shape[1]
    if paths == "noncentred":
        h, h_id = model.scale_paths(theta, x)
    else:
        K = model.n_factors
        h, h_id = x[:K].T, (x[K:].T if model.idio == "ar1" else None)
    return h, model.idio_path(theta, h_id, T)


@partial(jax.jit, static_argnames=("model", "paths"))
def moment_paths(model, paths, params, theta, x_draws, key, idx):
    """Mean over draws of Cov_t and Corr_t at the times idx (module docstring).

    theta [D, d] unconstrained draws; x_draws [D, M, T] path draws (NUTS) or None (VI: path j
    drawn from q(x | theta^j) with the family ``params``).
    """
    D = theta.shape[0]
    N = model.n_assets
    pidx = model.path_globals()

    def body(acc, inputs):
        th, xj, k = inputs
        if xj is None:
            M, T = params["path_loc"].shape
            eps = jax.random.normal(k, (M, T))
            xj = jax.vmap(fam.bidiag_sample)(fam.path_mean(params, th, pidx),
                                             params["path_logd"], params["path_c"], eps)
        h, hid = log_variance_paths(model, paths, th, xj)
        h, hid = h[idx], hid[idx]
        lam = model.loadings(th)
        m_f, m_id = model.mixing_mean(th)        # Student-t: E W = v / (v - 2); else 1
        cov = jnp.einsum("ik,tk,jk->tij", lam, jnp.exp(h) * m_f, lam)
        cov = cov + jax.vmap(jnp.diag)(jnp.exp(hid) * m_id)
        sd = jnp.sqrt(jnp.diagonal(cov, axis1=1, axis2=2))
        corr = cov / (sd[:, :, None] * sd[:, None, :])
        return (acc[0] + cov, acc[1] + corr), None

    zeros = jnp.zeros((idx.shape[0], N, N), theta.dtype)
    keys = jax.random.split(key, D)
    (s_cov, s_corr), _ = jax.lax.scan(body, (zeros, zeros), (theta, x_draws, keys))
    return s_cov / D, s_corr / D


@partial(jax.jit, static_argnames=("model",))
def draw_log_variance_moments(model, theta, x_draws):
    """Means and sds [M, T] over MCMC draws of the log-variance paths (non-centred x)."""

    def body(acc, inputs):
        h, hid = log_variance_paths(model, "noncentred", *inputs)
        v = jnp.concatenate([h.T, hid.T]) if model.idio == "ar1" else h.T
        return (acc[0] + v, acc[1] + v * v), None

    T = x_draws.shape[2]
    z = jnp.zeros((model.n_logvar, T), theta.dtype)
    (s1, s2), _ = jax.lax.scan(body, (z, z), (theta, x_draws))
    D = theta.shape[0]
    mean = s1 / D
    return mean, jnp.sqrt(jnp.maximum(s2 / D - mean * mean, 0.0))
