"""Gaussian variational families on the unconstrained vector z (SVI-GARCH paper 2.2).

A family is a small object with: ``init(mode, cov) -> params`` (a pytree), ``transform(params,
eps) -> z`` for standard-normal eps (the reparameterisation), ``log_q(params, z)``,
``entropy(params)`` and ``mean_cov(params) -> (loc, cov)``. Diagonals are kept positive through
exp of a free log-diagonal (the paper's C'_ii = exp(C_ii)).

    MeanField          q = N(loc, diag(exp(2 log_scale)))
    FullRank           q = N(loc, L L^T), L lower triangular: covariance Cholesky (RT, paper)
    PrecisionCholesky  q = N(loc, (C C^T)^{-1}), C lower triangular: precision Cholesky (CV)
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

# a Python float, equal in float64 to 0.5 * jnp.log(2 pi) (the same constant in the compiled
# programs), without running a JAX computation when the module is imported
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _psd_cholesky(cov: jax.Array, floor: float = 1e-8) -> jax.Array:
    """Cholesky factor of a symmetric matrix after flooring its eigenvalues."""
    cov = 0.5 * (cov + cov.T)
    w, v = jnp.linalg.eigh(cov)
    w = jnp.maximum(w, floor * jnp.maximum(jnp.max(w), 1.0))
    return jnp.linalg.cholesky((v * w) @ v.T)


def _split_tril(mat: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(strictly-lower part, log of the diagonal) of a lower-triangular matrix."""
    return jnp.tril(mat, -1), jnp.log(jnp.diag(mat))


def _tril(params: dict[str, jax.Array]) -> jax.Array:
    return jnp.tril(params["offdiag"], -1) + jnp.diag(jnp.exp(params["log_diag"]))


class MeanField:
    """Diagonal Gaussian."""

    name = "meanfield"

    def init(self, mode: jax.Array, cov: jax.Array) -> dict[str, jax.Array]:
        return {"loc": mode, "log_scale": 0.5 * jnp.log(jnp.maximum(jnp.diag(cov), 1e-12))}

    def transform(self, params: dict[str, jax.Array], eps: jax.Array) -> jax.Array:
        return params["loc"] + eps * jnp.exp(params["log_scale"])

    def log_q(self, params: dict[str, jax.Array], z: jax.Array) -> jax.Array:
        u = (z - params["loc"]) * jnp.exp(-params["log_scale"])
        return jnp.sum(-0.5 * u * u - params["log_scale"] - _HALF_LOG_2PI, axis=-1)

    def entropy(self, params: dict[str, jax.Array]) -> jax.Array:
        d = params["loc"].shape[-1]
        return jnp.sum(params["log_scale"]) + d * (0.5 + _HALF_LOG_2PI)

    def mean_cov(self, params: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        return params["loc"], jnp.diag(jnp.exp(2.0 * params["log_scale"]))


class FullRank:
    """Full-covariance Gaussian through the covariance Cholesky L (Sigma = L L^T)."""

    name = "fullrank"

    def init(self, mode: jax.Array, cov: jax.Array) -> dict[str, jax.Array]:
        off, logd = _split_tril(_psd_cholesky(cov))
        return {"loc": mode, "offdiag": off, "log_diag": logd}

    def transform(self, params: dict[str, jax.Array], eps: jax.Array) -> jax.Array:
        return params["loc"] + eps @ _tril(params).T

    def log_q(self, params: dict[str, jax.Array], z: jax.Array) -> jax.Array:
        L = _tril(params)
        u = solve_triangular(L, (z - params["loc"]).T, lower=True).T
        return jnp.sum(-0.5 * u * u - _HALF_LOG_2PI, axis=-1) - jnp.sum(params["log_diag"])

    def entropy(self, params: dict[str, jax.Array]) -> jax.Array:
        d = params["loc"].shape[-1]
        return jnp.sum(params["log_diag"]) + d * (0.5 + _HALF_LOG_2PI)

    def mean_cov(self, params: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        L = _tril(params)
        return params["loc"], L @ L.T


class PrecisionCholesky:
    """Full-covariance Gaussian through the precision Cholesky C (Sigma^{-1} = C C^T)."""

    name = "precision"

    def init(self, mode: jax.Array, cov: jax.Array) -> dict[str, jax.Array]:
        prec = jnp.linalg.inv(0.5 * (cov + cov.T))
        off, logd = _split_tril(_psd_cholesky(prec))
        return {"loc": mode, "offdiag": off, "log_diag": logd}

    def transform(self, params: dict[str, jax.Array], eps: jax.Array) -> jax.Array:
        C = _tril(params)
        return params["loc"] + solve_triangular(C.T, eps.T, lower=False).T

    def log_q(self, params: dict[str, jax.Array], z: jax.Array) -> jax.Array:
        u = (z - params["loc"]) @ _tril(params)
        return jnp.sum(-0.5 * u * u - _HALF_LOG_2PI, axis=-1) + jnp.sum(params["log_diag"])

    def entropy(self, params: dict[str, jax.Array]) -> jax.Array:
        d = params["loc"].shape[-1]
        return -jnp.sum(params["log_diag"]) + d * (0.5 + _HALF_LOG_2PI)

    def mean_cov(self, params: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        C = _tril(params)
        prec = C @ C.T
        return params["loc"], jnp.linalg.inv(prec)


FAMILIES: dict[str, Any] = {"meanfield": MeanField, "fullrank": FullRank,
                            "precision": PrecisionCholesky}


def get_family(name: str):
    """Instantiate a family by name: meanfield, fullrank (covariance Cholesky), precision."""
    aliases = {"mean-field": "meanfield", "mf": "meanfield", "full-rank": "fullrank",
               "full": "fullrank", "cholesky": "fullrank"}
    key = aliases.get(name, name)
    if key not in FAMILIES:
        raise ValueError(f"unknown variational family '{name}': choose meanfield, fullrank "
                         "or precision")
    return FAMILIES[key]()


def draw(family, params: dict[str, jax.Array], key: jax.Array, n: int) -> jax.Array:
    """n draws z ~ q (shape [n, d])."""
    eps = jax.random.normal(key, (n, params["loc"].shape[-1]))
    return family.transform(params, eps)
