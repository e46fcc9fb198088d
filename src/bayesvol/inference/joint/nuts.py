"""NUTS (and the other samplers of inference/mcmc) on a joint model's ``numpyro_model``.

The model samples one flat site ``theta`` (for hierarchical GARCH the non-centred
(g, eta_1..eta_N)); chains start at the joint VI start values mapped by ``model.to_theta``,
and draws come back as (g, z) through ``model.from_theta``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
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


@dataclass
class JointSamplerResult:
    g: np.ndarray  # [chains, draws, d_g]
    z: np.ndarray  # [N, chains, draws, d_l]
    output: object  # mcmc.SamplerOutput over theta
    start_ok: bool  # the joint mode search converged (else the VI start and 0.01 I)
    seconds: float


def theta_log_density(model, data: JointData):
    """log p(y, theta) of the model's ``numpyro_model`` over its flat site ``theta`` (the
    density NUTS samples), as a plain function of theta for the other samplers."""
    from numpyro.infer.util import log_density

    def logdensity(theta):
        return log_density(model.numpyro_model, (data,), {}, {"theta": theta})[0]

    return logdensity


def run_joint_sampler(model, data: JointData, key: jax.Array, method: str,
                      num_warmup: int = 1000, num_samples: int = 1000, num_chains: int = 2,
                      settings: dict | None = None) -> JointSamplerResult:
    """A sampler of inference/mcmc (hmc, rwmh, admit, griddy) on the joint posterior over
    theta. Start: the joint mode and its Laplace covariance, found by damped Newton from the
    joint VI start values; where that search fails, the VI start with 0.01 I."""
    from ..mcmc import sample
    from ..mode import find_mode

    t0 = time.perf_counter()
    n = n_assets(data)
    start = joint_start(model, data)
    theta0 = model.to_theta(start.g, start.z)
    logdensity = theta_log_density(model, data)
    mode = jax.jit(lambda th: find_mode(logdensity, th))(theta0)
    ok = bool(mode.ok)
    z0 = mode.z if ok else theta0
    cov0 = mode.cov if ok else 0.01 * jnp.eye(theta0.shape[0])
    out = sample(method, jax.jit(logdensity), z0, key, cov0=cov0, num_warmup=num_warmup,
                 num_samples=num_samples, num_chains=num_chains, **(settings or {}))
    c, s = out.z.shape[:2]
    split = jax.jit(jax.vmap(lambda th: model.from_theta(th, n)))
    g, z = split(out.z.reshape(c * s, -1))
    g = np.asarray(g).reshape(c, s, -1)
    z = np.moveaxis(np.asarray(z).reshape(c, s, n, -1), 2, 0)
    return JointSamplerResult(g, z, out, ok, time.perf_counter() - t0)
