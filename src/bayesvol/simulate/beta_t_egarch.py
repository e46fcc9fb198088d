"""Beta-Gen-t-EGARCH / Beta-t-EGARCH simulator (Harvey & Lange 2017; docs/models/beta-t-egarch.md).

For each asset (parameters scalar or per asset) and t = 1, ..., burn + T:

    y_t     = mu + e^{f_t} eps_t,   eps_t iid generalised t(etabar, v) with unit scale
    f_{t+1} = omega + A nabla_t + B f_t,
    nabla_t = (etabar + 1) |eps_t|^v / (1 + etabar |eps_t|^v) - 1

(the score of the log density in f_t, scaling a = 0). eps_t is drawn as
|eps|^v = G1 / (etabar G2), G1 ~ Gamma(1/v), G2 ~ Gamma(1/(v etabar)), with a random sign
(models.beta_t_egarch.sample_gen_t). The first step has f_1 = omega / (1 - B) (the
unconditional mean of f) or ``f1`` if given; the first ``burn`` steps are discarded. The
parameter names are those of the ``beta-t-egarch`` model: omega, A, B, mu, eta_bar, v.
Constraints: |B| < 1, 0 < eta_bar < 1/2, v > 0. ``dist="t"`` fixes v = 2 (Beta-t-EGARCH).

Innovations are drawn up front in fixed-size blocks (one compiled gamma sampler whatever the
panel's size, simulate/_sampling.py), then one ``lax.scan`` over time per asset, ``vmap``
over assets; deterministic given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..errors import InputError
from ..models.beta_t_egarch import DISTS
from ..models.gen_t import gen_t_score, log_variance_factor, sample_gen_t
from ._common import (
    asset_names,
    business_dates,
    check_int,
    per_asset,
    reported,
    returns_frame,
    to_jsonable,
)
from ._sampling import BLOCK, _blocked


@dataclass
class BetaTEgarchSimulation:
    """A simulated Beta-(Gen-)t-EGARCH panel and its truth.

    returns, log_scale, sigma2: [n_assets, T] (sigma2 = var(y_t | f_t) = c e^{2 f_t}); eps:
    the unit-scale innovations; truth: JSON-ready dict ``{"model": "beta-t-egarch", "dist",
    "params": {...}, "seed", ...}``.
    """

    returns: np.ndarray
    log_scale: np.ndarray
    sigma2: np.ndarray
    eps: np.ndarray
    truth: dict[str, Any]
    dates: pd.DatetimeIndex = field(repr=False)
    assets: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Wide DataFrame of returns indexed by ``date``, one column per asset."""
        return returns_frame(self.returns, self.dates, self.assets)


@jax.jit
def _gen_t_block(key: jax.Array, eta_bar: jax.Array, v: jax.Array) -> jax.Array:
    return sample_gen_t(key, eta_bar, v, (BLOCK,))


def sample_gen_t_blocked(key: jax.Array, eta_bar, v, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-scale generalised-t draws of the given shape (eta_bar, v broadcast to it), drawn
    in fixed-size blocks so that the gamma sampler compiles once (simulate/_sampling.py)."""
    return _blocked(_gen_t_block, key, shape, eta_bar, v)


def _path(eps, omega, A, B, mu, eta_bar, v, f1):
    def step(f, e):
        y = mu + jnp.exp(f) * e
        return omega + A * gen_t_score(e, 0.0, eta_bar, v) + B * f, (y, f)

    _, (y, f) = jax.lax.scan(step, f1, eps)
    return y, f


_paths = jax.jit(jax.vmap(_path))


def simulate_beta_t_egarch(
    T: int,
    omega: float | np.ndarray = -0.01,
    A: float | np.ndarray = 0.08,
    B: float | np.ndarray = 0.95,
    eta_bar: float | np.ndarray = 0.1,
    v: float | np.ndarray = 1.5,
    mu: float | np.ndarray = 0.0,
    dist: str = "gen-t",
    n_assets: int = 1,
    burn: int = 500,
    seed: int = 0,
    f1: float | np.ndarray | None = None,
) -> BetaTEgarchSimulation:
    """Simulate ``n_assets`` independent Beta-Gen-t-EGARCH series of length ``T`` (module
    docstring). Defaults: unconditional log scale omega/(1 - B) = -0.2, 10 degrees of
    freedom (eta_bar 0.1), v = 1.5 (v = 2 when ``dist="t"``). Raises InputError (a
    ValueError) on an invalid parameter.
    """
    T = check_int("T", T, 1)
    n_assets = check_int("n_assets", n_assets, 1)
    burn = check_int("burn", burn, 0)
    seed = check_int("seed", seed, 0)
    key_dist = str(dist).lower()
    if key_dist not in DISTS:
        raise InputError(f"beta-t-egarch is simulated with dist gen-t (v free) or t (v = 2), "
                         f"not {dist}")
    dist = DISTS[key_dist]
    if dist == "t":
        v = 2.0
    given = {"omega": omega, "A": A, "B": B, "mu": mu, "eta_bar": eta_bar, "v": v}
    if f1 is not None:
        given["f1"] = f1
    lengths = {np.size(x) for x in given.values() if np.ndim(x) > 0}
    n = lengths.pop() if n_assets == 1 and len(lengths) == 1 else n_assets
    p = {k: per_asset(k, x, n) for k, x in given.items()}
    if np.any(np.abs(p["B"]) >= 1):
        raise InputError(f"|B| must be < 1 (stationary log scale), got {B!r}")
    if np.any((p["eta_bar"] <= 0) | (p["eta_bar"] >= 0.5)):
        raise InputError(f"eta_bar must be in (0, 0.5) (finite variance), got {eta_bar!r}")
    if np.any(p["v"] <= 0):
        raise InputError(f"v must be > 0, got {v!r}")
    f_start = p["f1"] if "f1" in p else p["omega"] / (1.0 - p["B"])
    eps = sample_gen_t_blocked(jax.random.key(seed), p["eta_bar"][:, None], p["v"][:, None],
                               (n, burn + T))
    y, f = _paths(eps, p["omega"], p["A"], p["B"], p["mu"], p["eta_bar"], p["v"], f_start)
    y, f, eps = (np.asarray(x)[:, burn:] for x in (y, f, eps))
    log_c = np.asarray(log_variance_factor(jnp.asarray(p["eta_bar"]), jnp.asarray(p["v"])))
    sigma2 = np.exp(log_c[:, None] + 2.0 * f)

    names = ("omega", "A", "B", "mu", "eta_bar", "v")
    params = {k: reported(p[k], np.ndim(given[k]) == 0) for k in names}
    assets = asset_names(n)
    truth = {
        "model": "beta-t-egarch",
        "dist": dist,
        "params": params,
        "seed": seed,
        "n_assets": n,
        "T": T,
        "burn": burn,
        "f1": None if f1 is None else reported(p["f1"], np.ndim(f1) == 0),
        "assets": list(assets),
        "start_date": str(business_dates(1)[0].date()),
        "log_scale": to_jsonable(f),
    }
    return BetaTEgarchSimulation(returns=y, log_scale=f, sigma2=sigma2, eps=eps, truth=truth,
                                 dates=business_dates(T), assets=assets)


__all__ = ["BetaTEgarchSimulation", "sample_gen_t_blocked", "simulate_beta_t_egarch"]
