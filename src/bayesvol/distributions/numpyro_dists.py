"""The innovation laws of skewed_t.py and standardized_t.py as NumPyro distributions.

Kept apart from the pure functions so that a fit that never builds a NumPyro model (VI, MLE,
forecasts) does not import NumPyro (0.7 s on 2 cores; see the latency benchmark).
``bayesvol.distributions.SkewedT`` and ``StandardizedT`` load this module on first use.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.util import promote_shapes

from .skewed_t import skewed_t_logpdf, skewed_t_sample
from .standardized_t import std_t_logpdf, std_t_sample


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


class SkewedT(LocationScale):
    """NumPyro distribution ``loc + scale * eps`` with eps unit-variance skewed-t(nu, xi)."""

    arg_constraints = {
        "nu": constraints.greater_than(2.0),
        "xi": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real
    reparametrized_params = ["loc", "scale"]

    def __init__(self, nu, xi, loc=0.0, scale=1.0, *, validate_args=None):
        self.nu, self.xi, self.loc, self.scale = promote_shapes(nu, xi, loc, scale)
        batch_shape = jax.lax.broadcast_shapes(
            jnp.shape(nu), jnp.shape(xi), jnp.shape(loc), jnp.shape(scale)
        )
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        shape = sample_shape + self.batch_shape
        return self.loc + self.scale * skewed_t_sample(key, self.nu, self.xi, shape)

    def log_prob(self, value):
        z = (value - self.loc) / self.scale
        return skewed_t_logpdf(z, self.nu, self.xi) - jnp.log(self.scale)
