"""Random-walk Metropolis-Hastings with an adaptive multivariate-t proposal.

Proposal: z* = z + s C^{1/2} x, x ~ t_df(0, I) (multivariate Student t; ``df=None`` for a
Gaussian), accepted with probability min(1, k(z*) / k(z)) (Metropolis et al. 1953; the
proposal is symmetric). Warm-up adapts C and s:

- **Covariance** (adaptive Metropolis, Haario, Saksman and Tamminen 2001): the proposal
  covariance is the empirical covariance of the chain's own history, started from
  ``cov0`` (the Laplace covariance at the mode when the runner calls it, else I). As in the
  thesis's RW-MH, it is refreshed in ``rounds`` blocks rather than at every step: each
  round runs with C fixed, then C is set to the covariance of the round's second half pooled
  over chains (the first half is discarded as transient), shrunk toward 1e-3 I by
  n / (n + 5).
- **Scale** (Robbins-Monro; Andrieu and Thoms 2008): log s starts at log(2.38 / sqrt(d))
  (Gelman, Roberts and Gilks 1996) and moves by (t + 1)^(-0.6) (a_t - target) after each
  iteration t, a_t the mean acceptance probability over chains, so acceptance approaches
  ``target_accept`` (0.234, optimal in high dimension; the thesis aimed at 0.25-0.5).

Sampling then runs with C and s fixed, a valid Markov chain. Iterations are a ``lax.scan``,
chains a ``vmap``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .base import LogDensity, SamplerOutput, pooled_cov, run_sampler, safe_cholesky, start_points


def mvt_noise(key: jax.Array, d: int, df: int | None, dtype=jnp.float64) -> jax.Array:
    """One draw of the standard multivariate t_df(0, I) in d dimensions (N(0, I) if df is
    None): g / sqrt(w / df), g ~ N(0, I), w ~ chi^2_df as a sum of df squared normals (df a
    positive integer: this compiles in a fraction of the time of a gamma sampler)."""
    if df is None:
        return jax.random.normal(key, (d,), dtype)
    if int(df) != df or df < 1:
        raise ValueError(f"df must be a positive integer or None (Gaussian), got {df}")
    g = jax.random.normal(key, (d + int(df),), dtype)
    return g[:d] / jnp.sqrt(jnp.sum(g[d:] ** 2) / df)


def mvt_batch(key: jax.Array, n: int, d: int, df: int | None,
              dtype=jnp.float64) -> jax.Array:
    """n draws [n, d] of the standard multivariate t_df(0, I) (one random call)."""
    if df is None:
        return jax.random.normal(key, (n, d), dtype)
    g = jax.random.normal(key, (n, d + int(df)), dtype)
    return g[:, :d] / jnp.sqrt(jnp.sum(g[:, d:] ** 2, axis=1, keepdims=True) / df)


def rwmh_core(logdensity: LogDensity, z0: jax.Array, cov0: jax.Array, key: jax.Array, *,
              num_warmup: int = 1000, num_samples: int = 1000, num_chains: int = 2,
              df: int | None = 5, target_accept: float = 0.234, rounds: int = 3,
              spread: float = 1.0) -> dict:
    """Pure-JAX adaptive RW-MH run (module docstring); returns draws and the tuning."""
    d = z0.shape[-1]
    if num_warmup < 20 * rounds:
        raise ValueError(f"RW-MH warm-up needs at least {20 * rounds} iterations for "
                         f"{rounds} adaptation rounds, got {num_warmup}")
    k_start, k_run = jax.random.split(key)
    z = start_points(z0, cov0, k_start, num_chains, spread)
    lp = jax.vmap(logdensity)(z)
    lp = jnp.where(jnp.isnan(lp), -jnp.inf, lp)

    def mh(z, lp, key, scale, chol):
        k1, k2 = jax.random.split(key)
        prop = z + scale * chol @ mvt_noise(k1, d, df, z.dtype)
        lp_p = logdensity(prop)
        lp_p = jnp.where(jnp.isnan(lp_p), -jnp.inf, lp_p)
        log_ratio = lp_p - lp
        accept = jnp.log(jax.random.uniform(k2, dtype=z.dtype)) < log_ratio
        prob = jnp.where(jnp.isfinite(lp_p), jnp.exp(jnp.minimum(log_ratio, 0.0)), 0.0)
        return jnp.where(accept, prop, z), jnp.where(accept, lp_p, lp), accept, prob

    def run(z, lp, log_s, t0, chol, key, n, adapt):
        def step(carry, k):
            z, lp, log_s, t = carry
            z, lp, acc, prob = jax.vmap(mh, in_axes=(0, 0, 0, None, None))(
                z, lp, jax.random.split(k, num_chains), jnp.exp(log_s), chol)
            if adapt:
                log_s = log_s + (t + 1.0) ** -0.6 * (jnp.mean(prob) - target_accept)
            return (z, lp, log_s, t + 1.0), (z, acc)

        (z, lp, log_s, t), (zs, accs) = jax.lax.scan(step, (z, lp, log_s, t0),
                                                     jax.random.split(key, n))
        return z, lp, log_s, t, zs, accs

    log_s = jnp.asarray(math.log(2.38 / math.sqrt(d)), z0.dtype)
    n_round = num_warmup // rounds  # the warm-up is rounded down to whole rounds
    k_warm, k_samp = jax.random.split(k_run)

    def round_(carry, key):
        z, lp, log_s, t, chol = carry
        z, lp, log_s, t, zs, accs = run(z, lp, log_s, t, chol, key, n_round, True)
        half = zs[n_round // 2:]
        m = half.shape[0] * num_chains
        cov = (m / (m + 5.0)) * pooled_cov(half) + 1e-3 * (5.0 / (m + 5.0)) * jnp.eye(d)
        return (z, lp, log_s, t, safe_cholesky(cov)), jnp.mean(accs.astype(z0.dtype))

    carry = (z, lp, log_s, jnp.asarray(0.0, z0.dtype), safe_cholesky(cov0))
    (z, lp, log_s, t, chol), warm_acc = jax.lax.scan(round_, carry,
                                                     jax.random.split(k_warm, rounds))
    z, lp, log_s, t, zs, accs = run(z, lp, log_s, t, chol, k_samp, num_samples, False)
    return {"z": jnp.swapaxes(zs, 0, 1), "moved": jnp.swapaxes(accs, 0, 1),
            "scale": jnp.exp(log_s), "proposal_cov": chol @ chol.T,
            "warmup_accept": warm_acc}


def run_rwmh(logdensity: LogDensity, z0, key: jax.Array, *, cov0=None, num_warmup: int = 1000,
             num_samples: int = 1000, num_chains: int = 2, raise_on_failure: bool = True,
             **settings) -> SamplerOutput:
    """Adaptive multivariate-t RW-MH on ``logdensity`` from z0 (see :func:`rwmh_core`)."""
    return run_sampler("rwmh", rwmh_core, logdensity, z0, cov0, key,
                       raise_on_failure=raise_on_failure, num_warmup=num_warmup,
                       num_samples=num_samples, num_chains=num_chains, **settings)
