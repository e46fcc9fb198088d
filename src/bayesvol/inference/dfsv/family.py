"""Variational family for the DFSV model: a Gaussian over the globals times banded-precision
Gaussians over the log-variance paths.

Globals (unconstrained theta, dimension d):

    q(theta) = N(m, L L^T),  L lower triangular with diagonal exp(l),
    theta = m + L eps,       H[q(theta)] = sum l + d (1 + log 2 pi) / 2.

``meanfield`` keeps L diagonal.

Each log-variance path x [T] (K factor paths, then the N idiosyncratic ones) gets the
banded-precision Gaussian of Tan, Bhaskaran & Nott (2019) used by Gunawan, Kohn & Nott
("Variational approximation of factor stochastic volatility models", Section 3.2): mean mu and
precision Omega = C C^T with C lower bidiagonal,

    C_{t,t} = exp(d_t) (t = 1..T),   C_{t+1,t} = c_t (t = 1..T-1),

so Omega is tridiagonal (the sparsity of an AR(1) posterior). A draw is x = mu + C^{-T} eps,
eps ~ N(0, I_T): C^T z = eps is upper bidiagonal, solved by one backward substitution

    z_T = e^{-d_T} eps_T,   z_t = e^{-d_t} (eps_t - c_t z_{t+1}),   t = T-1, ..., 1,

which is the linear recurrence ``linear_recurrence`` run in reversed time (O(T)). Densities:

    log q(x) = -T/2 log 2 pi + sum_t d_t - |C^T (x - mu)|^2 / 2,
    (C^T v)_t = e^{d_t} v_t + c_t v_{t+1}   (the last term absent at t = T),
    H[q(x)]  = T (1 + log 2 pi) / 2 - sum_t d_t.

The paths are the non-centred unit AR(1) paths of ``bayesvol.models.dfsv`` by default (the
centred log-variances with ``paths="centred"``). They are independent of each other. By default
they are also independent of theta, q = q(theta) prod_j q(x_j); with ``conditional`` (the
"conditioned on the globals" option, in the spirit of the paper's Eq. (8)) path j's mean moves
linearly with its own three globals g_j = theta[idx_j] (``DfsvModel.path_globals``):

    x_j = mu_j + B_j (theta[idx_j] - m[idx_j]) + C_j^{-T} e_j,     B_j [T, 3],

so q(x_j | theta) has the same precision C_j C_j^T for every theta and the entropy is still
H[q(theta)] + sum_j H[q(x_j | theta)] (exact, unchanged). B starts at 0.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from ...models.recurrence import linear_recurrence

_LOG_2PI = math.log(2.0 * math.pi)
THETA_FAMILIES = ("fullrank", "meanfield")


# ---- one bidiagonal-precision path --------------------------------------------------------
def bidiag_solve_upper(logd: jax.Array, c: jax.Array, eps: jax.Array) -> jax.Array:
    """z = C^{-T} eps for C lower bidiagonal (diag exp(logd) [T], sub-diagonal c [T-1])."""
    inv = jnp.exp(-logd)
    a = (eps[:-1] * inv[:-1])[::-1]
    b = (-c * inv[:-1])[::-1]
    r = linear_recurrence(eps[-1] * inv[-1], a, b)
    return r[::-1]


def bidiag_sample(mu: jax.Array, logd: jax.Array, c: jax.Array, eps: jax.Array) -> jax.Array:
    """x = mu + C^{-T} eps, a draw from N(mu, (C C^T)^{-1})."""
    return mu + bidiag_solve_upper(logd, c, eps)


def bidiag_ct_times(logd: jax.Array, c: jax.Array, v: jax.Array) -> jax.Array:
    """C^T v: (C^T v)_t = exp(d_t) v_t + c_t v_{t+1}."""
    out = jnp.exp(logd) * v
    return out.at[:-1].add(c * v[1:])


def bidiag_log_density(x: jax.Array, mu: jax.Array, logd: jax.Array, c: jax.Array) -> jax.Array:
    """log N(x; mu, (C C^T)^{-1}) = -T/2 log 2 pi + sum d - |C^T (x - mu)|^2 / 2."""
    w = bidiag_ct_times(logd, c, x - mu)
    return -0.5 * x.shape[-1] * _LOG_2PI + jnp.sum(logd) - 0.5 * jnp.sum(w * w)


def bidiag_entropy(logd: jax.Array) -> jax.Array:
    """H = T (1 + log 2 pi) / 2 - sum d (summed over any leading axes)."""
    T = logd.shape[-1]
    n = logd.size // T
    return n * 0.5 * T * (1.0 + _LOG_2PI) - jnp.sum(logd)


def bidiag_marginal_var(logd: jax.Array, c: jax.Array) -> jax.Array:
    """diag((C C^T)^{-1}) [T], the marginal variances of q(x), in O(T).

    From the draw z = C^{-T} eps, z_t = e^{-d_t} (eps_t - c_t z_{t+1}) with z_{t+1}
    independent of eps_t, so Var z_T = e^{-2 d_T} and, backwards,
    Var z_t = e^{-2 d_t} + c_t^2 e^{-2 d_t} Var z_{t+1}.
    """
    inv2 = jnp.exp(-2.0 * logd)
    a = inv2[:-1][::-1]
    b = (c * c * inv2[:-1])[::-1]
    return linear_recurrence(inv2[-1], a, b)[::-1]


def tridiag_cholesky(diag: jax.Array, off: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Lower-bidiagonal Cholesky C of a positive definite tridiagonal matrix (diag [T], off
    [T-1] = Omega_{t+1,t}): returns (log diag C, sub-diagonal C). Forward recursion
    C_11^2 = a_1, C_{t+1,t} = b_t / C_tt, C_{t+1,t+1}^2 = a_{t+1} - C_{t+1,t}^2."""

    def step(ctt, ab):
        a_next, b = ab
        sub = b / ctt
        cnext = jnp.sqrt(a_next - sub * sub)
        return cnext, (cnext, sub)

    c1 = jnp.sqrt(diag[0])
    _, (cs, subs) = lax.scan(step, c1, (diag[1:], off))
    return jnp.log(jnp.concatenate([c1[None], cs])), subs


def ar1_precision(T: int, phi: jax.Array, sigma: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Tridiagonal precision of a stationary AR(1) path: diag (1, 1 + phi^2, ..., 1) / sigma^2,
    off-diagonal -phi / sigma^2."""
    diag = jnp.full((T,), 1.0 + phi * phi).at[0].set(1.0).at[-1].set(1.0) / sigma**2
    off = jnp.full((T - 1,), -phi / sigma**2)
    return diag, off


# ---- the whole family -----------------------------------------------------------------------
def theta_chol(params: dict) -> jax.Array:
    """L from params: diag exp(theta_logd), strict lower triangle theta_off (fullrank)."""
    L = jnp.diag(jnp.exp(params["theta_logd"]))
    if "theta_off" in params:
        L = L + jnp.tril(params["theta_off"], -1)
    return L


def path_mean(params: dict, theta: jax.Array, idx) -> jax.Array:
    """Mean [M, T] of q(paths | theta): path_loc, plus B_j (theta[idx_j] - m[idx_j]) when the
    family is conditional (``path_B`` [M, T, 3] present; idx [M, 3])."""
    if "path_B" not in params:
        return params["path_loc"]
    dg = (theta - params["theta_loc"])[jnp.asarray(idx)]             # [M, 3]
    return params["path_loc"] + jnp.einsum("mtk,mk->mt", params["path_B"], dg)


def sample(params: dict, eps_theta: jax.Array, eps_paths: jax.Array, idx=None
           ) -> tuple[jax.Array, jax.Array]:
    """One joint draw: theta [d] and paths [M, T] from standard normals of the same shapes
    (idx [M, 3]: ``DfsvModel.path_globals``, needed only by a conditional family)."""
    theta = params["theta_loc"] + theta_chol(params) @ eps_theta
    paths = jax.vmap(bidiag_sample)(path_mean(params, theta, idx), params["path_logd"],
                                    params["path_c"], eps_paths)
    return theta, paths


def entropy(params: dict) -> jax.Array:
    """H[q] = H[q(theta)] + sum_j H[q(x_j)] (exact)."""
    d = params["theta_loc"].shape[-1]
    h_theta = jnp.sum(params["theta_logd"]) + 0.5 * d * (1.0 + _LOG_2PI)
    return h_theta + bidiag_entropy(params["path_logd"])


def init_params(theta_loc, theta_cov_diag, path_loc, path_logd, path_c, family: str,
                conditional: bool = False) -> dict:
    """Family parameters from starting values (theta covariance diagonal at the start; B = 0
    when ``conditional``)."""
    if family not in THETA_FAMILIES:
        raise ValueError(f"unknown DFSV VI family '{family}': choose "
                         f"{', '.join(THETA_FAMILIES)}")
    theta_loc = jnp.asarray(theta_loc)
    p = {"theta_loc": theta_loc, "theta_logd": 0.5 * jnp.log(jnp.asarray(theta_cov_diag)),
         "path_loc": jnp.asarray(path_loc), "path_logd": jnp.asarray(path_logd),
         "path_c": jnp.asarray(path_c)}
    if family == "fullrank":
        p["theta_off"] = jnp.zeros((theta_loc.shape[0],) * 2, theta_loc.dtype)
    if conditional:
        p["path_B"] = jnp.zeros(p["path_loc"].shape + (3,), theta_loc.dtype)
    return p


__all__ = ["THETA_FAMILIES", "ar1_precision", "bidiag_ct_times", "bidiag_entropy",
           "bidiag_log_density", "bidiag_marginal_var", "bidiag_sample", "bidiag_solve_upper",
           "entropy", "init_params", "path_mean", "sample", "theta_chol", "tridiag_cholesky"]
