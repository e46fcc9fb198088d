"""Unit-variance Fernandez-Steel skewed-t (SVI-GARCH paper 1.4; equals fGarch ``dsstd``).

With g the unit-variance Student-t density (standardized_t.py),

    m = Gamma((nu-1)/2) / Gamma(nu/2) * sqrt(nu-2) / sqrt(pi) * (xi - 1/xi)
    s = sqrt(xi^2 + 1/xi^2 - 1 - m^2)
    f(x; nu, xi) = 2 s / (xi + 1/xi) * g((s x + m) * xi^{-I}),  I = sign(s x + m)

so that E[x] = 0 and Var[x] = 1; xi < 1 skews left, xi > 1 right, xi = 1 is the t.

Sampling: y = xi |T| with probability xi^2/(1+xi^2), else y = -|T|/xi (T unit-variance t);
then x = (y - m) / s.

Pure functions (no NumPyro import); the NumPyro Distribution is in numpyro_dists.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from .standardized_t import std_t_logpdf, std_t_sample


def skewed_t_moments(nu: jax.Array, xi: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The shift ``m`` and scale ``s`` of the standardisation (equations above)."""
    m1 = jnp.exp(gammaln((nu - 1.0) / 2.0) - gammaln(nu / 2.0)) * jnp.sqrt((nu - 2.0) / jnp.pi)
    m = m1 * (xi - 1.0 / xi)
    s = jnp.sqrt(xi**2 + 1.0 / xi**2 - 1.0 - m**2)
    return m, s


def skewed_t_logpdf(x: jax.Array, nu: jax.Array, xi: jax.Array) -> jax.Array:
    """Log-density of the unit-variance Fernandez-Steel skewed-t at ``x``."""
    m, s = skewed_t_moments(nu, xi)
    u = s * x + m
    scaled = jnp.where(u >= 0.0, u / xi, u * xi)  # u * xi^{-I}
    return jnp.log(2.0) + jnp.log(s) - jnp.log(xi + 1.0 / xi) + std_t_logpdf(scaled, nu)


def skewed_t_sample(
    key: jax.Array, nu: jax.Array, xi: jax.Array, shape: tuple[int, ...] = ()
) -> jax.Array:
    """Draw unit-variance skewed-t variates by the two-sided construction above."""
    shape = shape or jax.lax.broadcast_shapes(jnp.shape(nu), jnp.shape(xi))
    nu = jnp.broadcast_to(nu, shape)
    xi = jnp.broadcast_to(xi, shape)
    k_side, k_t = jax.random.split(key)
    magnitude = jnp.abs(std_t_sample(k_t, nu, shape))
    positive = jax.random.uniform(k_side, shape) < xi**2 / (1.0 + xi**2)
    y = jnp.where(positive, xi * magnitude, -magnitude / xi)
    m, s = skewed_t_moments(nu, xi)
    return (y - m) / s


def skewed_t_skewness(nu: jax.Array, xi: jax.Array) -> jax.Array:
    """Third moment E[x^3] of the unit-variance skewed-t (needs nu > 3).

    With M_k = E|T|^k of the unit-variance t, the raw moments of y are
    E[y^k] = M_k (xi^{k+1} + (-1)^k xi^{-(k+1)}) / (xi + 1/xi); then centre and scale.
    """
    c = (nu - 2.0)
    m1 = jnp.exp(gammaln((nu - 1.0) / 2.0) - gammaln(nu / 2.0)) * jnp.sqrt(c / jnp.pi)
    m2 = 1.0
    # E|T|^k = c^{k/2} Gamma((k+1)/2) Gamma((nu-k)/2) / (sqrt(pi) Gamma(nu/2)); k = 3, Gamma(2) = 1
    m3 = c**1.5 * jnp.exp(gammaln((nu - 3.0) / 2.0) - gammaln(nu / 2.0)) / jnp.sqrt(jnp.pi)
    denom = xi + 1.0 / xi
    e1 = m1 * (xi**2 - xi**-2) / denom
    e2 = m2 * (xi**3 + xi**-3) / denom
    e3 = m3 * (xi**4 - xi**-4) / denom
    var = e2 - e1**2
    return (e3 - 3.0 * e1 * e2 + 2.0 * e1**3) / var**1.5
