"""The joint log density and ELBO of a pooled model, full-data and minibatch (docs: "Joint models").

A joint model splits its log density over globals g and per-asset blocks z_i as

    log p(y, g, z) = log p(g) + sum_i [ log p(z_i | g) + loglik_i(z_i) ]

through ``log_global(g, glob)``, ``log_local_prior(z_i, g)`` and
``local_log_likelihood(z_i, local_i)``; ``data`` is a :class:`JointData` whose ``local`` leaves
carry the asset axis first. With a batch b of B of the N assets (Hoffman et al. 2013):

    ELBO_b = E_q[log p(g)] + H[q(g)] + (N / B) sum_{i in b} ( E_q[log p(z_i | g) + loglik_i] + H_i )

is unbiased for the full ELBO; B = N is the full-data ELBO.
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


def full_elbo(family, model, params: dict, eps_g: jax.Array, eps_l: jax.Array,
              data: JointData, chunk: int) -> jax.Array:
    """Full-data ELBO estimate with the given eps (common random numbers), by asset chunks.

    Assets are evaluated ``chunk`` at a time (``lax.map``), so memory holds one chunk x T x S
    at once; the last chunk is padded with asset 0 at weight 0.
    """
    n = n_assets(data)
    n_chunks = -(-n // chunk)
    idx = jnp.arange(n_chunks * chunk)
    w = (idx < n).astype(eps_g.dtype).reshape(n_chunks, chunk)
    idx = jnp.where(idx < n, idx, 0).reshape(n_chunks, chunk)
    gp, lp = split(params)

    def one(args):
        ib, wb = args
        return local_elbo(family, model, {**gp, **take_assets(lp, ib)}, eps_g, eps_l[:, ib],
                          take_assets(data.local, ib), wb)

    return global_elbo(family, model, params, eps_g, data.glob) + jnp.sum(
        jax.lax.map(one, (idx, w)))
