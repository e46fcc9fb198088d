"""Variational family for the DFSV model: a Gaussian over the globals times banded-precision
Gaussians over the log-variance paths.

Globals (unconstrained theta, dimension d):

    q(theta) = N(m, L L^T),  L lower triangular with diagonal exp(l),
    theta = m + L eps,       H[q(theta)] = sum l + d (1 + log 2 pi) / 2.

``meanfield`` keeps L diagonal. ``block`` makes L block diagonal over a partition of theta
(``theta_blocks``): one block per asset, its free loadings, then its idiosyncratic level,
persistence and vol-of-vol (or its log sigma2), and one block for the factor parameters
(phi_f, phi_h, sigma_h). Each block is full rank, in the spirit of the paper's per-series
blocks (Section 3.3): the dependence that matters most in the posterior (a loading against its
asset's idiosyncratic level, a factor's persistence against its vol-of-vol) is kept, at
O(N (K + 3)^2) parameters instead of the O(d^2) of ``fullrank`` (d = 702 at N = 100, K = 4,
where Adam's per-coordinate steps on the 246,000 off-diagonal entries of a full L made q(theta)
blow up in our runs). With B blocks of size G (padded; pads hold L = 1 and no data):

    theta = m + scatter(L_b eps[idx_b]),   log q(theta) = -d/2 log 2 pi - sum l
                                                     - sum_b |L_b^{-1} (theta - m)[idx_b]|^2 / 2.

The blocks are independent of each other, but the loadings of different assets are not in the
posterior: a factor's scale is identified only by the mean of its log-variance (mu = 0) over a
finite sample, so all the loadings of column k move together with the level of h_k (on
S = 10, T = 500, K = 2 NUTS's loading sds were ~5 times those of the block family alone). So
the block family adds a rank-r term (``theta_U``, d x r; r = K by default, started along
each column's scale direction; in the spirit of the paper's factor-structured q(beta) with
p = 4 factors, Section 3.3), Sigma = A + U U^T with A = blockdiag(L_b L_b^T):

    theta = m + scatter(L_b eps_b) + U z,   z ~ N(0, I_r),
    log q(theta) = -d/2 log 2 pi - sum l - log det(M) / 2
                   - (|Z v|^2 - |chol(M)^{-1} (Z U)^T Z v|^2) / 2,

with Z = blockdiag(L_b^{-1}), v = theta - m and M = I_r + (Z U)^T (Z U) (Woodbury and the
determinant lemma); the entropy gains log det(M) / 2.

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

Student-t errors (``DfsvModel(errors="t")``): each mixing variable W_{r,t} (r over the K
factors and N assets, with degrees of freedom v_r) gets an inverse-gamma factor conditioned
on v_r, shaped like W's full conditional given the factors, IG((v + 1)/2, (v + z^2)/2)
(Gunawan, Kohn & Nott, Supplement S9):

    q(W_{r,t} | v_r) = IG(v_r / 2 + exp(mix_la_{r,t}), v_r / 2 + exp(mix_lb_{r,t})),

so q(theta, W) = q(theta) prod q(W_{r,t} | v_r(theta)). Two simpler families failed on data
simulated with v = 5 (N = 6, T = 600): a Gaussian over log W, independent of theta, pushed v
to ~30 (the per-variable mismatch to the skewed law of log W, summed over T (K + N)
variables, outweighed the data), and an inverse-gamma independent of v stalled at v ~ 20
(the W's and v are strongly dependent a posteriori; severing them made v = 5 and v = 20
equally good in the ELBO while the likelihood preferred 5 by ~30 nats). The draw is
reparameterised through the shape (implicit gradient of the gamma sampler):

    u = log W = log beta - log G,   G ~ Gamma(alpha, 1)
    log q(u | v) = alpha log beta - log Gamma(alpha) - alpha u - beta e^{-u}

and log q(theta, x, u) = log q(theta, x) + sum log q(u | v(theta)) at the draw (the entropy is
E_theta of H[q(u | v)] = log Gamma(alpha) - alpha digamma(alpha) + alpha, free of beta, plus
the rest). exp(mix_la) = exp(mix_lb) = 0 is the prior itself (dates without data).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.linalg import solve_triangular

from ...models.recurrence import linear_recurrence

_LOG_2PI = math.log(2.0 * math.pi)
THETA_FAMILIES = ("fullrank", "meanfield", "block")


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


# ---- all paths at once --------------------------------------------------------------------
def _time_first(x: jax.Array) -> jax.Array:
    return jnp.moveaxis(x, -1, 0)


def _solve_upper_scan(inv: jax.Array, c: jax.Array, eps: jax.Array) -> jax.Array:
    """z = C^{-T} eps over the last axis: z_T = inv_T eps_T, z_t = inv_t (eps_t - c_t z_{t+1}),
    one ``lax.scan`` backwards in time (inv = exp(-logd) and c broadcast against eps)."""
    def step(z_next, inputs):
        e_t, i_t, c_t = inputs
        z = i_t * (e_t - c_t * z_next)
        return z, z

    shape = jnp.broadcast_shapes(eps.shape, inv.shape)
    eps = jnp.broadcast_to(eps, shape)
    inv = jnp.broadcast_to(inv, shape)
    cz = jnp.broadcast_to(jnp.concatenate([c, jnp.zeros(c.shape[:-1] + (1,), c.dtype)], -1),
                          shape)
    _, z = lax.scan(step, jnp.zeros(shape[:-1], eps.dtype),
                    (_time_first(eps), _time_first(inv), _time_first(cz)), reverse=True)
    return jnp.moveaxis(z, 0, -1)


def _solve_lower_scan(inv: jax.Array, c: jax.Array, g: jax.Array) -> jax.Array:
    """w = C^{-1} g over the last axis: w_1 = inv_1 g_1, w_t = inv_t (g_t - c_{t-1} w_{t-1}),
    one ``lax.scan`` forwards in time."""
    def step(w_prev, inputs):
        g_t, i_t, c_t = inputs
        w = i_t * (g_t - c_t * w_prev)
        return w, w

    shape = jnp.broadcast_shapes(g.shape, inv.shape)
    g = jnp.broadcast_to(g, shape)
    inv = jnp.broadcast_to(inv, shape)
    cprev = jnp.broadcast_to(jnp.concatenate([jnp.zeros(c.shape[:-1] + (1,), c.dtype), c], -1),
                             shape)
    _, w = lax.scan(step, jnp.zeros(shape[:-1], g.dtype),
                    (_time_first(g), _time_first(inv), _time_first(cprev)))
    return jnp.moveaxis(w, 0, -1)


@jax.custom_vjp
def solve_upper_paths(logd: jax.Array, c: jax.Array, eps: jax.Array) -> jax.Array:
    """z = C_j^{-T} eps_j for all paths at once: logd [M, T], c [M, T-1], eps [..., M, T]
    (leading axes, e.g. Monte Carlo draws, share the paths' C); ``bidiag_solve_upper`` per path.
    One backward scan over time; the gradient (custom VJP) is one forward scan: with
    w = C^{-1} zbar and dz = -U^{-1} dU z (U = C^T),

        eps_bar = w,   logd_bar_t = -sum w_t exp(d_t) z_t,   c_bar_t = -sum w_t z_{t+1}

    (sums over the leading axes). Differentiating through the recurrence instead costs three
    scans (the JVP rule re-runs the primal recurrence), on CPU the dominant cost of a step."""
    return _solve_upper_scan(jnp.exp(-logd), c, eps)


def _solve_upper_fwd(logd, c, eps):
    inv = jnp.exp(-logd)
    z = _solve_upper_scan(inv, c, eps)
    return z, (inv, c, z)


def _solve_upper_bwd(res, zbar):
    inv, c, z = res
    w = _solve_lower_scan(inv, c, zbar)
    lead = tuple(range(z.ndim - 2))
    g_logd = -jnp.sum(w * z, axis=lead) / inv
    g_c = -jnp.sum(w[..., :-1] * z[..., 1:], axis=lead)
    return g_logd, g_c, w


solve_upper_paths.defvjp(_solve_upper_fwd, _solve_upper_bwd)


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


# ---- Student-t mixing states: an inverse-gamma factor per variable ---------------------------
def mix_shape_rate(params: dict, nu: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(alpha, beta) [R, T] of q(W | v) for degrees of freedom nu [R] (module docstring)."""
    half = 0.5 * nu[:, None]
    return half + jnp.exp(params["mix_la"]), half + jnp.exp(params["mix_lb"])


def mix_sample(params: dict, nu: jax.Array, key: jax.Array) -> jax.Array:
    """u = log W [R, T] drawn from q(u | v) (module docstring)."""
    a, b = mix_shape_rate(params, nu)
    return jnp.log(b) - jax.random.loggamma(key, a, dtype=a.dtype)


def mix_log_density(params: dict, nu: jax.Array, u: jax.Array) -> jax.Array:
    """sum log q(u | v) of mixing states u [R, T] (module docstring)."""
    a, b = mix_shape_rate(params, nu)
    return jnp.sum(a * jnp.log(b) - jax.scipy.special.gammaln(a) - a * u - b * jnp.exp(-u))


def mix_entropy(params: dict, nu: jax.Array) -> jax.Array:
    """sum H[q(u | v)] = sum log Gamma(alpha) - alpha digamma(alpha) + alpha."""
    a, _ = mix_shape_rate(params, nu)
    return jnp.sum(jax.scipy.special.gammaln(a) - a * jax.scipy.special.digamma(a) + a)


# ---- the whole family -----------------------------------------------------------------------
class ThetaBlocks(NamedTuple):
    """Partition of theta into B blocks of at most G coordinates: idx [B, G] (positions in
    theta; pads point at d, a dummy slot) and valid [B, G]; static numpy arrays."""

    idx: np.ndarray
    valid: np.ndarray


def theta_blocks(model) -> ThetaBlocks:
    """The ``block`` family's partition of a ``DfsvModel``'s theta (module docstring): asset i's
    free loadings, then its mu_id, phi_id, sigma_id (or log sigma2) and its log v (Student-t);
    last, the factor block phi_f (if any), phi_h, sigma_h (and factor_var's phi_h_off and
    q_h_corr, Student-t's log v of the factors)."""
    lay = model.layout
    rows, _ = model.loading_positions()
    lam = np.arange(lay["lambda"].start, lay["lambda"].stop)
    per_asset = [n for n in ("mu_id", "phi_id", "sigma_id", "sigma2", "nu_id") if n in lay]
    blocks = [np.concatenate([lam[rows == i]] + [[lay[n].start + i] for n in per_asset])
              for i in range(model.n_assets)]
    blocks.append(np.concatenate([np.arange(lay[n].start, lay[n].stop)
                                  for n in ("phi_f", "phi_h", "phi_h_off", "sigma_h",
                                            "q_h_corr", "nu_f") if n in lay]))
    covered = np.sort(np.concatenate(blocks))
    if not np.array_equal(covered, np.arange(model.dim)):
        raise ValueError("theta_blocks: the blocks must partition theta")
    G = max(len(b) for b in blocks)
    d = model.dim
    idx = np.full((len(blocks), G), d, dtype=np.int32)
    for j, b in enumerate(blocks):
        idx[j, :len(b)] = b
    return ThetaBlocks(idx, idx < d)


def _block_chol(params: dict, blocks: ThetaBlocks) -> jax.Array:
    """[B, G, G] lower-triangular L_b: diag exp(l[idx_b]) (1 at pads), strict lower triangle
    theta_blk masked to pairs of real coordinates."""
    valid = jnp.asarray(blocks.valid)
    logd = jnp.concatenate([params["theta_logd"], jnp.zeros((1,), params["theta_logd"].dtype)])
    diag = jnp.exp(logd[jnp.asarray(blocks.idx)])
    pair = jnp.tril(valid[:, :, None] & valid[:, None, :], -1)
    return jnp.where(pair, params["theta_blk"], 0.0) + jax.vmap(jnp.diag)(diag)


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


def _pad1(v: jax.Array) -> jax.Array:
    return jnp.concatenate([v, jnp.zeros(v.shape[:-1] + (1,), v.dtype)], axis=-1)


def theta_noise_dim(params: dict) -> int:
    """Standard normals per draw of theta: d, plus the rank r of ``theta_U`` if any."""
    r = params["theta_U"].shape[-1] if "theta_U" in params else 0
    return params["theta_loc"].shape[-1] + r


def theta_draw(params: dict, eps_theta: jax.Array, blocks: ThetaBlocks | None = None
               ) -> jax.Array:
    """theta = m + L eps (eps [..., ``theta_noise_dim``]): diag(exp(l)) eps plus the strict
    lower triangle (fullrank) times eps; the block family applies each L_b to its coordinates
    and adds U z (z the last r entries of eps); no d x d matrix is formed for meanfield and
    block."""
    if "theta_blk" in params:
        d = params["theta_loc"].shape[-1]
        idx = jnp.asarray(blocks.idx)
        e = _pad1(eps_theta[..., :d])[..., idx]                          # [..., B, G]
        v = jnp.einsum("bgh,...bh->...bg", _block_chol(params, blocks), e)
        out = jnp.zeros(eps_theta.shape[:-1] + (d + 1,), eps_theta.dtype)
        theta = params["theta_loc"] + out.at[..., idx].set(v)[..., :d]
        if "theta_U" in params:
            theta = theta + eps_theta[..., d:] @ params["theta_U"].T
        return theta
    theta = params["theta_loc"] + jnp.exp(params["theta_logd"]) * eps_theta
    if "theta_off" in params:
        theta = theta + eps_theta @ jnp.tril(params["theta_off"], -1).T
    return theta


def theta_log_density(params: dict, theta: jax.Array, blocks: ThetaBlocks | None = None
                      ) -> jax.Array:
    """log N(theta; m, L L^T) = -d/2 log 2 pi - sum l - |L^{-1} (theta - m)|^2 / 2."""
    v = theta - params["theta_loc"]
    d = v.shape[-1]
    if "theta_blk" in params:
        idx = jnp.asarray(blocks.idx)
        Lb = _block_chol(params, blocks)
        z = jax.vmap(lambda L, b: solve_triangular(L, b, lower=True))(Lb, _pad1(v)[idx])
        out = -0.5 * d * _LOG_2PI - jnp.sum(params["theta_logd"]) - 0.5 * jnp.sum(z * z)
        if "theta_U" not in params:
            return out
        zu, chol_m = _lowrank_terms(params, blocks, Lb)
        u = solve_triangular(chol_m, jnp.einsum("bgr,bg->r", zu, z), lower=True)
        return out - jnp.sum(jnp.log(jnp.diagonal(chol_m))) + 0.5 * jnp.sum(u * u)
    elif "theta_off" in params:
        z = solve_triangular(theta_chol(params), v, lower=True)
    else:
        z = v * jnp.exp(-params["theta_logd"])
    return -0.5 * d * _LOG_2PI - jnp.sum(params["theta_logd"]) - 0.5 * jnp.sum(z * z)


def _lowrank_terms(params: dict, blocks: ThetaBlocks, Lb: jax.Array
                   ) -> tuple[jax.Array, jax.Array]:
    """Z U by blocks [B, G, r] and the Cholesky factor of M = I_r + (Z U)^T (Z U)."""
    U = params["theta_U"]
    Ub = jnp.concatenate([U, jnp.zeros((1, U.shape[1]), U.dtype)])[jnp.asarray(blocks.idx)]
    zu = jax.vmap(lambda L, b: solve_triangular(L, b, lower=True))(Lb, Ub)
    M = jnp.eye(U.shape[1], dtype=U.dtype) + jnp.einsum("bgr,bgs->rs", zu, zu)
    return zu, jnp.linalg.cholesky(M)


def log_density(params: dict, theta: jax.Array, paths: jax.Array, idx=None,
                blocks: ThetaBlocks | None = None) -> jax.Array:
    """log q(theta, paths) = log q(theta) + sum_j log q(x_j | theta) (exact)."""
    lq_x = jax.vmap(bidiag_log_density)(paths, path_mean(params, theta, idx),
                                        params["path_logd"], params["path_c"])
    return theta_log_density(params, theta, blocks) + jnp.sum(lq_x)


def sample(params: dict, eps_theta: jax.Array, eps_paths: jax.Array, idx=None,
           blocks: ThetaBlocks | None = None) -> tuple[jax.Array, jax.Array]:
    """One joint draw: theta [d] and paths [M, T] from standard normals of the same shapes
    (idx [M, 3]: ``DfsvModel.path_globals``, needed only by a conditional family; blocks:
    ``theta_blocks``, needed only by the block family)."""
    theta = theta_draw(params, eps_theta, blocks)
    paths = path_mean(params, theta, idx) + solve_upper_paths(params["path_logd"],
                                                              params["path_c"], eps_paths)
    return theta, paths


def entropy(params: dict, blocks: ThetaBlocks | None = None) -> jax.Array:
    """H[q] = H[q(theta)] + sum_j H[q(x_j)] (exact; the block family's low-rank term adds
    log det(M) / 2)."""
    d = params["theta_loc"].shape[-1]
    h_theta = jnp.sum(params["theta_logd"]) + 0.5 * d * (1.0 + _LOG_2PI)
    if "theta_U" in params:
        _, chol_m = _lowrank_terms(params, blocks, _block_chol(params, blocks))
        h_theta = h_theta + jnp.sum(jnp.log(jnp.diagonal(chol_m)))
    return h_theta + bidiag_entropy(params["path_logd"])


def init_params(theta_loc, theta_cov_diag, path_loc, path_logd, path_c, family: str,
                conditional: bool = False, blocks: ThetaBlocks | None = None,
                lowrank: np.ndarray | None = None, mix_la: np.ndarray | None = None,
                mix_lb: np.ndarray | None = None) -> dict:
    """Family parameters (numpy arrays) from starting values (theta covariance diagonal at the
    start; B = 0 when ``conditional``; ``blocks`` needed by the block family; ``lowrank``
    [d, r] its starting U (none: no low-rank term); mix_la, mix_lb [R, T]: the inverse-gamma
    factors of Student-t mixing states, if any (module docstring))."""
    if family not in THETA_FAMILIES:
        raise ValueError(f"unknown DFSV VI family '{family}': choose "
                         f"{', '.join(THETA_FAMILIES)}")
    theta_loc = np.asarray(theta_loc, float)
    p = {"theta_loc": theta_loc,
         "theta_logd": 0.5 * np.log(np.asarray(theta_cov_diag, float)),
         "path_loc": np.asarray(path_loc, float), "path_logd": np.asarray(path_logd, float),
         "path_c": np.asarray(path_c, float)}
    if family == "fullrank":
        p["theta_off"] = np.zeros((theta_loc.shape[0],) * 2)
    if family == "block":
        if blocks is None:
            raise ValueError("the block family needs theta_blocks(model)")
        p["theta_blk"] = np.zeros(blocks.idx.shape + blocks.idx.shape[-1:])
        if lowrank is not None:
            p["theta_U"] = np.asarray(lowrank, float)
    if conditional:
        p["path_B"] = np.zeros(p["path_loc"].shape + (3,))
    if mix_la is not None:
        p["mix_la"] = np.asarray(mix_la, float)
        p["mix_lb"] = np.asarray(mix_lb, float)
    return p


__all__ = ["THETA_FAMILIES", "ThetaBlocks", "ar1_precision", "bidiag_ct_times",
           "bidiag_entropy", "bidiag_log_density", "bidiag_marginal_var", "bidiag_sample",
           "bidiag_solve_upper", "entropy", "init_params", "log_density", "mix_entropy",
           "mix_log_density", "mix_sample", "mix_shape_rate", "path_mean", "sample",
           "solve_upper_paths",
           "theta_blocks", "theta_chol", "theta_draw", "theta_log_density", "theta_noise_dim",
           "tridiag_cholesky"]
