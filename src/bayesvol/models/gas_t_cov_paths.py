"""Paths of the GAS-t covariance model (models/gas_t_cov.py): simulation of the recursion
with multivariate-t draws, and the compiled programs (one per model, vmapped over posterior
draws) for filtered covariance paths, the next state after the data and simulated
covariance forecasts (Creal, Koopman & Lucas 2011; docs/models/gas-t-cov.md).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp

from .hyperspherical import chol_factor, covariance, n_angles, scaled_score


# -------------------------------------------------------------------------- simulation
def sample_mvt(key: jax.Array, L: jax.Array, nu_bar: jax.Array) -> jax.Array:
    """One draw of the k-variate t with covariance L L' and 1/nubar degrees of freedom:
    y = L z sqrt((nu - 2) / (2 G)), z ~ N(0, I), G ~ Gamma(nu/2)."""
    from .gen_t import sample_gamma

    k1, k2 = jax.random.split(key)
    z = jax.random.normal(k1, (L.shape[0],), dtype=L.dtype)
    g = sample_gamma(k2, 0.5 / nu_bar)
    return L @ z * jnp.sqrt((1.0 - 2.0 * nu_bar) / (2.0 * nu_bar * g))


def simulate_gas_t(p: dict, f1: jax.Array, target: jax.Array, key: jax.Array, T: int,
                   k: int) -> tuple[jax.Array, jax.Array]:
    """(y [T, k], f [T, n]) of the GAS-t recursion (module docstring) from f_1 = ``f1``."""
    m = n_angles(k)
    A = jnp.concatenate([jnp.broadcast_to(p["a_D"], (k,)), jnp.broadcast_to(p["a_phi"], (m,))])
    B = jnp.concatenate([jnp.broadcast_to(p["b_D"], (k,)), jnp.broadcast_to(p["b_phi"], (m,))])
    omega = (1.0 - B) * target
    nb = p["nu_bar"]

    def step(f, kk):
        y = sample_mvt(kk, chol_factor(f, k), nb)
        s = scaled_score(y, f, nb)[1]
        return omega + A * s + B * f, (y, f)

    _, (y, f) = jax.lax.scan(step, f1, jax.random.split(key, T))
    return y, f


@lru_cache(maxsize=16)
def _covariance_program(model):
    k = model.k

    def one(z, data_i):
        f = model.filter(model.constrain(z), data_i).f
        return jax.vmap(lambda ff: covariance(ff, k))(f)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


@lru_cache(maxsize=16)
def _next_state_program(model):
    def one(z, data_i, last):
        p = model.constrain(z)
        path = model.filter(p, data_i)
        omega, A, B = model.dynamics(p, data_i.target)
        return omega + A * path.score[last] + B * path.f[last]

    return jax.jit(jax.vmap(one, in_axes=(0, None, None)))


@lru_cache(maxsize=16)
def _forecast_program(model, horizon: int):
    k = model.k

    def one_path(p, f_next, target, key):
        _, f = simulate_gas_t(p, f_next, target, key, horizon, k)
        return jax.vmap(lambda ff: covariance(ff, k))(f)

    def one(z, f_next, target, keys):
        p = model.constrain(z)
        return jnp.mean(jax.vmap(lambda kk: one_path(p, f_next, target, kk))(keys), axis=0)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, 0)))


