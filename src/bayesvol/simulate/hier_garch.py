"""Pooled AR(1)-GARCH(1,1)-t panel with ragged histories (README hier-GARCH, "sound version").

Hyperparameters (fixed settings, overridable through ``hyper``; defaults in ``DEFAULT_HYPER``):

    log omega_i        ~ N(log_omega_loc, log_omega_scale)            = N(log 0.05, 0.3)
    p_i = alpha+beta   ~ Beta(m c, (1 - m) c), m = persistence_mean,   c = persistence_concentration
                                                = Beta by mean 0.95, concentration 50
    a_i = alpha / p_i  ~ Beta by mean alpha_share_mean, concentration alpha_share_concentration
                                                = Beta by mean 0.1, concentration 40
    phi_i              ~ N(phi_loc, phi_scale) truncated to (-phi_bound, phi_bound)
                                                = N(0, 0.05) on (-0.9, 0.9)
    nu_i - 2           ~ LogNormal(log_nu_excess_loc, log_nu_excess_scale) = LogNormal(log 6, 0.3)

so alpha_i = p_i a_i, beta_i = p_i (1 - a_i), and every asset is stationary (p_i < 1). Then,
for each asset and t = 1, ..., burn + T (pooled parameters, independent series):

    y_t       = phi y_{t-1} + e_t,     e_t = sigma_t eps_t,  eps_t ~ unit-variance t(nu)
    sigma_t^2 = omega + alpha e_{t-1}^2 + beta sigma_{t-1}^2

started at sigma_1^2 = omega / (1 - alpha - beta), y_0 = 0; the first ``burn`` steps are
discarded, so the observed window sees the stationary process. (The seed's t scale is
replaced by the unit-variance t so that sigma_t^2 is the conditional variance.)

Ragged histories: asset i is listed on [first_i, last_i] (0-based, inclusive) and NaN outside.
With ``ragged=True`` about a third of the assets are listed late (first_i > 0) and about a
sixth delisted early (last_i < T - 1), each window at least ``min_length`` long (default
max(50, T // 4), capped at T). Asset 0 always covers the whole panel, so the first and last
dates have data. All draws come from ``jax.random`` and are deterministic given ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..errors import InputError
from ._common import asset_names, business_dates, check_int, returns_frame, to_jsonable
from ._sampling import (
    sample_beta,
    sample_innovations,
    sample_normal,
    sample_truncated_normal,
    sample_uniform,
)

DEFAULT_HYPER: dict[str, float] = {
    "log_omega_loc": math.log(0.05),
    "log_omega_scale": 0.3,
    "persistence_mean": 0.95,
    "persistence_concentration": 50.0,
    "alpha_share_mean": 0.1,
    "alpha_share_concentration": 40.0,
    "phi_loc": 0.0,
    "phi_scale": 0.05,
    "phi_bound": 0.9,
    "log_nu_excess_loc": math.log(6.0),
    "log_nu_excess_scale": 0.3,
}


@dataclass
class HierGarchSimulation:
    """A simulated ragged AR(1)-GARCH(1,1)-t panel and its truth.

    returns, sigma2: [n_assets, T], NaN outside each asset's [first, last] window; mask:
    [n_assets, T] bool (True where observed); first, last: [n_assets] int, 0-based inclusive;
    params: per-asset arrays omega, alpha, beta, phi, nu, persistence, alpha_share; truth:
    JSON-ready dict with the hyperparameters, per-asset parameters, first/last, sigma2 paths.
    """

    returns: np.ndarray
    sigma2: np.ndarray
    mask: np.ndarray
    first: np.ndarray
    last: np.ndarray
    params: dict[str, np.ndarray]
    hyper: dict[str, float]
    truth: dict[str, Any]
    dates: pd.DatetimeIndex = field(repr=False)
    assets: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Wide DataFrame of returns indexed by ``date`` (NaN where not listed)."""
        return returns_frame(self.returns, self.dates, self.assets)


def _check_hyper(hyper: dict[str, float] | None) -> dict[str, float]:
    out = dict(DEFAULT_HYPER)
    if hyper:
        unknown = sorted(set(hyper) - set(DEFAULT_HYPER))
        if unknown:
            raise InputError(f"unknown hyperparameter(s) {', '.join(unknown)}; known: "
                             f"{', '.join(DEFAULT_HYPER)}")
        out.update({k: float(v) for k, v in hyper.items()})
    if not all(math.isfinite(v) for v in out.values()):
        raise InputError("hyperparameters must be finite")
    for name in ("log_omega_scale", "persistence_concentration", "alpha_share_concentration",
                 "phi_scale", "log_nu_excess_scale"):
        if out[name] <= 0:
            raise InputError(f"hyperparameter {name} must be > 0, got {out[name]}")
    for name in ("persistence_mean", "alpha_share_mean", "phi_bound"):
        if not 0.0 < out[name] < 1.0:
            raise InputError(f"hyperparameter {name} must lie in (0, 1), got {out[name]}")
    if abs(out["phi_loc"]) >= out["phi_bound"]:
        raise InputError("hyperparameter phi_loc must lie inside (-phi_bound, phi_bound)")
    return out


def _draw_params(key: jax.Array, n: int, h: dict[str, float]) -> dict[str, np.ndarray]:
    """Per-asset parameters from the hyperparameters (module docstring)."""
    k_om, k_p, k_a, k_phi, k_nu = (jax.random.fold_in(key, i) for i in range(5))
    log_omega = h["log_omega_loc"] + h["log_omega_scale"] * sample_normal(k_om, (n,))
    m, c = h["persistence_mean"], h["persistence_concentration"]
    persistence = sample_beta(k_p, m * c, (1.0 - m) * c, (n,))
    m, c = h["alpha_share_mean"], h["alpha_share_concentration"]
    share = sample_beta(k_a, m * c, (1.0 - m) * c, (n,))
    lo = (-h["phi_bound"] - h["phi_loc"]) / h["phi_scale"]
    hi = (h["phi_bound"] - h["phi_loc"]) / h["phi_scale"]
    phi = h["phi_loc"] + h["phi_scale"] * sample_truncated_normal(k_phi, lo, hi, (n,))
    nu = 2.0 + np.exp(h["log_nu_excess_loc"]
                      + h["log_nu_excess_scale"] * sample_normal(k_nu, (n,)))
    p, a = persistence, share
    # Beta draws round to exactly 0 or 1 only with negligible probability; keep the truth valid.
    p = np.clip(p, np.finfo(float).tiny, 1.0 - np.finfo(float).eps)
    return {
        "omega": np.exp(log_omega),
        "alpha": p * a,
        "beta": p * (1.0 - a),
        "phi": np.clip(phi, -h["phi_bound"], h["phi_bound"]),
        "nu": nu,
        "persistence": p,
        "alpha_share": a,
    }


def _windows(key: jax.Array, n: int, T: int, min_length: int, ragged: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """First and last listed index per asset (0-based, inclusive), each window >= min_length."""
    first = np.zeros(n, dtype=np.int64)
    last = np.full(n, T - 1, dtype=np.int64)
    if not ragged or n < 2 or min_length >= T:
        return first, last
    k_late, k_del, k_first, k_last = (jax.random.fold_in(key, i) for i in range(4))
    others = n - 1  # asset 0 always spans the panel
    n_late = min(others, round(n / 3))
    n_delisted = min(others, round(n / 6))
    # random subsets: the order of uniform keys is a uniform random permutation
    late = 1 + np.argsort(sample_uniform(k_late, (others,)), kind="stable")[:n_late]
    delisted = 1 + np.argsort(sample_uniform(k_del, (others,)), kind="stable")[:n_delisted]
    u_first = sample_uniform(k_first, (n,))
    u_last = sample_uniform(k_last, (n,))
    delisted_set = set(delisted.tolist())
    for i in late:
        # a late asset that is also delisted needs room for its window before T - 2
        hi = T - min_length - (1 if i in delisted_set else 0)
        if hi >= 1:
            first[i] = 1 + int(np.floor(u_first[i] * hi))  # uniform on {1, ..., hi}
    for i in delisted:
        lo, hi = first[i] + min_length - 1, T - 2
        if hi >= lo:
            last[i] = lo + int(np.floor(u_last[i] * (hi - lo + 1)))  # uniform on {lo, ..., hi}
    return first, last


def _path(eps, omega, alpha, beta, phi):
    """One asset: scan the AR(1)-GARCH(1,1) recursion; returns (y, sigma2)."""
    s0 = omega / (1.0 - alpha - beta)

    def step(carry, z):
        y_prev, s = carry
        e = jnp.sqrt(s) * z
        y = phi * y_prev + e
        return (y, omega + alpha * e * e + beta * s), (y, s)

    _, (y, s) = jax.lax.scan(step, (jnp.zeros_like(s0), s0), eps)
    return y, s


_paths = jax.jit(jax.vmap(_path))


def simulate_hier_garch(
    n_assets: int,
    T: int,
    seed: int = 0,
    hyper: dict[str, float] | None = None,
    ragged: bool = True,
    min_length: int | None = None,
    burn: int = 500,
) -> HierGarchSimulation:
    """Simulate a pooled AR(1)-GARCH(1,1)-t panel [n_assets, T] (module docstring).

    ``hyper`` overrides entries of ``DEFAULT_HYPER``; ``min_length`` defaults to
    max(50, T // 4) capped at T. Raises InputError (a ValueError) on invalid settings.
    """
    n = check_int("n_assets", n_assets, 1)
    T = check_int("T", T, 1)
    seed = check_int("seed", seed, 0)
    burn = check_int("burn", burn, 0)
    if min_length is None:
        min_length = min(T, max(50, T // 4))
    min_length = check_int("min_length", min_length, 1)
    if min_length > T:
        raise InputError(f"min_length = {min_length} exceeds the panel length T = {T}")
    h = _check_hyper(hyper)

    key = jax.random.key(seed)
    k_par, k_win, k_eps = (jax.random.fold_in(key, i) for i in range(3))
    params = _draw_params(k_par, n, h)
    first, last = _windows(k_win, n, T, min_length, bool(ragged))

    eps = sample_innovations("t", k_eps, (n, burn + T), params["nu"][:, None])
    y, s = _paths(eps, *(params[k] for k in ("omega", "alpha", "beta", "phi")))
    y = np.asarray(y)[:, burn:]
    s = np.asarray(s)[:, burn:]
    t = np.arange(T)
    mask = (t[None, :] >= first[:, None]) & (t[None, :] <= last[:, None])
    y = np.where(mask, y, np.nan)
    s = np.where(mask, s, np.nan)

    assets = asset_names(n)
    truth = {
        "model": "hier-garch",
        "dist": "t",
        "hyper": dict(h),
        "params": {k: v.tolist() for k, v in params.items()},
        "first": first.tolist(),
        "last": last.tolist(),
        "seed": seed,
        "n_assets": n,
        "T": T,
        "burn": burn,
        "ragged": bool(ragged),
        "min_length": min_length,
        "assets": list(assets),
        "start_date": str(business_dates(1)[0].date()),
        "sigma2": to_jsonable(s),
    }
    return HierGarchSimulation(returns=y, sigma2=s, mask=mask, first=first, last=last,
                               params=params, hyper=h, truth=truth, dates=business_dates(T),
                               assets=assets)


__all__ = ["DEFAULT_HYPER", "HierGarchSimulation", "simulate_hier_garch"]
