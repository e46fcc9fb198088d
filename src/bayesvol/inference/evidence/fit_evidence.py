"""Marginal likelihood, BIC and their inputs for a fitted model (a ``bayesvol.Fit``).

The density whose normaliser is p(y | M) is the model's log-joint in its unconstrained
coordinates, log p(y | z) + log p(z) with the links' log-Jacobians inside log p(z); it is
rebuilt from the fit's model configuration and data, and the fit's unconstrained draws are
its posterior draws. This needs a normalised prior: every registered model's ``log_prior``
(GARCH) or ``log_global`` + ``log_local_prior`` (hierarchical GARCH) is a proper, normalised
density in z.

Per-asset models (``garch``: each asset its own posterior) get one estimate per asset, and the
panel's log p(y | M) = sum_i log p(y_i | M) (the assets are independent a priori and a
posteriori), with error sqrt(sum_i e_i^2). Pooled models (``hier-garch``) get one joint
estimate over theta = (g, z_1, ..., z_N), the globals and every asset's block, of dimension
d_g + N d_l; bridge sampling with a normal proposal degrades as that grows (watch ``error``).
A pooled fit with forgetting (decay < 1) or asset weights is a tempered pseudo-posterior,
which has no marginal likelihood: such fits are refused.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ...errors import InputError, NumericalError
from .approximations import (
    ApproxResult,
    importance_estimate,
    laplace_terms,
    student_t_proposal,
    student_t_sample,
)
from .bic import bic
from .bridge import METHODS as BRIDGE_METHODS
from .bridge import BridgeResult, bridge_batch, chunked

METHODS = (*BRIDGE_METHODS, "importance", "laplace")
_CHUNK_NUMBERS = 1 << 22  # one chunk of points holds about this many time-series numbers


@dataclass
class Evidence:
    """log p(y | M) of a fit: the estimate, its error and how it was obtained.

    ``log_ml`` is the panel total for per-asset models (the sum over assets, ``per_asset``
    holds each one) and the joint value for pooled models. ``error`` approximates its standard
    deviation (bridge: docs/model-comparison.md; NaN for the Laplace approximation).
    """

    log_ml: float
    error: float
    method: str
    repetitions: int
    pooled: bool
    per_asset: pd.DataFrame
    converged: bool
    model: str
    dist: str
    fit_method: str
    n_params: int
    n_draws: int
    seed: int
    details: list = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-serialisable document (per-asset rows and each estimate's details)."""
        return {"log_ml": self.log_ml, "error": _num(self.error), "method": self.method,
                "repetitions": self.repetitions, "pooled": self.pooled,
                "converged": self.converged, "model": self.model, "dist": self.dist,
                "fit_method": self.fit_method, "n_params": self.n_params,
                "n_draws": self.n_draws, "seed": self.seed,
                "per_asset": {str(k): {c: _num(v) for c, v in row.items()}
                              for k, row in self.per_asset.iterrows()},
                "details": [_jsonable(d.to_dict()) for d in self.details],
                "notes": list(self.notes)}


@dataclass
class _Problems:
    """The independent normalising constants one fit needs (one per asset, or one joint)."""

    names: list[str]
    draws: np.ndarray  # [P, chains, draws, d]
    data: Any  # pytree, leading axis P
    points: Any  # [P] start points for the Laplace mode search
    n_obs: list[int]
    pooled: bool
    tau_extra: np.ndarray | None
    notes: list[str]


# ---------------------------------------------------------------------------- densities
def _joint_parts(model) -> tuple[Callable, Callable]:
    """(log density, log-likelihood) of a pooled model on theta = (g, z_1..z_N) flat."""
    dg, dl = model.global_dim, model.local_dim

    def split(theta, data):
        n = jax.tree_util.tree_leaves(data.local)[0].shape[0]
        return theta[:dg], theta[dg:].reshape(n, dl)

    def loglik(theta, data):
        _, z = split(theta, data)
        return jnp.sum(jax.vmap(model.local_log_likelihood)(z, data.local))

    def density(theta, data):
        g, z = split(theta, data)
        prior = jnp.sum(jax.vmap(model.log_local_prior, in_axes=(0, None))(z, g))
        return model.log_global(g, data.glob) + prior + loglik(theta, data)

    return density, loglik


def _functions(model) -> tuple[Callable, Callable]:
    if getattr(model, "joint", False):
        return _joint_parts(model)
    return model.log_joint, model.log_likelihood


def _build(model, which: str):
    f = _functions(model)[0 if which == "density" else 1]
    return jax.jit(jax.vmap(jax.vmap(f, in_axes=(0, None))))


@lru_cache(maxsize=32)
def _cached(model, which: str):
    return _build(model, which)


def _program(model, which: str):
    """The jitted [P, B, d] -> [P, B] evaluator of the log density or the log-likelihood."""
    try:
        return _cached(model, which)
    except TypeError:  # an unhashable model
        return _build(model, which)


@lru_cache(maxsize=16)
def _laplace_cached(model):
    return _laplace_build(model)


def _laplace_build(model):
    f = _functions(model)[0]
    return jax.jit(jax.vmap(lambda z0, data: laplace_terms(lambda z: f(z, data), z0)))


def _batch_size(problems: _Problems) -> int:
    """Points per chunk: about 2^22 time-series numbers for all problems together, a power
    of two between 16 and 1024 (one compiled program serves every method and draw count)."""
    leaves = jax.tree_util.tree_leaves(problems.data)
    per_point = max(int(np.prod(x.shape)) for x in leaves) if leaves else 1
    b = max(16, min(1024, _CHUNK_NUMBERS // max(per_point, 1)))
    return 1 << int(math.floor(math.log2(b)))


def _evaluator(model, problems: _Problems, which: str = "density"):
    program = _program(model, which)
    data = problems.data
    batch = _batch_size(problems)

    def run(points: np.ndarray) -> np.ndarray:
        return chunked(program, points, data, batch)

    return run


# ------------------------------------------------------------------------------ problems
def _is_system(fit) -> bool:
    """A system-model fit (bayesvol.results_system.SystemFit: one parameter vector)."""
    return bool(getattr(getattr(fit, "model", None), "system", False)) and hasattr(fit, "theta")


def _check_fit(fit) -> None:
    if _is_system(fit):
        return
    if not (hasattr(fit, "z") and hasattr(fit, "model") and hasattr(fit, "panel")):
        raise InputError(f"{type(fit).__name__}: marginal likelihoods need a garch-family or "
                         "pooled fit (factor SV fits integrate latent paths and are not "
                         "supported)")


def _system_problem(fit) -> _Problems:
    """One problem: the system's parameter vector theta [chains, draws, d] and its data (the
    model's input with its leading unit axis of one)."""
    theta = np.asarray(fit.theta, dtype=np.float64)
    notes = []
    if fit.method == "vi":
        notes.append("the draws are a variational approximation's (PSIS-resampled where "
                     "k-hat allowed): the estimate may carry its bias; NUTS draws are exact")
    start = (np.asarray(fit.point, dtype=np.float64) if fit.point is not None
             else theta.reshape(-1, theta.shape[-1]).mean(0))
    n_obs = int(getattr(fit.input, "n_obs", 0))
    return _Problems([fit.model.name], theta[None], fit.model.prepare(fit.input), start[None],
                     [n_obs], True, None, notes)


def _problems(fit) -> _Problems:
    _check_fit(fit)
    if _is_system(fit):
        return _system_problem(fit)
    model, panel = fit.model, fit.panel
    z = np.asarray(fit.z, dtype=np.float64)  # [N, C, S, d]
    notes: list[str] = []
    n_obs = [int(n) for n in panel.n_obs_per_asset]
    if getattr(model, "joint", False):
        if float(getattr(model, "decay", 1.0)) != 1.0:
            raise InputError(f"a fit with decay {model.decay} is a tempered pseudo-posterior "
                             "and has no marginal likelihood: refit with decay 1")
        weights = (fit.options or {}).get("asset_weights")
        if weights is not None and not np.allclose(weights, 1.0):
            raise InputError("a fit with asset_weights is a weighted pseudo-posterior and has "
                             "no marginal likelihood: refit without them")
        if fit.g is None:
            raise InputError("this pooled fit has no global draws")
        g = np.asarray(fit.g, dtype=np.float64)  # [C, S, dg]
        theta = np.concatenate([g, np.moveaxis(z, 0, 2).reshape(*g.shape[:2], -1)], -1)
        data = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], model.prepare(panel))
        if fit.method == "vi":
            notes.append("the draws are the joint variational approximation's, not exact "
                         "posterior draws: the estimate carries its bias; NUTS draws are exact")
        return _Problems(["joint"], theta[None], data, theta.reshape(-1, theta.shape[-1])
                         .mean(0)[None], [sum(n_obs)], True, None, notes)
    data = model.prepare(panel)
    diag = fit.diagnostics or {}
    tau_extra = None
    if fit.method == "vi":
        resampled = diag.get("psis_resampled")
        ess = diag.get("psis_ess")
        if resampled is not None and ess is not None:
            n_half = z.shape[1] * z.shape[2] / 2.0
            tau_extra = np.array([1.0 + n_half / max(float(e), 1.0) if r else 1.0
                                  for r, e in zip(resampled, ess, strict=True)])
            plain = [a for a, r in zip(fit.assets, resampled, strict=True) if not r]
            if plain:
                notes.append(f"assets {', '.join(plain)}: PSIS did not resample (k-hat >= 1), "
                             "the draws are the variational approximation's and the estimate "
                             "carries its bias")
        else:
            notes.append("the draws are a variational approximation's: the estimate carries "
                          "its bias")
    start = (np.asarray(fit.point) if fit.point is not None
             else z.reshape(z.shape[0], -1, z.shape[-1]).mean(1))
    return _Problems(list(fit.assets), z, data, start, n_obs, False, tau_extra, notes)


def n_params(fit) -> int:
    """Free parameters of the fit's model over the whole panel (BIC's d)."""
    model = fit.model
    if _is_system(fit):
        return int(model.dim)
    if getattr(model, "joint", False):
        return int(model.global_dim + len(fit.assets) * model.local_dim)
    return int(np.shape(fit.z)[-1] * len(fit.assets))


# ------------------------------------------------------------------------------ evidence
def evidence(fit, method: str = "warp3", repetitions: int = 3, seed: int | None = None, *,
             tol: float = 1e-10, max_iter: int = 1000, num_importance: int = 20000,
             df: float = 4.0, strict: bool = True) -> Evidence:
    """log marginal likelihood log p(y | M) of a fit, with an error estimate.

    method: ``warp3`` (default; Meng & Schilling 2002) or ``bridge`` (Meng & Wong 1996), both
    with ``repetitions`` fresh proposal draws (bayesvol.inference.evidence.bridge);
    ``importance`` (a Student-t proposal with ``df`` degrees of freedom, ``num_importance``
    draws) or ``laplace`` (no Monte Carlo error) as independent checks. ``seed`` defaults to
    the fit's. Per-asset models: the panel's log p(y | M) is the sum over assets (module
    docstring). MLE and MAP fits carry no posterior draws: only ``laplace`` applies to them.
    A bridge iteration that does not converge, or a non-finite value, raises NumericalError
    (``strict=False``: a warning, and ``converged`` is False).
    """
    if method not in METHODS:
        raise InputError(f"unknown evidence method '{method}': choose one of "
                         f"{', '.join(METHODS)}")
    _check_fit(fit)
    if method != "laplace" and fit.method in ("mle", "map"):
        raise InputError(f"a '{fit.method}' fit has no posterior draws (its draws are a normal "
                         "approximation): use method='laplace', or refit with vi or nuts")
    seed = int(fit.seed if seed is None else seed)
    problems = _problems(fit)
    for note in problems.notes:
        warnings.warn(note, RuntimeWarning, stacklevel=2)
    details: list[BridgeResult | ApproxResult]
    if method in BRIDGE_METHODS:
        details = bridge_batch(_evaluator(fit.model, problems), problems.draws, method=method,
                               repetitions=repetitions, seed=seed, tol=tol,
                               max_iter=max_iter, tau_extra=problems.tau_extra,
                               names=problems.names, strict=strict)
    elif method == "importance":
        details = _importance(fit.model, problems, num_importance, df, seed)
        repetitions = 1
    else:
        details = _laplace(fit.model, problems)
        repetitions = 1
    rows = {name: {"log_ml": d.log_ml, "error": d.error, "converged": d.converged,
                   "n_obs": n} for name, d, n in zip(problems.names, details, problems.n_obs,
                                                     strict=True)}
    per = pd.DataFrame.from_dict(rows, orient="index")
    errs = np.array([d.error for d in details], dtype=float)
    notes = list(problems.notes) + [n for d in details for n in d.notes]
    if fit.method == "vi" and not problems.notes and method != "laplace":
        notes.append("VI draws approximate the posterior: the estimate may be off by more "
                     "than its error (a few hundredths on a small GARCH); NUTS draws are exact")
    return Evidence(
        log_ml=float(sum(d.log_ml for d in details)),
        error=float(np.sqrt(np.sum(errs**2))), method=method, repetitions=repetitions,
        pooled=problems.pooled, per_asset=per,
        converged=all(d.converged for d in details), model=fit.model.name,
        dist=str(getattr(fit.model, "dist", "")), fit_method=fit.method, n_params=n_params(fit),
        n_draws=int(np.prod(problems.draws.shape[1:3])), seed=seed, details=details,
        notes=notes)


def _importance(model, problems: _Problems, num: int, df: float, seed: int
                ) -> list[ApproxResult]:
    key = jax.random.PRNGKey(seed)
    xs, qs = [], []
    for i in range(len(problems.names)):
        mean, chol = student_t_proposal(problems.draws[i], df)
        x, q = student_t_sample(jax.random.fold_in(key, i), mean, chol, df, num)
        xs.append(x)
        qs.append(q)
    log_k = _evaluator(model, problems)(np.stack(xs))
    return [importance_estimate(log_k[i], qs[i]) for i in range(len(xs))]


def _laplace(model, problems: _Problems) -> list[ApproxResult]:
    try:
        program = _laplace_cached(model)
    except TypeError:
        program = _laplace_build(model)
    with jax.enable_x64(True):
        value, ok, gnorm = program(jnp.asarray(problems.points, dtype=jnp.float64),
                                   problems.data)
    value, ok, gnorm = np.asarray(value), np.asarray(ok), np.asarray(gnorm)
    for i, name in enumerate(problems.names):
        if not ok[i] or not np.isfinite(value[i]):
            raise NumericalError(f"{name}: Laplace approximation: the mode search did not "
                                 f"converge (gradient {gnorm[i]:.2g})")
    return [ApproxResult(float(v), float("nan"), "laplace", True) for v in value]


# ----------------------------------------------------------------------------------- BIC
def fit_bic(fit) -> dict:
    """BIC of a fit (bayesvol.inference.evidence.bic): ``{"bic", "max_log_likelihood",
    "n_params", "n_obs", "per_asset"}``. The maximum log-likelihood is the MLE's for an MLE
    fit, else the largest over the posterior draws; per-asset models sum the assets' BICs."""
    problems = _problems(fit)
    if fit.method == "mle" and fit.point is not None and not problems.pooled:
        pts = np.asarray(fit.point, dtype=np.float64)[:, None, :]
    else:
        pts = problems.draws.reshape(problems.draws.shape[0], -1, problems.draws.shape[-1])
    ll = _evaluator(fit.model, problems, "loglik")(pts)
    ll = np.where(np.isnan(ll), -np.inf, ll)
    best = ll.max(axis=1)
    d = pts.shape[-1]
    per = {name: {"max_log_likelihood": float(b), "n_params": d, "n_obs": n,
                  "bic": bic(float(b), d, n)}
           for name, b, n in zip(problems.names, best, problems.n_obs, strict=True)}
    return {"bic": float(sum(r["bic"] for r in per.values())),
            "max_log_likelihood": float(np.sum(best)), "n_params": n_params(fit),
            "n_obs": int(sum(problems.n_obs)), "per_asset": per}


def _num(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return v
    return None if math.isnan(x) else x


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, str):
        return obj
    return _num(obj)
