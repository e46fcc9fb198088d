"""Bayesian model comparison of fits of the same data: ``bv.evidence`` and ``bv.compare``.

``compare`` estimates log p(y | M) for each fit (bridge sampling, warp-3 by default; see
docs/model-comparison.md) and tabulates, against the best model b,

    2 log BF_{b|m} = 2 [log p(y | M_b) - log p(y | M_m)] >= 0,

its standard deviation 2 sqrt(e_b^2 + e_m^2), the Kass & Raftery (1995) category of that
evidence in favour of the best model, posterior model probabilities under equal prior
probabilities, and BIC. Fits of different data (returns, dates or assets) cannot be compared
and raise InputError.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .inference.evidence import (
    Evidence,
    fit_bic,
    kass_raftery,
    model_probabilities,
    two_log_bf_error,
)
from .inference.evidence import evidence as _evidence

COLUMNS = ("model", "dist", "fit_method", "log_ml", "error", "two_log_bf", "two_log_bf_error",
           "evidence", "probability", "bic", "n_params", "method", "converged")


def evidence(fit, method: str = "warp3", repetitions: int = 3, seed: int | None = None,
             **options) -> Evidence:
    """log marginal likelihood of a fit (or of the fit saved in a folder) with its error.

    Returns an :class:`~bayesvol.inference.evidence.Evidence` with ``log_ml``, ``error``,
    ``method``, ``repetitions`` and ``per_asset``. For per-asset models the panel's value is
    the sum of the assets' (each asset is its own posterior); for pooled models it is one
    joint value. Options: see :func:`bayesvol.inference.evidence.evidence`.
    """
    return _evidence(_as_fit(fit), method=method, repetitions=repetitions, seed=seed,
                     **options)


def _as_fit(obj):
    if isinstance(obj, (str, os.PathLike)):
        from .results import load_fit

        path = Path(obj)
        if not (path / "posterior.nc").exists():
            raise InputError("no posterior.nc here; write one with 'bayesvol fit --out'",
                             source=str(path))
        return load_fit(path)
    return obj


def _labels(items, fits) -> list[str]:
    labels = []
    for obj, f in zip(items, fits, strict=True):
        if isinstance(obj, (str, os.PathLike)):
            label = Path(obj).name or str(obj)
        else:
            label = f"{f.model.name}-{getattr(f.model, 'dist', '')}-{f.method}"
        labels.append(label)
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        k = seen.get(label, 0)
        seen[label] = k + 1
        out.append(label if labels.count(label) == 1 else f"{label}#{k + 1}")
    return out


def _data(fit):
    """The data a fit conditions on: its returns panel, or a system model's own input (e.g.
    a credit-intensity fit's events)."""
    return fit.panel if hasattr(fit, "panel") else fit.input


def _same_events(a, b) -> bool:
    """Two non-returns inputs hold the same data: for event tables the event times, counts,
    numbers at risk and type names (what the likelihood reads), else every public field."""
    if type(a) is not type(b):
        return False
    keys = ("time", "y", "K", "types")
    if not all(hasattr(a, k) for k in keys):
        keys = tuple(k for k in vars(a) if not k.startswith("_") and k != "source")
    for k in keys:
        x, y = getattr(a, k), getattr(b, k, None)
        if isinstance(x, np.ndarray | pd.Index) or isinstance(y, np.ndarray | pd.Index):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return False
        elif x != y:
            return False
    return True


def same_data(fits: Sequence, names: Sequence[str]) -> None:
    """InputError unless every fit holds the same data: the same returns (assets, dates and
    values), or the same events for system models fitted to events."""
    ref = _data(fits[0])
    for f, name in zip(fits[1:], names[1:], strict=True):
        p = _data(f)
        if not (hasattr(p, "values") and hasattr(ref, "values")):
            if not _same_events(p, ref):
                raise InputError(f"{name} and {names[0]} are fits of different data: "
                                 "marginal likelihoods compare models of the same data only")
            continue
        same = (tuple(p.assets) == tuple(ref.assets) and len(p.dates) == len(ref.dates)
                and bool(np.all(np.asarray(p.dates) == np.asarray(ref.dates)))
                and p.values.shape == ref.values.shape
                and bool(np.allclose(p.values, ref.values, rtol=1e-12, atol=0.0,
                                     equal_nan=True)))
        if not same:
            raise InputError(f"{name} and {names[0]} are fits of different data (assets, "
                             "dates or returns differ): marginal likelihoods compare models "
                             "of the same data only")


def compare(fits_or_dirs: Sequence | Mapping, method: str = "warp3", repetitions: int = 3,
            seed: int | None = None, *, bic: bool = True, **options) -> pd.DataFrame:
    """Compare fits of the same data by their marginal likelihoods (module docstring).

    fits_or_dirs: Fit objects or folders written by ``bayesvol fit --out`` (a mapping gives
    the row labels; otherwise folder names, or ``model-dist-method``). Returns a DataFrame
    indexed by label, best model first, with columns log_ml, error, two_log_bf (2 log BF of
    the best model against this one), two_log_bf_error, evidence (Kass & Raftery category),
    probability, bic, ... ; ``df.attrs["evidence"]`` holds each :class:`Evidence` as a dict.
    """
    if isinstance(fits_or_dirs, Mapping):
        names = [str(k) for k in fits_or_dirs]
        fits = [_as_fit(v) for v in fits_or_dirs.values()]
    else:
        items = list(fits_or_dirs)
        fits = [_as_fit(v) for v in items]
        names = _labels(items, fits)
    if len(fits) < 1:
        raise InputError("compare needs at least one fit")
    same_data(fits, names)
    results = [evidence(f, method=method, repetitions=repetitions, seed=seed, **options)
               for f in fits]
    log_ml = np.array([r.log_ml for r in results])
    best = int(np.argmax(log_ml))
    probs = model_probabilities(log_ml)
    rows = []
    for i, (f, r) in enumerate(zip(fits, results, strict=True)):
        two = 2.0 * (log_ml[best] - r.log_ml)
        rows.append({
            "model": r.model, "dist": r.dist, "fit_method": r.fit_method,
            "log_ml": r.log_ml, "error": r.error, "two_log_bf": two,
            "two_log_bf_error": 0.0 if i == best else two_log_bf_error(r.error,
                                                                        results[best].error),
            "evidence": "best" if i == best else kass_raftery(two),
            "probability": float(probs[i]),
            "bic": fit_bic(f)["bic"] if bic else np.nan,
            "n_params": r.n_params, "method": r.method, "converged": r.converged})
    df = pd.DataFrame(rows, index=pd.Index(names, name="fit"), columns=list(COLUMNS))
    df = df.sort_values("log_ml", ascending=False, kind="stable")
    df.attrs["evidence"] = {n: r.to_dict() for n, r in zip(names, results, strict=True)}
    return df
