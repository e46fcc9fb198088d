"""Out-of-sample one-step-ahead log predictive scores of a fitted model (no refit).

For asset i fitted to y_{1:T} with posterior draws theta^(1..S) and new returns y_{T+1..T+h}
(dates strictly after the fit's last date), each new observed point gets

    log_score_t = log (1/S) sum_s p(y_t | y_{<t}, theta^(s)),    t = T+1, ..., T+h

with p(y_t | y_{<t}, theta) the model's one-step density: the filter runs on from the fitted
data through the new returns with each draw's parameters (the draws are not updated by the new
data). The recursion starts exactly as in the fit, with the start value of the model's
``start`` rule applied to the OLD data only (as the "exact" carry of sequential UVB), so the
terms of the new points are those of ``model.loglik_terms`` on old + new data. Missing new
points (and any gap between an asset's last fitted observation and its next new one, e.g. an
asset delisted before the fit's end that reappears) propagate the filter and get no score.

Interface a model implements to be scored (per asset, left-aligned series of models/series.py):
``series(panel) -> SeriesData``, ``constrain(z) -> dict``, ``residuals(p, data)``,
``start_variance(p, e, mask)`` and ``loglik_terms(p, data, s1)`` (per-observation log density,
0 where not observed, ``s1`` the start value). ``garch`` and ``hier-garch`` (whose per-asset
functions are those of an AR(1) GarchModel) provide them.

One compiled program (jit of a vmap over rows = (asset, draw) pairs, in fixed-size chunks as
in forecast/garch_forecast.py) serves every asset; it is cached per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ..data import ReturnsPanel, as_panel
from ..errors import InputError
from ..models.series import SeriesData
from .garch_forecast import _check_count, _chunk_rows, _fmt_ts

SCORE_COLUMNS = ("date", "asset", "log_score")
_INTERFACE = ("series", "constrain", "residuals", "start_variance", "loglik_terms")


@dataclass
class ScoreTerms:
    """Per-draw and mixed one-step log predictive densities of new returns (module docstring).

    assets: the scored assets, in the fit's order (those of the new returns); dates: the new
    dates; terms [n, S, h]: log p(y_t | y_{<t}, theta^(s)) per asset, draw and new date (NaN
    where the new return is missing); log_score [n, h]: log-mean-exp of terms over the draws;
    draws [n, S]: the draws used, as indices into each asset's chains x draws (row-major).
    """

    assets: tuple[str, ...]
    dates: pd.DatetimeIndex
    terms: np.ndarray
    log_score: np.ndarray
    draws: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame: columns date, asset, log_score; one row per observed new point, sorted
        by date, then asset in the fit's order."""
        obs = ~np.isnan(self.log_score)  # [n, h]
        t_idx, a_idx = np.nonzero(obs.T)
        return pd.DataFrame({
            "date": self.dates[t_idx],
            "asset": np.asarray(self.assets, dtype=object)[a_idx],
            "log_score": self.log_score[a_idx, t_idx],
        }, columns=list(SCORE_COLUMNS))

    def sums(self) -> pd.DataFrame:
        """Per asset: the sum of its log scores and the number of scored points."""
        obs = ~np.isnan(self.log_score)
        return pd.DataFrame({"log_score": np.nansum(self.log_score, axis=1),
                             "n_points": obs.sum(axis=1)},
                            index=pd.Index(list(self.assets), name="asset"))


# ------------------------------------------------------------------------------ new data
def new_panel(fit, new_returns) -> ReturnsPanel:
    """The new returns as a panel, checked against the fit: known assets, later dates
    (:func:`checked_new_panel`)."""
    return checked_new_panel(fit.assets, fit.panel.dates[-1], new_returns)


def checked_new_panel(assets, last, new_returns) -> ReturnsPanel:
    """``new_returns`` as a panel whose assets are among ``assets`` and whose dates all come
    after ``last``. Raises InputError naming the column of an asset not in ``assets``, or the
    first new date that is not strictly after ``last``.
    """
    if isinstance(new_returns, np.ndarray):
        raise InputError("new returns need their dates: pass a DataFrame indexed by date, a "
                         "file or a ReturnsPanel, not an array")
    new = as_panel(new_returns)
    known = set(assets)
    unknown = [a for a in new.assets if a not in known]
    if unknown:
        raise InputError(f"asset '{unknown[0]}' is not in the fit (its assets: "
                         f"{', '.join(assets)})", source=new.source, column=unknown[0])
    bad = np.flatnonzero(new.dates <= last)
    if bad.size:
        raise InputError(f"new returns must come strictly after the fit's last date "
                         f"{_fmt_ts(last)}: date {_fmt_ts(new.dates[bad[0]])} does not",
                         source=new.source)
    return new


def combined_panel(fit, new: ReturnsPanel) -> tuple[ReturnsPanel, np.ndarray]:
    """(every asset of the fit on old + new dates, NaN on the new dates for the assets ``new``
    lacks; the fit indices of the assets of ``new``, in the fit's order).

    Keeping every asset keeps the model input's shape that of the fit, whichever assets are
    scored, so one compiled program serves them all.
    """
    old = fit.panel
    idx = np.array(sorted(old.assets.index(a) for a in new.assets), dtype=np.int64)
    block = np.full((old.n_assets, new.n_times), np.nan)
    block[idx] = new.select([old.assets[i] for i in idx]).values
    values = np.concatenate([old.values, block], axis=1)
    panel = ReturnsPanel.from_values(values, old.dates.append(new.dates), old.assets,
                                     source=new.source)
    return panel, idx


# ------------------------------------------------------------------------------ program
@lru_cache(maxsize=32)
def _score_program(model):
    """jit(vmap) over rows (asset k, draw): -> the log-likelihood terms of the whole
    left-aligned series, the recursion started by the model's rule on the old points only
    (positions < ``start``, the asset's first new date)."""

    def one(z, asset, start, data):
        series = SeriesData(data.y[asset], data.mask[asset])
        p = model.constrain(z)
        e = model.residuals(p, series)
        old = series.mask * (jnp.arange(series.mask.shape[-1]) < start)
        return model.loglik_terms(p, series, model.start_variance(p, e, old))

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None)))


def _draw_subset(fit, max_draws: int, seed: int, assets: np.ndarray) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """(z [n, S, d], draw indices [n, S]): every draw, or ``max_draws`` of them without
    replacement (seeded per fit asset index, so an asset's draws do not depend on the others)."""
    z_all = np.asarray(fit.z, dtype=np.float64)
    d = z_all.shape[-1]
    pooled = z_all.reshape(z_all.shape[0], -1, d)
    total = pooled.shape[1]
    s = min(max_draws, total)
    z = np.empty((len(assets), s, d))
    used = np.empty((len(assets), s), dtype=np.int64)
    for k, i in enumerate(assets):
        if s < total:
            rng = np.random.default_rng(np.random.SeedSequence([seed, int(i)]))
            used[k] = np.sort(rng.choice(total, s, replace=False))
        else:
            used[k] = np.arange(total)
        z[k] = pooled[i, used[k]]
    return z, used


def score_terms(fit, new_returns, max_draws: int = 1000, seed: int | None = None
                ) -> ScoreTerms:
    """Per-draw and mixed one-step log predictive densities of ``new_returns`` (module doc).

    new_returns: anything ``bayesvol.data.as_panel`` accepts (a wide DataFrame indexed by date,
    a file path, a ReturnsPanel) holding returns after the fit's last date for some or all of
    the fit's assets (assets it lacks are not scored). max_draws: at most this many posterior
    draws per asset, a seeded subsample without replacement (seed: the fit's by default).
    Raises InputError for an unknown asset, dates not after the fit's, or a model that does
    not implement the scoring interface.
    """
    model = fit.model
    missing = [f for f in _INTERFACE if not callable(getattr(model, f, None))]
    if missing:
        raise InputError(f"model '{getattr(model, 'name', type(model).__name__)}' cannot be "
                         f"scored yet: it has no per-asset {missing[0]}")
    max_draws = _check_count("max_draws", max_draws, 1)
    seed = _check_count("seed", fit.seed if seed is None else seed, 0)
    new = new_panel(fit, new_returns)
    full, idx = combined_panel(fit, new)
    t_old, h = fit.panel.n_times, new.n_times
    start = (t_old - np.asarray(full.first)).astype(np.int64)  # left-aligned first new date
    data = model.series(full)
    length = int(data.y.shape[-1])

    z, used = _draw_subset(fit, max_draws, seed, idx)
    n, s, d = z.shape
    rows = n * s
    chunk = _chunk_rows(length)
    padded = -(-rows // chunk) * chunk
    take = np.concatenate([np.arange(rows), np.zeros(padded - rows, dtype=np.int64)])
    z_rows = z.reshape(rows, d)[take]  # pad rows repeat row 0 and are dropped below
    asset_rows = np.repeat(idx, s)[take].astype(np.int32)
    start_rows = np.repeat(start[idx], s)[take].astype(np.int32)
    program = _score_program(model)
    out = []
    for a in range(0, padded, chunk):
        sl = slice(a, a + chunk)
        chunk_terms = np.asarray(program(z_rows[sl], asset_rows[sl], start_rows[sl], data))
        # each row keeps its h new positions (clipped past the series end, where no asset
        # is observed)
        cols = np.minimum(start_rows[sl, None] + np.arange(h)[None, :], length - 1)
        out.append(np.take_along_axis(chunk_terms, cols, axis=1))
    terms = np.concatenate(out)[:rows].reshape(n, s, h)
    observed = np.asarray(full.mask[idx, t_old:])  # [n, h]
    terms = np.where(observed[:, None, :], terms, np.nan)
    with np.errstate(invalid="ignore"):
        mixed = logsumexp(np.where(observed[:, None, :], terms, 0.0), axis=1) - np.log(s)
    mixed = np.where(observed, mixed, np.nan)
    return ScoreTerms(assets=tuple(full.assets[i] for i in idx), dates=new.dates, terms=terms,
                      log_score=mixed, draws=used)


def score_fit(fit, new_returns, max_draws: int = 1000, seed: int | None = None
              ) -> pd.DataFrame:
    """One-step-ahead log predictive scores of new returns: columns date, asset, log_score.

    One row per observed new point (see :func:`score_terms` for the arguments and errors).
    """
    return score_terms(fit, new_returns, max_draws=max_draws, seed=seed).to_frame()
