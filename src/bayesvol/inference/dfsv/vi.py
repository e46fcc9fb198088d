"""Variational inference for the DFSV model (Gunawan, Kohn & Nott, "Variational approximation
of factor stochastic volatility models", Section 3; the project's docs, "Joint models").

Target: p(theta, x | y) over the non-centred unit paths x of ``bayesvol.models.dfsv``
(``DfsvModel.log_joint_noncentred``; ``paths="centred"``: p(theta, h, h_id | y) directly), with
the factors integrated out exactly by the Kalman filter
(``DfsvModel.log_likelihood``), which plays the role of the paper's q^III (there the factors are
drawn from their exact conditional; here they are marginalised, which is exact and lower
variance). Without a factor AR (Phi_f = 0, the paper's model) the dates are independent given
the paths and the likelihood is computed for all dates at once. Family (family.py): q(theta)
Gaussian (block diagonal by asset plus a rank-K term by default; fullrank or meanfield) times
one bidiagonal-precision Gaussian per path, independent of theta (or, with ``conditional``,
with a mean linear in the path's own globals).

Why non-centred (measured on simulate_dfsv(6, 1, 400, idio="ar1", seed=1), 1200 iterations):
with centred paths and q independent across theta and paths, sigma_h and sigma_id stayed at
their start 0.2 with posterior sds ~0.007; non-centred they move to the data (see the test
module docstring for the recovery numbers and the comparison with NUTS).

ELBO, maximised by Adam on reparameterised gradients with S draws per step (one by default,
as in the paper's algorithms; Supplement S6 uses a single draw):

    ELBO = E_q[ log p(y | h, h_id, theta) + log p(h, h_id | theta) + log p(theta) - log q ]
         ~ (1/S) sum_s [log p(y, h^s, h_id^s, theta^s) - log q_stop(theta^s, x^s)],

with theta^s = m + L eps^s (+ U z^s), x_j^s = mu_j (+ B_j dg_j^s) + C_j^{-T} e_j^s, and
q's parameters held fixed inside log q (the "sticking the landing" estimator, ``elbo_estimate``;
``estimator="reparam"`` uses log p + exact H[q] instead). The fit is one jitted program
(``_program``): the loop of ``loop.py`` (a ``lax.while_loop``: Adam, Polyak averaging, a
moving-average stopping rule that needs a detectable improvement; a step with a non-finite
ELBO or gradient is skipped, and ``max_bad`` in a row fail the fit), then the draws of theta,
their natural parameters and the paths' moments; the same program with a zero step gives the
final ELBO. A non-finite ELBO at the start, or a failed loop, raises ``NumericalError``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import InputError, NumericalError
from ...models.dfsv import DfsvModel
from . import family as fam
from .loop import Adam, DfsvStopRule, run_dfsv_loop
from .start import DfsvStart, dfsv_start

LOWRANK_START_SD = 0.05


@dataclass(frozen=True)
class DfsvVIOptions:
    """Settings of a DFSV VI fit.

    family: "block" (default: q(theta) full rank within each asset's block and the factor
    block, plus a rank-``rank`` term across blocks; family.py) | "fullrank" | "meanfield";
    mc_samples: draws per gradient; learning_rate: Adam step (None: 0.03, or 0.01 for
    "fullrank"); window, patience, max_iter: the stopping rule (loop.py: a moving average that
    must beat its best by one standard error within ``patience`` iterations); output: which
    iterate is returned ("average": Polyak average); num_draws: posterior draws of theta
    returned; elbo_draws: draws of the final ELBO; paths: "noncentred" (unit AR(1) paths,
    default) | "centred" (log-variance paths; pins the vol-of-vol, kept for comparison);
    conditional: path means linear in each path's own globals (family.py); estimator: "stl"
    (default) | "reparam" (``elbo_estimate``); offdiag_rate: step of the off-diagonal and
    low-rank entries of q(theta) relative to the rest (``_adam``); rank: the block family's
    low-rank term (None: K, one per factor scale; 0: none).

    Defaults, measured on simulated factor SV panels (the paper's Table 1 model): at N = 100,
    T = 1000, K = 4 the previous defaults (fullrank, 4 draws, step 0.01, reparameterisation
    gradient with the exact entropy) failed with non-finite steps after ~200 iterations (the
    702 x 702 Cholesky factor of q(theta) blew up); the block family with the STL gradient,
    one draw and step 0.03 converges in 700-850 iterations. On N = 10, T = 500, K = 2 against
    NUTS its posterior means are closer than the previous defaults' (loadings within 0.4-0.7
    NUTS sds instead of 0.9-1.0, covariance paths 3% off instead of 14%), its ELBO is ~60
    nats higher, and its loading sds are 0.36 of NUTS's (median) where the previous defaults
    gave 0.37 and the block family without its low-rank term 0.20. Step 0.03 made the fullrank
    family diverge on a 6 x 400 panel, hence 0.01 for it.
    """

    family: str = "block"
    mc_samples: int = 1
    learning_rate: float | None = None
    window: int = 50
    patience: int = 200
    max_iter: int = 3000
    output: str = "average"
    num_draws: int = 1000
    elbo_draws: int = 32
    paths: str = "noncentred"
    conditional: bool = False
    estimator: str = "stl"
    offdiag_rate: float = 0.2
    rank: int | None = None

    @property
    def step_size(self) -> float:
        """The Adam step used: ``learning_rate``, or the family's default."""
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return 0.01 if self.family == "fullrank" else 0.03


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

    estimator: str = "stl"

    def step(self, params, state, key):
        value, grad = jax.value_and_grad(elbo_estimate, argnums=1)(
            self.model, params, self.y, self.mask, key, self.num_samples, self.paths,
            self.estimator)
        return value, grad, state


def split_paths(model: DfsvModel, paths: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """[M, T] paths -> h [T, K] and h_id [T, N] (None for idio="constant")."""
    K = model.n_factors
    h = paths[:K].T
    return h, (paths[K:].T if model.idio == "ar1" else None)


def standard_normals(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float64) -> jax.Array:
    """N(0, 1) draws generated in float32 and cast: half the random bits of float64 draws
    (the generator is a large share of a step at T = 1000, M = 104 paths); a float32 normal is
    a normal to 7 digits, which changes nothing in a Monte Carlo average."""
    return jax.random.normal(key, shape, jnp.float32).astype(dtype)


def elbo_estimate(model: DfsvModel, params: dict, y: jax.Array, mask: jax.Array,
                  key: jax.Array, num_samples: int, paths: str = "noncentred",
                  estimator: str = "stl") -> jax.Array:
    """Unbiased ELBO estimate from S joint draws (theta^s, x^s) ~ q (module docstring).

    ``estimator="reparam"``: (1/S) sum_s log p(y, theta^s, x^s) + H[q], H exact.
    ``estimator="stl"`` ("sticking the landing", Roeder, Wu & Duvenaud 2017):
    (1/S) sum_s [log p(y, theta^s, x^s) - log q_{stop(lambda)}(theta^s, x^s)], with q's
    parameters held fixed inside log q (the draws still depend on them). Same expectation and
    the same expected gradient (the score term dropped, E_q[grad_lambda log q] = 0, has mean
    zero), but the gradient's variance vanishes as q approaches the posterior, and the value
    no longer carries the ~sqrt(dim / 2) fluctuation of log p at a random draw (about 230 nats
    for 104 paths x 1000 dates), which is what the stopping rule reads.
    """
    M, T = params["path_loc"].shape
    n_theta = fam.theta_noise_dim(params)
    e = standard_normals(key, (num_samples, n_theta + M * T), params["path_loc"].dtype)
    e_theta, e_paths = e[:, :n_theta], e[:, n_theta:].reshape(num_samples, M, T)
    idx = model.path_globals()
    blocks = fam.theta_blocks(model) if "theta_blk" in params else None
    fixed = jax.tree_util.tree_map(jax.lax.stop_gradient, params)
    mixed = "mix_la" in params      # Student-t errors: inverse-gamma q(W | v) (family.py)
    mix_keys = jax.random.split(jax.random.fold_in(key, 1), num_samples)

    def one(et, ep, k_mix):
        theta, x = fam.sample(params, et, ep, idx, blocks)
        if mixed:
            nu = model.degrees_of_freedom(theta)
            u = fam.mix_sample(params, nu, k_mix)
            lp = model.log_joint_mixed(theta, x, u, y, mask)
        elif paths == "noncentred":
            lp = model.log_joint_noncentred(theta, x, y, mask)
        else:
            h, h_id = split_paths(model, x)
            lp = model.log_joint(theta, h, h_id, y, mask)
        if estimator == "stl":
            lq = fam.log_density(fixed, theta, x, idx, blocks)
            return lp - lq - (fam.mix_log_density(fixed, nu, u) if mixed else 0.0)
        # reparam: the entropy of q(W | v) at this draw's v (its mean over draws is exact)
        return lp + (fam.mix_entropy(params, nu) if mixed else 0.0)

    if num_samples == 1:     # no batch axis: a smaller program to compile
        value = one(e_theta[0], e_paths[0], mix_keys[0])
    else:
        value = jnp.mean(jax.vmap(one)(e_theta, e_paths, mix_keys))
    if estimator == "stl":
        return value
    if estimator != "reparam":
        raise ValueError(f"unknown estimator {estimator!r}: choose 'stl' or 'reparam'")
    return value + fam.entropy(params, blocks)


def scale_directions(model: DfsvModel, theta: np.ndarray) -> np.ndarray:
    """[d, K]: the direction in theta of scaling factor k's loadings, Lambda_.k -> c Lambda_.k,
    per unit of log c at theta: Lambda_ik for the free loadings of column k below the diagonal,
    1 for log Lambda_kk, 0 elsewhere. (With h_k shifted by -2 log c the covariance is unchanged;
    the sample identifies c only through the mean of h_k.)"""
    rows, cols = model.loading_positions()
    raw = np.asarray(theta, float)[model.layout["lambda"]]
    out = np.zeros((model.dim, model.n_factors))
    pos = np.arange(model.layout["lambda"].start, model.layout["lambda"].stop)
    out[pos, cols] = np.where(rows == cols, 1.0, raw)
    return out


def lowrank_start(model: DfsvModel, theta: np.ndarray, opts: DfsvVIOptions
                  ) -> np.ndarray | None:
    """Starting U [d, r] of the block family's low-rank term (None: no term, ``opts.rank`` 0 or
    another family): the first min(r, K) factor-scale directions (``scale_directions``) times
    ``LOWRANK_START_SD`` (a log-scale sd); columns beyond K start as small fixed noise (at
    U = 0 exactly the ELBO's gradient in U vanishes)."""
    if opts.family != "block":
        return None
    r = model.n_factors if opts.rank is None else int(opts.rank)
    if r <= 0:
        return None
    U = LOWRANK_START_SD * scale_directions(model, theta)
    if r <= U.shape[1]:
        return U[:, :r]
    extra = 1e-3 * np.random.default_rng(0).standard_normal((model.dim, r - U.shape[1]))
    return np.concatenate([U, extra], axis=1)


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


def _path_moments(model: DfsvModel, paths: str, params: dict, theta_draws: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
    """Means and sds [M, T] of the log-variance paths under q (``log_variance_moments``)."""
    idx = model.path_globals()
    var_x = jax.vmap(fam.bidiag_marginal_var)(params["path_logd"], params["path_c"])

    def body(acc, theta):
        mx = fam.path_mean(params, theta, idx)
        if paths == "noncentred":
            m, v = model.path_moments(theta, mx, var_x)
        else:
            m, v = mx, var_x
        return (acc[0] + m, acc[1] + m * m + v), None

    z = jnp.zeros_like(params["path_loc"])
    (s1, s2), _ = jax.lax.scan(body, (z, z), theta_draws)
    D = theta_draws.shape[0]
    mean = s1 / D
    return mean, jnp.sqrt(jnp.maximum(s2 / D - mean * mean, 0.0))


@lru_cache(maxsize=16)
def _moments_program(model: DfsvModel, paths: str):
    return jax.jit(lambda params, theta_draws: _path_moments(model, paths, params, theta_draws))


def log_variance_moments(model: DfsvModel, params: dict, theta_draws, paths: str = "noncentred"
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and sds [M, T] of the log-variance paths under q: for each draw theta^j,
    q(log-variance_t | theta^j) is Gaussian (level + scale x_t, x_t ~ q(x | theta^j)); the
    mixture's moments are averaged over the draws theta_draws [D, d]."""
    p = {k: jnp.asarray(v) for k, v in params.items()}
    mean, sd = _moments_program(model, paths)(p, jnp.asarray(theta_draws))
    return np.asarray(mean), np.asarray(sd)


def _adam(lr, offdiag_rate: float) -> Adam:
    """Adam with step ``lr``, its steps on the strict lower triangle of q(theta)'s Cholesky
    factor (``theta_off``, ``theta_blk``) and on the block family's low-rank term (``theta_U``)
    scaled by ``offdiag_rate``. Adam moves every
    coordinate by about lr per step whatever its gradient's scale; on the many off-diagonal
    entries, whose gradients are mostly noise early on, steps of the full size made the
    covariance of q(theta) blow up at N = 100, K = 4 (block family, lr 0.03: ELBO down from
    -52,000 to -80,000 after 300 iterations; with a fifth of the step it converged)."""
    return Adam(lr, {"theta_off": offdiag_rate, "theta_blk": offdiag_rate,
                     "theta_U": offdiag_rate})


def _run_fn(model: DfsvModel, opts: DfsvVIOptions):
    """The whole fit as one function (jitted by ``_program``): the optimisation
    (``run_dfsv_loop``), then draws of theta, their natural parameters and the log-variance paths'
    moments. The step size, the iteration cap, the patience and the random stream are arguments, so
    the same compiled program also evaluates the ELBO at fixed parameters: learning rate 0 and
    ``elbo_draws`` iterations leave the parameters (and their average) unchanged and fill the trace
    with single-draw estimates at them. (Compiling the ELBO, the moments and the constrained draws
    as separate programs, and splitting keys outside, added ~2-3 s to a cold fit.)"""

    def run(params0: dict, y: jax.Array, mask: jax.Array, key: jax.Array, stream: jax.Array,
            lr: jax.Array, max_iter: jax.Array, patience: jax.Array):
        k_fit, k_draw = jax.random.split(jax.random.fold_in(key, stream))
        est = _Estimator(model, y, mask, opts.mc_samples, opts.paths, opts.estimator)
        stop = DfsvStopRule(opts.window, opts.patience, max(opts.max_iter, opts.elbo_draws),
                            opts.output)
        out = run_dfsv_loop(est, _adam(lr, opts.offdiag_rate), params0, k_fit,
                            stop, max_iter, patience)
        params = out.params
        eps = jax.random.normal(k_draw, (opts.num_draws, fam.theta_noise_dim(params)))
        blocks = fam.theta_blocks(model) if opts.family == "block" else None
        theta_draws = fam.theta_draw(params, eps, blocks)
        moments = _path_moments(model, opts.paths, params, theta_draws)
        natural = jax.vmap(model.constrain)(theta_draws)
        return (params, out.elbo_trace, out.iterations, out.converged, out.failed, theta_draws,
                moments, natural)

    return run


@lru_cache(maxsize=16)
def _program(model: DfsvModel, opts: DfsvVIOptions):
    return jax.jit(_run_fn(model, opts))


def _stored_program(model: DfsvModel, opts: DfsvVIOptions):
    """``_program``, kept between processes (bayesvol._config.call_stored): a new session
    loads the traced fit instead of tracing it again (the model and options, frozen
    dataclasses, determine it through their repr)."""
    from ..._config import call_stored

    key = f"dfsv|{model!r}|{opts!r}"

    def call(*args):
        return call_stored("dfsv_vi", key, lambda: _run_fn(model, opts), *args)

    return call


@dataclass
class DfsvVIResult:
    """Output of ``run_dfsv_vi``.

    params: the variational parameters (numpy; family.py names); theta_draws [D, d]
    unconstrained draws of q(theta); draws: natural parameters per draw (``constrain``),
    e.g. draws["Lambda"] [D, N, K]; h_mean, h_sd [T, K] and h_id_mean, h_id_sd [T, N]
    (None for idio="constant"): q's marginal means and sds of the log-variance paths (in
    log-variance units, ``log_variance_moments``);
    elbo: final ELBO estimate (elbo_draws draws); elbo_start: the first iteration's
    single-draw estimate, at the starting values;
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


def initial_params(model: DfsvModel, y: np.ndarray, mask: np.ndarray,
                   opts: DfsvVIOptions = DfsvVIOptions()) -> tuple[dict, DfsvStart]:
    """The starting variational parameters of ``run_dfsv_vi`` for y, mask [T, N] (the moment
    start of start.py in the family of ``opts``) and that start."""
    start = dfsv_start(model, y, mask, opts.paths)
    blocks = fam.theta_blocks(model) if opts.family == "block" else None
    params0 = fam.init_params(start.theta, start.theta_var, start.path_loc, start.path_logd,
                              start.path_c, opts.family, opts.conditional, blocks,
                              lowrank_start(model, start.theta, opts), start.mix_la,
                              start.mix_lb)
    if opts.conditional and opts.paths == "noncentred":
        params0["path_B"] = conditional_start(model, start)
    return params0, start


def run_dfsv_vi(model: DfsvModel, y: np.ndarray, mask: np.ndarray, key: jax.Array,
                opts: DfsvVIOptions = DfsvVIOptions(), params0: dict | None = None
                ) -> DfsvVIResult:
    """Fit q to p(theta, h, h_id | y) for y, mask [T, N] (y may hold NaN where mask is False).

    params0: starting variational parameters (family.py names, for ``opts.family``; e.g. a
    previous fit's, extended, for a sequential update); None: the moment start (start.py).
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
    if (model.full_var or model.n_mix) and opts.paths != "noncentred":
        raise InputError("the factor log-variance VAR (factor_var) and Student-t errors need "
                         "paths='noncentred'")
    start = None
    if params0 is None:
        params0, start = initial_params(model, y, mask, opts)
    params0 = {k: np.asarray(v, float) for k, v in params0.items()}
    y0 = np.where(mask, y, 0.0)
    program = _stored_program(model, opts)
    out = program(params0, y0, mask, key, 0, opts.step_size, opts.max_iter, opts.patience)
    params, trace, its, conv, failed, theta_draws, moments, natural = jax.device_get(out)
    its = int(its)
    trace = np.asarray(trace)[:its]
    elbo0 = float(trace[0]) if its else float("nan")
    if bool(failed) and its <= opts.window:
        raise NumericalError("DFSV VI: the ELBO is not finite at the starting values")
    if bool(failed):
        raise NumericalError(f"DFSV VI failed after {its} iterations: repeated non-finite ELBO "
                             "or gradient (try a smaller learning_rate)")
    # ELBO at the returned parameters: the same program with a zero step, elbo_draws draws
    ev = program(params, y0, mask, key, 1, 0.0, opts.elbo_draws, opts.elbo_draws + 1)
    elbo = float(np.mean(np.asarray(ev[1])[:opts.elbo_draws]))
    if not np.isfinite(elbo):
        raise NumericalError(f"DFSV VI failed after {its} iterations: the final ELBO is not "
                             "finite (try a smaller learning_rate)")
    params = {k: np.asarray(v) for k, v in params.items()}
    K = model.n_factors
    loc, sd = (np.asarray(a) for a in moments)
    ar1 = model.idio == "ar1"
    return DfsvVIResult(
        model=model, options=opts, params=params, theta_draws=np.asarray(theta_draws),
        draws={k: np.asarray(v) for k, v in natural.items()},
        h_mean=loc[:K].T.copy(), h_sd=sd[:K].T.copy(),
        h_id_mean=loc[K:].T.copy() if ar1 else None, h_id_sd=sd[K:].T.copy() if ar1 else None,
        elbo=elbo, elbo_start=elbo0, elbo_trace=trace,
        iterations=its, converged=bool(conv), seconds=time.perf_counter() - t0, start=start)


__all__ = ["DfsvVIOptions", "DfsvVIResult", "constrain_draws", "elbo_estimate", "initial_params",
           "lowrank_start", "scale_directions",
           "conditional_start", "log_variance_moments", "run_dfsv_vi", "split_paths"]
