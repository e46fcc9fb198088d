"""Innovation densities not in NumPyro, each as pure functions and a NumPyro Distribution.

``INNOVATIONS`` maps a name (normal, t, skewt) to its standardised log-density, sampler and
the names of its shape parameters, so models stay independent of the distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from .skewed_t import skewed_t_logpdf, skewed_t_moments, skewed_t_sample, skewed_t_skewness
from .standardized_t import std_t_logpdf, std_t_sample

_LOG_SQRT_2PI = 0.5 * jnp.log(2.0 * jnp.pi)


def normal_logpdf(x: jax.Array) -> jax.Array:
    """Standard normal log-density."""
    return -_LOG_SQRT_2PI - 0.5 * x * x


@dataclass(frozen=True)
class Innovation:
    """A unit-variance innovation law: ``logpdf(z, *shape)`` and ``sample(key, *shape, shape=)``."""

    name: str
    shape_params: tuple[str, ...]
    logpdf: Callable[..., jax.Array]
    sample: Callable[..., jax.Array]


INNOVATIONS: dict[str, Innovation] = {
    "normal": Innovation(
        "normal", (), normal_logpdf, lambda key, shape=(): jax.random.normal(key, shape)
    ),
    "t": Innovation(
        "t", ("nu",), std_t_logpdf, lambda key, nu, shape=(): std_t_sample(key, nu, shape)
    ),
    "skewt": Innovation(
        "skewt",
        ("nu", "xi"),
        skewed_t_logpdf,
        lambda key, nu, xi, shape=(): skewed_t_sample(key, nu, xi, shape),
    ),
}
DIST_ALIASES = {"norm": "normal", "gaussian": "normal", "std": "t", "student": "t",
                "sstd": "skewt", "skew-t": "skewt", "skewed-t": "skewt"}


def __getattr__(name: str):
    """``SkewedT`` and ``StandardizedT`` (NumPyro distributions) load NumPyro on first use."""
    if name in ("SkewedT", "StandardizedT"):
        from . import numpyro_dists

        return getattr(numpyro_dists, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_innovation(name: str) -> Innovation:
    """Look up an innovation law by name (normal, t, skewt; fGarch names accepted)."""
    key = DIST_ALIASES.get(name.lower(), name.lower())
    if key not in INNOVATIONS:
        raise ValueError(f"unknown distribution '{name}': choose one of normal, t, skewt")
    return INNOVATIONS[key]


__all__ = [
    "INNOVATIONS", "Innovation", "SkewedT", "StandardizedT", "get_innovation", "normal_logpdf",
    "skewed_t_logpdf", "skewed_t_moments", "skewed_t_sample", "skewed_t_skewness",
    "std_t_logpdf", "std_t_sample",
]
