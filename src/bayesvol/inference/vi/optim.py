"""Optimisers for VI, as optax gradient transformations (all minimise -ELBO).

``tran_adaptive`` is the paper's ADAM-type rule (SVI-GARCH paper 2.5, Tran et al. 2021b):
no bias correction, no epsilon, moments started at the first gradient, and step size
min(eta0, eta0 tau / t):

    m_t = b1 m_{t-1} + (1-b1) g_t,  v_t = b2 v_{t-1} + (1-b2) g_t^2,
    update = -min(eta0, eta0 tau / t) m_t / sqrt(v_t)

(The printed min(eta0, eta0 tau / vbar) of Algorithm 2 is a typo, erratum 4.)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class TranState(NamedTuple):
    count: jax.Array
    m: optax.Updates
    v: optax.Updates


def tran_adaptive(eta0: float = 0.02, tau: float = 1000.0, b1: float = 0.9, b2: float = 0.9
                  ) -> optax.GradientTransformation:
    """The paper's adaptive learning-rate rule (see module docstring)."""

    def init_fn(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return TranState(jnp.zeros((), jnp.int32), zeros, zeros)

    def update_fn(grads, state, params=None):
        first = state.count == 0
        m = jax.tree_util.tree_map(
            lambda mo, g: jnp.where(first, g, b1 * mo + (1 - b1) * g), state.m, grads)
        v = jax.tree_util.tree_map(
            lambda vo, g: jnp.where(first, g * g, b2 * vo + (1 - b2) * g * g), state.v, grads)
        t = jnp.maximum(state.count, 1).astype(float)
        rate = jnp.minimum(eta0, eta0 * tau / t)
        updates = jax.tree_util.tree_map(
            lambda mi, vi: -rate * mi / jnp.sqrt(jnp.where(vi > 0, vi, 1.0)), m, v)
        return updates, TranState(state.count + 1, m, v)

    return optax.GradientTransformation(init_fn, update_fn)


def get_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """``adam`` (optax, default) or ``tran`` (the paper's rule with eta0 = learning_rate)."""
    if name == "adam":
        return optax.adam(learning_rate)
    if name == "tran":
        return tran_adaptive(eta0=learning_rate)
    raise ValueError(f"unknown optimizer '{name}': choose adam or tran")
