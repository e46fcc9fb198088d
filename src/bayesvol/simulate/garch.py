"""GARCH(1,1) simulator with normal, Student-t or skewed-t innovations (SVI-GARCH paper 1.1-1.4).

For each asset i (parameters scalar or per asset) and t = 1, ..., burn + T:

    y_t       = mu + sigma_t eps_t,       eps_t iid, mean 0, variance 1
    sigma_t^2 = omega + alpha (y_{t-1} - mu)^2 + beta sigma_{t-1}^2

with eps_t standard normal (1.2), unit-variance Student-t(nu) (1.3) or the unit-variance
Fernandez-Steel skewed-t(nu, xi) of fGarch ``sstd`` (1.4). The paper's model has mu = 0 (the
default). The first simulated step has sigma_1^2 = omega / (1 - alpha - beta), the
unconditional variance, or ``sigma2_0`` if given; the first ``burn`` steps are discarded, so
``sigma2[:, 0]`` is the true conditional variance of ``returns[:, 0]`` (and equals
``sigma2_0`` when ``burn = 0``). Constraints (1.1): omega > 0, alpha >= 0, beta >= 0,
alpha + beta < 1, nu > 2, xi > 0.

Implementation: innovations are drawn up front (in fixed-size blocks, _sampling.py), then
one ``lax.scan`` over time per asset, ``vmap`` over assets; deterministic given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..distributions import get_innovation
from ..errors import InputError
from ._common import (
    asset_names,
    business_dates,
    check_int,
    per_asset,
    reported,
    returns_frame,
    to_jsonable,
)
from ._sampling import sample_innovations


@dataclass
class GarchSimulation:
    """A simulated GARCH(1,1) panel and its truth.

    returns, sigma2: [n_assets, T] float64 (sigma2[i, t] is the true conditional variance of
    returns[i, t]); eps: [n_assets, T] the unit-variance innovations; truth: JSON-ready dict
    ``{"model": "garch", "dist", "params": {...}, "seed", ...}``.
    """

    returns: np.ndarray
    sigma2: np.ndarray
    eps: np.ndarray
    truth: dict[str, Any]
    dates: pd.DatetimeIndex = field(repr=False)
    assets: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Wide DataFrame of returns indexed by ``date``, one column per asset."""
        return returns_frame(self.returns, self.dates, self.assets)


def _garch_path(
    eps: jax.Array, omega: jax.Array, alpha: jax.Array, beta: jax.Array, mu: jax.Array,
    s0: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """One asset: scan the recursion over its innovations; returns (y, sigma2)."""

    def step(s, e):
        y = mu + jnp.sqrt(s) * e
        s_next = omega + alpha * (y - mu) ** 2 + beta * s
        return s_next, (y, s)

    _, (y, s) = jax.lax.scan(step, s0, eps)
    return y, s


_garch_paths = jax.jit(jax.vmap(_garch_path))


def _n_from_params(n_assets: int, params: dict[str, Any]) -> int:
    """n_assets, or the common length of array parameters when n_assets is left at 1."""
    lengths = {np.size(v) for v in params.values() if v is not None and np.ndim(v) > 0}
    if n_assets == 1 and len(lengths) == 1:
        return lengths.pop()
    return n_assets


def simulate_garch(
    T: int,
    omega: float | np.ndarray = 0.1,
    alpha: float | np.ndarray = 0.2,
    beta: float | np.ndarray = 0.75,
    dist: str = "normal",
    nu: float | np.ndarray = 4.0,
    xi: float | np.ndarray = 0.8,
    mu: float | np.ndarray = 0.0,
    n_assets: int = 1,
    burn: int = 500,
    seed: int = 0,
    sigma2_0: float | np.ndarray | None = None,
) -> GarchSimulation:
    """Simulate ``n_assets`` independent GARCH(1,1) series of length ``T`` (module docstring).

    Each parameter is a scalar or a length-``n_assets`` array; with ``n_assets=1`` and array
    parameters, the number of assets is their length. ``nu`` is used for ``dist`` t and skewt,
    ``xi`` for skewt only (and only those appear in ``truth["params"]``). Raises InputError
    (a ValueError) on a non-stationary or invalid parameter.
    """
    T = check_int("T", T, 1)
    n_assets = check_int("n_assets", n_assets, 1)
    burn = check_int("burn", burn, 0)
    seed = check_int("seed", seed, 0)
    try:
        innovation = get_innovation(dist)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    given = {"omega": omega, "alpha": alpha, "beta": beta, "mu": mu, "sigma2_0": sigma2_0}
    if "nu" in innovation.shape_params:
        given["nu"] = nu
    if "xi" in innovation.shape_params:
        given["xi"] = xi
    n = _n_from_params(n_assets, given)
    p = {k: per_asset(k, v, n) for k, v in given.items() if v is not None}

    if np.any(p["omega"] <= 0):
        raise InputError(f"omega must be > 0, got {given['omega']!r}")
    if np.any(p["alpha"] < 0):
        raise InputError(f"alpha must be >= 0, got {given['alpha']!r}")
    if np.any(p["beta"] < 0):
        raise InputError(f"beta must be >= 0, got {given['beta']!r}")
    persistence = p["alpha"] + p["beta"]
    if np.any(persistence >= 1):
        worst = float(persistence.max())
        raise InputError(f"alpha + beta = {worst:.6g} >= 1: the GARCH(1,1) variance is not "
                         "stationary (need alpha + beta < 1)")
    if "nu" in p and np.any(p["nu"] <= 2):
        raise InputError(f"nu must be > 2 for a unit-variance {innovation.name} innovation, "
                         f"got {given['nu']!r}")
    if "xi" in p and np.any(p["xi"] <= 0):
        raise InputError(f"xi must be > 0, got {given['xi']!r}")
    if "sigma2_0" in p and np.any(p["sigma2_0"] <= 0):
        raise InputError(f"sigma2_0 must be > 0, got {sigma2_0!r}")
    s0 = p["sigma2_0"] if "sigma2_0" in p else p["omega"] / (1.0 - persistence)

    total = burn + T
    key = jax.random.key(seed)
    shape_args = [p[name][:, None] for name in innovation.shape_params]
    eps = sample_innovations(innovation.name, key, (n, total), *shape_args)
    y, s = _garch_paths(eps, p["omega"], p["alpha"], p["beta"], p["mu"], s0)
    y = np.asarray(y)[:, burn:]
    s = np.asarray(s)[:, burn:]
    eps = np.asarray(eps)[:, burn:]

    names = ("omega", "alpha", "beta", *innovation.shape_params, "mu")
    params = {k: reported(p[k], np.ndim(given[k]) == 0) for k in names}
    assets = asset_names(n)
    truth = {
        "model": "garch",
        "dist": innovation.name,
        "params": params,
        "seed": seed,
        "n_assets": n,
        "T": T,
        "burn": burn,
        "sigma2_0": None if sigma2_0 is None else reported(p["sigma2_0"], np.ndim(sigma2_0) == 0),
        "assets": list(assets),
        "start_date": str(business_dates(1)[0].date()),
        "sigma2": to_jsonable(s),
    }
    return GarchSimulation(returns=y, sigma2=s, eps=eps, truth=truth,
                           dates=business_dates(T), assets=assets)


__all__ = ["GarchSimulation", "simulate_garch"]
