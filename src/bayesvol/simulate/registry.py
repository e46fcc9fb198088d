"""One entry point for all simulators, by model name (used by the CLI and the API).

``simulate_model(model, n_assets=, T=, n_factors=, dist=, seed=)`` picks the simulator and
its defaults:

| model      | simulator                                  | defaults                         |
|------------|--------------------------------------------|----------------------------------|
| garch      | garch.simulate_garch (svi-garch.md 1.1-1.4)| 1 asset, T 1000, dist normal     |
| hier-garch | hier_garch.simulate_hier_garch             | 10 assets, T 1000, dist t (only) |
| dfsv       | dfsv.simulate_dfsv (dfsv.md)               | 10 assets, 2 factors, T 1000     |
| fsv        | dfsv.fsv_preset (fsv-vb.md 1.1-1.4)        | 10 assets, 2 factors, T 1000     |

(dfsv and fsv: dist normal, or t for Student-t errors with v = ``FACTOR_T_DF`` for every
asset and factor.)
| beta-t-egarch | beta_t_egarch.simulate_beta_t_egarch    | 1 asset, T 1000, dist gen-t      |
| gas-t-cov  | gas_t_cov.simulate_gas_t_cov               | 3 assets, T 1000, dist t (only)  |

Model parameters other than these are the simulators' documented defaults.
"""

from __future__ import annotations

from ..distributions import get_innovation
from ..errors import InputError
from ._common import Simulation, check_int
from .beta_t_egarch import simulate_beta_t_egarch
from .dfsv import fsv_preset, simulate_dfsv
from .garch import simulate_garch
from .gas_t_cov import simulate_gas_t_cov
from .hier_garch import simulate_hier_garch

MODELS: dict[str, dict[str, int | str | None]] = {
    "garch": {"n_assets": 1, "T": 1000, "n_factors": None, "dist": "normal"},
    "hier-garch": {"n_assets": 10, "T": 1000, "n_factors": None, "dist": "t"},
    "dfsv": {"n_assets": 10, "T": 1000, "n_factors": 2, "dist": "normal"},
    "fsv": {"n_assets": 10, "T": 1000, "n_factors": 2, "dist": "normal"},
    "beta-t-egarch": {"n_assets": 1, "T": 1000, "n_factors": None, "dist": "gen-t"},
    "gas-t-cov": {"n_assets": 3, "T": 1000, "n_factors": None, "dist": "t"},
}


FACTOR_T_DF = 8.0   # degrees of freedom of ``simulate dfsv|fsv --dist t``


def simulate_model(
    model: str,
    *,
    n_assets: int | None = None,
    T: int | None = None,
    n_factors: int | None = None,
    dist: str | None = None,
    seed: int = 0,
) -> Simulation:
    """Simulate ``model`` (garch, hier-garch, dfsv, fsv, beta-t-egarch) with the table's
    defaults.

    Returns the simulator's result (GarchSimulation, HierGarchSimulation, DFSVSimulation or
    BetaTEgarchSimulation),
    each with ``returns`` [N, T], ``dates``, ``assets``, ``truth`` and ``to_frame()``.
    Raises InputError on an unknown model or a setting that does not apply to it.
    """
    key = str(model).lower()
    if key not in MODELS:
        raise InputError(f"cannot simulate model '{model}': choose one of {', '.join(MODELS)}")
    spec = MODELS[key]
    n = check_int("number of assets", spec["n_assets"] if n_assets is None else n_assets, 1)
    T = check_int("T", spec["T"] if T is None else T, 1)
    seed = check_int("seed", seed, 0)
    if spec["n_factors"] is None and n_factors is not None:
        raise InputError(f"the number of factors applies only to dfsv and fsv, not {key}")
    if key == "beta-t-egarch":  # its own innovations: gen-t (v free) or t (v = 2)
        return simulate_beta_t_egarch(T, dist=dist or "gen-t", n_assets=n, seed=seed)
    if key == "gas-t-cov":  # multivariate Student t only
        if dist not in (None, "t"):
            raise InputError(f"gas-t-cov is simulated with t innovations only, not {dist}")
        return simulate_gas_t_cov(T, n_assets=check_int("number of assets", n, 2), seed=seed)
    if dist is not None:
        try:
            dist = get_innovation(dist).name
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        factor_t = key in ("dfsv", "fsv") and dist == "t"
        if key != "garch" and dist != spec["dist"] and not factor_t:
            raise InputError(f"{key} is simulated with {spec['dist']} innovations only, "
                             f"not {dist}")
    if key == "garch":
        return simulate_garch(T, dist=dist or "normal", n_assets=n, seed=seed)
    if key == "hier-garch":
        return simulate_hier_garch(n, T, seed=seed)
    K = check_int("number of factors", spec["n_factors"] if n_factors is None else n_factors, 1)
    if K > n:
        raise InputError(f"{K} factors need at least {K} assets (lower-triangular loadings), "
                         f"got {n}")
    nu = {"nu_f": FACTOR_T_DF, "nu_id": FACTOR_T_DF} if dist == "t" else {}
    if key == "dfsv":
        return simulate_dfsv(n, K, T, seed=seed, **nu)
    return fsv_preset(n, K, T, seed=seed, **nu)


__all__ = ["MODELS", "simulate_model"]
