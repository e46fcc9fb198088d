"""Variational inference for the DFSV model (Gunawan, Kohn & Nott, "Variational approximation
of factor stochastic volatility models", Section 3; the project's docs, "Joint models").

Target: p(theta, x | y) over the non-centred unit paths x of ``bayesvol.models.dfsv``
(``DfsvModel.log_joint_noncentred``; ``paths="centred"``: p(theta, h, h_id | y) directly), with
the factors integrated out exactly by the Kalman filter
(``DfsvModel.log_likelihood``), which plays the role of the paper's q^III (there the factors are
drawn from their exact conditional; here they are marginalised, which is exact and lower
variance). Family (family.py): q(theta) = N(m, L L^T) times one bidiagonal-precision Gaussian per
path, independent of theta (or, with ``conditional``, with a mean linear in the path's own
globals).

Why non-centred (measured on simulate_dfsv(6, 1, 400, idio="ar1", seed=1), 1200 iterations):
with centred paths and q independent across theta and paths, sigma_h and sigma_id stayed at
their start 0.2 with posterior sds ~0.007; non-centred they move to the data (see the test
module docstring for the recovery numbers and the comparison with NUTS).

ELBO, maximised by Adam on reparameterised gradients with S draws per step (vmapped):

    ELBO = E_q[ log p(y | h, h_id, theta) + log p(h, h_id | theta) + log p(theta) ] + H[q]
         ~ (1/S) sum_s log p(y, h^s, h_id^s, theta^s) + H[q],

with theta^s = m + L eps^s, x_j^s = mu_j (+ B_j dg_j^s) + C_j^{-T} e_j^s and H[q] exact. The
whole loop is one jitted ``lax.while_loop`` (``vi/loop.py``: moving-average stopping rule,
Polyak averaging; a step with a non-finite ELBO or gradient is skipped, and ``max_bad`` in a
row fail the fit).
A non-finite ELBO at the start, or a failed loop, raises ``NumericalError``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import NumericalError
from ...models.dfsv import DfsvModel
from ..vi.loop import StopRule, run_vi
from ..vi.optim import get_optimizer
from . import family as fam
from .start import DfsvStart, dfsv_start


@dataclass(frozen=True)
class DfsvVIOptions:
    """Settings of a DFSV VI fit.

    family: "fullrank" | "meanfield" (q(theta) covariance); mc_samples: draws per gradient;
    learning_rate: Adam step; window, patience, max_iter: the moving-average stopping rule
    (vi/loop.py); output: which iterate is returned ("average": Polyak average);
    num_draws: posterior draws of theta returned; elbo_draws: draws of the final ELBO;
    paths: "noncentred" (unit AR(1) paths, default) | "centred" (log-variance paths; pins the
    vol-of-vol, kept for comparison); conditional: path means linear in each path's own
    globals (family.py).
    """

    family: str = "fullrank"
    mc_samples: int = 4
    # 0.02 let the ELBO of a 6 x 400 fit jump down mid-run (one seed); 0.01 was stable
    learning_rate: float = 0.01
    window: int = 50
    patience: int = 200
    max_iter: int = 3000
    output: str = "average"
    num_draws: int = 1000
    elbo_draws: int = 32
    paths: str = "noncentred"
    conditional: bool = False


@dataclass(frozen=True)
class _Estimator:
    """Reparameterised S-draw ELBO gradient (the estimator interface of vi/loop.py)."""

    model: DfsvModel
    y: jax.Array
    mask: jax.Array
    num_samples: int
    paths: str = "noncentred"

    def init(self, params):
        return jnp.zeros(())

    def step(self, params, state, key):
        value, grad = jax.value_and_grad(elbo_estimate, argnums=1)(
            self.model, params, self.y, self.mask, key, self.num_samples, self.paths)
        return value, grad, state


def split_paths(model: DfsvModel, paths: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """[M, T] paths -> h [T, K] and h_id [T, N] (None for idio="constant")."""
    K = model.n_factors
    h = paths[:K].T
    return h, (paths[K:].T if model.idio == "ar1" else None)


def elbo_estimate(model: DfsvModel, params: dict, y: jax.Array, mask: jax.Array,
                  key: jax.Array, num_samples: int, paths: str = "noncentred") -> jax.Array:
    """(1/S) sum_s log p(y, theta^s, paths^s) + H[q] (module docstring)."""
    d = params["theta_loc"].shape[0]
    M, T = params["path_loc"].shape
    k1, k2 = jax.random.split(key)
    e_theta = jax.random.normal(k1, (num_samples, d))
    e_paths = jax.random.normal(k2, (num_samples, M, T))
    idx = model.path_globals()

    def one(et, ep):
        theta, x = fam.sample(params, et, ep, idx)
        if paths == "noncentred":
            return model.log_joint_noncentred(theta, x, y, mask)
        h, h_id = split_paths(model, x)
        return model.log_joint(theta, h, h_id, y, mask)

    return jnp.mean(jax.vmap(one)(e_theta, e_paths)) + fam.entropy(params)


def conditional_start(model: DfsvModel, start: DfsvStart) -> np.ndarray:
    """Starting B [M, T, 3] of the conditional family (non-centred): the derivatives of
    x = (log-variance - level) / sigma at the start with the log-variance path held fixed,
    dx/dlog sigma = -x, dx/dmu_id = -1/sigma, and, for a factor path, dx/dlog Lambda_kk =
    -2/sigma (Lambda_kk^2 exp(h) fixed)."""
    x = start.path_loc
    _, scale, _ = model.path_level_scale(jnp.asarray(start.theta))
    inv = 1.0 / np.asarray(scale)[:, None]
    K = model.n_factors
    first = np.where(np.arange(x.shape[0])[:, None] < K, -2.0 * inv, -inv)
    return np.stack([np.broadcast_to(first, x.shape), np.zeros_like(x), -x], axis=-1)


@lru_cache(maxsize=16)
def _moments_program(model: DfsvModel, paths: str):
    idx = model.path_globals()

    def run(params, theta_draws):
        var_x = jax.vmap(fam.bidiag_marginal_var)(params["path_logd"], params["path_c"])

        def body(acc, theta):
            mx = fam.path_mean(params, theta, idx)
            if paths == "noncentred":
                level, scale, _ = model.path_level_scale(theta)
                m = level[:, None] + scale[:, None] * mx
                v = scale[:, None] ** 2 * var_x
            else:
                m, v = mx, var_x
            return (acc[0] + m, acc[1] + m * m + v), None

        z = jnp.zeros_like(params["path_loc"])
        (s1, s2), _ = jax.lax.scan(body, (z, z), theta_draws)
        D = theta_draws.shape[0]
        mean = s1 / D
        return mean, jnp.sqrt(jnp.maximum(s2 / D - mean * mean, 0.0))

    return jax.jit(run)


def log_variance_moments(model: DfsvModel, params: dict, theta_draws, paths: str = "noncentred"
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and sds [M, T] of the log-variance paths under q: for each draw theta^j,
    q(log-variance_t | theta^j) is Gaussian (level + scale x_t, x_t ~ q(x | theta^j)); the
    mixture's moments are averaged over the draws theta_draws [D, d]."""
    p = {k: jnp.asarray(v) for k, v in params.items()}
    mean, sd = _moments_program(model, paths)(p, jnp.asarray(theta_draws))
    return np.asarray(mean), np.asarray(sd)


@lru_cache(maxsize=16)
def _program(model: DfsvModel, opts: DfsvVIOptions):
    """The jitted optimisation: run_vi, then draws of theta and the paths' marginal sds."""

    def run(params0: dict, y: jax.Array, mask: jax.Array, key: jax.Array):
        k_fit, k_draw = jax.random.split(key)
        est = _Estimator(model, y, mask, opts.mc_samples, opts.paths)
        stop = StopRule(opts.window, opts.patience, opts.max_iter, opts.output)
        out = run_vi(est, get_optimizer("adam", opts.learning_rate), params0, k_fit, stop)
        params = out.params
        eps = jax.random.normal(k_draw, (opts.num_draws, params["theta_loc"].shape[0]))
        theta_draws = params["theta_loc"] + eps @ fam.theta_chol(params).T
        return params, out.elbo_trace, out.iterations, out.converged, out.failed, theta_draws

    return jax.jit(run)


@lru_cache(maxsize=16)
def _elbo_program(model: DfsvModel, num_samples: int, paths: str = "noncentred"):
    """Jitted ELBO estimate with ``num_samples`` draws (one compilation for start and end)."""
    return jax.jit(lambda params, y, mask, key: elbo_estimate(model, params, y, mask, key,
                                                              num_samples, paths))


@dataclass
class DfsvVIResult:
    """Output of ``run_dfsv_vi``.

    params: the variational parameters (numpy; family.py names); theta_draws [D, d]
    unconstrained draws of q(theta); draws: natural parameters per draw (``constrain``),
    e.g. draws["Lambda"] [D, N, K]; h_mean, h_sd [T, K] and h_id_mean, h_id_sd [T, N]
    (None for idio="constant"): q's marginal means and sds of the log-variance paths (in
    log-variance units, ``log_variance_moments``);
    elbo: final ELBO estimate (elbo_draws draws); elbo_start: the same at the start;
    elbo_trace [iterations]; iterations; converged (stopped by the patience rule, not by
    max_iter); seconds; start: the starting values.
    """

    model: DfsvModel
    options: DfsvVIOptions
    params: dict
    theta_draws: np.ndarray
    draws: dict
    h_mean: np.ndarray
    h_sd: np.ndarray
    h_id_mean: np.ndarray | None
    h_id_sd: np.ndarray | None
    elbo: float
    elbo_start: float
    elbo_trace: np.ndarray
    iterations: int
    converged: bool
    seconds: float
    start: DfsvStart


@lru_cache(maxsize=16)
def _constrain_program(model: DfsvModel):
    return jax.jit(jax.vmap(model.constrain))


def constrain_draws(model: DfsvModel, theta_draws) -> dict:
    """Natural parameters for each row of theta_draws [D, d] (numpy arrays, leading D)."""
    out = _constrain_program(model)(jnp.asarray(theta_draws))
    return {k: np.asarray(v) for k, v in out.items()}


def run_dfsv_vi(model: DfsvModel, y: np.ndarray, mask: np.ndarray, key: jax.Array,
                opts: DfsvVIOptions = DfsvVIOptions()) -> DfsvVIResult:
    """Fit q to p(theta, h, h_id | y) for y, mask [T, N] (y may hold NaN where mask is False).

    Raises NumericalError when the ELBO is not finite at the start or the loop stopped on
    repeated non-finite steps.
    """
    t0 = time.perf_counter()
    y = np.asarray(y, float)
    mask = np.asarray(mask, bool) & np.isfinite(y)
    if y.ndim != 2 or y.shape[1] != model.n_assets:
        raise ValueError(f"y must be [T, N={model.n_assets}], got {y.shape}")
    if y.shape[0] < 3:
        raise ValueError("need at least 3 dates")
    start = dfsv_start(model, y, mask, opts.paths)
    params0 = fam.init_params(start.theta, start.theta_var, start.path_loc, start.path_logd,
                              start.path_c, opts.family, opts.conditional)
    if opts.conditional and opts.paths == "noncentred":
        params0["path_B"] = jnp.asarray(conditional_start(model, start))
    y0, mask_j = jnp.asarray(np.where(mask, y, 0.0)), jnp.asarray(mask)
    k_run, k_elbo = jax.random.split(key)
    elbo_fn = _elbo_program(model, opts.elbo_draws, opts.paths)
    elbo0 = float(elbo_fn(params0, y0, mask_j, k_elbo))
    if not np.isfinite(elbo0):
        raise NumericalError("DFSV VI: the ELBO is not finite at the starting values")
    out = _program(model, opts)(params0, y0, mask_j, k_run)
    params, trace, its, conv, failed, theta_draws = jax.device_get(out)
    its = int(its)
    elbo = float(elbo_fn(params, y0, mask_j, k_elbo))
    if bool(failed) or not np.isfinite(elbo):
        raise NumericalError(f"DFSV VI failed after {its} iterations: repeated non-finite ELBO "
                             "or gradient (try a smaller learning_rate)")
    params = {k: np.asarray(v) for k, v in params.items()}
    K = model.n_factors
    loc, sd = log_variance_moments(model, params, theta_draws, opts.paths)
    ar1 = model.idio == "ar1"
    return DfsvVIResult(
        model=model, options=opts, params=params, theta_draws=np.asarray(theta_draws),
        draws=constrain_draws(model, theta_draws),
        h_mean=loc[:K].T.copy(), h_sd=sd[:K].T.copy(),
        h_id_mean=loc[K:].T.copy() if ar1 else None, h_id_sd=sd[K:].T.copy() if ar1 else None,
        elbo=elbo, elbo_start=elbo0, elbo_trace=np.asarray(trace)[:its],
        iterations=its, converged=bool(conv), seconds=time.perf_counter() - t0, start=start)


__all__ = ["DfsvVIOptions", "DfsvVIResult", "constrain_draws", "elbo_estimate",
           "conditional_start", "log_variance_moments", "run_dfsv_vi", "split_paths"]
