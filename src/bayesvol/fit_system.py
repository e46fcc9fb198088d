"""Fitting a "system" model: one parameter vector for a whole multivariate system (no
per-asset parameters), e.g. the GAS-t covariance model (models/gas_t_cov.py).

A system model has the class attribute ``system = True`` and the per-unit interface of the
per-asset models (``dim``, ``log_joint(z, data_i)``, ``log_likelihood``, ``initial_z``,
``numpyro_model``, ``constrain``, ``param_names``, ``unconstrained_names``, ``config`` /
``from_config``, ``program_key``), and its ``prepare(input)`` returns a data NamedTuple whose
leaves carry a leading unit axis of size 1. The engines of inference/runner.py then run it
unchanged as a batch of one unit: VI (``run_vi_batch``), the mode and Laplace draws (mle,
map), NUTS and the samplers of inference/mcmc. Optional hooks, used when present:

    load_input(data) -> input        the model's input object (default: a ReturnsPanel)
    bind(input) -> model             the model with its sizes set (and checked) from the input
    loglik_terms(z, data_i) -> [L]   per-date log densities (``SystemFit.score``)
    continued_data(input, new) -> (data, positions)   the input continued by new dates
    labels(input) -> {name: [str]}   labels of vector parameters in the summary
    covariance_paths(z [S, d], data) -> [S, L, k, k]  (``SystemFit.covariance``)
    forecast_covariance_draws(...)   (``SystemFit.forecast_covariance``)
    input_to_dataset(input) / input_from_dataset(ds)  (saving; default: a ReturnsPanel)

Nothing here knows a model by name. The result is a :class:`bayesvol.results_system.SystemFit`.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from .errors import InputError, NumericalError
from .inference.runner import (
    SAMPLER_METHODS,
    VIOptions,
    checked_nuts_batch,
    laplace_draws,
    psis_diagnostics,
    run_mode,
    run_sampler_batch,
    run_vi_batch,
)
from .results_system import SystemFit

SYSTEM_METHODS = ("vi", "nuts", "mle", "map") + SAMPLER_METHODS


def load_system_input(model, data):
    """The model's input object: ``model.load_input(data)`` or a ReturnsPanel."""
    if hasattr(model, "load_input"):
        return model.load_input(data)
    from .data import as_panel

    return as_panel(data)


def fit_system(model, data, method: str = "vi", seed: int = 0, vi: VIOptions | None = None,
               *, num_warmup: int = 1000, num_samples: int = 1000, num_chains: int = 2,
               progress: bool = False, sampler_options: dict | None = None) -> SystemFit:
    """Fit a system model (module docstring) by ``method`` and return a SystemFit.

    method: vi (``vi``: VIOptions), mle or map (mode + Laplace draws, ``vi.num_draws`` of
    them), nuts, or a sampler of inference/mcmc (hmc, rwmh, admit, griddy) with
    ``num_warmup``, ``num_samples``, ``num_chains`` and ``sampler_options``.
    A failed fit raises NumericalError; a bad option InputError.
    """
    if method not in SYSTEM_METHODS:
        raise InputError(f"unknown method '{method}' for {model.name}: choose one of "
                         f"{', '.join(SYSTEM_METHODS)}")
    if sampler_options and method not in SAMPLER_METHODS + ("nuts",):
        raise InputError(f"sampler_options apply to nuts, {', '.join(SAMPLER_METHODS)}, not "
                         f"{method}")
    opts = vi if vi is not None else VIOptions()
    inp = load_system_input(model, data)
    if hasattr(model, "bind"):
        model = model.bind(inp)
    t0 = time.perf_counter()
    sdata = model.prepare(inp)
    key = jax.random.PRNGKey(seed)
    common = dict(model=model, input=inp, method=method, seed=seed)
    mcmc_options = {"num_warmup": num_warmup, "num_samples": num_samples,
                    "num_chains": num_chains}
    if method == "vi":
        res = run_vi_batch(model, sdata, key, opts)
        if bool(res.failed[0]) or not np.isfinite(res.elbo[0]):
            raise NumericalError(f"VI failed for {model.name}: the ELBO or its gradient "
                                 "stayed non-finite")
        psis = {k: v[0] for k, v in psis_diagnostics(res).items()}
        out = SystemFit(**common, theta=np.asarray(res.z[0]), elbo=float(res.elbo[0]),
                        options=dataclasses.asdict(opts),
                        diagnostics={"converged": bool(res.converged[0]),
                                     "iterations": int(res.iterations[0]),
                                     "mode_ok": bool(res.mode_ok[0]), **psis,
                                     "elbo_trace": np.asarray(res.elbo_trace[0]).tolist()})
    elif method == "nuts":
        res = checked_nuts_batch(model, sdata, key, num_warmup, num_samples, num_chains,
                                 progress, sampler_options)
        ok = bool(res.rhat_max[0] < 1.05) if num_chains > 1 else True
        nuts_options = {**mcmc_options, **({"sampler_options": dict(sampler_options)}
                                           if sampler_options else {})}
        out = SystemFit(**common, theta=np.asarray(res.z[0]), options=nuts_options,
                        diagnostics={"converged": ok and int(res.divergences[0]) == 0,
                                     "rhat_max": float(res.rhat_max[0]),
                                     "ess_min": float(res.ess_min[0]),
                                     "ess_per_s_min": float(res.ess_min[0]) / res.seconds,
                                     "divergences": int(np.sum(res.divergences[0]))})
    elif method in SAMPLER_METHODS:
        from .inference.mcmc.diagnostics import sampler_diagnostics

        try:
            res = run_sampler_batch(model, sdata, key, method, num_warmup, num_samples,
                                    num_chains, sampler_options, assets=[model.name])
        except (TypeError, ValueError) as exc:
            raise InputError(f"method '{method}': {exc}") from None
        out = SystemFit(**common, theta=np.asarray(res.z[0]),
                        options={**mcmc_options,
                                 "sampler_options": dict(sampler_options or {})},
                        diagnostics=sampler_diagnostics(res.diagnostics, res.info, num_chains))
        out.runtime = {"total": time.perf_counter() - t0, "compile": res.compile_seconds,
                       "inference": res.seconds}
        return out
    else:
        mode = run_mode(model, sdata, likelihood_only=(method == "mle"))
        if not bool(np.asarray(mode.ok)[0]):
            raise NumericalError(f"the {method.upper()} optimisation of {model.name} did not "
                                 f"converge (gradient {float(mode.grad_norm[0]):.2g})")
        z = laplace_draws(mode, key, opts.num_draws)
        out = SystemFit(**common, theta=np.asarray(z[0]), point=np.asarray(mode.z[0]),
                        point_cov=np.asarray(mode.cov[0]),
                        options={"num_draws": opts.num_draws},
                        diagnostics={"converged": True,
                                     "iterations": int(np.asarray(mode.iterations)[0]),
                                     "log_density_at_mode": float(np.asarray(mode.value)[0])})
    out.runtime = {"total": time.perf_counter() - t0}
    return out


def fit_system_api(cls, data, model_name: str, method: str, seed: int, dist, vi, options: dict,
                   **sampler) -> SystemFit:
    """``bv.fit`` for a system model class: split ``options`` into model options and VIOptions
    fields, build the model (InputError on a bad option) and fit."""
    fields = {f.name for f in dataclasses.fields(VIOptions)}
    vi_options = {k: v for k, v in options.items() if k in fields}
    model_options = {k: v for k, v in options.items() if k not in fields}
    if dist is not None:
        model_options["dist"] = dist
    try:
        mdl = cls.from_options(**model_options)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{model_name}: {exc}") from None
    try:
        if isinstance(vi, VIOptions):
            opts = dataclasses.replace(vi, **vi_options)
        else:
            opts = VIOptions(**{**dict(vi or {}), **vi_options})
    except TypeError as exc:
        raise InputError(f"unknown fit option: {exc}") from None
    return fit_system(mdl, data, method, seed, opts, **sampler)


__all__ = ["SYSTEM_METHODS", "SystemFit", "fit_system", "fit_system_api", "load_system_input"]
