"""Hyperspherical correlation coordinates and the multivariate Student-t observation density of
the GAS-t covariance model (Creal, Koopman & Lucas 2011; thesis section 4.3.1).

Angles. For k assets the correlation matrix is R = X'X with X upper triangular (eq. 22):

    x_11 = 1,   x_ij = cos(phi_ij) prod_{l<i} sin(phi_lj)   (i < j),
    x_jj = prod_{l<j} sin(phi_lj),   x_ij = 0   (i > j)

with one angle phi_ij for every pair 1 <= i < j <= k (so j runs over 2..k; erratum E15).
Every column of X has unit length, so diag(R) = 1, and X is the upper Cholesky factor of R
when all angles lie in (0, pi) (the range is not enforced; Creal et al. 2011). The angles are
stored in a vector phi of length m = k(k-1)/2 **column by column** (the ordering E15 leaves
open): phi = (phi_12, phi_13, phi_23, phi_14, phi_24, phi_34, ...), i.e. the strictly upper
triangle of a k x k matrix read in column-major order (:func:`angle_pairs`).

The inverse map (the spec's [DERIVED] formula) takes the upper Cholesky factor X of R and
inverts column by column, phi_1j = arccos(x_1j) and phi_ij = arccos(x_ij / prod_{l<i} sin
phi_lj), using prod_{l<i} sin phi_lj = sqrt(1 - sum_{l<i} x_lj^2) (the unit column length).

Density. With the inverse degrees of freedom nubar = 1/nu in (0, 1/2) and Sigma the covariance
(not the scale) matrix (thesis section 4.3.1, footnote 13):

    log p(y | Sigma) = log Gamma((1 + k nubar)/(2 nubar)) - log Gamma(1/(2 nubar))
                       - (k/2) log((1 - 2 nubar) pi / nubar) - (1/2) log|Sigma|
                       - (1 + k nubar)/(2 nubar) log(1 + nubar q / (1 - 2 nubar)),
    q = y' Sigma^{-1} y,

the Student t with nu = 1/nubar degrees of freedom and scale matrix Sigma (1 - 2 nubar).

Score and information in f = (log diag(D^2), phi), Sigma = D R D (Creal et al. 2011, eqs. in
the thesis section 4.3.1, with the ordering of erratum E21). With Sigma = L L', L = D X' lower
triangular (no numerical Cholesky is needed), J = L^{-1} (so J'J = Sigma^{-1}),
Psi = d vec(Sigma) / d f' (by forward-mode autodiff of f -> Sigma), K_r = J (dSigma/df_r) J',
v = J y, w = (1 + k nubar) / (1 - 2 nubar + nubar q), g = (1 + k nubar)/(1 + (2 + k) nubar):

    nabla_r = (1/2) Psi_r' Sigma^{-1}_(x) (w y_(x) - vec Sigma) = (1/2) (w v' K_r v - tr K_r)
    I_rs    = (1/4) Psi_r' J_(x)' (g G - vec I vec I') J_(x) Psi_s
            = (1/4) (2 g tr(K_r K_s) + (g - 1) tr(K_r) tr(K_s))

the second lines from G = I + C_k + vec I vec I' (C_k the commutation matrix) and K_r
symmetric. References: D. Creal, S. J. Koopman and A. Lucas (2011), A dynamic multivariate
heavy-tailed model for time-varying volatilities and correlations, Journal of Business &
Economic Statistics 29(4), 552-563; Creal, Koopman & Lucas (2013), Journal of Applied
Econometrics 28(5), 777-795.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .special import gammaln


def n_angles(k: int) -> int:
    """m = k(k-1)/2, the number of angles of a k x k correlation matrix."""
    return k * (k - 1) // 2


def angle_pairs(k: int) -> list[tuple[int, int]]:
    """The (i, j) (0-based, i < j) of each angle, in the storage order: column by column."""
    return [(i, j) for j in range(1, k) for i in range(j)]


def _upper_index(k: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = angle_pairs(k)
    return (np.array([p[0] for p in pairs], dtype=int),
            np.array([p[1] for p in pairs], dtype=int))


def _selector(k: int) -> np.ndarray:
    """E [m, k, k] with E[r, i_r, j_r] = 1 (a constant: scatters and gathers as products)."""
    rows, cols = _upper_index(k)
    E = np.zeros((len(rows), k, k))
    E[np.arange(len(rows)), rows, cols] = 1.0
    return E


def angle_matrix(phi: jax.Array, k: int) -> jax.Array:
    """The k x k matrix with phi_ij at (i, j), i < j (column-major order), 0 elsewhere."""
    return jnp.einsum("rij,r->ij", jnp.asarray(_selector(k), dtype=phi.dtype), phi)


def upper_inverse(X: jax.Array) -> jax.Array:
    """X^{-1} of an upper triangular X with a nonzero diagonal, by matrix products only.

    X = D (I + N) with D = diag(X) and N strictly upper triangular, so N^k = 0 and
    (I + N)^{-1} = sum_{i<k} (-N)^i = (I - N)(I + N^2)(I + N^4)...(I + N^{2^(m-1)}),
    2^m >= k: about 2 log2(k) k x k products. Inside a ``lax.scan`` this is several times
    faster to run and differentiate than a loop of k^2 vector steps, and it avoids the
    LAPACK triangular solve, which deadlocked XLA's CPU runtime inside the nested loops of
    a mode search (jax 0.10).
    """
    k = X.shape[-1]
    eye = jnp.eye(k, dtype=X.dtype)
    dinv = 1.0 / jnp.diagonal(X)
    N = X * dinv[:, None] - eye
    inv, power, Np = eye - N, 2, N
    while power < k:
        Np = Np @ Np
        inv = inv @ (eye + Np)
        power *= 2
    return inv * dinv[None, :]


def _x_parts(phi: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """(X, P) with X of eq. (22) and P_ij = prod_{l<i} sin(phi_lj) (1 on and below the
    diagonal's first row; only its upper triangle and diagonal are used)."""
    Pm = angle_matrix(phi, k)
    i = np.arange(k)[:, None]
    j = np.arange(k)[None, :]
    upper = jnp.asarray(i < j)
    c = jnp.where(upper, jnp.cos(Pm), jnp.where(jnp.asarray(i == j), 1.0, 0.0))
    s = jnp.where(upper, jnp.sin(Pm), 1.0)
    # prod_{l<i} sin(phi_lj): exclusive cumulative product down each column
    prod = jnp.cumprod(jnp.concatenate([jnp.ones((1, k), dtype=s.dtype), s[:-1]], axis=0),
                       axis=0)
    return c * prod, prod


def angles_to_x(phi: jax.Array, k: int) -> jax.Array:
    """The upper triangular X of eq. (22) from the angle vector phi [m] (module docstring)."""
    return _x_parts(phi, k)[0]


def angles_to_corr(phi: jax.Array, k: int) -> jax.Array:
    """R = X'X (eq. 22)."""
    X = angles_to_x(phi, k)
    return X.T @ X


def corr_to_angles(R: jax.Array | np.ndarray) -> jax.Array:
    """The angles phi [m] of a correlation matrix R (inverse of :func:`angles_to_corr` for
    angles in (0, pi)), column by column from the upper Cholesky factor X of R."""
    R = jnp.asarray(R, dtype=float)
    k = R.shape[-1]
    X = jnp.linalg.cholesky(R).T
    above = jnp.cumsum(X**2, axis=0) - X**2  # sum_{l<i} x_lj^2
    denom = jnp.sqrt(jnp.clip(1.0 - above, 1e-300, None))
    ratio = jnp.clip(X / denom, -1.0, 1.0)
    rows, cols = _upper_index(k)
    return jnp.arccos(ratio[rows, cols])


def split_f(f: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """(log variances h [k], angles phi [m]) of f = (h, phi)."""
    return f[:k], f[k:]


def chol_factor(f: jax.Array, k: int) -> jax.Array:
    """L = D X' with Sigma = L L' (lower triangular; D = diag(exp(h/2)))."""
    h, phi = split_f(f, k)
    X = angles_to_x(phi, k)
    return jnp.exp(0.5 * h)[:, None] * X.T


def covariance(f: jax.Array, k: int) -> jax.Array:
    """Sigma_t = D_t R_t D_t from f_t = (log variances, angles)."""
    L = chol_factor(f, k)
    return L @ L.T


def mvt_log_norm(nu_bar: jax.Array, k: int) -> jax.Array:
    """The constant of the density: log Gamma((1 + k nb)/(2 nb)) - log Gamma(1/(2 nb))
    - (k/2) log((1 - 2 nb) pi / nb)."""
    nb = nu_bar
    return (gammaln((1.0 + k * nb) / (2.0 * nb)) - gammaln(1.0 / (2.0 * nb))
            - 0.5 * k * (jnp.log1p(-2.0 * nb) + jnp.log(jnp.pi) - jnp.log(nb)))


def mvt_logpdf_chol(y: jax.Array, L: jax.Array, nu_bar: jax.Array) -> jax.Array:
    """log p(y | Sigma = L L', nubar) (module docstring), for a lower triangular L."""
    k = y.shape[-1]
    v = jax.scipy.linalg.solve_triangular(L, y, lower=True)
    q = jnp.sum(v * v)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(L))))
    nb = nu_bar
    return (mvt_log_norm(nb, k) - 0.5 * logdet
            - (1.0 + k * nb) / (2.0 * nb) * jnp.log1p(nb * q / (1.0 - 2.0 * nb)))


def mvt_logpdf(y: jax.Array, f: jax.Array, nu_bar: jax.Array) -> jax.Array:
    """log p(y_t | f_t, nubar): the density at Sigma(f_t)."""
    k = y.shape[-1]
    return mvt_logpdf_chol(y, chol_factor(f, k), nu_bar)


def score_and_information(y: jax.Array, f: jax.Array, nu_bar: jax.Array
                          ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(log p(y | f), nabla = d log p / d f [n], I = information [n, n]) in closed form
    (module docstring).

    With L = D X', J = L^{-1} = X^{-T} D^{-1} (one triangular inverse of X per step):
    for a log variance h_i, dSigma = (E_ii Sigma + Sigma E_ii)/2, so K = (u l' + l u')/2 with
    u = J e_i and l = L' e_i; for an angle, dL = D dX', so K = M + M' with M = J dL =
    X^{-T} dX' (dX/dphi by forward-mode autodiff of :func:`angles_to_x`).
    """
    k = y.shape[-1]
    h, phi = split_f(f, k)
    X = angles_to_x(phi, k)
    dX = jax.jacfwd(lambda a: angles_to_x(a, k))(phi)  # [k, k, m]
    d = jnp.exp(0.5 * h)
    L = d[:, None] * X.T
    Xinv = jax.scipy.linalg.solve_triangular(X, jnp.eye(k, dtype=X.dtype), lower=False)
    J = Xinv.T / d[None, :]
    Ah = J.T[:, :, None] * L[:, None, :]  # [i, a, b] = J[a, i] L[i, b]
    M = jnp.einsum("ca,bcr->rab", Xinv, dX)  # X^{-T} dX_r'
    K = jnp.concatenate([0.5 * (Ah + jnp.swapaxes(Ah, 1, 2)), M + jnp.swapaxes(M, 1, 2)])
    v = J @ y
    q = jnp.sum(v * v)
    nb = nu_bar
    w = (1.0 + k * nb) / (1.0 - 2.0 * nb + nb * q)
    g = (1.0 + k * nb) / (1.0 + (2.0 + k) * nb)
    tr = jnp.trace(K, axis1=1, axis2=2)
    nabla = 0.5 * (w * jnp.einsum("a,rab,b->r", v, K, v) - tr)
    info = 0.25 * (2.0 * g * jnp.einsum("rab,sba->rs", K, K) + (g - 1.0) * jnp.outer(tr, tr))
    logdet = jnp.sum(h) + 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(X))))
    ll = (mvt_log_norm(nb, k) - 0.5 * logdet
          - (1.0 + k * nb) / (2.0 * nb) * jnp.log1p(nb * q / (1.0 - 2.0 * nb)))
    return ll, nabla, info


def scaled_score(y: jax.Array, f: jax.Array, nu_bar: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
    """(log p(y | f), s = I^{-1} nabla) without forming or solving the n x n information.

    Because f -> Sigma is a local diffeomorphism onto the symmetric matrices, I s = nabla
    says (1/4) Q(sum_r s_r K_r) = (1/2) W with Q(K) = 2 g K + (g - 1) tr(K) I_k and
    W = w v v' - I_k (the forms of the module docstring), so the step in Sigma is
    dSigma = L Delta L' with Delta = 2 Q^{-1}(W) = (W - (g - 1) tau I_k) / g,
    tau = tr W / (2 g + (g - 1) k); s is the f-step that produces it: dh_i = dSigma_ii /
    Sigma_ii; dR = D^{-1} dSigma D^{-1} - (diag(dh) R + R diag(dh))/2; dX = U X with U the
    upper triangle (half diagonal) of X^{-T} dR X^{-1} (the derivative of the Cholesky factor);
    and the angle steps from dX by differentiating eq. (22) down each column,
    dx_ij = x_ij c_ij - sin(phi_ij) P_ij dphi_ij with c_ij = sum_{l<i} cot(phi_lj) dphi_lj.
    O(k^3) per step instead of the O(k^6) solve; equal to ``solve(I, nabla)`` (tested).
    """
    k = y.shape[-1]
    h, phi = split_f(f, k)
    X, P = _x_parts(phi, k)
    d = jnp.exp(0.5 * h)
    eye = jnp.eye(k, dtype=X.dtype)
    Xinv = upper_inverse(X)
    v = Xinv.T @ (y / d)  # J y with J = X^{-T} D^{-1}
    q = jnp.sum(v * v)
    nb = nu_bar
    w = (1.0 + k * nb) / (1.0 - 2.0 * nb + nb * q)
    g = (1.0 + k * nb) / (1.0 + (2.0 + k) * nb)
    W = w * jnp.outer(v, v) - eye
    tau = jnp.trace(W) / (2.0 * g + (g - 1.0) * k)
    delta = (W - (g - 1.0) * tau * eye) / g
    # dSigma = L delta L' with L = D X'; in correlation units dC = X' delta X = D^{-1} dSigma D^{-1}
    dC = X.T @ delta @ X
    dh = jnp.diagonal(dC)
    R = X.T @ X
    dR = dC - 0.5 * (dh[:, None] * R + R * dh[None, :])
    S = Xinv.T @ dR @ Xinv
    U = jnp.triu(S, 1) + 0.5 * jnp.diag(jnp.diagonal(S))
    dX = U @ X
    # Down column j, x_ij = cos(phi_ij) P_ij gives dx_ij = x_ij c_ij - sin(phi_ij) P_ij dphi_ij,
    # c_ij = sum_{l<i} cot(phi_lj) dphi_lj. Since P_{i+1,j} = sin(phi_ij) P_ij, the sum
    # G_ij = c_ij P_ij^2 obeys G_{i+1,j} = G_ij - x_ij dx_ij (the column norm of X is 1), so
    # c_ij = -(sum_{l<i} x_lj dx_lj) / P_ij^2: one cumulative sum instead of a loop over rows.
    upper = jnp.asarray(np.triu(np.ones((k, k), dtype=bool), 1))
    sin = jnp.where(upper, jnp.sin(angle_matrix(phi, k)), 1.0)
    xdx = X * dX
    c = -(jnp.cumsum(xdx, axis=0) - xdx) / (P * P)
    dphi_mat = jnp.where(upper, (X * c - dX) / (sin * P), 0.0)
    dphi = jnp.einsum("rij,ij->r", jnp.asarray(_selector(k), dtype=X.dtype), dphi_mat)
    s = jnp.concatenate([dh, dphi])
    logdet = jnp.sum(h) + 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(X))))
    ll = (mvt_log_norm(nb, k) - 0.5 * logdet
          - (1.0 + k * nb) / (2.0 * nb) * jnp.log1p(nb * q / (1.0 - 2.0 * nb)))
    return ll, s


def information_kron(f: jax.Array, nu_bar: jax.Array, k: int) -> jax.Array:
    """I_t by the printed Kronecker formula of the thesis with the E21 ordering, built
    literally: (1/4) Psi' J_(x)' (g G - vec I vec I') J_(x) Psi with J = L^{-1} (J'J =
    Sigma^{-1}), G = I + C_k + vec I vec I'. For tests (O(k^4) memory)."""
    L = chol_factor(f, k)
    J = jnp.linalg.inv(L)
    psi = jax.jacfwd(lambda ff: covariance(ff, k))(f)
    n = f.shape[-1]
    Psi = psi.transpose(1, 0, 2).reshape(k * k, n)  # vec (column-major) of each dSigma_r
    Jx = jnp.kron(J, J)
    eye = jnp.eye(k)
    vec_i = eye.reshape(-1)
    C = jnp.zeros((k * k, k * k))
    for i in range(k):
        for j in range(k):
            C = C.at[i * k + j, j * k + i].set(1.0)
    G = jnp.eye(k * k) + C + jnp.outer(vec_i, vec_i)
    nb = nu_bar
    g = (1.0 + k * nb) / (1.0 + (2.0 + k) * nb)
    mid = g * G - jnp.outer(vec_i, vec_i)
    return 0.25 * Psi.T @ Jx.T @ mid @ Jx @ Psi


__all__ = ["angle_matrix", "angle_pairs", "angles_to_corr", "angles_to_x", "chol_factor",
           "corr_to_angles", "covariance", "information_kron", "mvt_log_norm", "mvt_logpdf",
           "mvt_logpdf_chol", "n_angles", "scaled_score", "score_and_information", "split_f"]
