"""A stationary VAR(1) for the factor log-variances of the DFSV model, parameterised without
constraints.

The factor log-variances follow (project's DFSV write-up; the simulator ``simulate_dfsv``)

    h_t = Phi_h h_{t-1} + eta_t,   eta_t ~ N(0, Q_h),   h_1 ~ N(0, Gamma),
    Gamma = Phi_h Gamma Phi_h^T + Q_h     (the stationary covariance; mu = 0 identifies scale).

Unconstrained parameters (K factors): a matrix A [K, K] with A_kk = sinh(r_k) and free
off-diagonal entries, vol-of-vols sigma_h = exp(s) [K], and a correlation Cholesky factor
L_R of Q_h from K (K - 1) / 2 reals (``corr_cholesky``). With

    L_Q = diag(sigma_h) L_R            (Q_h = L_Q L_Q^T),
    L_x = chol(I + A A^T),   B = A L_x^{-1},
    Phi_h = L_Q B L_Q^{-1},  Gamma = L_Q L_x L_x^T L_Q^T,

Phi_h is stationary for every A: P = L_x^{-1} A satisfies I - P P^T = (L_x L_x^T)^{-1}, which
is positive definite, so the singular values of P are below 1; Phi_h is similar to
B = L_x P L_x^{-1}, hence to P, so its spectral radius is below 1 (the partial-autocorrelation
idea of Ansley & Kohn 1986 and Roy, McVinish & Martin 2019, with a Cholesky factor in place of
the symmetric square root, so the map is smooth everywhere, including A = 0). Conversely every
stationary (Phi_h, Q_h) has exactly one such A (``raw_from_var``): B = L_Q^{-1} Phi_h L_Q,
L_x = chol of the solution G of G = B G B^T + I, A = B L_x.

Non-centred form: x_t = L_Q^{-1} h_t is a VAR(1) with unit innovations,

    x_1 ~ N(0, L_x L_x^T),   x_t = B x_{t-1} + N(0, I_K),

(``unit_var_logpdf``). With A diagonal and L_R = I everything reduces to K independent AR(1)s
with phi_k = tanh(r_k) (sinh r / cosh r), x_1 ~ N(0, cosh^2 r_k) = N(0, 1 / (1 - phi_k^2)):
exactly the diagonal model of ``bayesvol.models.dfsv`` at the same r and s.

Correlation Cholesky factor (``corr_cholesky``; the canonical partial correlations of
Lewandowski, Kurowicka & Joe 2009, as in Stan's reference manual): z_ij = tanh(c_ij) for
i > j, row by row, and

    L_R[i, 0] = z_i0,   L_R[i, j] = z_ij sqrt(1 - sum_{l<j} L_R[i, l]^2),
    L_R[i, i] = sqrt(1 - sum_{l<i} L_R[i, l]^2).

Under an LKJ(eta) prior on the correlation matrix the partial correlations are independent,
(z_ij + 1) / 2 ~ Beta(b_j, b_j) with b_j = eta + (K - 2 - j) / 2 (Lewandowski et al., the
C-vine construction), so the prior of c is a sum of tanh-Beta densities and is normalised
(``lkj_partial_beta``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from scipy.linalg import solve_discrete_lyapunov


class VarParts(NamedTuple):
    """The VAR(1) of the factor log-variances at one theta: Phi [K, K] (Phi_h), L_Q [K, K]
    (lower Cholesky factor of Q_h), B [K, K] and L_x [K, K] of the unit-innovation form,
    and the lower Cholesky factor of the stationary covariance Gamma, L_G = L_Q L_x."""

    Phi: jax.Array
    L_Q: jax.Array
    B: jax.Array
    L_x: jax.Array
    L_G: jax.Array


def n_corr(K: int) -> int:
    """Number of correlation parameters of a K x K correlation matrix."""
    return K * (K - 1) // 2


def corr_positions(K: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of the strictly lower triangle, row by row (i > j): the order of c."""
    rows = np.array([i for i in range(K) for _ in range(i)], dtype=int)
    cols = np.array([j for i in range(K) for j in range(i)], dtype=int)
    return rows, cols


def offdiag_positions(K: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j), i != j, row-major: the order of A's free off-diagonal entries."""
    rows, cols = np.nonzero(~np.eye(K, dtype=bool))
    return rows, cols


def corr_cholesky(c: jax.Array, K: int) -> jax.Array:
    """L_R [K, K] from c [K (K - 1) / 2] (module docstring). Python loops over K only."""
    z = jnp.tanh(c)
    rows, cols = corr_positions(K)
    Z = jnp.zeros((K, K), c.dtype).at[rows, cols].set(z)
    out = []
    for i in range(K):
        row, rem = [], jnp.ones((), c.dtype)
        for j in range(i):
            v = Z[i, j] * jnp.sqrt(rem)
            row.append(v)
            rem = rem - v * v
        row.append(jnp.sqrt(rem))
        row += [jnp.zeros((), c.dtype)] * (K - i - 1)
        out.append(jnp.stack(row))
    return jnp.stack(out)


def corr_cholesky_inverse(L: np.ndarray) -> np.ndarray:
    """c from a correlation Cholesky factor (inverse of ``corr_cholesky``)."""
    L = np.asarray(L, float)
    K = L.shape[0]
    rows, cols = corr_positions(K)
    out = np.empty(len(rows))
    for n, (i, j) in enumerate(zip(rows, cols, strict=True)):
        rem = 1.0 - np.sum(L[i, :j] ** 2)
        out[n] = np.arctanh(np.clip(L[i, j] / np.sqrt(rem), -1 + 1e-15, 1 - 1e-15))
    return out


def lkj_partial_beta(K: int, eta: float) -> np.ndarray:
    """Beta parameters b_j [K (K - 1) / 2] of each partial correlation under LKJ(eta), in c's
    order: b = eta + (K - 2 - j) / 2 for the pair (i, j)."""
    _, cols = corr_positions(K)
    return eta + (K - 2 - cols) / 2.0


def var_parts(r: jax.Array, a_off: jax.Array, log_sigma: jax.Array, c: jax.Array) -> VarParts:
    """``VarParts`` from the unconstrained blocks: r [K] (A_kk = sinh r), a_off [K (K - 1)]
    (A's off-diagonal, ``offdiag_positions`` order), log_sigma [K], c [K (K - 1) / 2]."""
    K = r.shape[0]
    rows, cols = offdiag_positions(K)
    A = jnp.diag(jnp.sinh(r)).at[rows, cols].set(a_off)
    L_x = jnp.linalg.cholesky(jnp.eye(K, dtype=r.dtype) + A @ A.T)
    B = solve_triangular(L_x, A.T, lower=True, trans=1).T        # A L_x^{-1}
    L_Q = jnp.exp(log_sigma)[:, None] * corr_cholesky(c, K)
    Phi = solve_triangular(L_Q, (L_Q @ B).T, lower=True, trans=1).T  # L_Q B L_Q^{-1}
    return VarParts(Phi, L_Q, B, L_x, L_Q @ L_x)


def raw_from_var(Phi: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """(r, a_off, log_sigma, c) of a stationary (Phi_h, Q_h) (inverse of ``var_parts``)."""
    Phi, Q = np.asarray(Phi, float), np.asarray(Q, float)
    K = Phi.shape[0]
    L_Q = np.linalg.cholesky(Q)
    sigma = np.sqrt(np.diag(Q))
    B = np.linalg.solve(L_Q, Phi @ L_Q)
    G = solve_discrete_lyapunov(B, np.eye(K))
    A = B @ np.linalg.cholesky(0.5 * (G + G.T))
    rows, cols = offdiag_positions(K)
    return (np.arcsinh(np.diag(A)), A[rows, cols], np.log(sigma),
            corr_cholesky_inverse(L_Q / sigma[:, None]))


def unit_var_logpdf(x: jax.Array, B: jax.Array, L_x: jax.Array,
                    active: jax.Array | None = None) -> jax.Array:
    """log p(x) of unit-innovation VAR(1) paths x [K, T] (module docstring):
    log N(x_1; 0, L_x L_x^T) + sum_{t>=2} log N(x_t; B x_{t-1}, I).

    ``active`` [T] bool (True on a leading span of dates): dates outside it get the
    theta-free N(0, I) instead (the padded model of sequential updating)."""
    K, T = x.shape
    log2pi = jnp.log(2.0 * jnp.pi)
    w = solve_triangular(L_x, x[:, 0], lower=True)
    first = -0.5 * K * log2pi - jnp.sum(jnp.log(jnp.diagonal(L_x))) - 0.5 * jnp.sum(w * w)
    e = x[:, 1:] - B @ x[:, :-1]
    on = -0.5 * K * log2pi - 0.5 * jnp.sum(e * e, axis=0)
    if active is None:
        return first + jnp.sum(on)
    off = -0.5 * K * log2pi - 0.5 * jnp.sum(x * x, axis=0)
    first = jnp.where(active[0], first, off[0])
    return first + jnp.sum(jnp.where(active[1:], on, off[1:]))


def stationary_cov(Phi: jax.Array, Q: jax.Array) -> jax.Array:
    """Gamma solving Gamma = Phi Gamma Phi^T + Q, by vec(Gamma) = (I - Phi (x) Phi)^{-1} vec(Q)
    (K^2 x K^2; K is a handful of factors). Works on a leading batch axis through vmap."""
    K = Phi.shape[-1]
    M = jnp.eye(K * K, dtype=Phi.dtype) - jnp.kron(Phi, Phi)
    G = jnp.linalg.solve(M, Q.reshape(-1)).reshape(K, K)
    return 0.5 * (G + G.T)


__all__ = ["VarParts", "corr_cholesky", "corr_cholesky_inverse", "corr_positions",
           "lkj_partial_beta", "n_corr", "offdiag_positions", "raw_from_var",
           "stationary_cov", "unit_var_logpdf", "var_parts"]
