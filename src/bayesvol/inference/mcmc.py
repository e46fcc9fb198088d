"""NUTS through NumPyro on a model's ``numpyro_model`` (the same log-joint VI uses).

Chains start at the posterior mode. Diagnostics: split R-hat and bulk ESS from ArviZ, and the
count of divergent transitions; a run with any non-finite draw is reported as failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
from numpyro.infer import MCMC, NUTS, init_to_value


@dataclass
class NUTSOutput:
    z: np.ndarray  # [chains, draws, d]
    divergences: int
    rhat_max: float
    ess_min: float
    finite: bool


def run_nuts(model: Callable, model_args: tuple, z_init: jax.Array, key: jax.Array, *,
             num_warmup: int = 1000, num_samples: int = 1000, num_chains: int = 2,
             progress: bool = False, site: str = "z", target_accept: float = 0.8) -> NUTSOutput:
    """Run NUTS on ``model(*model_args)`` whose latent site ``site`` is the flat vector z."""
    kernel = NUTS(model, init_strategy=init_to_value(values={site: z_init}),
                  target_accept_prob=target_accept)
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                chain_method="sequential", progress_bar=progress)
    mcmc.run(key, *model_args, extra_fields=("diverging",))
    z = np.asarray(mcmc.get_samples(group_by_chain=True)[site])
    div = int(np.sum(np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])))
    return NUTSOutput(z, div, *convergence(z), bool(np.all(np.isfinite(z))))


def convergence(z: np.ndarray) -> tuple[float, float]:
    """(max split R-hat, min bulk ESS) over the coordinates of draws z [chains, draws, d]."""
    import arviz as az  # imported here: it costs seconds at start-up

    ds = az.convert_to_dataset({"z": z})
    rhat = float(np.max(az.rhat(ds)["z"].values)) if z.shape[0] > 1 else float("nan")
    ess = float(np.min(az.ess(ds)["z"].values))
    return rhat, ess

