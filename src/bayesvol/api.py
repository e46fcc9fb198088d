"""Public entry points: ``fit``, ``load_returns``, ``simulate`` (re-exported by bayesvol)."""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from .data import MIN_OBS_TO_FIT, ReturnsPanel, as_panel  # noqa: F401  (as_panel is re-exported)
from .errors import InputError, NumericalError
from .inference.mcmc.diagnostics import sampler_diagnostics
from .inference.runner import (
    SAMPLER_METHODS,
    VIOptions,
    check_vi_result,
    checked_nuts_batch,
    laplace_draws,
    psis_diagnostics,
    run_mode,
    run_sampler_batch,
    run_vi_batch,
)
from .models.registry import build_model as registry_build
from .models.registry import factor_preset, model_class
from .results import Fit


def _model_class(name: str):
    try:
        return model_class(name)
    except ValueError as exc:
        raise InputError(str(exc)) from None

METHODS = ("vi", "nuts", "mle", "map") + SAMPLER_METHODS
JOINT_METHODS = ("vi", "nuts") + SAMPLER_METHODS
_VI_FIELDS = {f.name for f in dataclasses.fields(VIOptions)}


def _joint_options_class():
    """JointVIOptions, imported on first use: the joint engine is not needed to fit GARCH."""
    from .inference.joint.vi import JointVIOptions

    return JointVIOptions


def build_model(model: str = "garch", **options):
    """The model object for a registered model name and its options (models/registry.py).

    garch: dist, mean, start, priors, nu_map, psi1_map, ar. hier-garch: population, decay,
    lkj_eta, priors (dist is t). A bad name or option is an InputError.
    """
    try:
        return registry_build(model, **options)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


def _options(cls, fields: set, vi, extra: dict):
    try:
        if isinstance(vi, cls):
            return dataclasses.replace(vi, **extra)
        base = dict(vi or {}) if not dataclasses.is_dataclass(vi) else {
            k: v for k, v in dataclasses.asdict(vi).items() if k in fields}
        return cls(**{**base, **extra})
    except TypeError as exc:  # an unknown option name
        raise InputError(f"unknown fit option: {exc}") from None
    except ValueError as exc:  # a bad option value (the options' own check)
        raise InputError(str(exc)) from None


def fit(data, model: str = "garch", dist: str | None = None, method: str = "vi",
        seed: int = 0, *, vi=None, num_warmup: int = 1000, num_samples: int = 1000,
        num_chains: int = 2, progress: bool = False, min_obs: int = MIN_OBS_TO_FIT,
        asset_weights=None, sampler_options: dict | None = None, **options) -> Fit:
    """Fit a registered volatility model to every asset of ``data`` and return a :class:`Fit`.

    data: a ReturnsPanel, a wide DataFrame (dates x assets), a Series, an array [N, T] or a
    file path. model: ``garch`` (each asset independently, all assets in one compiled,
    vmapped program) or ``hier-garch`` (AR(1)-GARCH(1,1)-t partially pooled across assets,
    one joint posterior; ragged panels welcome), ``dfsv`` (dynamic factor stochastic
    volatility; option ``factors`` K, ``idio``; returns a DfsvFit with ``covariance()``,
    ``correlation()``, ``log_variances()``, ``loadings()``) or ``fsv`` (the same with
    Phi_f = 0), or ``beta-t-egarch`` (the score-driven Beta-t-EGARCH of Harvey (2013), each
    asset independently like garch; ``dist`` "gen-t" (shape v free) or "t" (v = 2), options
    mean, intercept, priors; see models/beta_t_egarch.py). Model options go in ``options``:
    for garch mean, start, priors, nu_map, psi1_map, ar (see models/garch.py: the default links
    ("log", "cloglog") fit a Gaussian q better than the paper's, with the same prior); for
    hier-garch population ("mvn" | "beta"), decay, lkj_eta, priors, and ``asset_weights``
    (models/hier_garch.py). Remaining keywords are VI options (VIOptions for garch,
    JointVIOptions for hier-garch, e.g. family, batch_size, num_draws), or pass ``vi=``.
    method: ``vi``, ``nuts`` (num_warmup/num_samples/num_chains), the other MCMC samplers
    ``hmc`` (static HMC, the thesis's warm-up), ``rwmh`` (adaptive multivariate-t random
    walk), ``admit`` (independence MH, adaptive Student-t mixture) and ``griddy`` (griddy
    Gibbs), each with the same three counts and its own settings in ``sampler_options``
    (see bayesvol.inference.mcmc; garch, beta-t-egarch and hier-garch; NUTS on per-asset and
    system models takes ``dense_mass``, ``chain_method`` ("vectorized" runs all chains in
    one program; on CPU it is slower than the default "sequential" for the time
    recursions of these models) and ``target_accept`` there), and for garch and
    beta-t-egarch also ``mle`` (maximum likelihood with delta-method standard errors) or
    ``map`` (mode + Laplace draws). ``gas-t-cov`` (the multivariate Student-t GAS
    covariance model, one parameter vector for the panel; options variant "full" | "scalar" |
    "hier", centred, demean; see models/gas_t_cov.py) returns a
    :class:`bayesvol.results_system.SystemFit` (``covariance()``, ``correlation()``,
    ``score()``) and takes every method above.
    """
    if method not in METHODS:
        raise InputError(f"unknown method '{method}': choose one of {', '.join(METHODS)}")
    if sampler_options and method not in SAMPLER_METHODS + ("nuts",):
        raise InputError(f"sampler_options apply to nuts, {', '.join(SAMPLER_METHODS)}, not "
                         f"{method}")
    if getattr(_model_class(model), "system", False):
        # one parameter vector for the whole panel (e.g. gas-t-cov): bayesvol.fit_system
        from .fit_system import fit_system_api

        if asset_weights is not None:
            raise InputError(f"asset_weights apply to pooled models, not {model}")
        return fit_system_api(_model_class(model), data, model, method, seed, dist, vi,
                              options, num_warmup=num_warmup, num_samples=num_samples,
                              num_chains=num_chains, progress=progress,
                              sampler_options=sampler_options)
    panel = as_panel(data)
    short = [a for a, n in zip(panel.assets, panel.n_obs_per_asset, strict=True) if n < min_obs]
    if short:
        raise InputError(f"asset '{short[0]}' has fewer than {min_obs} observations",
                         source=panel.source)
    cls = _model_class(model)
    preset = factor_preset(model)
    if preset is not None:
        from .fit_factor import fit_factor

        if asset_weights is not None:
            raise InputError(f"asset_weights apply to pooled models, not {model}")
        return fit_factor(panel, model, preset, method, seed, dist, options,
                          num_warmup=num_warmup, num_samples=num_samples,
                          num_chains=num_chains, progress=progress)
    joint_cls = _joint_options_class() if getattr(cls, "joint", False) else None
    joint_fields = {f.name for f in dataclasses.fields(joint_cls)} if joint_cls else set()
    fields = joint_fields if joint_cls else _VI_FIELDS
    vi_options = {k: v for k, v in options.items() if k in fields}
    model_options = {k: v for k, v in options.items() if k not in fields}
    if dist is not None:
        model_options["dist"] = dist
    mdl = build_model(model, **model_options)
    if getattr(mdl, "joint", False):
        if method not in JOINT_METHODS:
            raise InputError(f"method '{method}' is not available for {model}: choose "
                             f"{' or '.join(JOINT_METHODS)}")
        from .fit_joint import fit_joint

        opts = _options(joint_cls, joint_fields, vi, vi_options)
        return fit_joint(mdl, panel, method, seed, opts, asset_weights=asset_weights,
                         num_warmup=num_warmup, num_samples=num_samples,
                         num_chains=num_chains, progress=progress,
                         sampler_options=sampler_options)
    if asset_weights is not None:
        raise InputError(f"asset_weights apply to pooled models, not {model}")
    opts = _options(VIOptions, _VI_FIELDS, vi, vi_options)
    t0 = time.perf_counter()
    sdata = mdl.prepare(panel)
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
        res = checked_nuts_batch(mdl, sdata, key, num_warmup, num_samples, num_chains,
                                 progress, sampler_options)
        ok = bool(np.all(res.rhat_max < 1.05)) if num_chains > 1 else True
        out = Fit(**common, z=res.z, options={"num_warmup": num_warmup,
                                              "num_samples": num_samples,
                                              "num_chains": num_chains,
                                              **({"sampler_options": dict(sampler_options)}
                                                 if sampler_options else {})},
                  diagnostics={"converged": ok and int(np.sum(res.divergences)) == 0,
                               "rhat_max": float(np.max(res.rhat_max)),
                               "ess_min": float(np.min(res.ess_min)),
                               "ess_per_s_min": float(np.min(res.ess_min)) / res.seconds,
                               "divergences": int(np.sum(res.divergences))})
    elif method in SAMPLER_METHODS:
        try:
            res = run_sampler_batch(mdl, sdata, key, method, num_warmup, num_samples,
                                    num_chains, sampler_options, assets=panel.assets)
        except (TypeError, ValueError) as exc:  # a bad sampler setting or schedule
            raise InputError(f"method '{method}': {exc}") from None
        out = Fit(**common, z=res.z, options={"num_warmup": num_warmup,
                                              "num_samples": num_samples,
                                              "num_chains": num_chains,
                                              "sampler_options": dict(sampler_options or {})},
                  diagnostics=sampler_diagnostics(res.diagnostics, res.info, num_chains))
        out.runtime = {"total": time.perf_counter() - t0, "compile": res.compile_seconds,
                       "inference": res.seconds}
        return out
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

