"""Unit-variance Student-t innovation density (SVI-GARCH paper 1.3, fGarch ``dstd``).

    f(x; nu) = Gamma((nu+1)/2) / (sqrt(pi (nu-2)) Gamma(nu/2)) * (1 + x^2/(nu-2))^{-(nu+1)/2},
    nu > 2.

A standard t variate scaled by sqrt((nu-2)/nu) has this density, mean 0 and variance 1.
Pure functions (no NumPyro import); the NumPyro Distribution is in numpyro_dists.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln


def std_t_logpdf(x: jax.Array, nu: jax.Array) -> jax.Array:
    """Log-density of the unit-variance Student-t at ``x`` (equation above)."""
    return (
        gammaln((nu + 1.0) / 2.0)
        - gammaln(nu / 2.0)
        - 0.5 * jnp.log(jnp.pi * (nu - 2.0))
        - 0.5 * (nu + 1.0) * jnp.log1p(x * x / (nu - 2.0))
    )


def std_t_sample(key: jax.Array, nu: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """Draw unit-variance Student-t variates: t_nu * sqrt((nu-2)/nu)."""
    shape = shape or jnp.shape(nu)
    t = jax.random.t(key, nu, shape=shape)
    return t * jnp.sqrt((nu - 2.0) / nu)
