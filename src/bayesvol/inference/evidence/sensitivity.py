"""Prior sensitivity of Bayes factors (Kass & Raftery 1995, section 5): refit every model
under each prior preset, estimate log p(y | M) under each, and tabulate

    2 log BF_{A|B} = 2 [log p(y | M_A) - log p(y | M_B)]

for every pair of models (A before B in the order given), one row per preset. A ranking
that holds across reasonable presets is robust; 2 log BF itself moves with the prior of the
parameters the models do not share (a more diffuse prior on them favours the smaller model).

Presets are passed through the models' ``priors`` option (``bv.fit(..., priors=...)``): for
``garch`` the fields of ``bayesvol.models.priors.GarchPriors``, e.g. ``{"nu_rate": 0.5}``; for
``hier-garch`` those of ``bayesvol.models.hier_garch.HierPriors``; for ``credit-intensity`` a
preset name ("prior1".."prior4", Niesert 2017 Appendix B) or the fields of
``bayesvol.models.credit_structure.CreditPriors`` (with an optional "preset" key), e.g.
``presets={p: p for p in ("prior1", "prior2", "prior3", "prior4")}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from ...errors import InputError
from .bayes_factor import two_log_bf_error


@dataclass
class SensitivityTable:
    """``two_log_bf`` (presets x pairs "A vs B"), its standard deviations ``error`` and the
    estimates ``log_ml`` and ``log_ml_error`` (presets x models)."""

    two_log_bf: pd.DataFrame
    error: pd.DataFrame
    log_ml: pd.DataFrame
    log_ml_error: pd.DataFrame

    def __repr__(self) -> str:
        return f"SensitivityTable(2 log BF)\n{self.two_log_bf.round(2)!r}"


def prior_sensitivity(data, models: Mapping[str, Mapping],
                      presets: Mapping[str, Mapping[str, Mapping | None] | Mapping | None], *,
                      method: str = "nuts", evidence_method: str = "warp3",
                      repetitions: int = 3, seed: int = 0, fit: Callable | None = None,
                      **fit_options) -> SensitivityTable:
    """Tabulate 2 log BF per model pair under each prior preset (module docstring).

    data: returns (anything ``bv.fit`` takes). models: label -> fit keywords, e.g.
    ``{"normal": {"dist": "normal"}, "t": {"dist": "t"}}`` (``model`` defaults to garch).
    presets: preset name -> either {model label: priors} (a label left out uses the model's
    default priors) or one priors mapping for every model; None means the defaults.
    method: how each model is fitted (``nuts`` gives exact draws; ``vi`` is faster and its
    estimates carry the approximation's bias, see docs/model-comparison.md).
    fit: the fitting function (default ``bayesvol.fit``). Remaining keywords go to it.
    """
    if len(models) < 2:
        raise InputError("prior sensitivity needs at least two models")
    if fit is None:
        from ...api import fit as fit_fn  # the driver refits: the one upward import, lazy
    else:
        fit_fn = fit
    from ...comparison import evidence

    labels = list(models)
    lm = pd.DataFrame(index=pd.Index(list(presets), name="preset"), columns=labels,
                      dtype=float)
    le = lm.copy()
    for preset, spec in presets.items():
        per_model = isinstance(spec, Mapping) and set(spec) <= set(labels) and len(spec) > 0
        for label in labels:
            priors = (spec.get(label) if per_model else spec) if spec is not None else None
            kwargs = {**fit_options, **dict(models[label])}
            if priors is not None:  # a mapping, or a model's preset name (credit-intensity)
                kwargs["priors"] = priors if isinstance(priors, str) else dict(priors)
            f = fit_fn(data, method=method, seed=seed, **kwargs)
            ev = evidence(f, method=evidence_method, repetitions=repetitions, seed=seed)
            lm.loc[preset, label] = ev.log_ml
            le.loc[preset, label] = ev.error
    pairs = list(combinations(labels, 2))
    cols = [f"{a} vs {b}" for a, b in pairs]
    two = pd.DataFrame(index=lm.index, columns=cols, dtype=float)
    err = two.copy()
    for (a, b), col in zip(pairs, cols, strict=True):
        two[col] = 2.0 * (lm[a] - lm[b])
        err[col] = [two_log_bf_error(x, y) for x, y in zip(le[a], le[b], strict=True)]
    if not np.all(np.isfinite(two.to_numpy())):
        raise InputError("a marginal likelihood in the sensitivity table is not finite")
    return SensitivityTable(two, err, lm, le)
