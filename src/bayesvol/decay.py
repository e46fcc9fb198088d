"""Choose a model's likelihood decay (forgetting) by out-of-sample one-step log score.

``select_decay(panel, grid)`` fits the model on the panel minus its last ``holdout`` dates once
per decay in ``grid``, scores the held-out returns (forecast/score.py: the filter runs on with
the posterior draws, no refit) and ranks the decays by the sum of the log scores over all
assets and held-out points. Decay 1 (the default of every model) is the only value whose
posterior is a true posterior; a decay < 1 tempers old data and is a forecasting device, to be
chosen this way, never learned as a parameter. Only models with a ``decay`` option
(hier-garch) can be tuned.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import as_panel
from .errors import InputError

MIN_HOLDOUT = 20
HOLDOUT_SHARE = 0.2


@dataclass
class DecaySelection:
    """Result of :func:`select_decay`.

    best: the decay with the highest total held-out log score (the first in grid order on a
    tie). scores: one row per decay in grid order, columns decay, log_score (sum over assets
    and points), n_points. per_asset: index decay, one column per scored asset (its sum of
    log scores). holdout: held-out dates; split: the first held-out date.
    """

    best: float
    scores: pd.DataFrame
    per_asset: pd.DataFrame
    holdout: int
    split: pd.Timestamp

    def __repr__(self) -> str:
        pairs = ", ".join(f"{d:g}: {s:.2f}" for d, s in
                          zip(self.scores["decay"], self.scores["log_score"], strict=True))
        return f"DecaySelection(best={self.best:g}, holdout={self.holdout}, scores={{{pairs}}})"


def _check_grid(grid) -> tuple[float, ...]:
    values = [grid] if isinstance(grid, int | float | np.number) else list(grid)
    if not values:
        raise InputError("the decay grid is empty: give values in (0, 1], e.g. (1.0, 0.99)")
    out: list[float] = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise InputError(f"decay must be a number in (0, 1], got {v!r}") from None
        if not 0.0 < x <= 1.0:
            raise InputError(f"decay must lie in (0, 1], got {v!r}")
        if x not in out:
            out.append(x)
    return tuple(out)


def _check_holdout(holdout, n_times: int) -> int:
    if holdout is None:
        holdout = max(MIN_HOLDOUT, int(round(HOLDOUT_SHARE * n_times)))
    if isinstance(holdout, bool) or not isinstance(holdout, int | np.integer) or holdout < 1:
        raise InputError(f"holdout must be a number of dates >= 1, got {holdout!r}")
    if holdout >= n_times:
        raise InputError(f"holdout = {holdout} leaves no dates to fit (the panel has "
                         f"{n_times})")
    return int(holdout)


def select_decay(data, grid: Iterable[float], holdout: int | None = None,
                 model: str = "hier-garch", *, method: str = "vi", seed: int = 0,
                 max_draws: int = 1000, **fit_kwargs) -> DecaySelection:
    """Pick the decay of ``grid`` with the best out-of-sample one-step log score.

    data: anything ``bayesvol.fit`` accepts. grid: decays in (0, 1] (include 1.0, the true
    posterior). holdout: the last dates held out (default 20% of the dates, at least 20);
    assets with no data before them are not scored. The model is fitted to the rest with
    ``bv.fit(train, model=model, decay=d, method=method, seed=seed, **fit_kwargs)`` for each
    decay d, and every fit is scored on the same held-out points (``max_draws`` draws per
    asset). Raises InputError for a model without a ``decay`` option, a bad grid or holdout.
    Each decay is a separate fit (and, for now, a separate compilation).
    """
    from .api import fit as fit_api
    from .forecast.score import score_terms
    from .models.registry import model_class

    try:
        cls = model_class(model)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if "decay" not in inspect.signature(cls.from_options).parameters:
        raise InputError(f"model '{model}' has no decay option to select (hier-garch has)")
    if "decay" in fit_kwargs:
        raise InputError("pass the decays to try as grid=, not decay=")
    decays = _check_grid(grid)
    panel = as_panel(data)
    holdout = _check_holdout(holdout, panel.n_times)
    cut = panel.n_times - holdout
    train = panel.slice_time(0, cut)
    test = panel.slice_time(cut, panel.n_times)
    test = test.select([a for a in test.assets if a in train.assets])
    if test.n_assets == 0:
        raise InputError("no asset has data both before and in the holdout",
                         source=panel.source)

    rows, per_asset = [], {}
    for d in decays:
        fitted = fit_api(train, model=model, decay=d, method=method, seed=seed, **fit_kwargs)
        sums = score_terms(fitted, test, max_draws=max_draws, seed=seed).sums()
        rows.append({"decay": d, "log_score": float(sums["log_score"].sum()),
                     "n_points": int(sums["n_points"].sum())})
        per_asset[d] = sums["log_score"]
    scores = pd.DataFrame(rows, columns=["decay", "log_score", "n_points"])
    table = pd.DataFrame(per_asset).T
    table.index.name = "decay"
    best = float(scores["decay"].iloc[int(np.argmax(scores["log_score"].to_numpy()))])
    return DecaySelection(best=best, scores=scores, per_asset=table, holdout=holdout,
                          split=pd.Timestamp(panel.dates[cut]))
