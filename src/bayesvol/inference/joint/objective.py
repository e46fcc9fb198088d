"""The joint log density and ELBO of a pooled model, full-data and minibatch (docs: "Joint models").

A joint model splits its log density over globals g and per-asset blocks z_i as

    log p(y, g, z) = log p(g) + sum_i [ log p(z_i | g) + loglik_i(z_i) ]

through ``log_global(g, glob)``, ``log_local_prior(z_i, g)`` and
``local_log_likelihood(z_i, local_i)``; ``data`` is a :class:`JointData` whose ``local`` leaves
carry the asset axis first. With a batch b of B of the N assets (Hoffman et al. 2013):

    ELBO_b = E_q[log p(g)] + H[q(g)] + (N / B) sum_{i in b} ( E_q[log p(z_i | g) + loglik_i] + H_i )

is unbiased for the full ELBO; B = N is the full-data ELBO.

Only the likelihood terms cost O(T) per asset; log p(z_i | g) and H_i cost O(d_l^2). The
minibatch step therefore uses (``split_minibatch_elbo``)

    ELBO_b' = E_q[log p(g)] + H[q(g)] + sum_{i=1..N} ( E_q[log p(z_i | g)] + H_i )
              + (N / B) sum_{i in b} E_q[loglik_i(z_i)],

also unbiased, whose global gradient carries no between-asset sampling noise in the terms
that set the population scales (Hoffman et al.'s estimator subsamples those too).

With a quadratic surrogate s_i of each likelihood (``LikelihoodSurrogate``: the start's
Gaussian summary, start.py), the likelihood terms are estimated as a control variate,

    E_q[loglik_i] = E_q[s_i] + E_q[loglik_i - s_i],

the first term in closed form for every asset (q's marginal of z_i is Gaussian; O(d_l^2) per
asset, so it joins the cheap terms), only the residual sampled, and in a minibatch only the
residual subsampled (times N / B). Still unbiased; where loglik_i is nearly quadratic over q
(long series) the residual is small, and with it both the Monte Carlo noise of the
reparameterised draws and the between-asset noise of the batch (the control variate of
Miller et al. 2017 with the expansion fixed at the start, as in the subsampling control
variates of Bardenet et al. 2017). Without the residual this would be exact for a Gaussian
hierarchy.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ... import small_linalg as sl
from ...models.joint_data import JointData


class LikelihoodSurrogate(NamedTuple):
    """Each asset's log-likelihood as a concave quadratic about z^_i (start.py, step 2):

        s_i(z) = c_i + r_i^T (z - z^_i) - (z - z^_i)^T P_i (z - z^_i) / 2

    with c_i = loglik_i(z^_i) (the constant leaves the gradients alone; with it the residual,
    and so the minibatch's ELBO estimate, is small too)."""

    z: jax.Array  # [N, d_l] expansion points
    prec: jax.Array  # [N, d_l, d_l] P_i (positive semi-definite)
    grad: jax.Array  # [N, d_l] r_i
    level: jax.Array  # [N] c_i


def surrogate_value(surrogate: LikelihoodSurrogate, z: jax.Array) -> jax.Array:
    """s_i(z_i) for z [n, d_l] and a surrogate of the same n assets: [n]."""
    dz = z - surrogate.z
    return (surrogate.level + jnp.sum(surrogate.grad * dz, -1)
            - 0.5 * jnp.einsum("ni,nij,nj->n", dz, surrogate.prec, dz))


def surrogate_mean(family, params: dict, surrogate: LikelihoodSurrogate) -> jax.Array:
    """E_q[s_i(z_i)] in closed form, [n]: with q's marginal z_i ~ N(m_i, S_i) (family.py),
    c_i + r_i^T (m_i - z^_i) - ((m_i - z^_i)^T P_i (m_i - z^_i) + tr(P_i S_i)) / 2."""
    _, _, m, cov = family.marginals(params)
    return (surrogate_value(surrogate, m)
            - 0.5 * jnp.einsum("nij,nji->n", surrogate.prec, cov))


def n_assets(data: JointData) -> int:
    return int(jax.tree_util.tree_leaves(data.local)[0].shape[0])


def take_assets(local: Any, idx: jax.Array) -> Any:
    """The local data (or local parameters) of the assets ``idx``."""
    return jax.tree_util.tree_map(lambda x: x[idx], local)


def log_local(model, z_i: jax.Array, g: jax.Array, local_i: Any) -> jax.Array:
    """log p(z_i | g) + loglik_i(z_i): one asset's term of the joint density."""
    return model.log_local_prior(z_i, g) + model.local_log_likelihood(z_i, local_i)


def log_joint(model, g: jax.Array, z: jax.Array, data: JointData) -> jax.Array:
    """log p(y, g, z) for g [d_g], z [N, d_l] (vmapped over assets)."""
    terms = jax.vmap(log_local, in_axes=(None, 0, None, 0))(model, z, g, data.local)
    return model.log_global(g, data.glob) + jnp.sum(terms)


def global_elbo(family, model, params: dict, eps_g: jax.Array, glob: Any) -> jax.Array:
    """E_q[log p(g)] + H[q(g)], estimated with eps_g [S, d_g]."""
    g, _ = family.sample_global(params, eps_g)
    terms = jax.vmap(model.log_global, in_axes=(0, None))(g, glob)
    return jnp.mean(terms) + family.global_entropy(params)


def local_elbo(family, model, params: dict, eps_g: jax.Array, eps_l: jax.Array,
               local_b: Any, weights: jax.Array | None = None,
               surrogate: LikelihoodSurrogate | None = None) -> jax.Array:
    """sum_i w_i (E_q[log p(z_i | g) + loglik_i(z_i)] + H_i) over a batch of assets.

    ``params``' local leaves and ``local_b`` hold the batch's assets; ``eps_g`` [S_g, d_g],
    ``eps_l`` [S, B, d_l] (S <= S_g: the likelihood terms use the first S draws of g, the
    population terms all, ``expected_local_priors``); w_i = 1, or ``weights`` (0 marks
    padding in a chunked evaluation). With a ``surrogate`` of the batch's assets, E_q[loglik_i]
    is estimated by the control variate (module docstring).
    """
    g, g_dev = family.sample_global(params, eps_g)
    z = family.sample_locals(params, g_dev[:eps_l.shape[0]], eps_l)
    lik = jnp.mean(jax.vmap(_likelihood_terms(model, local_b, surrogate))(z), axis=0)  # [B]
    # the closed form goes with the control variate (both: JointVIOptions.variance_reduction)
    prior = jnp.mean(expected_local_priors(family, model, params, g, g_dev, eps_l,
                                           surrogate is not None), axis=0)
    loc = prior + lik + family.local_entropy(params)
    if surrogate is not None:
        loc = loc + surrogate_mean(family, params, surrogate)
    if weights is not None:
        loc = loc * weights
    return jnp.sum(loc)


def split(params: dict) -> tuple[dict, dict]:
    """(global leaves, local leaves): locals are the ``l_``-prefixed entries, asset axis first."""
    return ({k: v for k, v in params.items() if not k.startswith("l_")},
            {k: v for k, v in params.items() if k.startswith("l_")})


def _chunk_index(n: int, chunk: int, dtype) -> tuple[jax.Array, jax.Array]:
    """Asset indices [n_chunks, chunk] (the last chunk padded with asset 0) and weights (0 on
    the padding)."""
    n_chunks = -(-n // chunk)
    idx = jnp.arange(n_chunks * chunk)
    w = (idx < n).astype(dtype).reshape(n_chunks, chunk)
    return jnp.where(idx < n, idx, 0).reshape(n_chunks, chunk), w


def full_elbo(family, model, params: dict, eps_g: jax.Array, eps_l: jax.Array,
              data: JointData, chunk: int,
              surrogate: LikelihoodSurrogate | None = None) -> jax.Array:
    """Full-data ELBO estimate with the given eps (common random numbers), by asset chunks.

    Assets are evaluated ``chunk`` at a time (``lax.map``), so memory holds one chunk x T x S
    at once; the last chunk is padded with asset 0 at weight 0. ``surrogate``: the
    likelihood terms by the control variate (module docstring).
    """
    idx, w = _chunk_index(n_assets(data), chunk, eps_g.dtype)
    gp, lp = split(params)

    def one(args):
        ib, wb = args
        surr_b = None if surrogate is None else take_assets(surrogate, ib)
        return local_elbo(family, model, {**gp, **take_assets(lp, ib)}, eps_g, eps_l[:, ib],
                          take_assets(data.local, ib), wb, surr_b)

    return global_elbo(family, model, params, eps_g, data.glob) + jnp.sum(
        jax.lax.map(one, (idx, w)))


@jax.custom_vjp
def scale_gradient(tree: Any, factor: jax.Array) -> Any:
    """Identity on ``tree`` whose cotangent is multiplied by ``factor`` (no gradient to it)."""
    return tree


def _scale_fwd(tree, factor):
    return tree, factor


def _scale_bwd(factor, ct):
    return jax.tree_util.tree_map(lambda c: c * factor, ct), jnp.zeros_like(factor)


scale_gradient.defvjp(_scale_fwd, _scale_bwd)


def split_minibatch_elbo(family, model, gp: dict, lp: dict, lpb: dict, idx: jax.Array,
                         eps_g: jax.Array, eps_l: jax.Array, local_b: Any, glob: Any,
                         scale: float,
                         surrogate: LikelihoodSurrogate | None = None) -> jax.Array:
    """ELBO_b' of the module docstring, as a function of (gp, lpb) for ``jax.grad``.

    ``lp``: all assets' local parameters (constants; the batch rows are replaced by ``lpb``);
    ``eps_l`` [S, N, d_l]; ``local_b`` the batch's data. Gradients: the globals get the
    unbiased estimate (likelihood terms times N / B through ``scale_gradient``); each batch
    asset gets the exact gradient of its own terms (prior, entropy, likelihood; unscaled, which
    is the full ELBO's gradient in its locals). With a ``surrogate`` (all N assets), the
    control variate of the module docstring: E_q[s_i] of every asset in full, the sampled
    residual loglik_i - s_i of the batch.
    """
    lp_all = jax.tree_util.tree_map(lambda full, part: full.at[idx].set(part), lp, lpb)
    cheap = _cheap_terms(family, model, gp, lp_all, eps_g, eps_l, glob, surrogate)
    gp_scaled = scale_gradient(gp, jnp.asarray(scale, eps_g.dtype))
    _, zb = family.sample({**gp_scaled, **lpb}, eps_g[:eps_l.shape[0]], eps_l[:, idx])
    terms = _likelihood_terms(model, local_b, None if surrogate is None
                              else take_assets(surrogate, idx))
    lik_b = jnp.mean(jnp.sum(jax.vmap(terms)(zb), axis=-1))
    # value: the unbiased estimate (likelihood times N / B); gradients as described above
    return cheap + lik_b + (scale - 1.0) * jax.lax.stop_gradient(lik_b)


def _likelihood_terms(model, local_b: Any, surrogate: LikelihoodSurrogate | None):
    """z [n, d_l] -> loglik_i(z_i) [n] over a batch, or (loglik_i - s_i)(z_i) with a
    surrogate of the same assets (the control variate's residual)."""
    def terms(z_s):
        out = jax.vmap(model.local_log_likelihood)(z_s, local_b)
        return out if surrogate is None else out - surrogate_value(surrogate, z_s)

    return terms


def expected_local_priors(family, model, params: dict, g: jax.Array, g_dev: jax.Array,
                          eps_l: jax.Array, closed_form: bool = True) -> jax.Array:
    """E_q[log p(z_i | g)] per draw of g and asset, [S, n] (g, g_dev = g - m_g: [S, d_g]).

    With ``closed_form`` and a Gaussian population (``model.gaussian_population``:
    p(z_i | g) = N(a(g), A(g))) the
    expectation over q(z_i | g) = N(mu_i(g), L_i L_i^T) is taken in closed form (Rao-Blackwell),

        E[log N(z_i; a, A) | g] = log N(mu_i(g); a, A) - tr(A^{-1} L_i L_i^T) / 2,

    so only g is sampled (``eps_l`` is not used) and the assets' draws add no noise to these
    terms. Otherwise the draws z_i of ``eps_l`` [S', n, d_l], with the first S' draws of g.
    """
    if closed_form and getattr(model, "gaussian_population", False):
        mu = family.sample_locals(params, g_dev, jnp.zeros(g.shape[:1] + eps_l.shape[1:]))
        low_l = family.local_chol(params)  # [N, d_l, d_l]

        def one(g_s, mu_s):
            _, a_cov = model.population_gaussian(g_s)
            low_a = sl.cholesky(a_cov)
            # rows: L_a^{-1} times each column of L_i, so sum w^2 = tr(A^{-1} L_i L_i^T)
            w = sl.solve_lower(low_a, jnp.swapaxes(low_l, -1, -2))
            dens = jax.vmap(model.log_local_prior, in_axes=(0, None))(mu_s, g_s)
            return dens - 0.5 * jnp.sum(w * w, axis=(-2, -1))

        return jax.vmap(one)(g, mu)
    s_l = eps_l.shape[0]
    z = family.sample_locals(params, g_dev[:s_l], eps_l)
    return jax.vmap(lambda g_s, z_s: jax.vmap(model.log_local_prior, in_axes=(0, None))(
        z_s, g_s))(g[:s_l], z)


def _cheap_terms(family, model, gp: dict, lp: dict, eps_g: jax.Array, eps_l: jax.Array,
                 glob: Any, surrogate: LikelihoodSurrogate | None = None) -> jax.Array:
    """E_q[log p(g)] + H[q(g)] + sum_i (E_q[log p(z_i | g)] + H_i): every term but the
    likelihoods, O(N d_l^2); with a surrogate, plus sum_i E_q[s_i] (closed form)."""
    params = {**gp, **lp}
    g, g_dev = family.sample_global(params, eps_g)
    prior = expected_local_priors(family, model, params, g, g_dev, eps_l, surrogate is not None)
    out = (global_elbo(family, model, gp, eps_g, glob) + jnp.mean(jnp.sum(prior, -1))
           + jnp.sum(family.local_entropy(lp)))
    if surrogate is not None:
        out = out + jnp.sum(surrogate_mean(family, params, surrogate))
    return out


def chunked_elbo_grad(family, model, gp: dict, lp: dict, eps_g: jax.Array, eps_l: jax.Array,
                      data: JointData, chunk: int,
                      surrogate: LikelihoodSurrogate | None = None
                      ) -> tuple[jax.Array, tuple[dict, dict]]:
    """The full-data ELBO estimate and its exact gradient in (globals, locals), the
    likelihood terms ``chunk`` assets at a time.

    Each asset's locals enter only its own terms, so the locals' gradient is assembled chunk
    by chunk and the globals' gradient is the sum over chunks (``lax.scan``): memory holds one
    chunk x T x S at a time (reverse mode through one vmap over all N assets holds N x T x S
    residuals at once), and the step is the full-batch step, not a subsample. With a
    ``surrogate``, the control-variate estimate of the module docstring.
    """
    n = n_assets(data)
    v0, (gg, gl) = jax.value_and_grad(_cheap_terms, argnums=(2, 3))(
        family, model, gp, lp, eps_g, eps_l, data.glob, surrogate)
    idx, w = _chunk_index(n, chunk, eps_g.dtype)

    def lik(gp_, lpc, eps_lc, local_c, wc, surr_c):
        _, zc = family.sample({**gp_, **lpc}, eps_g[:eps_l.shape[0]], eps_lc)  # [S, chunk, d_l]
        per = jax.vmap(_likelihood_terms(model, local_c, surr_c))(zc)
        return jnp.sum(jnp.mean(per, axis=0) * wc)

    def one(carry, args):
        ib, wb = args
        surr_c = None if surrogate is None else take_assets(surrogate, ib)
        v, (ggc, glc) = jax.value_and_grad(lik, argnums=(0, 1))(
            gp, take_assets(lp, ib), eps_l[:, ib], take_assets(data.local, ib), wb, surr_c)
        total, acc = carry
        return (total + v, jax.tree_util.tree_map(jnp.add, acc, ggc)), glc

    zero = jax.tree_util.tree_map(jnp.zeros_like, gp)
    (v1, gg1), glc = jax.lax.scan(one, (jnp.zeros((), eps_g.dtype), zero), (idx, w))
    # chunk rows back to assets: the order is 0..N-1 and the padding (weight 0) comes last
    gl1 = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:])[:n], glc)
    return v0 + v1, (jax.tree_util.tree_map(jnp.add, gg, gg1),
                     jax.tree_util.tree_map(jnp.add, gl, gl1))
