"""Shrinkage of a pooled fit: each asset's estimate against the population centre.

For each asset i and natural parameter x (persistence, alpha_share, omega, nu, phi, and
log_omega = log omega on request) :func:`shrinkage_table` reports

    unpooled    x at the nearly unpooled mode of asset i (``fit.unpooled``, the first pass of
                the pooled VI start under a weak population; NaN for fits without one, e.g.
                NUTS)
    pooled      posterior mean of x_i under the pooled fit, with its sd and 5/95% quantiles
    population  the population's centre in natural space, the posterior mean over global
                draws of the centre mapped by the model's own link:
                  population "mvn":  constrain(loc), loc the location of the normal population
                                     in z (so persistence = cloglog^-1(cloglog_persistence_loc),
                                     alpha_share = sigmoid(logit_alpha_share_loc),
                                     omega = exp(log_omega_loc), nu = 2 + exp(log_nu_excess_loc),
                                     phi = phi_loc: the population median of each)
                  population "beta": persistence_mean, alpha_share_mean (the Beta means), and
                                     phi_loc, exp(log_omega_loc), 2 + exp(log_nu_excess_loc)
    shrinkage   1 - (pooled - population) / (unpooled - population): 0 where pooling left the
                estimate at the unpooled value, 1 where it moved it all the way to the
                centre; < 0 or > 1 where it moved away from the centre or past it (NaN where
                unpooled equals the centre or is missing)

together with n_obs, each asset's number of observed returns. Assets with short histories
carry less information and are shrunk more; :func:`bayesvol.plots_pooled.plot_shrinkage`
draws the table against history length.

Note that the unpooled value is a mode and the pooled value a posterior mean, so part of the
difference is mode versus mean (largest for short histories and skewed parameters such as
persistence near 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
import pandas as pd

from .errors import InputError
from .models.bijections import cloglog

SHRINKAGE_PARAMS = ("persistence", "alpha_share", "omega", "nu", "phi")
QUANTITIES = ("unpooled", "pooled", "sd", "q05", "q95", "population", "shrinkage")


def _natural(model, z) -> dict[str, np.ndarray]:
    p = {k: np.asarray(v) for k, v in model.constrain(jnp.asarray(z)).items()}
    p["log_omega"] = np.log(p["omega"])
    return p


def population_centre_draws(fit) -> np.ndarray:
    """The population's centre in the model's z coordinates, per global draw
    [chains, draws, d_l] (module docstring). Read from the raw global draws by name
    (``model.global_names``), so no correlation matrix is built."""
    if fit.g is None:
        raise InputError("shrinkage needs a pooled fit (model='hier-garch'); this fit has no "
                         "population")
    g = np.asarray(fit.g, dtype=float)
    names = tuple(fit.model.global_names)
    coords = tuple(fit.model.unconstrained_names)

    def col(name: str) -> np.ndarray:
        return g[..., names.index(name)]

    if all(f"{c}_loc" in names for c in coords):  # normal population: its location in z
        return np.stack([col(f"{c}_loc") for c in coords], axis=-1)
    # Beta pooling of persistence and alpha share: the Beta means on the z coordinates
    tiny = np.finfo(float).eps
    p_mean = np.clip(1.0 / (1.0 + np.exp(-col("logit_persistence_mean"))), tiny, 1 - tiny)
    cols = {"phi": col("phi_loc"), "log_omega": col("log_omega_loc"),
            "cloglog_persistence": np.asarray(cloglog(p_mean)),
            "logit_alpha_share": col("logit_alpha_share_mean"),
            "log_nu_excess": col("log_nu_excess_loc")}
    return np.stack([cols[c] for c in coords], axis=-1)


def population_centre(fit) -> dict[str, float]:
    """Natural-space population centre per parameter (posterior mean over global draws)."""
    nat = _natural(fit.model, population_centre_draws(fit))
    return {k: float(np.mean(v)) for k, v in nat.items()}


def shrinkage_table(fit, params: Sequence[str] = SHRINKAGE_PARAMS, interval: float = 0.9
                    ) -> pd.DataFrame:
    """Per-asset shrinkage table of a pooled fit (module docstring).

    Index: asset. Columns: n_obs, then for each parameter p in ``params``: p_unpooled,
    p_pooled (posterior mean), p_sd, p_q05 and p_q95 (the central ``interval`` of the
    posterior; the names say q05/q95 whatever the interval), p_population, p_shrinkage.
    """
    params = tuple(params)
    if not 0.0 < float(interval) < 1.0:
        raise InputError(f"interval must lie in (0, 1), got {interval}")
    centre = population_centre(fit)
    known = tuple(centre)
    bad = [p for p in params if p not in known]
    if bad or not params:
        raise InputError(f"unknown parameter(s) {bad or '(none given)'}: choose from "
                         f"{', '.join(known)}")
    z = np.asarray(fit.z)
    n = z.shape[0]
    pooled = _natural(fit.model, z)  # [N, chains, draws]
    unpooled = (_natural(fit.model, np.asarray(fit.unpooled)) if fit.unpooled is not None
                else {k: np.full(n, np.nan) for k in known})
    lo, hi = (1.0 - float(interval)) / 2.0, (1.0 + float(interval)) / 2.0
    cols: dict[str, np.ndarray] = {"n_obs": np.asarray(fit.panel.n_obs_per_asset)}
    for p in params:
        draws = pooled[p].reshape(n, -1)
        mean = draws.mean(1)
        pop = centre[p]
        u = np.asarray(unpooled[p], dtype=float)
        den = u - pop
        with np.errstate(divide="ignore", invalid="ignore"):
            shrink = np.where(np.abs(den) > 0, 1.0 - (mean - pop) / den, np.nan)
        cols.update({f"{p}_unpooled": u, f"{p}_pooled": mean,
                     f"{p}_sd": draws.std(1, ddof=1) if draws.shape[1] > 1 else np.zeros(n),
                     f"{p}_q05": np.quantile(draws, lo, axis=1),
                     f"{p}_q95": np.quantile(draws, hi, axis=1),
                     f"{p}_population": np.full(n, pop), f"{p}_shrinkage": shrink})
    return pd.DataFrame(cols, index=pd.Index(list(fit.assets), name="asset"))


__all__ = ["QUANTITIES", "SHRINKAGE_PARAMS", "population_centre", "population_centre_draws",
           "shrinkage_table"]
