"""Dense linear algebra of small matrices as elementwise code, batched by broadcasting.

For a symmetric positive definite A (d x d) with lower Cholesky factor L, A = L L^T:

    L_jj = sqrt(A_jj - sum_{k<j} L_jk^2),   L_ij = (A_ij - sum_{k<j} L_ik L_jk) / L_jj  (i > j)
    L x = b:    x_i = (b_i - sum_{k<i} L_ik x_k) / L_ii                 (forward substitution)
    A^{-1} = L^{-T} L^{-1},   log|A| = 2 sum_i log L_ii

(Golub and Van Loan, Matrix Computations, 4th ed., algorithms 3.1.1-3.1.2 and 4.2.1.) The
eigendecomposition of a symmetric A is the cyclic Jacobi method (ibid., section 8.5): each
pair (p, q) in turn is zeroed by a plane rotation J with t = tan(angle),

    theta = (A_qq - A_pp) / (2 A_pq),  t = sign(theta) / (|theta| + sqrt(theta^2 + 1)),
    A <- J^T A J,  V <- V J,

for a fixed number of sweeps (convergence is quadratic; ``JACOBI_SWEEPS`` sweeps take a
5 x 5 matrix to rounding error).

Why not ``jnp.linalg``: the per-asset terms of a pooled fit apply these to thousands of 5 x 5
blocks at once (vmap over assets and draws). On the CPU, jaxlib (0.10) runs a batch of small
LAPACK calls through a parallel batch map that waits on a counter inside the thread pool; a
2000 x 2500 hier-garch fit hung there once (every thread idle on a futex, two inside the
batched triangular solve), and jax-ml/jax#36927 reports the same path 2-3x slower than
before. For d <= ``UNROLL_MAX`` these are elementwise operations (the substitutions unrolled
at trace time, the Cholesky factor a short ``fori_loop`` over columns) that XLA fuses with
the rest; larger matrices go to ``jnp.linalg``. A matrix that is not positive definite
gives NaN, as ``jnp.linalg.cholesky`` does.

Where they serve: all per-asset algebra of a pooled fit (the VI steps' population density
``log p(z_i | g)``, the start's damped Newton steps, eigenvalue floors, EM and Laplace
marginal, the family's initial factors), so that no batched LAPACK call runs. The deadlock
needs two batched calls at once; after the loops were converted, a 2000 x 2500 fit hung again
inside the Laplace marginal's batched solves, so one-off calls are converted too.

Compile time: loops over traced indices (the Cholesky columns, the Jacobi rotations) keep the
programs small; the Jacobi sweep first written with the pairs (p, q) unrolled made a cold
10 x 500 fit compile about 20 s longer. The start of a 100 x 2000 panel now compiles in
20.6 s against 24.5 s with LAPACK, and a cold 10 x 500 fit takes 66.5 s against 54.9 s.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

UNROLL_MAX = 8  # d above this: jnp.linalg (the unrolled trace grows as d^3)
JACOBI_SWEEPS = 8


def _unrolled(a: jax.Array) -> bool:
    return a.shape[-1] <= UNROLL_MAX


def cholesky(a: jax.Array) -> jax.Array:
    """Lower Cholesky factor of symmetric positive definite ``a`` [..., d, d] (NaN if not PD);
    only the lower triangle of ``a`` is read.

    Column j in a ``fori_loop`` (columns >= j of L are still 0, so the full sums are the sums
    over k < j): v = A[:, j] - L L[j, :]^T,  L[:, j] = v / sqrt(v_j) on rows >= j. A loop
    rather than d^3 / 6 unrolled scalar steps: a smaller program to compile (a Hessian through
    100 blocks of 5 x 5 compiled in 3.4 s of CPU against 5.5 s unrolled)."""
    if not _unrolled(a):
        return jnp.linalg.cholesky(a)
    d = a.shape[-1]
    idx = jnp.arange(d)
    lower = idx[:, None] >= idx[None, :]
    a = jnp.where(lower, a, 0.0)

    def column(j, low):
        e = (idx == j).astype(a.dtype)
        row_j = jnp.sum(low * e[:, None], -2)  # L[j, :]
        v = jnp.sum(a * e, -1) - jnp.sum(low * row_j[..., None, :], -1)
        pivot = jnp.sqrt(jnp.sum(v * e, -1))
        return low + jnp.where(idx >= j, v / pivot[..., None], 0.0)[..., :, None] * e

    return jax.lax.fori_loop(0, d, column, jnp.zeros_like(a))


def solve_lower(low: jax.Array, b: jax.Array) -> jax.Array:
    """x with L x = b; ``low`` [..., d, d] lower triangular, ``b`` [..., d] (broadcast)."""
    if not _unrolled(low):
        shape = jnp.broadcast_shapes(low.shape[:-2], b.shape[:-1])
        low = jnp.broadcast_to(low, shape + low.shape[-2:])
        return jax.scipy.linalg.solve_triangular(
            low, jnp.broadcast_to(b, shape + b.shape[-1:])[..., None], lower=True)[..., 0]
    x: list[jax.Array] = []
    for i in range(low.shape[-1]):
        s = b[..., i]
        for k in range(i):
            s = s - low[..., i, k] * x[k]
        x.append(s / low[..., i, i])
    return jnp.stack(x, -1)


def symmetric_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """A^{-1} b for symmetric non-singular ``a`` [..., d, d] (definite or not) by A = L D L^T
    without pivoting:

        D_j = A_jj - sum_{k<j} L_jk^2 D_k,   L_ij = (A_ij - sum_{k<j} L_ik L_jk D_k) / D_j,

    then L y = b, z = y / D, L^T x = z. Without pivoting a zero leading minor fails (inf/NaN),
    which for the damped Newton matrices it serves has probability zero; it gives the same
    step as an LU solve up to rounding, indefinite or not."""
    if not _unrolled(a):
        return jnp.linalg.solve(a, b[..., None])[..., 0]
    d = a.shape[-1]
    low: dict[tuple[int, int], jax.Array] = {}
    diag: list[jax.Array] = []
    for j in range(d):
        s = a[..., j, j]
        for k in range(j):
            s = s - low[j, k] ** 2 * diag[k]
        diag.append(s)
        for i in range(j + 1, d):
            s = a[..., i, j]
            for k in range(j):
                s = s - low[i, k] * low[j, k] * diag[k]
            low[i, j] = s / diag[j]
    y: list[jax.Array] = []
    for i in range(d):
        s = b[..., i]
        for k in range(i):
            s = s - low[i, k] * y[k]
        y.append(s)
    x: dict[int, jax.Array] = {}
    for i in reversed(range(d)):
        s = y[i] / diag[i]
        for k in range(i + 1, d):
            s = s - low[k, i] * x[k]
        x[i] = s
    return jnp.stack([x[i] for i in range(d)], -1)


def inverse_from_cholesky(low: jax.Array) -> jax.Array:
    """(L L^T)^{-1} = L^{-T} L^{-1} from the lower factor ``low`` [..., d, d]."""
    d = low.shape[-1]
    eye = jnp.eye(d, dtype=low.dtype)
    # row j = L^{-1} e_j, the j-th column of L^{-1}: the rows stack to L^{-T}
    linv_t = solve_lower(low[..., None, :, :], eye)  # [..., d, d]
    return jnp.einsum("...ik,...jk->...ij", linv_t, linv_t)


def spd_inverse(a: jax.Array) -> jax.Array:
    """A^{-1} for symmetric positive definite ``a`` [..., d, d] (exactly symmetric)."""
    return inverse_from_cholesky(cholesky(a))


def logdet_from_cholesky(low: jax.Array) -> jax.Array:
    """log |L L^T| = 2 sum_i log L_ii."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(low, axis1=-2, axis2=-1)), -1)


def _rotate(a: jax.Array, v: jax.Array, p: jax.Array, q: jax.Array
            ) -> tuple[jax.Array, jax.Array]:
    """One Jacobi rotation zeroing a[..., p, q] (module docstring); p and q are traced
    indices (one-hot masks), so a whole sweep is one small loop body to compile."""
    idx = jnp.arange(a.shape[-1])
    ep, eq = (idx == p).astype(a.dtype), (idx == q).astype(a.dtype)
    rp, rq = jnp.sum(a * ep[:, None], -2), jnp.sum(a * eq[:, None], -2)  # rows p and q
    app, aqq, apq = jnp.sum(rp * ep, -1), jnp.sum(rq * eq, -1), jnp.sum(rp * eq, -1)
    zero = apq == 0.0
    theta = (aqq - app) / (2.0 * jnp.where(zero, 1.0, apq))
    t = jnp.where(theta >= 0, 1.0, -1.0) / (jnp.abs(theta) + jnp.sqrt(theta * theta + 1.0))
    t = jnp.where(zero, 0.0, t)
    c = (1.0 / jnp.sqrt(t * t + 1.0))[..., None]
    s = t[..., None] * c
    # rows p and q of J^T A
    a = (a + ep[:, None] * (c * rp - s * rq - rp)[..., None, :]
         + eq[:, None] * (s * rp + c * rq - rq)[..., None, :])

    def columns(m):  # columns p and q of M J
        cp, cq = jnp.sum(m * ep, -1), jnp.sum(m * eq, -1)
        return (m + (c * cp - s * cq - cp)[..., :, None] * ep
                + (s * cp + c * cq - cq)[..., :, None] * eq)

    return columns(a), columns(v)


def eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(w, V) with a = V diag(w) V^T for symmetric ``a`` [..., d, d]: for d <= UNROLL_MAX by
    cyclic Jacobi (module docstring), eigenvalues NOT sorted; above, ``jnp.linalg.eigh``."""
    if not _unrolled(a):
        return jnp.linalg.eigh(a)
    d = a.shape[-1]
    a = 0.5 * (a + jnp.swapaxes(a, -1, -2))
    v = jnp.broadcast_to(jnp.eye(d, dtype=a.dtype), a.shape)
    pairs = [(p, q) for p in range(d - 1) for q in range(p + 1, d)]
    if not pairs:
        return a[..., 0], v
    ps = jnp.asarray([p for p, _ in pairs])
    qs = jnp.asarray([q for _, q in pairs])

    def step(k, state):
        i = k % len(pairs)
        return _rotate(*state, ps[i], qs[i])

    a, v = jax.lax.fori_loop(0, JACOBI_SWEEPS * len(pairs), step, (a, v))
    return jnp.diagonal(a, axis1=-2, axis2=-1), v


__all__ = ["JACOBI_SWEEPS", "UNROLL_MAX", "cholesky", "eigh", "inverse_from_cholesky",
           "logdet_from_cholesky", "solve_lower", "spd_inverse", "symmetric_solve"]
