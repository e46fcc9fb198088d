"""Student-t errors as inverse-gamma variance mixing (the t-FSV model of Gunawan, Kohn & Nott,
"Variational approximation of factor stochastic volatility models", Supplements S8-S9).

A Gaussian innovation whose variance is multiplied by W ~ IG(a, a), a = v / 2, is Student-t
with v degrees of freedom. With u = log W:

    log p(u | v) = a log a - log Gamma(a) - a u - a e^{-u}     (IG density plus Jacobian e^u)
    E u = log a - digamma(a),  sd u = sqrt(trigamma(a))        (log W = log a - log G,
                                                                 G ~ Gamma(a, 1))
    E W = v / (v - 2)  (v > 2; infinite otherwise)

and the standardised e = (u - E u) / sd u has log p(e | v) = log p(u | v) + log sd u. The
degrees of freedom have the paper's prior v ~ Gamma(shape, scale), written on log v with its
Jacobian: shape log v - v / scale - log Gamma(shape) - shape log scale.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def log_w_moments(a) -> tuple[jax.Array, jax.Array]:
    """(E u, sd u) of u = log W for W ~ IG(a, a) (module docstring)."""
    return (jnp.log(a) - jax.scipy.special.digamma(a),
            jnp.sqrt(jax.scipy.special.polygamma(1, a)))


def log_u_prior(a, u: jax.Array) -> jax.Array:
    """log p(u | v) elementwise, a = v / 2 (module docstring)."""
    return a * jnp.log(a) - jax.scipy.special.gammaln(a) - a * (u + jnp.exp(-u))


def log_e_prior(a, e: jax.Array) -> jax.Array:
    """log p(e | v) elementwise for the standardised e (module docstring)."""
    m, s = log_w_moments(a)
    return log_u_prior(a, m + s * e) + jnp.log(s)


def mean_w(v: jax.Array) -> jax.Array:
    """E W = v / (v - 2), infinite where v <= 2."""
    return jnp.where(v > 2.0, v / (v - 2.0), jnp.inf)


def log_nu_prior(log_nu: jax.Array, shape: float, scale: float) -> jax.Array:
    """log prior of log v for v ~ Gamma(shape, scale), Jacobian included (elementwise)."""
    return (shape * log_nu - jnp.exp(log_nu) / scale - jax.scipy.special.gammaln(shape)
            - shape * math.log(scale))


__all__ = ["log_e_prior", "log_nu_prior", "log_u_prior", "log_w_moments", "mean_w"]
