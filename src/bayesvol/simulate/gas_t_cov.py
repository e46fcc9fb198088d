"""Simulator of the multivariate Student-t GAS covariance model (GAS-t; Creal, Koopman & Lucas
2011; thesis section 4.3.1; models/gas_t_cov.py, docs/models/gas-t-cov.md).

For t = 1, ..., burn + T, with f_t = (log variances [k], angles [k(k-1)/2], column by column):

    y_t     = L_t z_t sqrt((nu - 2) / (2 G_t)),  z_t ~ N(0, I_k),  G_t ~ Gamma(nu/2),  nu = 1/nubar
              (so y_t is t with covariance Sigma_t = L_t L_t' = D_t R_t D_t)
    f_{t+1} = (I - B) omega_tilde + A I_t^{-1} nabla_t + B f_t

with f_1 = omega_tilde, the f of the unconditional covariance ``sigma`` (log variances and the
angles of its correlation). A = diag(a_D, a_phi), B = diag(b_D, b_phi); a_phi and b_phi are a
scalar (s-GAS-t) or one value per angle. The first ``burn`` steps are discarded. One
``lax.scan`` over time (models.gas_t_cov.simulate_gas_t); deterministic given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..errors import InputError
from ..models.gas_t_cov import simulate_gas_t
from ..models.hyperspherical import corr_to_angles, covariance, n_angles
from ._common import as_float_array, asset_names, business_dates, check_int, returns_frame


@dataclass
class GasTCovSimulation:
    """A simulated GAS-t panel and its truth.

    returns [k, T]; f [T, n] (log variances, angles); sigma [T, k, k] (Sigma_t); truth:
    JSON-ready ``{"model": "gas-t-cov", "params": {...}, "sigma_bar", "seed", ...}``.
    """

    returns: np.ndarray
    f: np.ndarray
    sigma: np.ndarray
    truth: dict[str, Any]
    dates: pd.DatetimeIndex = field(repr=False)
    assets: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Wide DataFrame of returns indexed by ``date``, one column per asset."""
        return returns_frame(self.returns, self.dates, self.assets)


def default_sigma(k: int, vol: float = 0.01, rho: float = 0.4) -> np.ndarray:
    """An equicorrelated covariance: daily volatility ``vol``, correlation ``rho``."""
    R = np.full((k, k), rho) + (1.0 - rho) * np.eye(k)
    return vol**2 * R


def _vector(name: str, value, size: int, allow_scalar: bool = True) -> np.ndarray:
    arr = as_float_array(name, value)
    if arr.ndim == 0 and allow_scalar:
        return np.full(size, float(arr))
    if arr.shape != (size,):
        raise InputError(f"{name} must be a scalar or have length {size}, got shape "
                         f"{arr.shape}")
    return arr


def simulate_gas_t_cov(
    T: int,
    n_assets: int = 3,
    a_D: float | np.ndarray = 0.06,
    b_D: float | np.ndarray = 0.96,
    a_phi: float | np.ndarray = 0.04,
    b_phi: float | np.ndarray = 0.96,
    nu_bar: float = 0.1,
    sigma: np.ndarray | None = None,
    burn: int = 200,
    seed: int = 0,
) -> GasTCovSimulation:
    """Simulate ``n_assets`` returns of length ``T`` from the GAS-t model (module docstring).

    sigma: the unconditional covariance (the target of omega_tilde; default: daily vol 1%,
    correlation 0.4). Raises InputError on an invalid setting (|b| >= 1, nu_bar outside
    (0, 1/2), fewer than 2 assets, sigma not positive definite).
    """
    T = check_int("T", T, 1)
    k = check_int("n_assets", n_assets, 2)
    burn = check_int("burn", burn, 0)
    seed = check_int("seed", seed, 0)
    m = n_angles(k)
    p = {"a_D": _vector("a_D", a_D, k), "b_D": _vector("b_D", b_D, k),
         "a_phi": _vector("a_phi", a_phi, m), "b_phi": _vector("b_phi", b_phi, m)}
    nb = float(as_float_array("nu_bar", nu_bar))
    if not 0.0 < nb < 0.5:
        raise InputError(f"nu_bar must be in (0, 0.5) (finite variance), got {nu_bar!r}")
    for name in ("b_D", "b_phi"):
        if np.any(np.abs(p[name]) >= 1):
            raise InputError(f"|{name}| must be < 1 (stationary recursion)")
    S = default_sigma(k) if sigma is None else as_float_array("sigma", sigma)
    if S.shape != (k, k) or not np.allclose(S, S.T) or np.any(np.linalg.eigvalsh(S) <= 0):
        raise InputError(f"sigma must be a symmetric positive definite {k} x {k} matrix")
    sd = np.sqrt(np.diag(S))
    target = np.concatenate([np.log(np.diag(S)),
                             np.asarray(corr_to_angles(S / np.outer(sd, sd)))])
    params = {k_: jnp.asarray(v) for k_, v in p.items()}
    params["nu_bar"] = jnp.asarray(nb)
    y, f = _simulate(params, jnp.asarray(target), jnp.asarray(target), jax.random.PRNGKey(seed),
                     burn + T, k)
    y, f = np.asarray(y)[burn:], np.asarray(f)[burn:]
    sig = np.asarray(jax.vmap(lambda ff: covariance(ff, k))(jnp.asarray(f)))
    assets = asset_names(k)

    def rep(name, value):
        arr = np.asarray(value, dtype=float)
        return float(arr) if arr.ndim == 0 else arr.tolist()

    truth = {"model": "gas-t-cov", "params": {
        "a_D": p["a_D"].tolist(), "b_D": p["b_D"].tolist(),
        "a_phi": rep("a_phi", a_phi) if np.ndim(a_phi) == 0 else p["a_phi"].tolist(),
        "b_phi": rep("b_phi", b_phi) if np.ndim(b_phi) == 0 else p["b_phi"].tolist(),
        "nu_bar": nb}, "sigma_bar": S.tolist(), "omega_tilde": target.tolist(),
        "seed": seed, "n_assets": k, "T": T, "burn": burn, "assets": list(assets),
        "start_date": str(business_dates(1)[0].date())}
    return GasTCovSimulation(returns=y.T, f=f, sigma=sig, truth=truth,
                             dates=business_dates(T), assets=assets)


_simulate = jax.jit(simulate_gas_t, static_argnums=(4, 5))

__all__ = ["GasTCovSimulation", "default_sigma", "simulate_gas_t_cov"]
