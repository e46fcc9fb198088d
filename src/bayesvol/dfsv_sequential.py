"""Sequential updating of DFSV fits as returns arrive, and the choice of K by ELBO and CLAPL.

After Gunawan, Kohn & Nott, "Variational approximation of factor stochastic volatility
models": sequential variational updating ("seq-VA", Section 3.5) and the cumulative
approximate predictive log-likelihood (CLAPL, Section 4). The engine half (the padded model,
warm starts, the initialisation of new path entries, and what padding does and does not change)
is ``bayesvol.inference.dfsv.sequential``.

``update_dfsv(fit, new_returns)`` (``DfsvFit.update``): a new fit to old + new data by the
full ELBO over ALL the data (the exact posterior p(theta, x_{1:t} | y_{1:t}) as the target, not
the previous q as a prior), warm-started at the previous optimum: q(theta) and the old path
entries carried over (to the data scale recomputed on all data), the new path entries
initialised by continuing each path's AR(1) at the mean of q(theta). The time axis is padded
to a capacity bucket, so successive updates within a bucket reuse one compiled program.

``sequential_dfsv(data, K, t0, every=j)``: a batch fit on the first t0 dates, then for each
block of j new dates, first the one-step log predictive scores of the block under the current
fit (``DfsvFit.score``: a particle filter from the posterior at the last fitted date, the
posterior held fixed within the block), then an update with the block. The joint scores are
the paper's log APL_t terms, and

    CLAPL = sum_{t = t0 + 1}^{T} log p^(y_t | y_{1:t-1}),

with each term estimated under the fit of the last update before t (the posterior is refreshed
every j dates, as in the paper's seq-VA with update frequency j). Dates with no observed asset
have no score and are left out of the sum.

``select_factors(data, ks, t0, every)``: for each K, a sequential run; the table holds the
ELBO of the final fit (the full-data fit: the last update maximises the ELBO over all dates)
and the CLAPL of the sequential part, and marks the K chosen by each criterion (the highest).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd

from .data import ReturnsPanel, as_panel
from .dfsv_fit import DfsvFit, _panel
from .errors import InputError
from .inference.dfsv.sequential import extend_params, rescale_params, run_padded_vi
from .inference.dfsv.vi import DfsvVIOptions
from .models.dfsv import DfsvModel, DfsvPriors

JOINT = "__joint__"
_FIXED = ("family", "paths", "conditional")     # options a warm start cannot change


def _transform(y: np.ndarray, demean: bool) -> tuple[np.ndarray, float]:
    """``fit_dfsv``'s data transform: asset means (zeros without ``demean``) and one overall
    scale s = sqrt(mean over assets of the sample variances)."""
    N = y.shape[1]
    means = np.nanmean(y, axis=0) if demean else np.zeros(N)
    scale = float(np.sqrt(np.mean(np.nanvar(y - means, axis=0))))
    if not np.isfinite(scale) or scale <= 0:
        raise InputError("data have zero variance")
    return np.asarray(means, float), scale


def _vi_fit(model: DfsvModel, opts: DfsvVIOptions, res, cap: int, y: np.ndarray,
            means: np.ndarray, scale: float, assets: list[str], times: pd.Index, seed: int,
            diagnostics: dict) -> DfsvFit:
    """A ``DfsvFit`` from a padded VI result on the scaled data (the ELBO of the original
    data: minus n_obs log s, as ``fit_dfsv``)."""
    jacobian = -float(np.isfinite(y).sum()) * math.log(scale)
    return DfsvFit(model=model, options=opts, params=res.params, theta_draws=res.theta_draws,
                   scale=scale, asset_mean=means, assets=list(assets), times=times,
                   seed=int(seed), elbo=res.elbo + jacobian,
                   elbo_trace=res.elbo_trace + jacobian, iterations=res.iterations,
                   converged=res.converged, method="vi",
                   diagnostics={**diagnostics, "capacity": int(cap)},
                   returns=np.asarray(y, float))


def fit_dfsv_padded(data, n_factors: int = 1, idio: str = "ar1", seed: int = 0, *,
                    factor_ar: bool = True, factor_var: bool = False, errors: str = "normal",
                    demean: bool = True, priors: DfsvPriors | None = None,
                    capacity: int | None = None, **options) -> DfsvFit:
    """A batch VI fit as ``fit_dfsv`` (same data transform, start, target and options), run on
    the time axis padded to a capacity bucket (``inference.dfsv.sequential``), so that it and
    the updates that follow within the bucket share one compiled program.

    capacity: the padded length (None: the bucket of the number of dates).
    Raises InputError on bad data or options.
    """
    y, assets, times = _panel(data)
    T, N = y.shape
    means, scale = _transform(y, demean)
    model = DfsvModel(N, int(n_factors), idio, bool(factor_ar), priors or DfsvPriors(),
                      bool(factor_var), errors)
    try:
        opts = DfsvVIOptions(**options)
    except TypeError as err:
        raise InputError(f"bad VI option: {err}") from None
    mask = np.isfinite(y)
    ys = np.where(mask, (y - means) / scale, 0.0)
    t_start = time.perf_counter()
    res, cap = run_padded_vi(model, ys, mask, jax.random.key(seed), opts, capacity=capacity)
    return _vi_fit(model, opts, res, cap, y, means, scale, assets, times, seed,
                   {"seconds": time.perf_counter() - t_start})


# ---------------------------------------------------------------- updating
def _new_block(fit: DfsvFit, new_returns) -> tuple[np.ndarray, pd.Index]:
    """The new returns [h, N] in the fit's asset order (NaN for assets not given) and their
    times, checked: known assets, times strictly after the fit's last and increasing."""
    N = len(fit.assets)
    dated = isinstance(fit.times, pd.DatetimeIndex)
    if isinstance(new_returns, np.ndarray):
        if dated:
            raise InputError("new returns for a fit indexed by dates need their dates: pass a "
                             "DataFrame indexed by date, a ReturnsPanel or a file")
        arr = np.asarray(new_returns, dtype=float)
        arr = arr[None, :] if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[0] != N or arr.shape[1] == 0:
            raise InputError(f"new returns array of shape {np.shape(new_returns)} does not "
                             f"match the fit's {N} asset(s); pass [N, h]")
        first = int(fit.times[-1]) + 1
        frame = pd.DataFrame(arr.T, columns=fit.assets,
                             index=pd.RangeIndex(first, first + arr.shape[1], name="time"))
    elif isinstance(new_returns, pd.Series):
        frame = new_returns.to_frame(name=new_returns.name or fit.assets[0])
    elif isinstance(new_returns, pd.DataFrame):
        frame = new_returns
    else:
        panel = new_returns if isinstance(new_returns, ReturnsPanel) else as_panel(new_returns)
        frame = pd.DataFrame(panel.values.T, index=panel.dates, columns=list(panel.assets))
    cols = [str(c) for c in frame.columns]
    known = {a: i for i, a in enumerate(fit.assets)}
    unknown = [c for c in cols if c not in known]
    if unknown:
        raise InputError(f"asset '{unknown[0]}' is not in the fit (its assets: "
                         f"{', '.join(fit.assets)})", column=unknown[0])
    if len(set(cols)) < len(cols):
        raise InputError("new returns name an asset twice")
    if len(frame) == 0:
        raise InputError("no new returns")
    try:
        times = pd.DatetimeIndex(frame.index) if dated else pd.Index(frame.index)
        later = times > fit.times[-1]
    except (TypeError, ValueError) as err:
        raise InputError(f"new returns' index does not match the fit's times: {err}") from None
    if not np.all(later):
        bad = times[np.flatnonzero(~np.asarray(later))[0]]
        raise InputError(f"new returns must come strictly after the fit's last date "
                         f"{fit.times[-1]}: {bad} does not")
    if not (times.is_monotonic_increasing and times.is_unique):
        raise InputError("new returns' dates must be increasing and distinct")
    try:
        vals = frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"new returns must be numeric: {err}") from None
    if np.any(np.isinf(vals)):
        raise InputError("new returns contain infinite values")
    y = np.full((len(frame), N), np.nan)
    y[:, [known[c] for c in cols]] = vals
    return y, times.rename("time")


def _update_options(fit: DfsvFit, options: dict) -> DfsvVIOptions:
    """The fit's VI options with ``options`` overriding; the family's shape cannot change."""
    changed = [k for k in _FIXED if k in options and options[k] != getattr(fit.options, k)]
    if changed:
        raise InputError(f"an update keeps the fit's variational family: cannot change "
                         f"{', '.join(changed)} (refit instead)")
    try:
        return dataclasses.replace(fit.options, **options)
    except TypeError as err:
        raise InputError(f"bad VI option: {err}") from None


def update_dfsv(fit: DfsvFit, new_returns, seed: int | None = None,
                capacity: int | None = None, **options) -> DfsvFit:
    """Update a VI fit with returns after its last date (seq-VA, module docstring).

    new_returns: a DataFrame indexed by date (or a ReturnsPanel or a file) with some or all
    of the fit's assets (NaN = missing; assets not given are missing); for a fit of an array
    (integer times), an array [N, h] continues the times. seed: the VI seed (default the
    fit's; the key is folded with the new number of dates). capacity: padded length (None:
    the bucket of the new number of dates). options: ``DfsvVIOptions`` fields overriding the
    fit's (e.g. ``patience``, ``max_iter``, ``learning_rate``; not ``family``, ``paths`` or
    ``conditional``).

    Returns a new DfsvFit on old + new data (means and scale recomputed on all data, as
    ``fit_dfsv``); its ``diagnostics`` hold ``updates`` (count), ``n_new``, ``seconds`` (wall
    time of the update) and ``capacity``. Raises InputError for a fit without variational
    parameters (NUTS) or without its returns, for an unknown asset, for dates not after the
    fit's last, and for bad options.
    """
    t_start = time.perf_counter()
    if fit.method != "vi" or not fit.params or not isinstance(fit.options, DfsvVIOptions):
        raise InputError(f"updating needs a VI fit with its variational parameters (this fit "
                         f"is '{fit.method}'; refit with method='vi')")
    if fit.returns is None:
        raise InputError("this fit was saved without its returns, which an update needs: "
                         "refit it with this version of bayesvol")
    y_new, new_times = _new_block(fit, new_returns)
    opts = _update_options(fit, options)
    y = np.concatenate([np.asarray(fit.returns, float), y_new])
    T = y.shape[0]
    demean = bool(np.any(np.asarray(fit.asset_mean) != 0.0))
    means, scale = _transform(y, demean)
    mask = np.isfinite(y)
    ys = np.where(mask, (y - means) / scale, 0.0)
    params = rescale_params(fit.model, fit.params, math.log(fit.scale / scale), opts.paths)
    params = extend_params(fit.model, params, y_new.shape[0], None, opts.paths)
    seed = fit.seed if seed is None else int(seed)
    key = jax.random.fold_in(jax.random.key(seed), T)
    res, cap = run_padded_vi(fit.model, ys, mask, key, opts, params0=params, capacity=capacity)
    diag = {"updates": int(fit.diagnostics.get("updates", 0)) + 1,
            "n_new": int(y_new.shape[0]), "seconds": time.perf_counter() - t_start}
    return _vi_fit(fit.model, opts, res, cap, y, means, scale, fit.assets,
                   fit.times.append(new_times).rename("time"), seed, diag)


# ---------------------------------------------------------------- sequential runs
def default_update_options(options: DfsvVIOptions) -> dict:
    """Update settings of ``sequential_dfsv`` unless given: a third of the batch fit's Adam
    step and patience min(patience, 100). A warm start sits near the optimum, where Adam's
    first steps (about the step size in every coordinate, its moments restarting from zero)
    mostly kick q away; measured on a simulated 20 x 500 panel, K = 2, four updates of 5
    dates: 240-307 iterations to a final ELBO 10 nats above a batch refit, against 316-549
    iterations and about the batch refit's ELBO with the batch settings (step 0.03,
    patience 200). Both values are absolute, so applying them again changes nothing."""
    return {"learning_rate": options.step_size / 3.0, "patience": min(options.patience, 100)}


@dataclass
class DfsvSequential:
    """Output of ``sequential_dfsv``.

    fit: the last fit (all dates up to ``end``); scores: long frame (date, block, asset,
    log_score), each scored block's one-step log scores under the fit before it (asset
    ``"__joint__"``: the joint score of the date); steps: one row per fit (step 0: the batch
    fit on the first t0 dates, then one per update): first and last new date, n_dates (dates
    fitted), n_new, seconds, iterations, converged, elbo, capacity, and score_seconds (the
    time to score the block that the update then adds); fits: every fit when ``keep_fits``.
    """

    fit: DfsvFit
    scores: pd.DataFrame
    steps: pd.DataFrame
    fits: list[DfsvFit] | None = None

    @property
    def joint(self) -> pd.Series:
        """The joint one-step log score per scored date (log APL_t)."""
        rows = self.scores[self.scores["asset"] == JOINT]
        return pd.Series(rows["log_score"].to_numpy(), index=pd.DatetimeIndex(rows["date"]),
                         name="log_score")

    @property
    def clapl(self) -> float:
        """CLAPL: the sum of the joint one-step log scores (module docstring)."""
        return float(np.nansum(self.joint.to_numpy()))

    @property
    def update_seconds(self) -> np.ndarray:
        return self.steps["seconds"].to_numpy()[1:]

    @property
    def update_iterations(self) -> np.ndarray:
        return self.steps["iterations"].to_numpy()[1:]


def _dated_frame(data) -> pd.DataFrame:
    """data as a wide frame indexed by dates (arrays [N, T]: business days from 2000-01-03,
    assets A1.., as ``fit_dfsv`` names them)."""
    if isinstance(data, pd.DataFrame):
        frame = data.copy()
        if not isinstance(frame.index, pd.DatetimeIndex):
            try:
                frame.index = pd.DatetimeIndex(frame.index)
            except (TypeError, ValueError):
                raise InputError("sequential scoring needs returns indexed by dates") from None
        frame.columns = [str(c) for c in frame.columns]
        return frame
    if isinstance(data, np.ndarray):
        arr = np.asarray(data, dtype=float)
        if arr.ndim != 2:
            raise InputError(f"data must be a DataFrame (dates x assets) or an array [N, T], "
                             f"got an array of shape {arr.shape}")
        return pd.DataFrame(arr.T, index=pd.bdate_range("2000-01-03", periods=arr.shape[1]),
                            columns=[f"A{i + 1}" for i in range(arr.shape[0])])
    panel = as_panel(data)
    return pd.DataFrame(panel.values.T, index=panel.dates, columns=list(panel.assets))


def _check_schedule(T: int, t0, every, end) -> tuple[int, int, int]:
    end = T if end is None else int(end)
    if not 0 < end <= T:
        raise InputError(f"end must be in 1..{T}, got {end}")
    if int(every) < 1:
        raise InputError(f"every must be >= 1, got {every}")
    if not 10 <= int(t0) < end:
        raise InputError(f"t0 must be at least 10 and before the last date ({end}), got {t0}")
    return int(t0), int(every), end


def sequential_dfsv(data, n_factors: int = 1, t0: int = 250, every: int = 5, *,
                    end: int | None = None, idio: str = "ar1", seed: int = 0,
                    factor_ar: bool = True, factor_var: bool = False, errors: str = "normal",
                    demean: bool = True, priors: DfsvPriors | None = None,
                    capacity: int | None = None, max_draws: int = 200, n_particles: int = 100,
                    update_options: dict | None = None, keep_fits: bool = False,
                    **options) -> DfsvSequential:
    """Seq-VA with one-step scoring (module docstring): a batch fit on dates [0, t0), then for
    each block [t, t + every) up to ``end`` (the last block may be shorter): score it with the
    current fit (``DfsvFit.score``: max_draws posterior draws, n_particles particles each),
    then update the fit with it.

    data: a wide DataFrame indexed by date (or an array [N, T]: business days from
    2000-01-03). options: ``DfsvVIOptions`` fields for the batch fit (and the updates);
    update_options: fields overriding them for the updates (None: ``default_update_options``,
    a smaller step and patience; ``{}``: the batch settings). The step and patience are
    arguments of the compiled program, but its cache is keyed by all the options, so other
    update options trace the program once more (JAX's persistent compilation cache then
    serves the identical compiled code). capacity: one padded length for every fit
    (>= end; None: buckets, ``inference.dfsv.sequential.capacity_for``). The batch fit runs
    on the padded time axis too (``fit_dfsv_padded``), so its compiled code serves the
    updates of its bucket.
    Returns a ``DfsvSequential`` (``.clapl``, ``.joint``, ``.steps``, ``.fit``).
    Raises InputError for a bad schedule or data.
    """
    frame = _dated_frame(data)
    t0, every, end = _check_schedule(len(frame), t0, every, end)
    fit = fit_dfsv_padded(frame.iloc[:t0], n_factors, idio, seed, factor_ar=factor_ar,
                          factor_var=factor_var, errors=errors, demean=demean, priors=priors,
                          capacity=capacity, **options)
    upd = (default_update_options(fit.options) if update_options is None
           else dict(update_options))
    steps = [{"step": 0, "first": frame.index[0], "last": frame.index[t0 - 1],
              "n_dates": t0, "n_new": t0, "seconds": fit.diagnostics["seconds"],
              "iterations": fit.iterations, "converged": fit.converged, "elbo": fit.elbo,
              "capacity": fit.diagnostics["capacity"], "score_seconds": np.nan}]
    fits = [fit] if keep_fits else None
    scored = []
    for step, lo in enumerate(range(t0, end, every), start=1):
        block = frame.iloc[lo:min(lo + every, end)]
        s0 = time.perf_counter()
        seen = block.loc[:, block.notna().any(axis=0)]      # score() refuses empty assets
        if seen.shape[1]:
            terms = fit.score(seen, max_draws=max_draws, n_particles=n_particles).to_frame()
            terms.insert(1, "block", step)
            scored.append(terms)
        s_secs = time.perf_counter() - s0
        fit = update_dfsv(fit, block, capacity=capacity, **upd)
        if keep_fits:
            fits.append(fit)
        steps.append({"step": step, "first": block.index[0], "last": block.index[-1],
                      "n_dates": lo + len(block), "n_new": len(block),
                      "seconds": fit.diagnostics["seconds"], "iterations": fit.iterations,
                      "converged": fit.converged, "elbo": fit.elbo,
                      "capacity": fit.diagnostics["capacity"], "score_seconds": s_secs})
    columns = ["date", "block", "asset", "log_score"]
    scores = (pd.concat(scored, ignore_index=True) if scored
              else pd.DataFrame({c: [] for c in columns}))
    return DfsvSequential(fit=fit, scores=scores, steps=pd.DataFrame(steps).set_index("step"),
                          fits=fits)


def select_factors(data, ks=(1, 2, 3), t0: int = 250, every: int = 5, *,
                   end: int | None = None, seed: int = 0, **kwargs) -> pd.DataFrame:
    """Choose the number of factors K by the ELBO and by CLAPL (module docstring).

    For each K in ``ks``, ``sequential_dfsv(data, K, t0, every, ...)`` (kwargs: its options).
    Returns a DataFrame indexed by K with columns elbo (final, full-data fit), clapl (sum of
    the joint one-step log scores over the sequential part), n_scored (dates scored),
    clapl_per_date, seconds (whole run), iterations (batch fit), update_iterations (median),
    converged (every fit), best_elbo, best_clapl (the K each criterion picks: the highest);
    ``.attrs["k_elbo"]`` and ``.attrs["k_clapl"]`` name them.
    """
    ks = [int(k) for k in ks]
    if not ks or len(set(ks)) < len(ks):
        raise InputError(f"ks must be distinct numbers of factors, got {ks}")
    frame = _dated_frame(data)
    rows = []
    for K in ks:
        t_start = time.perf_counter()
        run = sequential_dfsv(frame, K, t0, every, end=end, seed=seed, **kwargs)
        joint = run.joint
        n = int(np.isfinite(joint.to_numpy()).sum())
        rows.append({"K": K, "elbo": run.fit.elbo, "clapl": run.clapl, "n_scored": n,
                     "clapl_per_date": run.clapl / max(n, 1),
                     "seconds": time.perf_counter() - t_start,
                     "iterations": int(run.steps["iterations"].iloc[0]),
                     "update_iterations": float(np.median(run.update_iterations)),
                     "converged": bool(run.steps["converged"].all())})
    table = pd.DataFrame(rows).set_index("K")
    k_elbo, k_clapl = int(table["elbo"].idxmax()), int(table["clapl"].idxmax())
    table["best_elbo"] = table.index == k_elbo
    table["best_clapl"] = table.index == k_clapl
    table.attrs.update(k_elbo=k_elbo, k_clapl=k_clapl)
    return table


__all__ = ["DfsvSequential", "default_update_options", "fit_dfsv_padded", "select_factors",
           "sequential_dfsv", "update_dfsv"]
