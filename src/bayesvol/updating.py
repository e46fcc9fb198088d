"""Sequential updating of a VI fit with new data (SVI-GARCH paper 2.10): ``Fit.update``.

The API-level half of Seq-SVB and UVB: it checks the new returns against the fit, builds the
concatenated panel, picks the VI options, runs the warm-started engine
(inference/sequential.py, which holds the methods, the UVB target and the ``carry`` rules) and
wraps its result in a new :class:`Fit` on old + new data. ``run_sequential`` fits the first
part of a series and applies a schedule of updates (spec 2.10, Fig. 6).

Available for ``garch`` models; with an AR(1) mean (``ar=True``) for Seq-SVB and for UVB with
``carry="exact"`` (both evaluate the block's residuals with the whole history before them),
not for UVB's default ``carry="plugin"``, whose block recursion starts without the last old
return that the AR mean of the block's first point needs (``check_updatable``).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .api import fit as fit_vi
from .data import ReturnsPanel, as_panel
from .errors import InputError
from .inference.runner import VIOptions, check_vi_result, psis_diagnostics
from .inference.sequential import (
    CARRIES,
    METHODS,
    check_updatable,
    sequential_schedule,
    warm_start_vi,
)
from .results import Fit

__all__ = ["CARRIES", "METHODS", "run_sequential", "sequential_schedule", "update_fit"]

_METHOD_ALIASES = {"seq-svb": "seqsvb", "seq_svb": "seqsvb"}


# ------------------------------------------------------------------------------ new returns
def _continuation_dates(dates: pd.DatetimeIndex, h: int) -> pd.DatetimeIndex:
    """h dates after ``dates[-1]``: business days for a weekday-only daily panel (or a single
    date), otherwise steps of the median spacing of the fit's dates."""
    daily = bool((dates == dates.normalize()).all())
    step = pd.Timedelta(int(np.median(np.diff(dates.asi8))), "ns") if len(dates) > 1 else None
    if step is None or (daily and (dates.day_of_week < 5).all() and step <= pd.Timedelta("3D")):
        return pd.bdate_range(dates[-1] + pd.offsets.BDay(1), periods=h)
    return pd.DatetimeIndex([dates[-1] + (j + 1) * step for j in range(h)])


def _new_block(old: ReturnsPanel, new_returns) -> ReturnsPanel:
    """The new returns as a panel in ``old``'s asset order, checked to follow its dates."""
    if isinstance(new_returns, np.ndarray):
        arr = np.asarray(new_returns, dtype=float)
        arr = arr[None, :] if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[0] != old.n_assets:
            raise InputError(f"new returns array of shape {np.shape(new_returns)} does not "
                             f"match the fit's {old.n_assets} asset(s); pass [N, h]")
        new = ReturnsPanel.from_values(arr, _continuation_dates(old.dates, arr.shape[1]),
                                       old.assets, source="<array>")
    else:
        new = as_panel(new_returns)
    missing = [a for a in old.assets if a not in new.assets]
    extra = [a for a in new.assets if a not in old.assets]
    if missing or extra:
        what = (f"asset '{missing[0]}' of the fit is missing" if missing
                else f"asset '{extra[0]}' is not in the fit")
        raise InputError(f"new returns must have the fit's assets ({', '.join(old.assets)}): "
                         f"{what}", source=new.source)
    bad = new.dates[new.dates <= old.dates[-1]]
    if len(bad):
        def fmt(ts: pd.Timestamp) -> str:
            return str(ts.date()) if ts == ts.normalize() else ts.isoformat(sep=" ")

        raise InputError(f"new returns must come strictly after the fit's last date "
                         f"{fmt(old.dates[-1])}: {fmt(bad[0])} does not", source=new.source)
    return new.select(old.assets)


def _concat(old: ReturnsPanel, new: ReturnsPanel) -> ReturnsPanel:
    values = np.concatenate([old.values, new.values], axis=1)
    return ReturnsPanel.from_values(values, old.dates.append(new.dates), old.assets,
                                    source=old.source)


def _vi_options(fit: Fit, vi: VIOptions | dict | None) -> VIOptions:
    """``vi`` itself, or the fit's own options (fields of older versions dropped) overridden
    by the dict ``vi``."""
    if isinstance(vi, VIOptions):
        return vi
    fields = {f.name for f in dataclasses.fields(VIOptions)}
    try:
        return VIOptions(**{**{k: v for k, v in fit.options.items() if k in fields},
                            **(vi or {})})
    except TypeError as exc:
        raise InputError(f"bad VI options {vi!r}: {exc}") from None


# ------------------------------------------------------------------------------- updating
def update_fit(fit: Fit, new_returns, method: str = "seqsvb", seed: int | None = None,
               carry: str = "plugin", vi: VIOptions | dict | None = None) -> Fit:
    """Update a VI fit with returns after its last date by Seq-SVB or UVB (spec 2.10).

    new_returns: a DataFrame (dates x the fit's assets), a ReturnsPanel, or an array [N, h]
    (1-D for one asset; dates continue the fit's at its frequency). method: "seqsvb" (VI on all
    data from lambda_T, Algorithm 4) or "uvb" (block likelihood x N(mu_T, Sigma_T), eq. 34,
    variance entering the block per ``carry``: "plugin" or "exact", inference/sequential.py).
    vi: VIOptions or a dict overriding the fit's options (default: the fit's own). Returns a
    Fit on old + new data with method "vi"; diagnostics record update_method, carry,
    iterations, converged, n_new and update_seconds. Raises ValueError for a non-VI fit and
    InputError for a model without sequential updating (module docstring) and for returns
    that do not follow the fit's dates or assets.
    """
    method = _METHOD_ALIASES.get(str(method).lower(), str(method).lower())
    if method not in METHODS:
        raise InputError(f"unknown update method '{method}': choose seqsvb or uvb")
    if carry not in CARRIES:
        raise InputError(f"unknown carry '{carry}': choose plugin or exact")
    check_updatable(fit.model, method, carry)
    if fit.method != "vi" or fit.vi_params is None:
        raise ValueError(f"sequential updating needs a VI fit with variational parameters "
                         f"(this fit is '{fit.method}'; refit with method='vi')")
    t0 = time.perf_counter()
    new = _new_block(fit.panel, new_returns)
    full = _concat(fit.panel, new)
    opts = _vi_options(fit, vi)
    seed = fit.seed if seed is None else int(seed)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), full.n_times)
    params = jax.tree_util.tree_map(jnp.asarray, dict(fit.vi_params))
    res = warm_start_vi(fit.model, fit.panel, full, params,
                        fit.options.get("family", "fullrank"), opts, key, method, carry)
    check_vi_result(res, full.assets)
    seconds = time.perf_counter() - t0
    diag = {"update_method": method, "carry": carry if method == "uvb" else None,
            "iterations": int(np.max(res.iterations)),
            "iterations_per_asset": res.iterations.tolist(),
            "converged": bool(np.all(res.converged)), "n_new": int(new.n_times),
            "n_new_obs": new.n_obs_per_asset.tolist(), "update_seconds": seconds,
            "updates": int(fit.diagnostics.get("updates", 0)) + 1, **psis_diagnostics(res)}
    return Fit(model=fit.model, panel=full, method="vi", z=res.z, diagnostics=diag,
               runtime={"total": seconds}, elbo=res.elbo, elbo_trace=res.elbo_trace,
               vi_params=res.params, options=dataclasses.asdict(opts), seed=seed)


def run_sequential(data_panel, T_n: int, c: int, method: str = "seqsvb", *,
                   T_N: int | None = None, seed: int = 0, carry: str = "plugin",
                   vi: VIOptions | dict | None = None, **fit_kwargs) -> list[Fit]:
    """Fit y[:T_n] by VI, then apply c updates (spec 2.10 schedule, Fig. 6); all fits returned.

    data_panel: anything api.as_panel accepts; T_N defaults to its number of dates.
    fit_kwargs go to bayesvol.fit (model, dist, mean, start, priors, ...). The result has
    c + 1 fits; fit j+1's diagnostics["update_seconds"] is the wall time of update j
    (compilation included the first time a shape is seen; warm up first when timing).
    """
    panel = as_panel(data_panel)
    T_N = panel.n_times if T_N is None else int(T_N)
    if T_N > panel.n_times:
        raise InputError(f"T_N={T_N} is beyond the data's {panel.n_times} dates")
    blocks = sequential_schedule(T_n, T_N, c)
    opts = vi if isinstance(vi, VIOptions) else VIOptions(**(vi or {}))
    fits = [fit_vi(panel.slice_time(0, T_n), method="vi", seed=seed, vi=opts, **fit_kwargs)]
    for j, (lo, hi) in enumerate(blocks):
        fits.append(update_fit(fits[-1], panel.slice_time(lo, hi), method=method,
                               seed=seed + j + 1, carry=carry, vi=opts))
    return fits
