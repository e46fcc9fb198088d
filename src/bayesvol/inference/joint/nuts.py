"""NUTS on a joint model's ``numpyro_model`` (the reference posterior for small panels).

The model samples one flat site ``theta`` (for hierarchical GARCH the non-centred
(g, eta_1..eta_N)); chains start at the joint VI start values mapped by ``model.to_theta``,
and draws come back as (g, z) through ``model.from_theta``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import numpy as np

from ..mcmc import run_nuts
from .objective import JointData, n_assets
from .start import joint_start


@dataclass
class JointNUTSResult:
    g: np.ndarray  # [chains, draws, d_g]
    z: np.ndarray  # [N, chains, draws, d_l]
    divergences: int
    rhat_max: float
    ess_min: float
    finite: bool
    seconds: float


def run_joint_nuts(model, data: JointData, key: jax.Array, num_warmup: int = 1000,
                   num_samples: int = 1000, num_chains: int = 2, progress: bool = False,
                   target_accept: float = 0.9) -> JointNUTSResult:
    """NUTS over the joint posterior (module docstring)."""
    t0 = time.perf_counter()
    n = n_assets(data)
    start = joint_start(model, data)
    theta0 = model.to_theta(start.g, start.z)
    out = run_nuts(model.numpyro_model, (data,), theta0, key, num_warmup=num_warmup,
                   num_samples=num_samples, num_chains=num_chains, progress=progress,
                   site="theta", target_accept=target_accept)
    c, s = out.z.shape[:2]
    split = jax.jit(jax.vmap(lambda th: model.from_theta(th, n)))
    g, z = split(out.z.reshape(c * s, -1))
    g = np.asarray(g).reshape(c, s, -1)
    z = np.moveaxis(np.asarray(z).reshape(c, s, n, -1), 2, 0)
    return JointNUTSResult(g, z, out.divergences, out.rhat_max, out.ess_min, out.finite,
                           time.perf_counter() - t0)
