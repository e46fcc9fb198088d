"""Out-of-sample one-step log scores of a fitted factor SV model (``score_dfsv``).

The fit works on the scaled data y_t = (r_t - a) / s (see forecast/factor_forecast.py, whose
``terminal_states`` gives each posterior draw's state at the last fitted date T).

One-step log scores (``score_dfsv``) of new returns y_{T+1..T+n} (dates after the fit's):
per draw j a Rao-Blackwellised particle filter (``filtering.rbpf``; Chen & Liu 2000) starts
with every particle at draw j's state at T and runs on through the new data, giving
log p^(y_t | y_{T+1:t-1}, theta^j, state_T^j) (unbiased in exp) and each asset's marginal
log p^(y_{t,i} | y_{T+1:t-1}, ...) (a Gaussian mixture over the particles). The score of a
date is log (1/D) sum_j exp(.) (the posterior fixed at T, as ``forecast.score`` for GARCH),
minus n_t log s (joint over the n_t observed assets) or log s (one asset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ..data import ReturnsPanel
from ..errors import InputError
from ..filtering.rbpf import RbpfParams, rbpf_point_state, rbpf_scan
from .factor_forecast import JOINT, _chunk, _pad_rows, terminal_states
from .garch_forecast import _check_count
from .score import ScoreTerms, checked_new_panel


@dataclass
class FactorScoreTerms(ScoreTerms):
    """``forecast.score.ScoreTerms`` of a factor SV fit: rows are the scored assets (each
    asset's marginal one-step log score) and a last row ``"__joint__"`` (the joint one-step
    log score of all the assets observed that date). terms [n + 1, D, h], log_score [n + 1, h],
    draws [n + 1, D] (the same D draws for every row: rows of the fit's theta draws);
    ``to_frame`` writes them all (asset ``__joint__`` for the joint score). ess [D, h]: the
    particle filter's effective sample size per draw and date."""

    n_particles: int = 0
    ess: np.ndarray | None = field(default=None, repr=False)

    @property
    def joint(self) -> pd.Series:
        """The joint one-step log score per date (NaN where no scored asset is observed)."""
        return pd.Series(self.log_score[-1], index=self.dates, name="log_score")

    @property
    def marginal(self) -> pd.DataFrame:
        """Each asset's marginal one-step log score: dates x assets."""
        return pd.DataFrame(self.log_score[:-1].T, index=self.dates,
                            columns=list(self.assets[:-1]))


def new_panel_dfsv(fit, new_returns) -> ReturnsPanel:
    """The new returns as a panel checked against the fit: known assets, dates after the
    fit's last (forecast.score.checked_new_panel). Raises InputError."""
    if not isinstance(fit.times, pd.DatetimeIndex):
        raise InputError("scoring needs a fit whose times are dates (fit a DataFrame indexed "
                         "by date)")
    return checked_new_panel(fit.assets, fit.times[-1], new_returns)


@lru_cache(maxsize=16)
def _score_program(n_particles: int, resample: str):
    """jit(vmap over draws): RBPF from each draw's point state through the new data."""

    def one(key, prm, h, h_id, m, P, y, mask):
        state = rbpf_point_state(h, h_id, m, P, n_particles)
        res = rbpf_scan(key, prm, y, mask, state, fresh=False, resample=resample,
                        marginals=True)
        return res.loglik_t, res.marginal_t, res.ess

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, 0, None, None)))


def score_dfsv(fit, new_returns, max_draws: int = 200, seed: int | None = None,
               n_particles: int = 100, resample: str = "ess") -> FactorScoreTerms:
    """One-step log predictive scores of returns after a factor SV fit's last date (module
    docstring): each asset's marginal score and the joint score (row ``"__joint__"``), on the
    original scale.

    new_returns: a wide DataFrame indexed by date, a file or a ReturnsPanel, for some or all of
    the fit's assets (NaN = missing). max_draws: posterior draws D (a seeded subsample of the
    fit's draws; seed: the fit's by default); n_particles: particles per draw; resample:
    "ess" or "always". Raises InputError for an unknown asset, a date not after the fit's
    last one, or bad counts.
    """
    max_draws = _check_count("max_draws", max_draws, 1)
    n_particles = _check_count("n_particles", n_particles, 1)
    seed = _check_count("seed", fit.seed if seed is None else seed, 0)
    if resample not in ("ess", "always"):
        raise InputError(f"resample must be 'ess' or 'always', got {resample!r}")
    new = new_panel_dfsv(fit, new_returns)
    idx = np.array(sorted(list(fit.assets).index(a) for a in new.assets), dtype=np.int64)
    n_new, N = new.n_times, len(fit.assets)
    y = np.full((n_new, N), np.nan)
    y[:, idx] = new.select([fit.assets[i] for i in idx]).values.T
    mask = np.isfinite(y)
    ys = np.where(mask, (y - np.asarray(fit.asset_mean)) / fit.scale, 0.0)
    bucket = max(8, 1 << (n_new - 1).bit_length())     # pad dates: fewer compiled shapes
    y_pad = np.zeros((bucket, N))
    y_pad[:n_new] = ys
    m_pad = np.zeros((bucket, N), dtype=bool)
    m_pad[:n_new] = mask

    term = terminal_states(fit, max_draws, seed)
    D = len(term.rows)
    chunk = _chunk(n_particles * bucket * (N + 2))
    take = _pad_rows(D, chunk)
    keys = jax.vmap(lambda r: jax.random.fold_in(
        jax.random.fold_in(jax.random.key(seed), 13), r))(jnp.asarray(term.rows[take]))
    prm = RbpfParams(*(jnp.asarray(a)[take] for a in term.params))
    st = [jnp.asarray(a)[take] for a in (term.h, term.h_id, term.m, term.P)]
    program = _score_program(n_particles, resample)
    lj, lm, ess = [], [], []
    for a in range(0, len(take), chunk):
        sl = slice(a, a + chunk)
        out = program(keys[sl], jax.tree_util.tree_map(lambda x, sl=sl: x[sl], prm),
                      *(s[sl] for s in st), jnp.asarray(y_pad), jnp.asarray(m_pad))
        lj.append(np.asarray(out[0]))
        lm.append(np.asarray(out[1]))
        ess.append(np.asarray(out[2]))
    joint = np.concatenate(lj)[:D, :n_new]                     # [D, h]
    marg = np.concatenate(lm)[:D, :n_new][:, :, idx]           # [D, h, n]
    log_s = math.log(fit.scale)
    n_obs = mask.sum(axis=1)                                   # [h]
    joint = joint - n_obs[None, :] * log_s
    terms = np.concatenate([np.moveaxis(marg, 2, 0) - log_s, joint[None]], axis=0)
    observed = np.concatenate([mask[:, idx].T, (n_obs > 0)[None]], axis=0)   # [n + 1, h]
    terms = np.where(observed[:, None, :], terms, np.nan)
    with np.errstate(invalid="ignore"):
        mixed = logsumexp(np.where(observed[:, None, :], terms, 0.0), axis=1) - math.log(D)
    mixed = np.where(observed, mixed, np.nan)
    assets = tuple(fit.assets[i] for i in idx) + (JOINT,)
    return FactorScoreTerms(assets=assets, dates=new.dates, terms=terms, log_score=mixed,
                            draws=np.broadcast_to(term.rows, (len(assets), D)).copy(),
                            n_particles=n_particles,
                            ess=np.concatenate(ess)[:D, :n_new])


__all__ = ["FactorScoreTerms", "new_panel_dfsv", "score_dfsv"]
