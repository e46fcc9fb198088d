"""Unit-variance Student-t innovation density (SVI-GARCH paper 1.3, fGarch ``dstd``).

    f(x; nu) = Gamma((nu+1)/2) / (sqrt(pi (nu-2)) Gamma(nu/2)) * (1 + x^2/(nu-2))^{-(nu+1)/2},
    nu > 2.

A standard t variate scaled by sqrt((nu-2)/nu) has this density, mean 0 and variance 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.util import promote_shapes


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


class LocationScale(Distribution):
    """Shared moments of ``loc + scale * eps`` for a unit-variance, mean-zero eps."""

    @property
    def mean(self):
        return jnp.broadcast_to(self.loc, self.batch_shape)

    @property
    def variance(self):
        return jnp.broadcast_to(self.scale**2, self.batch_shape)


class StandardizedT(LocationScale):
    """NumPyro distribution ``loc + scale * eps`` with eps unit-variance Student-t(nu)."""

    arg_constraints = {
        "nu": constraints.greater_than(2.0),
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real
    reparametrized_params = ["loc", "scale"]

    def __init__(self, nu, loc=0.0, scale=1.0, *, validate_args=None):
        self.nu, self.loc, self.scale = promote_shapes(nu, loc, scale)
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(nu), jnp.shape(loc), jnp.shape(scale))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        shape = sample_shape + self.batch_shape
        return self.loc + self.scale * std_t_sample(key, jnp.broadcast_to(self.nu, shape), shape)

    def log_prob(self, value):
        z = (value - self.loc) / self.scale
        return std_t_logpdf(z, self.nu) - jnp.log(self.scale)
