"""Simulator of the credit-intensity model (dynamic pooled marked point process; Koopman,
Lucas & Monteiro 2008; Creal, Koopman & Lucas 2013, section 4.2; docs/models/credit-intensity.md).

Rating transitions (k = 4 types IG_SIG, IG_DEF, SIG_IG, SIG_DEF): a population of firms, each
rated IG or SIG, shares the intensities lambda_t = exp(w + C f_t), constant between events.
At each step, with K_t = (n_IG, n_IG, n_SIG, n_SIG) the firms at risk:

    dtau_t ~ Exp(K_t' lambda_t)             (the time to the next event, years)
    type j ~ p_{j,t} = K_{j,t} lambda_{j,t} / K_t' lambda_t
    firm   ~ uniform among the firms in the source class of j; it moves to the target class
    f_{t+1} = A I_t^{-a} nabla_t + B f_t,    f_1 = 0

(the model's own closed-form score and per-event information, models/credit_structure.py).
A defaulted firm leaves; with ``replace_defaults`` a new SIG firm enters at the same time,
so the risk set keeps its size and changes only at event times (K_t is then exactly the
integer number at risk just before tau_t, as :func:`bayesvol.data.ratings.events_from_ratings`
finds again from the histories). Any other model (``at_risk`` given): a constant at-risk
vector K and no firms.

One ``lax.scan`` over events; deterministic given ``seed``. Returns the EventTable, the
EventData, the factor and intensity paths, and the rating histories (columns firm, date,
rating: every initial firm rated A or BB on ``start``, then one row per transition: BB+ for
a downgrade to SIG, BBB- for an upgrade to IG, D for a default, B for an entrant), with
dates start + tau * 365.25 days rounded to ``resolution`` ("s" keeps events apart; with "D"
events on one day are pooled when read back, and a firm's rows on one day collapse to the
last one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..data.ratings import RATING_TYPES, YEAR_DAYS, EventData, EventTable
from ..errors import InputError
from ..models.credit_intensity import RIDGE, CreditIntensityModel
from ..models.credit_structure import event_information, event_score
from ..models.gas_filter import scale_score

_SRC = np.array([0, 0, 1, 1])  # class of the firm at risk of each type: 0 IG, 1 SIG
_DST = np.array([1, 2, 0, 2])  # class after the event: 2 = defaulted (gone)
_DST_RATING = ("BB+", "D", "BBB-", "D")


@dataclass
class CreditIntensitySimulation:
    """A simulated event history and its truth.

    events: the pooled EventTable; data: its EventData (no unit axis); f [T, r], lam [T, k]:
    the factor and intensity paths; event_type [T], firm [T]: what happened (firm -1 without
    firms); histories: rating histories (firm, date, rating) or None; truth: JSON-ready dict
    ``{"model": "credit-intensity", "params": {...}, "config": {...}, "seed": ...}``.
    """

    events: EventTable
    data: EventData
    f: np.ndarray
    lam: np.ndarray
    event_type: np.ndarray
    firm: np.ndarray
    histories: pd.DataFrame | None
    truth: dict[str, Any]
    entrant: np.ndarray | None = None

    def rating_histories(self, resolution: str = "D") -> pd.DataFrame:
        """The rating histories (firm, date, rating) with dates rounded to ``resolution``
        (module docstring); only for the rating-transition simulation."""
        if self.entrant is None or self.events.start is None:
            raise InputError("no firms in this simulation (it was run with ``at_risk``)")
        t0 = self.events.start
        dates = t0 + pd.to_timedelta(np.asarray(self.events.time) * YEAR_DAYS, unit="D")
        dates = pd.DatetimeIndex(dates.round(resolution), name="date")
        n_ig, n_sig = self.truth["n_ig"], self.truth["n_sig"]
        n_firms = n_ig + n_sig + self.truth["n_events"]
        return _histories(t0, dates, self.event_type, self.firm, self.entrant, n_ig, n_sig,
                          n_firms)


def default_params(model: CreditIntensityModel) -> dict[str, float]:
    """Parameters that give a few dozen events a year among a few hundred firms, with
    clearly time-varying intensities (sd of f_t about 0.4-0.6, enough to identify a, b and C
    from a few hundred events): a = 0.2 / 0.14 / 0.1 (I / H / Inv, so that a_i^2 var(s_t)
    is similar), b = 0.95, free loadings 0.4, 0.9, -0.15 (C^(1)), 0.4, 0.9 (C^(2)),
    0.2, 0.8 (C^(3)) or +-0.5, and w = (-3, -6, -2.5, -3) for the rating types (-3 otherwise)."""
    a0 = {"I": 0.2, "H": 0.14, "Inv": 0.1}[model.scaling]
    out: dict[str, float] = {}
    for i in range(1, model.r + 1):
        out[f"a_{i}"] = a0
        out[f"b_{i}"] = 0.95
    presets = {1: (0.4, 0.9, -0.15), 2: (0.4, 0.9), 3: (0.2, 0.8)}
    names = [n for n in model.param_names if n.startswith("C_")]
    from ..models.credit_structure import LOADING_PRESETS, free_positions

    values = (presets[model.r] if model.types == RATING_TYPES and model.loadings
              == LOADING_PRESETS.get(model.r) else
              tuple(0.5 * s for _, _, s in free_positions(model.loadings)))
    out.update(dict(zip(names, values, strict=True)))
    w = (-3.0, -6.0, -2.5, -3.0) if model.types == RATING_TYPES else (-3.0,) * model.k
    out.update({f"w_{j + 1}": w[j] for j in range(model.k)})
    return out


def simulate_credit_intensity(model: CreditIntensityModel | None = None,
                              params: dict[str, float] | None = None, n_events: int = 500,
                              n_ig: int = 300, n_sig: int = 200, seed: int = 0,
                              at_risk: np.ndarray | None = None,
                              replace_defaults: bool = True, start: str = "2000-01-01",
                              histories: bool = True, resolution: str = "s"
                              ) -> CreditIntensitySimulation:
    """Simulate ``n_events`` events of the model (module docstring); ``params`` default to
    :func:`default_params`. ``at_risk`` (a k-vector) for a model without the rating types."""
    model = model or CreditIntensityModel()
    params = {**default_params(model), **(params or {})}
    missing = [n for n in model.param_names if n not in params]
    if missing:
        raise InputError(f"missing parameter(s) {', '.join(missing)}")
    if any(abs(params[f"b_{i}"]) >= 1 for i in range(1, model.r + 1)):
        raise InputError("every b_i must be in (-1, 1)")
    z = jnp.asarray(model.unconstrain(params))
    a, b, C, w, _ = model.unpack(z)
    ratings = at_risk is None
    if ratings and model.types != RATING_TYPES:
        raise InputError("a model without the four rating types needs ``at_risk``")
    if n_events < 1 or n_ig < 0 or n_sig < 0 or (ratings and n_ig + n_sig == 0):
        raise InputError("need n_events >= 1 and some firms")
    n_firms = n_ig + n_sig + (n_events if ratings else 0)
    status0 = np.full(max(n_firms, 1), 3, dtype=np.int32)
    status0[:n_ig] = 0
    status0[n_ig:n_ig + n_sig] = 1
    K_fixed = jnp.asarray(np.zeros(model.k) if at_risk is None else np.asarray(at_risk, float))
    src, dst = jnp.asarray(_SRC, dtype=jnp.int32), jnp.asarray(_DST, dtype=jnp.int32)
    alpha = model.a

    def step(carry, key):
        f, status, n_next = carry
        if ratings:
            n_cls = jnp.stack([jnp.sum(status == 0), jnp.sum(status == 1)]).astype(float)
            K = n_cls[src]
        else:
            K = K_fixed
        log_lam = w + C @ f
        rate = K * jnp.exp(log_lam)
        k1, k2, k3 = jax.random.split(key, 3)
        dtau = jax.random.exponential(k1) / jnp.sum(rate)
        j = jax.random.categorical(k2, jnp.log(rate))
        y = jax.nn.one_hot(j, model.k, dtype=f.dtype)
        nabla = event_score(dtau, y, K, log_lam, C)
        info = event_information(K, log_lam, C, RIDGE)
        s = scale_score(nabla, info[0] if model.r == 1 else info, alpha)
        f_next = a * s + b * f
        firm, entrant = jnp.asarray(-1, jnp.int32), jnp.asarray(-1, jnp.int32)
        if ratings:
            g = jax.random.gumbel(k3, status.shape)
            firm = jnp.argmax(jnp.where(status == src[j], g, -jnp.inf)).astype(jnp.int32)
            status = status.at[firm].set(dst[j])
            if replace_defaults:
                enter = dst[j] == 2
                status = jnp.where(enter, status.at[n_next].set(1), status)
                entrant = jnp.where(enter, n_next, -1).astype(jnp.int32)
                n_next = n_next + enter.astype(n_next.dtype)
        out = (dtau, j, K, f, jnp.exp(log_lam), firm, entrant)
        return (f_next, status, n_next), out

    keys = jax.random.split(jax.random.PRNGKey(seed), n_events)
    f0 = jnp.zeros(model.r)
    carry0 = (f0, jnp.asarray(status0), jnp.asarray(n_ig + n_sig, dtype=jnp.int32))
    _, out = jax.jit(lambda c, k: jax.lax.scan(step, c, k))(carry0, keys)
    dtau, j, K, f, lam, firm, entrant = (np.asarray(x) for x in out)
    y = np.eye(model.k)[j]
    time = np.cumsum(dtau)
    t0 = pd.Timestamp(start)
    dates = t0 + pd.to_timedelta(time * YEAR_DAYS, unit="D")
    dates = pd.DatetimeIndex(dates.round("s"), name="date")
    events = EventTable(time=time, y=y, K=K, types=model.types,
                        at_risk=np.rint(K).astype(np.int64), dates=dates, start=t0,
                        source="<simulated>", firms=int(n_ig + n_sig + np.sum(entrant >= 0))
                        if ratings else None)
    truth = {"model": model.name, "params": {k: float(v) for k, v in params.items()},
             "config": model.config(), "seed": int(seed), "n_events": int(n_events),
             "n_ig": int(n_ig), "n_sig": int(n_sig), "time_unit": "years"}
    sim = CreditIntensitySimulation(events, events.data(), f, lam, j, firm, None, truth,
                                    entrant if ratings else None)
    if ratings and histories:
        sim.histories = sim.rating_histories(resolution)
    return sim


def _histories(t0: pd.Timestamp, dates: pd.DatetimeIndex, j: np.ndarray, firm: np.ndarray,
               entrant: np.ndarray, n_ig: int, n_sig: int, n_firms: int) -> pd.DataFrame:
    width = max(4, len(str(n_firms)))
    ids = np.array([f"F{i:0{width}d}" for i in range(n_firms)])
    init = pd.DataFrame({"firm": ids[:n_ig + n_sig], "date": t0,
                         "rating": ["A"] * n_ig + ["BB"] * n_sig})
    moves = pd.DataFrame({"firm": ids[firm], "date": dates,
                          "rating": np.array(_DST_RATING)[j]})
    new = entrant >= 0
    enter = pd.DataFrame({"firm": ids[entrant[new]], "date": dates[new], "rating": "B"})
    out = pd.concat([init, moves, enter], ignore_index=True)
    out = out.drop_duplicates(["firm", "date"], keep="last")
    return out.sort_values(["date", "firm"], kind="stable").reset_index(drop=True)
