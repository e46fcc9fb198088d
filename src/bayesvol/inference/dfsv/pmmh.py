"""Particle-marginal Metropolis-Hastings (PMMH) for the DFSV model: a reference sampler.

Target: the marginal posterior of the globals, p(theta | y) ~ p(y | theta) p(theta), on the
unconstrained scale of ``bayesvol.models.dfsv`` (``log_prior`` includes the Jacobians). The
likelihood p(y | theta), with the log-variance paths and the factors integrated out, has no
closed form; the Rao-Blackwellised particle filter (``filtering.rbpf``: particles over the
log-variances, a Kalman filter over the factors) gives an unbiased estimate p^(y | theta).
Andrieu, Doucet & Holenstein (2010, "Particle Markov chain Monte Carlo methods", JRSS B,
Section 2.4) show that a Metropolis-Hastings chain on (theta, p^) that

    proposes theta' = theta + L eps (eps ~ N(0, I)), runs a fresh filter for p^(y | theta'),
    accepts with probability min(1, p^(y | theta') p(theta') / (p^(y | theta) p(theta))),
    and on rejection keeps theta *and its old estimate* p^(y | theta)

has the exact posterior p(theta | y) as its theta-marginal, whatever the number of
particles (more particles only make the chain mix better: the noise of log p^ should be
about 1-1.7 in sd at the posterior mode, Doucet, Pitt, Deligiannidis & Kohn 2015).

The random-walk covariance is adapted during warm-up (Haario, Saksman & Tamminen 2001):
the warm-up runs in blocks, and after each block L L^T = 2.38^2 / d (C + 1e-6 I) with C the
sample covariance of the chain so far (a scale factor that is moved towards an acceptance
rate of ``target_accept``, 0.15 by default for a noisy likelihood, Sherlock, Thiery, Roberts
& Rosenthal 2015). The Cholesky factor is computed between blocks (NumPy), so the jitted
block (a ``lax.scan`` over iterations, each one a filter over all dates) holds no LAPACK
call. The kept draws use the last warm-up proposal, fixed.

Cost: one particle filter per iteration (O(T P N K^2)). It is a reference for small
problems: slower than NUTS per effective draw, but it needs no gradient and it samples the
globals without the high-dimensional paths. Same key, same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import InputError, NumericalError
from ...filtering.rbpf import RbpfParams, rbpf_point_state, rbpf_scan
from ...models.dfsv import DfsvModel
from ..mcmc import convergence
from .start import dfsv_start


@dataclass(frozen=True)
class PmmhOptions:
    """Settings of a PMMH run: warm-up iterations (in ``adapt_blocks`` blocks) and kept draws
    per chain, chains (run one after the other), particles per filter, the acceptance rate
    the proposal scale is steered towards, and the first proposal's sd per coordinate."""

    num_warmup: int = 1000
    num_samples: int = 2000
    num_chains: int = 2
    n_particles: int = 200
    adapt_blocks: int = 10
    target_accept: float = 0.15
    init_sd: float = 0.05

    def check(self) -> None:
        for name in ("num_warmup", "num_samples", "num_chains", "n_particles", "adapt_blocks"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"PMMH {name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.target_accept < 1:
            raise InputError(f"PMMH target_accept must be in (0, 1), got {self.target_accept}")


@dataclass
class PmmhResult:
    """theta_draws [chains * samples, d] (unconstrained, chain by chain), the acceptance rate
    of the kept iterations per chain, R-hat and bulk ESS over theta, the sd of the
    log-likelihood estimate at the chains' last point (``loglik_sd``: repeated filters), and
    seconds."""

    model: DfsvModel
    options: PmmhOptions
    theta_draws: np.ndarray
    accept_rate: np.ndarray
    rhat_max: float
    ess_min: float
    loglik_sd: float
    seconds: float


def _block_program(model: DfsvModel, n_particles: int, n_iter: int):
    """jit: (key, theta, log_post, loglik, L, y, mask) -> the chain of n_iter PMMH steps."""

    def loglik(key, theta, y, mask):
        prm = RbpfParams.from_natural(model.constrain(theta))
        K = prm.Lambda.shape[-1]  # the placeholder cloud of a fresh start, traceable
        state = rbpf_point_state(prm.mu_h, prm.mu_id, jnp.zeros(K, theta.dtype),
                                 jnp.zeros((K, K), theta.dtype), n_particles)
        return rbpf_scan(key, prm, y, mask, state, fresh=True).loglik

    def block(key, theta, log_post, lik, chol, y, mask):
        def step(carry, k):
            th, lp, ll = carry
            k_prop, k_filter, k_u = jax.random.split(k, 3)
            prop = th + chol @ jax.random.normal(k_prop, th.shape, th.dtype)
            ll_prop = loglik(k_filter, prop, y, mask)
            lp_prop = ll_prop + model.log_prior(prop)
            ok = jnp.isfinite(lp_prop)
            accept = ok & (jnp.log(jax.random.uniform(k_u, (), th.dtype)) < lp_prop - lp)
            th = jnp.where(accept, prop, th)
            lp = jnp.where(accept, lp_prop, lp)
            ll = jnp.where(accept, ll_prop, ll)  # a rejection keeps the old estimate
            return (th, lp, ll), (th, accept)

        (th, lp, ll), (chain, acc) = jax.lax.scan(step, (theta, log_post, lik),
                                                  jax.random.split(key, n_iter))
        return th, lp, ll, chain, acc

    return jax.jit(block), jax.jit(loglik)


def run_pmmh(model: DfsvModel, y: np.ndarray, mask: np.ndarray, key: jax.Array,
             opts: PmmhOptions = PmmhOptions(), theta0: np.ndarray | None = None
             ) -> PmmhResult:
    """PMMH on p(theta | y) (module docstring) for y, mask [T, N] on the model's scale.

    theta0: the start (unconstrained); default the moment-based start of ``start.py``. Chain
    c > 0 starts at theta0 plus N(0, 0.1^2) jitter. Raises InputError on bad shapes or
    options. A proposal whose estimate is not finite is rejected; a start whose estimate is
    not finite raises NumericalError.
    """
    opts.check()
    t0 = time.perf_counter()
    y = np.asarray(y, float)
    mask = np.asarray(mask, bool) & np.isfinite(y)
    if y.ndim != 2 or y.shape[1] != model.n_assets:
        raise InputError(f"y must be [T, N={model.n_assets}], got {y.shape}")
    d = model.dim
    if theta0 is None:
        theta0 = dfsv_start(model, y, mask, "noncentred").theta
    theta0 = np.asarray(theta0, float).reshape(d)
    args = (jnp.asarray(np.where(mask, y, 0.0)), jnp.asarray(mask))
    per_block = -(-opts.num_warmup // opts.adapt_blocks)
    block_fn, loglik = _block_program(model, opts.n_particles, per_block)  # one program
    rng = np.random.default_rng(0)
    chains, rates, last = [], [], []
    for c in range(opts.num_chains):
        k_chain = jax.random.fold_in(key, c)
        theta = theta0 + (0.1 * rng.standard_normal(d) if c > 0 else 0.0)
        th = jnp.asarray(theta)
        ll = loglik(jax.random.fold_in(k_chain, 10**6), th, *args)
        lp = ll + model.log_prior(th)
        if not np.isfinite(float(lp)):
            raise NumericalError(f"PMMH chain {c}: the log posterior estimate at the start is "
                                 f"not finite ({float(lp)})")
        chol = opts.init_sd * np.eye(d)
        scale, history = 1.0, [np.asarray(th)[None]]
        for b in range(opts.adapt_blocks):
            th, lp, ll, chain, acc = block_fn(jax.random.fold_in(k_chain, b), th, lp, ll,
                                              jnp.asarray(chol), *args)
            history.append(np.asarray(chain))
            rate = float(np.mean(np.asarray(acc)))
            scale *= float(np.exp(3.0 * (rate - opts.target_accept)))  # steer the rate
            seen = np.concatenate(history)
            cov = np.cov(seen[len(seen) // 2:].T).reshape(d, d) if len(seen) > d + 1 else None
            if cov is not None and np.all(np.isfinite(cov)):
                chol = scale * np.linalg.cholesky(2.38**2 / d * (cov + 1e-6 * np.eye(d)))
            else:
                chol = scale * opts.init_sd * np.eye(d)
        kept, accepted = [], []
        for b in range(-(-opts.num_samples // per_block)):  # the same program, L fixed
            th, lp, ll, chain, acc = block_fn(
                jax.random.fold_in(k_chain, opts.adapt_blocks + 1 + b), th, lp, ll,
                jnp.asarray(chol), *args)
            kept.append(np.asarray(chain))
            accepted.append(np.asarray(acc))
        chains.append(np.concatenate(kept)[:opts.num_samples])
        rates.append(float(np.mean(np.concatenate(accepted)[:opts.num_samples])))
        last.append(np.asarray(th))
    zc = np.stack(chains)                                      # [chains, samples, d]
    rhat, ess = convergence(zc)
    keys = jax.random.split(jax.random.fold_in(key, 7), 20)
    repeats = np.array([float(loglik(k, jnp.asarray(last[0]), *args)) for k in keys])
    return PmmhResult(model=model, options=opts, theta_draws=zc.reshape(-1, d),
                      accept_rate=np.asarray(rates), rhat_max=float(np.max(rhat)),
                      ess_min=float(np.min(ess)), loglik_sd=float(np.std(repeats)),
                      seconds=time.perf_counter() - t0)
