"""Random draws in fixed-size blocks, so each sampler compiles once per process.

JAX's gamma sampler (behind Student-t, skewed-t and Beta draws) takes seconds to compile and
recompiles for every new output shape. The simulators therefore draw through these helpers:
parameters are broadcast to the requested shape, flattened, cut into blocks of ``BLOCK``
values, and each block is drawn by one jitted function of fixed shape with the key
``fold_in(key, block_index)``. Results are deterministic given the key and the shape, and the
persistent compilation cache of the CLI is reused whatever the panel's size. The bookkeeping
around the blocks is numpy, so a new shape triggers no compilation here at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

import jax
import numpy as np

from ..distributions import get_innovation

BLOCK = 8192


def _blocked(
    fn: Callable[..., jax.Array], key: jax.Array, shape: tuple[int, ...], *params: Any
) -> np.ndarray:
    """Call ``fn(block_key, *param_blocks) -> (BLOCK,)`` over blocks; numpy around it."""
    size = math.prod(shape)
    n_blocks = max(1, -(-size // BLOCK))
    padded = n_blocks * BLOCK
    flat = []
    for p in params:
        v = np.broadcast_to(np.asarray(p, dtype=np.float64), shape).reshape(-1)
        if size == 0:
            v = np.ones(1)  # any valid value; nothing is returned
        flat.append(np.pad(v, (0, padded - v.shape[0]), mode="edge"))
    blocks = [
        np.asarray(fn(jax.random.fold_in(key, j), *(v[j * BLOCK:(j + 1) * BLOCK] for v in flat)))
        for j in range(n_blocks)
    ]
    return np.concatenate(blocks)[:size].reshape(shape)


@cache
def _innovation_block(name: str) -> Callable[..., jax.Array]:
    innovation = get_innovation(name)
    return jax.jit(lambda key, *p: innovation.sample(key, *p, shape=(BLOCK,)))


def sample_innovations(
    name: str, key: jax.Array, shape: tuple[int, ...], *shape_params: Any
) -> np.ndarray:
    """Unit-variance innovations of law ``name`` (normal, t, skewt) with the given shape.

    ``shape_params`` (nu; or nu, xi) are broadcast to ``shape``.
    """
    return _blocked(_innovation_block(get_innovation(name).name), key, shape, *shape_params)


def sample_normal(key: jax.Array, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws with the given shape."""
    return sample_innovations("normal", key, shape)


@jax.jit
def _beta_block(key: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    return jax.random.beta(key, a, b, shape=(BLOCK,))


def sample_beta(key: jax.Array, a: Any, b: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Beta(a, b) draws with the given shape (a, b broadcast to it)."""
    return _blocked(_beta_block, key, shape, a, b)


@jax.jit
def _uniform_block(key: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
    return lo + (hi - lo) * jax.random.uniform(key, (BLOCK,))


def sample_uniform(
    key: jax.Array, shape: tuple[int, ...], lo: Any = 0.0, hi: Any = 1.0
) -> np.ndarray:
    """Uniform(lo, hi) draws with the given shape."""
    return _blocked(_uniform_block, key, shape, lo, hi)


@jax.jit
def _truncnorm_block(key: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
    return jax.random.truncated_normal(key, lo, hi, (BLOCK,))


def sample_truncated_normal(
    key: jax.Array, lo: Any, hi: Any, shape: tuple[int, ...]
) -> np.ndarray:
    """Standard normal draws truncated to (lo, hi), with the given shape."""
    return _blocked(_truncnorm_block, key, shape, lo, hi)
