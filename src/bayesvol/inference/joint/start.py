"""Starting values of joint VI: one pass of per-asset modes, then a Gaussian random-effects EM.

1. Every asset's mode z^_i and Laplace covariance C_i under a weak population
   g_0 = ``model.independent_globals(glob)`` (so each mode is nearly its own), by a vmapped
   damped-Newton program (inference/mode.py) over chunks of assets (``lax.map``), each chunk
   holding about 2^21 series values, which bounds the memory of the Hessians. The search
   starts at ``model.initial_local``, or, if the model has ``initial_candidates`` (a small
   grid [K, d_l]), at the candidate with the highest log density: a vmapped search runs as
   many steps as its slowest asset needs, and on 100 x 2000 hier-garch the grid's best
   cut that from 20 steps (median 10) to 14 (median 5) and the start from 2.8 s to 1.7 s,
   same modes.
2. Each asset's likelihood as a Gaussian summary: with the weak population's Gaussian
   N(a_0, A_0) (``model.population_gaussian``), precision P_i = C_i^{-1} - A_0^{-1} (its
   eigenvalues floored at 0) and gradient r_i = A_0^{-1} (z^_i - a_0) at the mode, so
   loglik_i(z) ~ r_i^T (z - z^_i) - (z - z^_i)^T P_i (z - z^_i) / 2.
3. EM for the population of this Gaussian random-effects model (the meta-analysis model;
   Laplace-EM): given the population N(a, A) (``population_gaussian(g)``),

       V_i = (P_i + A^{-1})^{-1},   m_i = V_i (P_i z^_i + r_i + A^{-1} a)          (E-step)

   and g from the moments of (m_i, V_i) (``model.globals_from_moments``: mean of m_i, and
   mean of (m_i - mean)(m_i - mean)^T + V_i)                                       (M-step).

All per-asset 5 x 5 algebra (Newton steps, eigenvalue floors, the EM's inverses, the Laplace
marginal's determinants and solves) is ``small_linalg``'s elementwise code, with no batched
LAPACK call: two batched LAPACK calls running at once deadlocked 2000 x 2500 fits (see that
module).

Unlike moments of the modes alone (the previous start, which alternated mode passes with the
median and MAD of the modes), the M-step counts each asset's own uncertainty V_i, so the
population scales do not collapse towards 0 pass after pass (the joint-mode degeneracy of
hierarchical models); on a 10 x 500 panel that collapse left VI with population scales 2-4x
too small. 3 costs no likelihood evaluations, so it runs to convergence.
4. ``passes`` more mode passes under the EM population, if asked (default 0).
5. If asked (``laplace``), the Laplace approximation of the globals' marginal posterior on
   the same summaries (``laplace_marginal``): the fit may draw its globals from it
   (inference/joint/vi.py).

6. If asked (``global_start="laplace"``), the family starts at that marginal instead of the
   EM's point: q(g) = N(its mode, its covariance), each block at its Gaussian posterior given
   that g, and B_i at the slope d m_i / d g of that posterior mean (``laplace_global_start``).

If asked (``surrogate``), step 2's summaries are returned too (``JointStart.surrogate``): VI
with ``variance_reduction`` uses them as a control variate of the likelihood terms
(objective.py).

The family starts at m_g = g, cov_g = ``model.global_start_cov``, m_i, L_i = chol V_i (or the
last pass's modes and Laplace covariances) and B_i = 0, or as in step 6.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ... import small_linalg as sl
from ..mode import ModeResult, find_mode
from .objective import JointData, LikelihoodSurrogate


class JointStart(NamedTuple):
    g: jax.Array  # [d_g]
    cov_g: jax.Array  # [d_g, d_g]
    z: jax.Array  # [N, d_l]
    cov_z: jax.Array  # [N, d_l, d_l]
    ok: jax.Array  # [N] first-pass modes found (finite, -H positive definite, stationary)
    unpooled: jax.Array  # [N, d_l] the first pass's modes (weak population: nearly unpooled)
    marginal: ModeResult | None = None  # Laplace approximation of p(g | y) (laplace_marginal)
    surrogate: LikelihoodSurrogate | None = None  # step 2's summaries (objective.py)
    slope: jax.Array | None = None  # [N, d_l, d_g] d m_i / d g at g (global_start="laplace")


_CHUNK_NUMBERS = 2**21  # per-asset series values held at once by the local mode search
EM_ITERATIONS = 200
_START_GTOL = 1e-4  # a start need not be a mode to 1e-6


def _psd_inverse_floor(prec: jax.Array, floor: float) -> jax.Array:
    w, v = sl.eigh(0.5 * (prec + prec.T))
    return (v * jnp.maximum(w, floor)) @ v.T


def gaussian_summaries(model, z_hat, cov, ok, g0):
    """(P_i, r_i): each asset's likelihood as a concave quadratic at its mode (step 2)."""
    a0, a0_cov = model.population_gaussian(g0)
    a0_prec = sl.spd_inverse(a0_cov)
    d = z_hat.shape[-1]

    def one(zh, c, good):
        prec = _psd_inverse_floor(sl.spd_inverse(c) - a0_prec, 0.0)
        r = a0_prec @ (zh - a0)
        return (jnp.where(good, prec, jnp.zeros((d, d))), jnp.where(good, r, 0.0))

    return jax.vmap(one)(z_hat, cov, ok)


def conditional_blocks(model, g, z_hat, prec, r):
    """The E-step of step 3: each block's Gaussian posterior given g under the summaries,
    (m_i [N, d], V_i [N, d, d]) with V_i = (P_i + A^{-1})^{-1}, m_i = V_i (P_i z^_i + r_i +
    A^{-1} a), (a, A) = ``population_gaussian(g)``."""
    eye = jnp.eye(z_hat.shape[-1])
    a, a_cov = model.population_gaussian(g)
    a_prec = sl.spd_inverse(a_cov)

    def one(zh, p, ri):
        v = sl.spd_inverse(p + a_prec + 1e-12 * eye)
        return v @ (p @ zh + ri + a_prec @ a), v

    return jax.vmap(one)(z_hat, prec, r)


def random_effects_em(model, z_hat, prec, r, ok, g, glob, iterations: int = EM_ITERATIONS):
    """EM of step 3: returns (g, m [N, d], V [N, d, d])."""

    def body(_, g):
        m, v = conditional_blocks(model, g, z_hat, prec, r)
        return model.globals_from_moments(m, v, ok, glob)

    g = jax.lax.fori_loop(0, iterations, body, g)
    m, v = conditional_blocks(model, g, z_hat, prec, r)
    return g, m, v


def gaussian_log_marginal(model, g, z_hat, prec, r, ok, glob):
    """log p(g) + sum_i log integral N(z; a, A) exp(l_i(z)) dz, up to a constant, with each
    asset's likelihood replaced by its Gaussian summary l_i (step 2), (a, A) =
    ``population_gaussian(g)``:

        log integral = -log|A| / 2 - a' A^{-1} a / 2 + h_i' M_i^{-1} h_i / 2 - log|M_i| / 2,
        M_i = P_i + A^{-1},   h_i = P_i z^_i + r_i + A^{-1} a.
    """
    a, a_cov = model.population_gaussian(g)
    low_a = sl.cholesky(a_cov)
    a_prec = sl.inverse_from_cholesky(low_a)
    logdet_a = sl.logdet_from_cholesky(low_a)

    def one(zh, p, ri):
        low_m = sl.cholesky(p + a_prec)
        h = p @ zh + ri + a_prec @ a
        u = sl.solve_lower(low_m, h)  # h' M^{-1} h = |L_M^{-1} h|^2
        return 0.5 * (u @ u - sl.logdet_from_cholesky(low_m) - logdet_a - a @ a_prec @ a)

    terms = jax.vmap(one)(z_hat, prec, r)
    return model.log_global(g, glob) + jnp.sum(jnp.where(ok, terms, 0.0))


def laplace_marginal(model, g, z_hat, prec, r, ok, glob) -> ModeResult:
    """The mode of ``gaussian_log_marginal`` from ``g`` (the EM's globals) and its Laplace
    covariance: a Gaussian approximation of the globals' marginal posterior with every
    asset's block integrated out (the idea of INLA, Rue, Martino and Chopin 2009, on the
    start's Gaussian likelihood summaries). Costs no likelihood evaluation.

    Why it is kept: on a 10 x 500 panel its marginals of the globals agreed with NUTS far
    better than joint VI's q(g) (overlap 69-97% against 27-95%; VI's q(g) was about half as
    wide), although its ELBO as q(g) was lower: the ELBO's optimum is too narrow when the
    blocks' spread depends on the population scales, which a Gaussian q(z_i | g) with fixed
    L_i cannot follow (docs: "Joint VI for pooled models").
    """
    return find_mode(lambda x: gaussian_log_marginal(model, x, z_hat, prec, r, ok, glob), g,
                     max_iter=50, gtol=1e-6)


def laplace_global_start(model, marginal: ModeResult, g, m, v, z_hat, prec, r):
    """Step 6: the start at the globals' Laplace marginal, if its mode was found: g and its
    covariance from it, each block's (m_i, V_i) given that g (``conditional_blocks``) and
    the slope B_i = d m_i / d g there, the summaries' own linear dependence of a block's mean
    on the globals, as the start of the structured family's B_i. Otherwise (g, m, V) as they
    were and B_i = 0. Returns (g, whether the marginal was used, m, V, B)."""
    ok = marginal.ok & jnp.all(jnp.isfinite(marginal.cov))
    g_lap = jnp.where(ok, marginal.z, g)
    m_lap, v_lap = conditional_blocks(model, g_lap, z_hat, prec, r)
    slope = jax.jacfwd(lambda x: conditional_blocks(model, x, z_hat, prec, r)[0])(g_lap)
    slope = jnp.where(ok & jnp.isfinite(slope), slope, 0.0)
    return (g_lap, ok, jnp.where(ok, m_lap, m), jnp.where(ok, v_lap, v), slope)


@lru_cache(maxsize=32)
def _start_program(model, passes: int, laplace: bool, surrogate: bool = False,
                   global_start: str = "em"):
    def local_mode(local_i, z0, g):
        def f(z):
            return model.log_local_prior(z, g) + model.local_log_likelihood(z, local_i)
        return find_mode(f, z0, max_iter=100, gtol=_START_GTOL, eigh=sl.eigh)

    def best_candidate(local_i, g):
        """The model's candidate start with the highest log density (``initial_candidates``)."""
        zs = model.initial_candidates(local_i)  # [K, d_l]
        vals = jax.vmap(lambda z: model.log_local_prior(z, g)
                        + model.local_log_likelihood(z, local_i))(zs)
        return zs[jnp.argmax(jnp.where(jnp.isfinite(vals), vals, -jnp.inf))]

    def run(data: JointData):
        n = jax.tree_util.tree_leaves(data.local)[0].shape[0]
        g0 = model.independent_globals(data.glob)
        if hasattr(model, "initial_candidates"):
            z0 = jax.vmap(best_candidate, in_axes=(0, None))(data.local, g0)
        else:
            z0 = jax.vmap(model.initial_local)(data.local)
        length = max(int(np.prod(x.shape[1:])) for x in jax.tree_util.tree_leaves(data.local))
        chunk = int(max(1, min(n, _CHUNK_NUMBERS // max(length, 1))))

        def modes(z, g):
            # assets in chunks (vmapped within a chunk) bound the memory of the Hessians
            return jax.lax.map(lambda a: local_mode(a[0], a[1], g), (data.local, z),
                               batch_size=chunk)

        first = modes(z0, g0)
        ok = first.ok
        z_hat = jnp.where(ok[:, None], first.z, z0)
        prec, r = gaussian_summaries(model, z_hat, first.cov, ok, g0)
        g, m, v = random_effects_em(model, z_hat, prec, r, ok, g0, data.glob)
        marginal = (laplace_marginal(model, g, z_hat, prec, r, ok, data.glob)
                    if laplace or global_start == "laplace" else None)
        cov_g, slope = model.global_start_cov(g, ok), None
        if global_start == "laplace":
            g, lap_ok, m, v, slope = laplace_global_start(model, marginal, g, m, v, z_hat,
                                                          prec, r)
            cov_g = jnp.where(lap_ok, marginal.cov, model.global_start_cov(g, ok))
        if passes > 0:
            def body(_, s):
                g, z, cov = s
                res = modes(z, g)
                z = jnp.where(res.ok[:, None], res.z, z)
                cov = jnp.where(res.ok[:, None, None], res.cov, cov)
                return g, z, cov

            g, m, v = jax.lax.fori_loop(0, passes, body, (g, m, v))
        surr = None
        if surrogate:  # one more likelihood pass, only when a fit uses the surrogates
            level = jax.vmap(model.local_log_likelihood)(z_hat, data.local)
            level = jnp.where(ok & jnp.isfinite(level), level, 0.0)
            surr = LikelihoodSurrogate(z_hat, prec, r, level)
        return JointStart(g, cov_g, m, v, ok, z_hat, marginal, surr, slope)

    return jax.jit(run)


def joint_start(model, data: JointData, passes: int = 0, laplace: bool = False,
                surrogate: bool = False, global_start: str = "em") -> JointStart:
    """Start values for the local-global family (module docstring); with ``laplace``, also
    the globals' Laplace marginal (step 5; only a fit that draws its globals from it asks);
    with ``surrogate``, step 2's summaries as ``JointStart.surrogate`` (else None); with
    ``global_start="laplace"``, q(g) and the blocks start at that marginal (step 6)."""
    if global_start not in ("em", "laplace"):
        raise ValueError(f"global_start must be 'em' or 'laplace', got '{global_start}'")
    return _start_program(model, passes, laplace, surrogate, global_start)(data)
