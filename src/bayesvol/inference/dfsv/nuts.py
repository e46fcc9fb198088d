"""NUTS reference for the DFSV model: the exact posterior p(theta, x | y) for small problems.

A NumPyro model over one flat vector z = (theta [d], x [M, T] row-major), the unconstrained
globals and the non-centred unit log-variance paths of ``bayesvol.models.dfsv``, with log
density ``DfsvModel.log_joint_noncentred`` (the factors integrated out by the Kalman filter;
its likelihood is a ``custom_vjp`` with a Fisher-identity gradient, which is all NUTS needs).
This is the same posterior as ``DfsvModel.log_joint`` over (theta, h, h_id), reparameterised:
the non-centred form mixes better for the vol-of-vol when the data say little about it (the
centred form has the funnel between sigma and the path's increments).

NumPyro's NUTS with ``chain_method="sequential"`` (one compilation, chains one after the
other); chain c starts at the moment-based starting values of ``start.py`` (non-centred) plus
N(0, 0.1^2) jitter on theta (chain 0: none). Diagnostics: split R-hat and bulk ESS over all of z
(``bayesvol.inference.mcmc.convergence``) and the post-warm-up divergences. Cost: each
leapfrog step is a Kalman filter plus an RTS smoother (O(T N K^2)), and the path block has M T
dimensions, so trees are deep; use it for N of a few and T of a few hundred.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ...models.dfsv import DfsvModel
from ..mcmc import convergence
from .start import DfsvStart, dfsv_start


@dataclass(frozen=True)
class DfsvNutsOptions:
    """Settings of a DFSV NUTS run: warm-up and kept draws per chain, chains (run one after
    the other), and the target acceptance probability of the step-size adaptation."""

    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2
    target_accept: float = 0.85
    max_tree_depth: int = 10


@dataclass
class DfsvNutsResult:
    """Output of ``run_dfsv_nuts``: theta_draws [D, d] (unconstrained) and path_draws [D, M, T]
    (unit paths x), D = chains x samples, chain by chain; divergences (post-warm-up count),
    rhat_max and ess_min over all coordinates of z (NaN R-hat for one chain); seconds."""

    model: DfsvModel
    options: DfsvNutsOptions
    theta_draws: np.ndarray
    path_draws: np.ndarray
    divergences: int
    rhat_max: float
    ess_min: float
    finite: bool
    seconds: float
    start: DfsvStart


@dataclass(frozen=True)
class _NutsTarget:
    """Hashable holder of the model and its shapes; ``numpyro_model(y, mask)`` is the target."""

    model: DfsvModel
    T: int

    def log_density(self, z: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
        d, M = self.model.dim, self.model.n_paths
        theta, x = z[:d], z[d:].reshape(M, self.T)
        return self.model.log_joint_noncentred(theta, x, y, mask)

    def numpyro_model(self, y: jax.Array, mask: jax.Array) -> None:
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        size = self.model.dim + self.model.n_paths * self.T
        z = numpyro.sample("z", dist.ImproperUniform(constraints.real_vector, (), (size,)))
        numpyro.factor("log_joint", self.log_density(z, y, mask))


def _potential(target: _NutsTarget, y: jax.Array, mask: jax.Array):
    """-log density of z, jitted: ``numpyro_model``'s potential. Given to NUTS directly
    (``potential_fn``), it compiles once; tracing ``numpyro_model`` cost ~50 s of op-by-op
    compilation per chain on a 2 x 30 problem."""
    return jax.jit(lambda z: -target.log_density(z, y, mask))


def run_dfsv_nuts(model: DfsvModel, y: np.ndarray, mask: np.ndarray, key: jax.Array,
                  opts: DfsvNutsOptions = DfsvNutsOptions()) -> DfsvNutsResult:
    """NUTS on p(theta, x | y) for y, mask [T, N] (y may hold NaN where mask is False)."""
    from numpyro.infer import MCMC, NUTS  # here: a VI fit need not import the sampler

    t0 = time.perf_counter()
    y = np.asarray(y, float)
    mask = np.asarray(mask, bool) & np.isfinite(y)
    if y.ndim != 2 or y.shape[1] != model.n_assets:
        raise ValueError(f"y must be [T, N={model.n_assets}], got {y.shape}")
    T = y.shape[0]
    start = dfsv_start(model, y, mask, "noncentred")
    parts = [start.theta, start.path_loc.reshape(-1)]
    if model.n_mix:     # Student-t: the standardised mixing states follow the paths
        parts.append(start.standardised_mixing().reshape(-1))
    z0 = np.concatenate(parts)
    target = _NutsTarget(model, T)
    args = (jnp.asarray(np.where(mask, y, 0.0)), jnp.asarray(mask))
    kernel = NUTS(potential_fn=_potential(target, *args), target_accept_prob=opts.target_accept,
                  max_tree_depth=opts.max_tree_depth)
    mcmc = MCMC(kernel, num_warmup=opts.num_warmup, num_samples=opts.num_samples,
                num_chains=opts.num_chains, chain_method="sequential", progress_bar=False)
    rng = np.random.default_rng(0)
    init = np.repeat(z0[None], opts.num_chains, axis=0)
    init[1:, :model.dim] += 0.1 * rng.standard_normal((opts.num_chains - 1, model.dim))
    init_z = jnp.asarray(init if opts.num_chains > 1 else init[0])
    mcmc.run(key, init_params=init_z, extra_fields=("diverging",))
    zc = np.asarray(mcmc.get_samples(group_by_chain=True))
    div = int(np.sum(np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])))
    rhat, ess = convergence(zc)
    z = zc.reshape(-1, zc.shape[-1])
    d, M = model.dim, model.n_paths
    return DfsvNutsResult(model=model, options=opts, theta_draws=z[:, :d].copy(),
                          path_draws=z[:, d:].reshape(-1, M, T).copy(),
                          divergences=div, rhat_max=rhat, ess_min=ess,
                          finite=bool(np.all(np.isfinite(z))),
                          seconds=time.perf_counter() - t0, start=start)


__all__ = ["DfsvNutsOptions", "DfsvNutsResult", "run_dfsv_nuts"]
