"""Fitting a joint (pooled) model into a :class:`Fit`: VI or NUTS on inference/joint.

Called by ``api.fit`` for registered models with ``joint = True`` (hier-garch). The Fit holds
the per-asset draws ``z`` [N, chains, draws, d_l] and the global draws ``g``
[chains, draws, d_g].
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from .data import ReturnsPanel
from .errors import InputError, NumericalError
from .inference.joint.nuts import run_joint_nuts
from .inference.joint.vi import JointVIOptions, run_joint_vi
from .results import Fit


def fit_joint(model, panel: ReturnsPanel, method: str, seed: int, opts: JointVIOptions, *,
              asset_weights=None, num_warmup: int = 1000, num_samples: int = 1000,
              num_chains: int = 2, progress: bool = False,
              sampler_options: dict | None = None) -> Fit:
    """Fit ``model`` (joint) to ``panel`` by ``vi``, ``nuts`` or another MCMC sampler of
    inference/mcmc (hmc, rwmh, admit, griddy) on the same joint density."""
    t0 = time.perf_counter()
    try:
        data = model.prepare(panel, asset_weights=asset_weights)
    except ValueError as exc:
        raise InputError(str(exc), source=panel.source) from None
    key = jax.random.PRNGKey(seed)
    common = dict(model=model, panel=panel, method=method, seed=seed)
    extra = {} if asset_weights is None else {
        "asset_weights": np.asarray(asset_weights, dtype=float).tolist()}
    if method == "vi":
        if opts.family != "fullrank" and opts.batch_size is not None and opts.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {opts.batch_size}")
        res = run_joint_vi(model, data, key, opts)
        if res.failed or not np.isfinite(res.elbo):
            raise NumericalError("joint VI failed: the ELBO or its gradient stayed non-finite, "
                                 "or the ELBO ended far below its start value (diverged); "
                                 "try a smaller learning_rate or a larger batch_size")
        out = Fit(**common, z=res.z, g=res.g, elbo=np.array([res.elbo]),
                  elbo_trace=[res.elbo_trace], vi_params=res.params,
                  options={**dataclasses.asdict(opts), **extra},
                  unpooled=res.unpooled,
                  diagnostics={"converged": res.converged, "iterations": res.iterations,
                               "retries": res.retries, "learning_rate": res.learning_rate,
                               "minibatch": res.minibatch,
                               "globals": "laplace" if res.laplace_globals else "vi",
                               "start_ok": np.asarray(res.start_ok).tolist()})
    elif method != "nuts":
        from .inference.joint.nuts import run_joint_sampler
        from .inference.mcmc.diagnostics import sampler_diagnostics
        from .inference.runner import json_info

        try:
            res = run_joint_sampler(model, data, key, method, num_warmup, num_samples,
                                    num_chains, sampler_options)
        except (TypeError, ValueError) as exc:  # a bad sampler setting or schedule
            raise InputError(f"method '{method}': {exc}") from None
        o = res.output
        diag = sampler_diagnostics([o.diagnostics], [json_info(o.info)], num_chains)
        diag["start_ok"] = res.start_ok
        out = Fit(**common, z=res.z, g=res.g,
                  options={"num_warmup": num_warmup, "num_samples": num_samples,
                           "num_chains": num_chains,
                           "sampler_options": dict(sampler_options or {}), **extra},
                  diagnostics=diag)
        out.runtime = {"total": time.perf_counter() - t0, "compile": o.compile_seconds,
                       "inference": o.seconds}
        return out
    else:
        if sampler_options:
            raise InputError("sampler_options do not apply to NUTS on a pooled model")
        res = run_joint_nuts(model, data, key, num_warmup, num_samples, num_chains, progress)
        if not res.finite:
            raise NumericalError("NUTS produced non-finite draws")
        ok = (res.rhat_max < 1.05) if num_chains > 1 else True
        out = Fit(**common, z=res.z, g=res.g,
                  options={"num_warmup": num_warmup, "num_samples": num_samples,
                           "num_chains": num_chains, **extra},
                  diagnostics={"converged": bool(ok and res.divergences == 0),
                               "rhat_max": res.rhat_max, "ess_min": res.ess_min,
                               "ess_per_s_min": res.ess_min / res.seconds,
                               "divergences": res.divergences})
    out.runtime = {"total": time.perf_counter() - t0}
    return out
