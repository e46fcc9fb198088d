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
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ...models.joint_data import JointData


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
               local_b: Any, weights: jax.Array | None = None) -> jax.Array:
    """sum_i w_i (E_q[log p(z_i | g) + loglik_i(z_i)] + H_i) over a batch of assets.

    ``params``' local leaves and ``local_b`` hold the batch's assets; ``eps_g`` [S, d_g],
    ``eps_l`` [S, B, d_l]; w_i = 1, or ``weights`` (0 marks padding in a chunked evaluation).
    """
    g, z = family.sample(params, eps_g, eps_l)

    def per_draw(g_s, z_s):
        return jax.vmap(log_local, in_axes=(None, 0, None, 0))(model, z_s, g_s, local_b)

    loc = jnp.mean(jax.vmap(per_draw)(g, z), axis=0) + family.local_entropy(params)  # [B]
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
              data: JointData, chunk: int) -> jax.Array:
    """Full-data ELBO estimate with the given eps (common random numbers), by asset chunks.

    Assets are evaluated ``chunk`` at a time (``lax.map``), so memory holds one chunk x T x S
    at once; the last chunk is padded with asset 0 at weight 0.
    """
    idx, w = _chunk_index(n_assets(data), chunk, eps_g.dtype)
    gp, lp = split(params)

    def one(args):
        ib, wb = args
        return local_elbo(family, model, {**gp, **take_assets(lp, ib)}, eps_g, eps_l[:, ib],
                          take_assets(data.local, ib), wb)

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
                         scale: float) -> jax.Array:
    """ELBO_b' of the module docstring, as a function of (gp, lpb) for ``jax.grad``.

    ``lp``: all assets' local parameters (constants; the batch rows are replaced by ``lpb``);
    ``eps_l`` [S, N, d_l]; ``local_b`` the batch's data. Gradients: the globals get the
    unbiased estimate (likelihood terms times N / B through ``scale_gradient``); each batch
    asset gets the exact gradient of its own terms (prior, entropy, likelihood; unscaled, which
    is the full ELBO's gradient in its locals).
    """
    lp_all = jax.tree_util.tree_map(lambda full, part: full.at[idx].set(part), lp, lpb)
    cheap = _cheap_terms(family, model, gp, lp_all, eps_g, eps_l, glob)
    gp_scaled = scale_gradient(gp, jnp.asarray(scale, eps_g.dtype))
    _, zb = family.sample({**gp_scaled, **lpb}, eps_g, eps_l[:, idx])

    def lik(z_s):
        return jnp.sum(jax.vmap(model.local_log_likelihood)(z_s, local_b))

    lik_b = jnp.mean(jax.vmap(lik)(zb))
    # value: the unbiased estimate (likelihood times N / B); gradients as described above
    return cheap + lik_b + (scale - 1.0) * jax.lax.stop_gradient(lik_b)


def _cheap_terms(family, model, gp: dict, lp: dict, eps_g: jax.Array, eps_l: jax.Array,
                 glob: Any) -> jax.Array:
    """E_q[log p(g)] + H[q(g)] + sum_i (E_q[log p(z_i | g)] + H_i): every term but the
    likelihoods, O(N d_l^2)."""
    g, z = family.sample({**gp, **lp}, eps_g, eps_l)
    prior = jax.vmap(lambda g_s, z_s: jnp.sum(
        jax.vmap(model.log_local_prior, in_axes=(0, None))(z_s, g_s)))(g, z)
    return (global_elbo(family, model, gp, eps_g, glob) + jnp.mean(prior)
            + jnp.sum(family.local_entropy(lp)))


def chunked_elbo_grad(family, model, gp: dict, lp: dict, eps_g: jax.Array, eps_l: jax.Array,
                      data: JointData, chunk: int) -> tuple[jax.Array, tuple[dict, dict]]:
    """The full-data ELBO estimate and its exact gradient in (globals, locals), the
    likelihood terms ``chunk`` assets at a time.

    Each asset's locals enter only its own terms, so the locals' gradient is assembled chunk
    by chunk and the globals' gradient is the sum over chunks (``lax.scan``): memory holds one
    chunk x T x S at a time (reverse mode through one vmap over all N assets holds N x T x S
    residuals at once), and the step is the full-batch step, not a subsample.
    """
    n = n_assets(data)
    v0, (gg, gl) = jax.value_and_grad(_cheap_terms, argnums=(2, 3))(
        family, model, gp, lp, eps_g, eps_l, data.glob)
    idx, w = _chunk_index(n, chunk, eps_g.dtype)

    def lik(gp_, lpc, eps_lc, local_c, wc):
        _, zc = family.sample({**gp_, **lpc}, eps_g, eps_lc)  # [S, chunk, d_l]
        per = jax.vmap(lambda z_s: jax.vmap(model.local_log_likelihood)(z_s, local_c))(zc)
        return jnp.sum(jnp.mean(per, axis=0) * wc)

    def one(carry, args):
        ib, wb = args
        v, (ggc, glc) = jax.value_and_grad(lik, argnums=(0, 1))(
            gp, take_assets(lp, ib), eps_l[:, ib], take_assets(data.local, ib), wb)
        total, acc = carry
        return (total + v, jax.tree_util.tree_map(jnp.add, acc, ggc)), glc

    zero = jax.tree_util.tree_map(jnp.zeros_like, gp)
    (v1, gg1), glc = jax.lax.scan(one, (jnp.zeros((), eps_g.dtype), zero), (idx, w))
    # chunk rows back to assets: the order is 0..N-1 and the padding (weight 0) comes last
    gl1 = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:])[:n], glc)
    return v0 + v1, (jax.tree_util.tree_map(jnp.add, gg, gg1),
                     jax.tree_util.tree_map(jnp.add, gl, gl1))
