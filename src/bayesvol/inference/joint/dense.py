"""A dense full-rank Gaussian over all of (g, z_1..z_N): the check on the structured family.

The joint vector theta = (g, z_1, ..., z_N) of dimension d_g + N d_l is fitted as one
"asset" by the independent-model runner (inference/runner.py: full-rank family, Adam,
moving-average stopping, PSIS), started at the joint start values (start.py) with a
block-diagonal covariance. Its (d_g + N d_l)^2 covariance makes it a tool for small panels
only: it shows what the sparse local-global family leaves out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import block_diag

from ..runner import VIOptions, run_vi_batch
from ..vi.families import get_family
from .objective import JointData, log_joint, n_assets
from .start import joint_start

MAX_DENSE_DIM = 400


@dataclass(frozen=True)
class FlatJoint:
    """A joint model seen as one model over theta = (g, z.ravel()) (runner interface)."""

    model: object
    n: int

    @property
    def dim(self) -> int:
        return self.model.global_dim + self.n * self.model.local_dim

    def split(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        dg = self.model.global_dim
        return theta[..., :dg], theta[..., dg:].reshape(theta.shape[:-1] + (self.n, -1))

    def log_joint(self, theta: jax.Array, data: JointData) -> jax.Array:
        g, z = self.split(theta)
        return log_joint(self.model, g, z, data)

    def log_likelihood(self, theta: jax.Array, data: JointData) -> jax.Array:
        g, z = self.split(theta)
        lik = jax.vmap(self.model.local_log_likelihood)(z, data.local)
        return jnp.sum(lik)


def run_dense_vi(model, data: JointData, key: jax.Array, opts):
    """Dense full-rank VI over (g, z) (module docstring); returns a JointVIResult."""
    from .vi import JointVIResult

    t0 = time.perf_counter()
    n = n_assets(data)
    flat = FlatJoint(model, n)
    if flat.dim > MAX_DENSE_DIM:
        raise ValueError(f"the dense full-rank family has {flat.dim} dimensions here; it is a "
                         f"check for small panels (at most {MAX_DENSE_DIM}): use structured")
    start = joint_start(model, data, opts.start_passes)
    loc = jnp.concatenate([start.g, start.z.reshape(-1)])
    cov = block_diag(start.cov_g, *list(start.cov_z))
    params0 = jax.tree_util.tree_map(lambda x: x[None], get_family("fullrank").init(loc, cov))
    vi_opts = VIOptions(family="fullrank", mc_samples=opts.mc_samples,
                        learning_rate=opts.learning_rate, window=opts.window,
                        patience=opts.patience, max_iter=opts.max_iter,
                        num_draws=opts.num_draws, psis_draws=max(opts.num_draws, 1000))
    batched = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], data)
    res = run_vi_batch(flat, batched, key, vi_opts, params0=params0)
    g, z = flat.split(jnp.asarray(res.z[0, 0]))
    return JointVIResult(
        g=np.asarray(g)[None], z=np.moveaxis(np.asarray(z), 1, 0)[:, None],
        params=jax.tree_util.tree_map(lambda x: np.asarray(x)[0], res.params),
        elbo=float(res.elbo[0]), elbo_trace=np.asarray(res.elbo_trace[0]),
        iterations=int(res.iterations[0]), converged=bool(res.converged[0]),
        failed=bool(res.failed[0]), start_ok=np.asarray(start.ok),
        unpooled=np.asarray(start.unpooled), seconds=time.perf_counter() - t0,
        minibatch=False, learning_rate=opts.learning_rate)
