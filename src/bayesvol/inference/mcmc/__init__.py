"""MCMC samplers on a plain log density of an unconstrained vector, and their diagnostics.

One module per method: nuts (NumPyro NUTS, the default), hmc (static HMC, the thesis's
warm-up schedule), rwmh (adaptive multivariate-t random walk), admit (independence MH with an
adaptive mixture of Student t), griddy (griddy Gibbs); diagnostics (ESS, ESS/s, R-hat,
Geweke, HPD). ``sample(method, logdensity, z0, key, ...)`` runs any of them and returns a
:class:`SamplerOutput`.
"""

from __future__ import annotations

import jax

from .base import LogDensity, SamplerFailure, SamplerOutput
from .nuts import NUTSOutput, convergence, run_nuts, run_nuts_density

SAMPLERS = ("nuts", "hmc", "rwmh", "admit", "griddy")

__all__ = ["SAMPLERS", "LogDensity", "NUTSOutput", "SamplerFailure", "SamplerOutput", "core",
           "convergence", "run_nuts", "run_nuts_density", "sample"]


def core(method: str):
    """The pure-JAX core of a sampler other than NUTS (see base.py)."""
    if method == "hmc":
        from .hmc import hmc_core
        return hmc_core
    if method == "rwmh":
        from .rwmh import rwmh_core
        return rwmh_core
    if method == "admit":
        from .admit import admit_core
        return admit_core
    if method == "griddy":
        from .griddy import griddy_core
        return griddy_core
    raise ValueError(f"unknown sampler '{method}': choose one of {', '.join(SAMPLERS)}")


def sample(method: str, logdensity: LogDensity, z0, key: jax.Array, *, cov0=None,
           num_warmup: int = 1000, num_samples: int = 1000, num_chains: int = 2,
           raise_on_failure: bool = True, **settings) -> SamplerOutput:
    """Run sampler ``method`` on ``logdensity(z)`` from z0 (cov0: a covariance guess, e.g.
    the Laplace covariance; AdMit and griddy Gibbs need it, or the mode is found here)."""
    if method == "nuts":
        return run_nuts_density(logdensity, z0, key, cov0=cov0, num_warmup=num_warmup,
                                num_samples=num_samples, num_chains=num_chains,
                                raise_on_failure=raise_on_failure, **settings)
    from .base import run_sampler

    return run_sampler(method, core(method), logdensity, z0, cov0, key,
                       raise_on_failure=raise_on_failure, num_warmup=num_warmup,
                       num_samples=num_samples, num_chains=num_chains, **settings)
