"""Stochastic gradient estimators of the ELBO  L(lambda) = E_q[log p(y, z) - log q(z)].

Both share one interface: ``init(params) -> state`` and
``step(params, state, key) -> (elbo_estimate, grad, state)``, with grad the gradient of the
ELBO (to be ascended) with respect to the family's parameter pytree.

Reparameterisation (SVI-GARCH paper 2.4, eqs. 10-12): z_s = T_lambda(eps_s); the estimate is
mean_s log p(z_s) + H[q] (``entropy="analytic"``, lower variance, default) or the paper's
mean_s [log p(z_s) - log q(z_s)] (``entropy="mc"``), differentiated through z_s.

Score function with control variates (2.3, eqs. 6-9):
    g_j = (1/S) sum_s (h(z_s) - c_j) d/dlambda_j log q(z_s),  h = log p - log q
    c_j = Cov(G_j, h G_j) / Var(G_j), estimated from the previous iteration's draws (unbiased).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

LogJoint = Callable[[jax.Array], jax.Array]


@dataclass(frozen=True)
class Reparameterisation:
    """Reparameterisation-trick ELBO gradient."""

    family: object
    log_joint: LogJoint
    num_samples: int = 8
    entropy: str = "analytic"

    def init(self, params):
        return jnp.zeros(())

    def _elbo(self, params, eps):
        z = self.family.transform(params, eps)
        lp = jax.vmap(self.log_joint)(z)
        if self.entropy == "analytic":
            return jnp.mean(lp) + self.family.entropy(params)
        return jnp.mean(lp - self.family.log_q(params, z))

    def step(self, params, state, key):
        eps = jax.random.normal(key, (self.num_samples, params["loc"].shape[-1]))
        elbo, grad = jax.value_and_grad(self._elbo)(params, eps)
        return elbo, grad, state


@dataclass(frozen=True)
class ScoreFunctionCV:
    """Score-function ELBO gradient with per-coordinate control variates (the paper's CV)."""

    family: object
    log_joint: LogJoint
    num_samples: int = 10

    def init(self, params):
        flat, _ = ravel_pytree(params)
        return jnp.zeros_like(flat)

    def step(self, params, c, key):
        flat, unravel = ravel_pytree(params)
        eps = jax.random.normal(key, (self.num_samples, params["loc"].shape[-1]))
        z = jax.lax.stop_gradient(self.family.transform(params, eps))

        def log_q_flat(f, zs):
            return self.family.log_q(unravel(f), zs[None])[0]

        G = jax.vmap(jax.grad(log_q_flat), in_axes=(None, 0))(flat, z)  # [S, P]
        h = jax.vmap(self.log_joint)(z) - self.family.log_q(params, z)  # [S]
        grad_flat = jnp.mean((h[:, None] - c[None, :]) * G, axis=0)
        hG = h[:, None] * G
        cov = jnp.mean((G - G.mean(0)) * (hG - hG.mean(0)), axis=0)
        var = jnp.var(G, axis=0)
        c_new = jnp.where(var > 0, cov / jnp.where(var > 0, var, 1.0), 0.0)
        return jnp.mean(h), unravel(grad_flat), c_new


def get_estimator(name: str, family, log_joint: LogJoint, num_samples: int,
                  entropy: str = "analytic"):
    """Build an estimator by name: ``reparam`` (default) or ``score`` (score function + CV)."""
    if name in ("reparam", "rt", "reparameterisation", "reparameterization"):
        return Reparameterisation(family, log_joint, num_samples, entropy)
    if name in ("score", "cv", "score-cv", "score_function"):
        return ScoreFunctionCV(family, log_joint, num_samples)
    raise ValueError(f"unknown gradient estimator '{name}': choose reparam or score")
