"""Starting values of joint VI: per-asset modes and population moments, alternated.

With g_0 = ``model.independent_globals(glob)`` (a weak population: each asset's mode is then
its own, nearly unpooled), repeat ``passes`` + 1 times:

1. every asset's mode and Laplace covariance under the population p(z_i | g), by a vmapped
   damped-Newton program (inference/mode.py) over chunks of assets (``lax.map``), each chunk
   holding about 2^21 series values, which bounds the memory of the Hessians on large panels;
2. the globals from the robust moments of those modes (``model.globals_from_locals``: median
   and MAD, since short histories give wild modes), with the model's approximate covariance
   of them (``model.global_start_cov``).

A Newton mode of the globals given the local modes was tried for step 2: it moved the start
little and its Hessian of the LKJ density took 7 s to compile (10 assets), as long as the
local mode program itself. The loop is a ``fori_loop`` so the local mode program is traced
once. The family starts at m_g, cov_g from the last step 2, m_i, L_i from the last local
modes and B_i = 0.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..mode import find_mode
from .objective import JointData


class JointStart(NamedTuple):
    g: jax.Array  # [d_g]
    cov_g: jax.Array  # [d_g, d_g]
    z: jax.Array  # [N, d_l]
    cov_z: jax.Array  # [N, d_l, d_l]
    ok: jax.Array  # [N] last local modes found (finite, -H positive definite, stationary)
    unpooled: jax.Array  # [N, d_l] the first pass's modes (weak population: nearly unpooled)


_CHUNK_NUMBERS = 2**21  # per-asset series values held at once by the local mode search


@lru_cache(maxsize=32)
def _start_program(model, passes: int):
    def local_mode(local_i, z0, g):
        def f(z):
            return model.log_local_prior(z, g) + model.local_log_likelihood(z, local_i)
        return find_mode(f, z0)

    def run(data: JointData):
        n = jax.tree_util.tree_leaves(data.local)[0].shape[0]
        g0 = model.independent_globals(data.glob)
        z0 = jax.vmap(model.initial_local)(data.local)
        d_g, d_l = g0.shape[-1], z0.shape[-1]
        length = max(int(np.prod(x.shape[1:])) for x in jax.tree_util.tree_leaves(data.local))
        chunk = int(max(1, min(n, _CHUNK_NUMBERS // max(length, 1))))

        def body(i, s):
            g, z, *_, unpooled = s
            # assets in chunks (vmapped within a chunk) bound the memory of the Hessians
            res = jax.lax.map(lambda a: local_mode(a[0], a[1], g), (data.local, z),
                              batch_size=chunk)
            z = jnp.where(res.ok[:, None], res.z, z)
            g = model.globals_from_locals(z, res.ok, data.glob)
            unpooled = jnp.where(i == 0, z, unpooled)
            return g, z, model.global_start_cov(g, res.ok), res.cov, res.ok, unpooled

        init = (g0, z0, jnp.eye(d_g), jnp.broadcast_to(jnp.eye(d_l), (n, d_l, d_l)),
                jnp.zeros(n, bool), z0)
        g, z, cov_g, cov_z, ok, unpooled = jax.lax.fori_loop(0, passes + 1, body, init)
        return JointStart(g, cov_g, z, cov_z, ok, unpooled)

    return jax.jit(run)


def joint_start(model, data: JointData, passes: int = 2) -> JointStart:
    """Start values for the local-global family (module docstring)."""
    return _start_program(model, passes)(data)
