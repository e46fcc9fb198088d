"""Public entry points: ``fit``, ``load_returns``, ``simulate`` (re-exported by bayesvol)."""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from .data import ReturnsPanel, as_panel  # noqa: F401  (as_panel is re-exported)
from .errors import InputError, NumericalError
from .inference.runner import (
    VIOptions,
    check_vi_result,
    laplace_draws,
    psis_diagnostics,
    run_mode,
    run_nuts_batch,
    run_vi_batch,
)
from .models.garch import GarchModel
from .models.priors import GarchPriors
from .results import Fit, series_data

METHODS = ("vi", "nuts", "mle", "map")


def build_model(model: str = "garch", dist: str = "normal", mean: bool = False,
                start: str | float = "sample", priors: GarchPriors | dict | None = None,
                nu_map: str = "log", psi1_map: str = "cloglog") -> GarchModel:
    """The model object for a model name (only ``garch`` so far)."""
    if model != "garch":
        raise InputError(f"model '{model}' is not available yet; available: garch")
    if isinstance(priors, dict):
        priors = GarchPriors(**priors)
    try:
        return GarchModel(dist=dist, mean=mean, start=start, priors=priors or GarchPriors(),
                          nu_map=nu_map, psi1_map=psi1_map)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def fit(data, model: str = "garch", dist: str = "normal", method: str = "vi", seed: int = 0, *,
        mean: bool = False, start: str | float = "sample", priors=None, nu_map: str = "log",
        psi1_map: str = "cloglog",
        vi: VIOptions | dict | None = None, num_warmup: int = 1000, num_samples: int = 1000,
        num_chains: int = 2, progress: bool = False, min_obs: int = 30, **vi_options) -> Fit:
    """Fit a volatility model to every asset of ``data`` and return a :class:`Fit`.

    data: a ReturnsPanel, a wide DataFrame (dates x assets), a Series, an array [N, T] or a
    file path. For model="garch" each asset is fitted independently, all assets in one
    compiled, vmapped program. method: ``vi`` (mode + Laplace start, then full-rank Gaussian
    VI; options via ``vi=VIOptions(...)`` or keywords such as family="meanfield"),
    ``nuts`` (NumPyro NUTS, num_warmup/num_samples/num_chains), ``mle`` (maximum likelihood
    with delta-method standard errors) or ``map`` (posterior mode with Laplace draws).
    nu_map / psi1_map: links of nu and of the persistence psi1 = alpha + beta to the real
    line; the defaults ("log", "cloglog") fit a Gaussian q better than the paper's
    ("softplus", "logit"), see models/garch.py. The prior is the same either way.
    """
    panel = as_panel(data)
    if method not in METHODS:
        raise InputError(f"unknown method '{method}': choose one of {', '.join(METHODS)}")
    short = [a for a, n in zip(panel.assets, panel.n_obs_per_asset, strict=True) if n < min_obs]
    if short:
        raise InputError(f"asset '{short[0]}' has fewer than {min_obs} observations",
                         source=panel.source)
    mdl = build_model(model, dist, mean, start, priors, nu_map, psi1_map)
    try:
        opts = (dataclasses.replace(vi, **vi_options) if isinstance(vi, VIOptions)
                else VIOptions(**{**(vi or {}), **vi_options}))
    except TypeError as exc:  # an unknown option name
        raise InputError(f"unknown fit option: {exc}") from None
    t0 = time.perf_counter()
    sdata = series_data(panel)
    key = jax.random.PRNGKey(seed)
    common = dict(model=mdl, panel=panel, method=method, seed=seed)
    if method == "vi":
        res = run_vi_batch(mdl, sdata, key, opts)
        check_vi_result(res, panel.assets)
        out = Fit(**common, z=res.z, elbo=res.elbo, elbo_trace=res.elbo_trace,
                  vi_params=res.params, options=dataclasses.asdict(opts),
                  diagnostics={"converged": bool(np.all(res.converged)),
                               "iterations": int(np.max(res.iterations)),
                               "iterations_per_asset": res.iterations.tolist(),
                               "mode_ok": res.mode_ok.tolist(), **psis_diagnostics(res)})
    elif method == "nuts":
        res = run_nuts_batch(mdl, sdata, key, num_warmup, num_samples, num_chains, progress)
        if not np.all(res.finite):
            raise NumericalError("NUTS produced non-finite draws")
        ok = bool(np.all(res.rhat_max < 1.05)) if num_chains > 1 else True
        out = Fit(**common, z=res.z, options={"num_warmup": num_warmup,
                                              "num_samples": num_samples,
                                              "num_chains": num_chains},
                  diagnostics={"converged": ok and int(np.sum(res.divergences)) == 0,
                               "rhat_max": float(np.max(res.rhat_max)),
                               "ess_min": float(np.min(res.ess_min)),
                               "divergences": int(np.sum(res.divergences))})
    else:
        mode = run_mode(mdl, sdata, likelihood_only=(method == "mle"))
        ok = np.asarray(mode.ok)
        if not np.all(ok):
            bad = panel.assets[int(np.argmin(ok))]
            raise NumericalError(f"the {method.upper()} optimisation did not converge for asset "
                                 f"'{bad}' (gradient {float(np.max(mode.grad_norm)):.2g})")
        out = Fit(**common, z=laplace_draws(mode, key, opts.num_draws),
                  point=np.asarray(mode.z), point_cov=np.asarray(mode.cov),
                  diagnostics={"converged": True,
                               "iterations": int(np.max(np.asarray(mode.iterations))),
                               "log_density_at_mode": np.asarray(mode.value).tolist()})
    total = time.perf_counter() - t0
    out.runtime = {"total": total}
    return out

