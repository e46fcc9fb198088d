"""What every sampler of this package shares: the output, failure reporting, start points and
the timed run of a compiled sampler.

A sampler here works on a plain log density ``logdensity(z)`` of one unconstrained vector
``z`` [d] (any model's ``log_joint`` with its data bound). Its *core* is a pure JAX function

    core(logdensity, z0 [d], cov0 [d, d], key, **settings) -> {"z": [chains, draws, d],
                                                            "moved": [chains, draws], ...}

(``moved``: whether the chain left its state at that iteration) with the iterations in a
``lax.scan`` and the chains in a ``vmap``, so a panel of independent assets vmaps the whole
sampler once more (inference/runner.py). ``run_sampler`` compiles a core ahead of time,
times compilation and sampling separately, and wraps the draws in a :class:`SamplerOutput`
with the diagnostics of diagnostics.py. A run whose draws are not all finite, or in which a
chain never moved, is a failure: ``run_sampler`` raises :class:`SamplerFailure` (a
NumericalError carrying the output) unless asked to return it flagged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import NumericalError

LogDensity = Callable[[jax.Array], jax.Array]


@dataclass
class SamplerOutput:
    """Draws of one sampler run and what it measured.

    z: [chains, draws, d] post-warm-up draws. acceptance: [chains], the fraction of
    post-warm-up iterations in which the chain moved (1 for griddy Gibbs, whose every draw is
    new). seconds: sampling wall time (warm-up included, compilation excluded);
    compile_seconds: the compilation. diagnostics: diagnostics.summarize (ESS, ESS/s, R-hat,
    Geweke, acceptance). info: what the method tuned (step size, scale, mixture, grid ...).
    failure: None, or why the run failed (non-finite draws, a chain that never moved).
    """

    method: str
    z: np.ndarray
    acceptance: np.ndarray
    seconds: float
    compile_seconds: float = 0.0
    diagnostics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    failure: str | None = None

    @property
    def failed(self) -> bool:
        return self.failure is not None


class SamplerFailure(NumericalError):
    """A sampler run that produced non-finite draws or a chain that never moved."""

    def __init__(self, message: str, output: SamplerOutput | None = None) -> None:
        super().__init__(message)
        self.output = output


def failure_reason(z: np.ndarray, acceptance: np.ndarray, method: str) -> str | None:
    """Why draws z [chains, draws, d] with ``acceptance`` [chains] count as a failure."""
    if not np.all(np.isfinite(z)):
        return f"{method}: non-finite draws"
    if np.any(np.asarray(acceptance) <= 0.0):
        return (f"{method}: a chain accepted no proposal (acceptance 0); the start may lie "
                "outside the support or the proposal scale is far off")
    return None


def start_points(z0: jax.Array, cov0: jax.Array | None, key: jax.Array, num_chains: int,
                 spread: float) -> jax.Array:
    """Chain starts [chains, d]: z0 plus ``spread`` x a draw of N(0, cov0) (z0 if no cov0 or
    spread 0), so that R-hat compares chains that began apart."""
    z0 = jnp.asarray(z0)
    if cov0 is None or spread == 0.0:
        return jnp.broadcast_to(z0, (num_chains, z0.shape[-1]))
    chol = safe_cholesky(cov0)
    eps = jax.random.normal(key, (num_chains, z0.shape[-1]), dtype=z0.dtype)
    return z0 + spread * eps @ chol.T


def safe_cholesky(cov: jax.Array, rel_floor: float = 1e-10) -> jax.Array:
    """Cholesky factor of the symmetric part of ``cov`` with eigenvalues floored at
    ``rel_floor`` x the largest (a covariance estimated from few draws may be singular)."""
    c = 0.5 * (cov + cov.T)
    w, v = jnp.linalg.eigh(c)
    w = jnp.maximum(w, rel_floor * jnp.maximum(jnp.max(w), 1e-300))
    return jnp.linalg.cholesky((v * w) @ v.T)


def pooled_cov(draws: jax.Array) -> jax.Array:
    """Sample covariance of draws [..., n, d] pooled over every leading axis."""
    x = draws.reshape(-1, draws.shape[-1])
    x = x - jnp.mean(x, axis=0)
    return x.T @ x / jnp.maximum(x.shape[0] - 1, 1)


def run_sampler(method: str, core: Callable, logdensity: LogDensity, z0, cov0, key: jax.Array,
                *, raise_on_failure: bool = True, **settings) -> SamplerOutput:
    """Compile ``core`` for one log density, run it, and return a :class:`SamplerOutput`.

    ``settings`` are the core's static keywords (numbers of draws, chains, tuning choices).
    """

    z0 = jnp.asarray(z0, dtype=jnp.float64)
    d = z0.shape[-1]
    cov0 = jnp.eye(d) if cov0 is None else jnp.asarray(cov0, dtype=jnp.float64)

    def program(z0, cov0, key):
        return core(logdensity, z0, cov0, key, **settings)

    t0 = time.perf_counter()
    compiled = jax.jit(program).lower(z0, cov0, key).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(z0, cov0, key))
    seconds = time.perf_counter() - t1
    return finish(method, out, seconds, t1 - t0, raise_on_failure)


def finish(method: str, out: dict, seconds: float, compile_seconds: float,
           raise_on_failure: bool = True) -> SamplerOutput:
    """SamplerOutput of one run's core output (numpy), with diagnostics and failure check."""
    from .diagnostics import summarize

    z = np.asarray(out["z"])
    acceptance = np.mean(np.asarray(out["moved"]), axis=-1)
    info = {k: np.asarray(v) for k, v in out.items() if k not in ("z", "moved")}
    failure = failure_reason(z, acceptance, method)
    diagnostics = summarize(z, acceptance, seconds) if failure is None else {
        "acceptance_rate": float(np.mean(acceptance))}
    res = SamplerOutput(method, z, acceptance, seconds, compile_seconds, diagnostics, info,
                        failure)
    if failure is not None and raise_on_failure:
        raise SamplerFailure(failure, res)
    return res
