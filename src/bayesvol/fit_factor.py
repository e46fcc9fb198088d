"""Fitting a factor stochastic-volatility model (``dfsv``, ``fsv``) from ``bv.fit``.

Maps the API's options onto :func:`bayesvol.dfsv_fit.fit_dfsv` (models/dfsv.py: r_t =
Lambda f_t + eps_t with factor and idiosyncratic log-variance AR(1) paths; the factors are
integrated out by the Kalman filter): ``factors`` (K, default 1), ``idio`` ("ar1" or
"constant"), ``factor_ar`` (fixed to False by the ``fsv`` preset), ``priors`` and the VI
options of ``DfsvVIOptions``. ``dist`` "normal" (default) or "t" (Student-t idiosyncratic and
factor innovations, ``errors="t"``); other values are refused.
"""

from __future__ import annotations

import inspect

from .data import ReturnsPanel
from .errors import InputError


def fit_factor(panel: ReturnsPanel, model: str, preset: dict, method: str, seed: int,
               dist: str | None, options: dict, **sampler):
    """A DfsvFit of ``panel`` (module docstring); ``sampler`` holds NUTS's settings."""
    from .dfsv_fit import fit_dfsv

    if dist not in (None, "normal", "gaussian", "t", "student", "std"):
        raise InputError(f"{model} has Gaussian or Student-t innovations (dist normal or t), "
                         f"not '{dist}'")
    opts = dict(options)
    if dist in ("t", "student", "std"):
        opts["errors"] = "t"
    k = opts.pop("factors", opts.pop("n_factors", 1))
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise InputError(f"factors must be an integer, got {k!r}") from None
    if not 1 <= k <= panel.n_assets:
        raise InputError(f"factors must lie in 1..{panel.n_assets} (the number of assets), "
                         f"got {k}")
    for key, value in preset.items():
        if key in opts and opts[key] != value:
            raise InputError(f"{model} fixes {key}={value}")
        opts[key] = value
    params = inspect.signature(fit_dfsv).parameters
    if method != "vi" or "method" in params:
        if "method" not in params:
            raise InputError(f"method '{method}' is not available for {model}: use vi")
        opts["method"] = method
        opts.update({k2: v for k2, v in sampler.items() if k2 in params})
    try:
        return fit_dfsv(panel.to_frame(), n_factors=k, seed=seed, **opts)
    except TypeError as exc:  # an unknown option name
        raise InputError(f"unknown fit option for {model}: {exc}") from None


def write_factor_fit(result, out_dir) -> None:
    """DIR/posterior.nc (``DfsvFit.save``) and DIR/summary.json (globals in natural units,
    rows named as in ``DfsvFit.summary``, and the fit's diagnostics)."""
    import json
    from pathlib import Path

    from .atomic import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "posterior.nc")
    table = result.summary()
    summary = {
        "model": "dfsv" if result.model.factor_ar else "fsv",
        "n_factors": int(result.model.n_factors), "idio": result.model.idio,
        "assets": list(result.assets),
        "parameters": {str(k): {c: float(v) for c, v in row.items()}
                       for k, row in table.iterrows()},
        "diagnostics": {"converged": bool(result.converged),
                        "iterations": int(result.iterations), "elbo": float(result.elbo)},
    }
    atomic_write(out / "summary.json",
                 lambda p: Path(p).write_text(json.dumps(summary, indent=2)))
