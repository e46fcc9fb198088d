"""Dynamic factor SV simulator (DFSV model "Model"; FSV preset: FSV-VB paper 1.1-1.4).

N assets, K factors, t = 1, ..., burn + T:

    r_t       = Lambda f_t + eps_t,                 eps_t ~ N(0, diag(exp(h_id_t)))
    f_t       = Phi_f f_{t-1} + nu_t,               nu_t  ~ N(0, diag(exp(h_t)))
    h_t       = mu + Phi_h (h_{t-1} - mu) + eta_t,  eta_t ~ N(0, Q_h)
    h_id_{i,t} = log sigma2_i                                         (idio="constant")
    h_id_{i,t} = mu_id_i + phi_id_i (h_id_{i,t-1} - mu_id_i) + sigma_id_i z_{i,t}, z ~ N(0,1)
                                                                      (idio="ar1")

Lambda is N x K; Phi_f, Phi_h, Q_h are K x K (a VAR(1) for the factor log-variances, not K
separate AR(1)s). h_0 and h_id_0 are drawn from their stationary laws (discrete Lyapunov
equation), f_0 = 0, and the first ``burn`` steps are discarded.

Covariance path: ``cov[t]`` is the conditional covariance of r_t given the log-volatility
states (h_t, h_id_t) and f_{t-1}:

    Cov_t = Lambda diag(exp(h_t)) Lambda^T + diag(exp(h_id_t))            [T, N, N]

(the conditional mean is Lambda Phi_f f_{t-1}). Refused (InputError, a ValueError): Phi_f or
Phi_h with spectral radius >= 1, |phi_id| >= 1, Q_h not symmetric positive semi-definite,
non-positive sigma2, negative sigma_id, and shape mismatches. A scalar Phi_f/Phi_h/Q_h means
that multiple of the identity, a length-K vector a diagonal matrix.

Defaults (drawn from ``seed`` when not given; each from its own key, so giving one does not
change the others): Lambda lower triangular with positive diagonal, |loadings| ~ U(0.5, 1),
column 1 positive, other off-diagonal signs random (needs K <= N); Phi_f = diag(U(0.1, 0.5));
mu = 0; Phi_h = diag(U(0.9, 0.98)); Q_h = diag(U(0.1, 0.3)^2); sigma2 ~ U(0.2, 0.6);
for ar1: mu_id = log sigma2, phi_id ~ U(0.9, 0.98), sigma_id ~ U(0.1, 0.3).

Student-t errors (``nu_f``, ``nu_id`` given: degrees of freedom per factor and per asset; the
t-FSV model of Gunawan, Kohn & Nott, Supplement S8): the factor innovations nu_{k,t} and the
idiosyncratic noise eps_{i,t} get variance multipliers W ~ IG(v/2, v/2), drawn independently
over time from their own keys (so the Gaussian draws are unchanged); ``W_f`` [T, K] and
``W_id`` [T, N] are returned in the truth. ``cov[t]`` stays the covariance given h and W = 1.

``fsv_preset`` is seed 004's FSV (FSV-VB paper 1.1-1.3): Phi_f = 0, factor log-variance
tau_f h_f with h_f a unit-innovation AR(1) (so Phi_h = diag(phi_f), Q_h = diag(tau_f^2),
mu = 0), idiosyncratic log-variance kappa + tau_eps h_eps (ar1 with mu_id = kappa,
phi_id = phi_eps, sigma_id = tau_eps), Lambda lower triangular with positive diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.linalg import solve_discrete_lyapunov

from ..errors import InputError
from ._common import (
    as_float_array,
    asset_names,
    business_dates,
    check_int,
    per_asset,
    returns_frame,
    to_jsonable,
)
from ._sampling import sample_normal, sample_uniform

COVARIANCE_NOTE = ("Cov_t = Lambda diag(exp(h_t)) Lambda^T + diag(exp(h_id_t)): covariance of r_t "
                   "given h_t, h_id_t and f_{t-1}")


@dataclass
class DFSVSimulation:
    """A simulated DFSV panel and its truth.

    returns: [N, T] (assets first, the panel convention); factors, h: [T, K]; h_id: [T, N];
    ``cov``: [T, N, N] (module docstring; computed on first access, since it is T N^2 numbers);
    params: the parameters used (numpy arrays); truth:
    JSON-ready dict with the parameters and the factor and log-volatility paths (not cov,
    which follows from them).
    """

    returns: np.ndarray
    factors: np.ndarray
    h: np.ndarray
    h_id: np.ndarray
    params: dict[str, np.ndarray]
    truth: dict[str, Any]
    dates: pd.DatetimeIndex = field(repr=False)
    assets: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Wide DataFrame of returns indexed by ``date``, one column per asset."""
        return returns_frame(self.returns, self.dates, self.assets)

    @cached_property
    def cov(self) -> np.ndarray:
        """Cov_t = Lambda diag(exp(h_t)) Lambda^T + diag(exp(h_id_t)), shape [T, N, N]."""
        L = self.params["Lambda"]
        out = np.einsum("ik,tk,jk->tij", L, np.exp(self.h), L)
        n = L.shape[0]
        out[:, np.arange(n), np.arange(n)] += np.exp(self.h_id)
        return out


def spectral_radius(A: np.ndarray) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(A)))) if A.size else 0.0


def _square(name: str, value: Any, K: int) -> np.ndarray:
    arr = as_float_array(name, value)
    if arr.ndim == 0:
        return float(arr) * np.eye(K)
    if arr.shape == (K,):
        return np.diag(arr)
    if arr.shape != (K, K):
        raise InputError(f"{name} must be a scalar, a length-{K} diagonal or a {K}x{K} matrix, "
                         f"got shape {arr.shape}")
    return arr.copy()


def _check_stationary(name: str, A: np.ndarray, what: str) -> None:
    rho = spectral_radius(A)
    if rho >= 1.0:
        raise InputError(f"{name} has spectral radius {rho:.6g} >= 1: {what} is not stationary "
                         "(need spectral radius < 1)")


def _check_psd(name: str, Q: np.ndarray) -> None:
    scale = max(1.0, float(np.max(np.abs(Q))) if Q.size else 1.0)
    if np.max(np.abs(Q - Q.T), initial=0.0) > 1e-10 * scale:
        raise InputError(f"{name} must be symmetric")
    smallest = float(np.min(np.linalg.eigvalsh(Q))) if Q.size else 0.0
    if smallest < -1e-10 * scale:
        raise InputError(f"{name} is not positive semi-definite (smallest eigenvalue "
                         f"{smallest:.6g})")


def _psd_sqrt(Q: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix (works for singular Q)."""
    w, V = np.linalg.eigh((Q + Q.T) / 2.0)
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def default_loadings(key: jax.Array, N: int, K: int) -> np.ndarray:
    """Lower-triangular N x K loadings, positive diagonal, |entries| ~ U(0.5, 1)."""
    if K > N:
        raise InputError(f"a lower-triangular Lambda with positive diagonal needs K <= N; got "
                         f"K = {K} factors for N = {N} assets (pass Lambda explicitly)")
    mag = sample_uniform(jax.random.fold_in(key, 0), (N, K), 0.5, 1.0)
    sign = np.where(sample_uniform(jax.random.fold_in(key, 1), (N, K)) < 0.5, -1.0, 1.0)
    sign[:, 0] = 1.0
    sign[np.arange(K), np.arange(K)] = 1.0
    return np.tril(mag * sign)


def _uniform(key: jax.Array, i: int, shape: tuple[int, ...], lo: float, hi: float) -> np.ndarray:
    return sample_uniform(jax.random.fold_in(key, i), shape, lo, hi)


def _scan(Lambda, Phi_f, mu, Phi_h, Q_sqrt, mu_id, phi_id, sigma_id, h0, hid0, z):
    """Scan the DFSV recursions over the pre-drawn standard normals z = (eta, nu, id, eps)
    (nu and eps already scaled by sqrt(W) for Student-t errors)."""

    def step(carry, zt):
        h, f, hid = carry
        z_eta, z_nu, z_id, z_eps = zt
        h = mu + Phi_h @ (h - mu) + Q_sqrt @ z_eta
        f = Phi_f @ f + jnp.exp(0.5 * h) * z_nu
        hid = mu_id + phi_id * (hid - mu_id) + sigma_id * z_id
        r = Lambda @ f + jnp.exp(0.5 * hid) * z_eps
        return (h, f, hid), (r, f, h, hid)

    f0 = jnp.zeros_like(h0)
    _, out = jax.lax.scan(step, (h0, f0, hid0), z)
    return out


_scan_jit = jax.jit(_scan)


def simulate_dfsv(
    N: int,
    K: int,
    T: int,
    Lambda: np.ndarray | None = None,
    Phi_f: np.ndarray | float | None = None,
    mu: np.ndarray | float | None = None,
    Phi_h: np.ndarray | float | None = None,
    Q_h: np.ndarray | float | None = None,
    idio: str = "constant",
    sigma2: np.ndarray | float | None = None,
    mu_id: np.ndarray | float | None = None,
    phi_id: np.ndarray | float | None = None,
    sigma_id: np.ndarray | float | None = None,
    seed: int = 0,
    burn: int = 200,
    nu_f: np.ndarray | float | None = None,
    nu_id: np.ndarray | float | None = None,
) -> DFSVSimulation:
    """Simulate the dynamic factor SV model (module docstring) for N assets and K factors.

    With ``idio="constant"`` give ``sigma2`` (idiosyncratic variances); with ``idio="ar1"``
    give ``mu_id``, ``phi_id``, ``sigma_id`` (``mu_id`` defaults to log sigma2 when sigma2 is
    given). Missing parameters are drawn as documented. Raises InputError (a ValueError).
    """
    N, K, T = check_int("N", N, 1), check_int("K", K, 1), check_int("T", T, 1)
    seed, burn = check_int("seed", seed, 0), check_int("burn", burn, 0)
    if idio not in ("constant", "ar1"):
        raise InputError(f"idio must be 'constant' or 'ar1', got {idio!r}")
    key = jax.random.key(seed)
    k_par, k_start, k_noise = (jax.random.fold_in(key, i) for i in range(3))

    if Lambda is None:
        Lambda = default_loadings(jax.random.fold_in(k_par, 0), N, K)
    Lambda = as_float_array("Lambda", Lambda)
    if Lambda.shape != (N, K):
        raise InputError(f"Lambda must have shape ({N}, {K}) (N assets x K factors), got "
                         f"{Lambda.shape}")
    Phi_f = _square("Phi_f", np.diag(_uniform(k_par, 1, (K,), 0.1, 0.5))
                    if Phi_f is None else Phi_f, K)
    mu = np.zeros(K) if mu is None else per_asset("mu", mu, K)
    Phi_h = _square("Phi_h", np.diag(_uniform(k_par, 2, (K,), 0.9, 0.98))
                    if Phi_h is None else Phi_h, K)
    Q_h = _square("Q_h", np.diag(_uniform(k_par, 3, (K,), 0.1, 0.3) ** 2)
                  if Q_h is None else Q_h, K)
    _check_stationary("Phi_f", Phi_f, "the factor VAR f_t = Phi_f f_{t-1} + nu_t")
    _check_stationary("Phi_h", Phi_h, "the factor log-volatility VAR h_t")
    _check_psd("Q_h", Q_h)

    params: dict[str, np.ndarray] = {"Lambda": Lambda, "Phi_f": Phi_f, "mu": mu,
                                     "Phi_h": Phi_h, "Q_h": Q_h}
    if sigma2 is not None:
        sigma2 = per_asset("sigma2", sigma2, N)
        if np.any(sigma2 <= 0):
            raise InputError("sigma2 (idiosyncratic variances) must be > 0")
    if idio == "constant":
        extra = [n for n, v in (("mu_id", mu_id), ("phi_id", phi_id), ("sigma_id", sigma_id))
                 if v is not None]
        if extra:
            raise InputError(f"{', '.join(extra)} apply only to idio='ar1'")
        if sigma2 is None:
            sigma2 = _uniform(k_par, 4, (N,), 0.2, 0.6)
        params["sigma2"] = sigma2
        mu_id_a, phi_a, sd_a = np.log(sigma2), np.zeros(N), np.zeros(N)
        hid0 = np.log(sigma2)
    else:
        if mu_id is not None and sigma2 is not None:
            raise InputError("give either mu_id or sigma2 (its exponential) for idio='ar1', "
                             "not both")
        if mu_id is None:
            mu_id = np.log(sigma2 if sigma2 is not None else _uniform(k_par, 4, (N,), 0.2, 0.6))
        mu_id_a = per_asset("mu_id", mu_id, N)
        phi_a = per_asset("phi_id", _uniform(k_par, 5, (N,), 0.9, 0.98)
                          if phi_id is None else phi_id, N)
        sd_a = per_asset("sigma_id", _uniform(k_par, 6, (N,), 0.1, 0.3)
                         if sigma_id is None else sigma_id, N)
        rho = float(np.max(np.abs(phi_a)))
        if rho >= 1.0:
            raise InputError(f"phi_id has spectral radius max|phi_id| = {rho:.6g} >= 1: the "
                             "idiosyncratic log-volatility AR(1) is not stationary")
        if np.any(sd_a < 0):
            raise InputError("sigma_id must be >= 0")
        params.update(mu_id=mu_id_a, phi_id=phi_a, sigma_id=sd_a)
        z0 = sample_normal(jax.random.fold_in(k_start, 1), (N,))
        hid0 = mu_id_a + sd_a / np.sqrt(1.0 - phi_a**2) * z0

    P_h = solve_discrete_lyapunov(Phi_h, Q_h)  # stationary covariance of h
    z_h0 = sample_normal(jax.random.fold_in(k_start, 0), (K,))
    h0 = mu + _psd_sqrt(P_h) @ z_h0

    total = burn + T
    z = [sample_normal(jax.random.fold_in(k_noise, i), (total, d))
         for i, d in enumerate((K, K, N, N))]
    if (nu_f is None) != (nu_id is None):
        raise InputError("Student-t errors need both nu_f (factors) and nu_id (assets)")
    mix = {}
    if nu_f is not None:
        for name, v, d, slot in (("nu_f", nu_f, K, 1), ("nu_id", nu_id, N, 3)):
            v = per_asset(name, v, d)
            if np.any(v <= 0):
                raise InputError(f"{name} (degrees of freedom) must be > 0")
            params[name] = v
            g = np.asarray(jax.random.gamma(jax.random.fold_in(k_noise, 10 + slot),
                                            jnp.asarray(0.5 * v), (total, d)))
            W = 0.5 * v / g                                   # IG(v/2, v/2)
            z[slot] = z[slot] * np.sqrt(W)
            mix["W_f" if slot == 1 else "W_id"] = W[burn:]
    z = tuple(z)
    args = (Lambda, Phi_f, mu, Phi_h, _psd_sqrt(Q_h), mu_id_a, phi_a, sd_a, h0, hid0)
    r, f, h, hid = _scan_jit(*args, z)
    r, f, h, hid = (np.asarray(a)[burn:] for a in (r, f, h, hid))

    assets = asset_names(N)
    truth = {
        "model": "dfsv",
        "N": N, "K": K, "T": T, "seed": seed, "burn": burn, "idio": idio,
        "params": to_jsonable(params),
        "factors": to_jsonable(f),
        "h": to_jsonable(h),
        "h_id": to_jsonable(hid),
        **{k: to_jsonable(v) for k, v in mix.items()},
        "covariance": COVARIANCE_NOTE,
        "assets": list(assets),
        "start_date": str(business_dates(1)[0].date()),
    }
    return DFSVSimulation(returns=r.T.copy(), factors=f, h=h, h_id=hid, params=params,
                          truth=truth, dates=business_dates(T), assets=assets)


def fsv_preset(N: int, K: int, T: int, seed: int = 0, burn: int = 200,
               nu_f: np.ndarray | float | None = None,
               nu_id: np.ndarray | float | None = None) -> DFSVSimulation:
    """Seed 004's factor SV model (module docstring) with parameters drawn from ``seed``
    (nu_f, nu_id: Student-t errors, as in ``simulate_dfsv``).

    phi_f, phi_eps ~ U(0.9, 0.98); tau_f, tau_eps ~ U(0.1, 0.3); kappa_eps = log U(0.2, 0.6).
    ``truth["fsv_params"]`` reports them in the paper's names (beta = Lambda).
    """
    N, K, T = check_int("N", N, 1), check_int("K", K, 1), check_int("T", T, 1)
    seed = check_int("seed", seed, 0)
    k = jax.random.fold_in(jax.random.key(seed), 1000)
    phi_f, tau_f = _uniform(k, 0, (K,), 0.9, 0.98), _uniform(k, 1, (K,), 0.1, 0.3)
    phi_e, tau_e = _uniform(k, 2, (N,), 0.9, 0.98), _uniform(k, 3, (N,), 0.1, 0.3)
    kappa = np.log(_uniform(k, 4, (N,), 0.2, 0.6))
    sim = simulate_dfsv(N, K, T, Phi_f=np.zeros((K, K)), mu=np.zeros(K), Phi_h=np.diag(phi_f),
                        Q_h=np.diag(tau_f**2), idio="ar1", mu_id=kappa, phi_id=phi_e,
                        sigma_id=tau_e, seed=seed, burn=burn, nu_f=nu_f, nu_id=nu_id)
    sim.truth["model"] = "fsv"
    sim.truth["fsv_params"] = to_jsonable({
        "beta": sim.params["Lambda"], "phi_f": phi_f, "tau_f": tau_f,
        "phi_eps": phi_e, "tau_eps": tau_e, "kappa_eps": kappa,
    })
    return sim


__all__ = ["COVARIANCE_NOTE", "DFSVSimulation", "default_loadings", "fsv_preset",
           "simulate_dfsv", "spectral_radius"]
