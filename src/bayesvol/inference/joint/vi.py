"""Joint VI of a pooled model: start, optimise the local-global family, draw (docs: "Joint models").

``run_joint_vi(model, data, key, opts)``:
1. start values (start.py): per-asset modes, then a Gaussian random-effects EM for the globals;
2. the family (family.py) from those; then full-batch VI (the shared ``vi/loop.py`` loop:
   Adam on S-draw reparameterised ELBO gradients, moving-average stopping rule, Polyak
   average) or, with ``batch_size`` < N, minibatch VI (minibatch.py);
3. ``num_draws`` draws of (g, z) from q and the full-data ELBO with ``elbo_draws`` fixed draws.

``family="fullrank"`` instead fits one dense full-rank Gaussian over (g, z_1..z_N) with the
independent-model runner (dense.py), a check for small panels.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from .family import LocalGlobalFamily
from .minibatch import run_minibatch
from .objective import JointData, full_elbo, n_assets
from .start import joint_start

MAX_RETRIES = 2
DIVERGED_NATS = 1.0  # a final ELBO this far below the start's (at least) is a divergence
GLOBALS = ("auto", "laplace", "vi")
# Full batch: the full-data ELBO of the averaged parameters every FULL_EVAL_EVERY steps (common
# random numbers), stopped when it rose by less than tol |ELBO| over eval_patience evaluations,
# never before FULL_MIN_STEPS. Measured (seed 1, 100 x 2000): the old moving-average rule
# (window 20, patience 100) stopped at 237 steps with ELBO -239285.9; its noisy per-step ELBO
# peaked near step 130 and then fell while patience ran out. This rule stopped at 120 steps
# with -239279.2 (tol 3e-5: 170 steps, -239273.1). On 10 x 500: 180 steps, -7245.4 (old: 282,
# -7242.3; a second seed alone moves it by 7).
FULL_EVAL_EVERY = 10
FULL_MIN_STEPS = 50
MIN_MINIBATCH_STEPS = 200


@dataclass(frozen=True)
class JointVIOptions:
    """Settings of a joint VI fit.

    family: structured | block | meanfield (family.py) | fullrank (dense check, small N).
    batch_size: assets per step (None or >= N: full batch). Both stop by the full-data ELBO of
    the averaged parameters (minibatch.py), evaluated every eval_every steps with eval_draws
    fixed draws, rising less than tol (relative) over eval_patience evaluations (or at
    max_iter); full batch evaluates every FULL_EVAL_EVERY steps (eval_every 0) and runs at
    least FULL_MIN_STEPS, minibatch every five epochs and at least min_epochs epochs
    (measured on 16 x 300, B = 4: 20 epochs left per-asset means 0.2-0.4 full-batch sds
    off; 100 epochs gave medians 0.2-0.35 sds depending on the random stream, 200 epochs
    0.05-0.16, within the spread of two full-batch seeds, 0.07-0.17). num_draws: posterior draws
    returned; elbo_draws: draws for the final ELBO estimate; start_passes: local mode
    passes after the start's EM (start.py).
    """

    family: str = "structured"
    mc_samples: int = 4
    learning_rate: float = 0.03
    window: int = 20  # steps (full batch) or epochs (minibatch) of parameter averaging
    patience: int = 100  # family="fullrank" only: its moving-average rule
    max_iter: int = 2000
    batch_size: int | None = None
    eval_every: int = 0  # 0: FULL_EVAL_EVERY (full batch), five epochs (minibatch)
    eval_draws: int = 4
    eval_patience: int = 3
    min_epochs: int = 200  # minibatch: each asset gets at least this many updates
    tol: float = 1e-4
    num_draws: int = 1000
    elbo_draws: int = 16
    start_passes: int = 0
    variance_reduction: bool = False  # objective.py: the start's quadratic likelihood
    #   surrogates as a control variate, the population terms in closed form (Gaussian
    #   population) and global_draws draws of g for them; experimental, see docs/inference.md
    global_draws: int = 32  # with variance_reduction
    global_start: str = "laplace"  # start.py, step 6: q(g) at the globals' Laplace marginal,
    #   the blocks given its mode and B_i at their slope in g; "em": the EM's globals with a
    #   narrow q(g) and B_i = 0 (the start before; docs/inference.md, "Start")
    chunk_assets: int = 0  # assets per chunk of evaluations and full-batch gradients (0: auto)
    globals: str = "auto"  # draws of g: laplace | vi | auto (laplace if the population is
    #                        Gaussian, model.gaussian_population); see _draw

    def __post_init__(self) -> None:
        if self.global_start not in ("em", "laplace"):
            raise ValueError(f"global_start must be 'em' or 'laplace', got "
                             f"'{self.global_start}'")
        if self.globals not in GLOBALS:
            raise ValueError(f"globals must be one of {', '.join(GLOBALS)}, got "
                             f"'{self.globals}'")

    def minibatch(self, n: int) -> bool:
        return self.batch_size is not None and 0 < self.batch_size < n


def _chunk(opts: JointVIOptions, n: int, length: int, draws: int) -> int:
    if opts.chunk_assets > 0:
        return min(opts.chunk_assets, n)
    return int(max(1, min(n, 2**22 // max(1, length * draws))))


def _run_fn(model, opts: JointVIOptions, n: int, chunk: int, grad_chunk: int):
    """The whole fit as one function of (data, key, learning rate): start, VI and ELBOs. The
    learning rate is an argument, not part of the compiled program, so a retry at a smaller
    rate reuses the program (a recompile cost a 10 x 500 retry 68 s); the posterior draws are
    a program of their own (``_draw_program``), so asking for another number of draws does
    not compile the fit again (55 s for a 10 x 500 panel on 2 cores)."""
    family = LocalGlobalFamily(opts.family)

    def run(data: JointData, key: jax.Array, learning_rate: jax.Array):
        start = joint_start(model, data, opts.start_passes, laplace_globals(model, opts),
                            opts.variance_reduction, opts.global_start)
        params0 = family.init(start.g, start.cov_g, start.z, start.cov_z, start.slope)
        k_fit, _, k_elbo = jax.random.split(key, 3)  # the second: _draw_program
        surrogate = start.surrogate if opts.variance_reduction else None
        g_draws = opts.global_draws if opts.variance_reduction else 0
        if opts.minibatch(n):
            batch, every = opts.batch_size, opts.eval_every or 5 * max(n // opts.batch_size, 1)
            min_iter = max(opts.min_epochs * max(n // opts.batch_size, 1), MIN_MINIBATCH_STEPS)
        else:
            batch, every, min_iter = n, opts.eval_every or FULL_EVAL_EVERY, FULL_MIN_STEPS
        out = run_minibatch(
            family, model, data, params0, k_fit, batch_size=batch,
            mc_samples=opts.mc_samples, learning_rate=learning_rate,
            eval_every=every, eval_draws=opts.eval_draws, patience=opts.eval_patience,
            tol=opts.tol, max_iter=opts.max_iter, window=opts.window, chunk=chunk,
            min_iter=min_iter, grad_chunk=grad_chunk, global_draws=g_draws, surrogate=surrogate)
        trace = out.eval_trace if opts.minibatch(n) else out.step_trace
        params, its, conv, failed = out.params, out.iterations, out.converged, out.failed
        d_g, d_l = params["g_loc"].shape[-1], params["l_loc"].shape[-1]
        e_g = jax.random.normal(k_elbo, (max(opts.elbo_draws, g_draws), d_g))
        e_l = jax.random.normal(jax.random.fold_in(k_elbo, 1), (opts.elbo_draws, n, d_l))
        elbo = full_elbo(family, model, params, e_g, e_l, data, chunk, surrogate)
        elbo0 = full_elbo(family, model, params0, e_g, e_l, data, chunk, surrogate)  # same eps
        return params, trace, its, conv, failed, elbo, start, elbo0

    return run


def laplace_globals(model, opts: JointVIOptions) -> bool:
    """Whether the fit draws its globals from the Laplace marginal (``_draw``)."""
    return opts.globals == "laplace" or (opts.globals == "auto"
                                         and getattr(model, "gaussian_population", False))


def _draw(family, model, opts: JointVIOptions, params: dict, start, eps_g, eps_l):
    """The fit's draws (g, z) and whether g came from the Laplace marginal.

    globals="vi": (g, z) from q. "laplace": z from q as well, and g from the start's Laplace
    approximation of the globals' marginal posterior (start.py, ``laplace_marginal``) with
    the same normal draws as q's g, g = m + C eps_g for q's m_g + L_g eps_g (C: the
    Cholesky factor of its covariance), so the globals' marginal is the Laplace one, each
    block's marginal is q's, and their dependence is q's. (Shifting each z_i by
    B_i (g - m_g) to follow the wider g moved the blocks' marginals away from NUTS's: B_i,
    fitted where q(g) is narrow, does not extrapolate; on 4 x 300 the volatility paths went
    from a median 4% to 8.5% off NUTS's.) q's own draws if the mode was not found. On 10 x
    500 against NUTS this raised the globals' overlap from 27-95% to 69-97% (docs: "Joint VI
    for pooled models"). "auto": "laplace" when the population law is Gaussian
    (``model.gaussian_population``), where the marginal is exact given the summaries.
    """
    g, z = family.sample(params, eps_g, eps_l)
    if not laplace_globals(model, opts):
        return g, z, jnp.asarray(False)
    lap = start.marginal
    ok = lap.ok & jnp.all(jnp.isfinite(lap.cov))
    chol = jnp.linalg.cholesky(jnp.where(ok, lap.cov, jnp.eye(lap.cov.shape[0])))
    return jnp.where(ok, lap.z + eps_g @ chol.T, g), z, ok


@lru_cache(maxsize=32)
def _program(model, opts: JointVIOptions, n: int, chunk: int, grad_chunk: int):
    return jax.jit(_run_fn(model, opts, n, chunk, grad_chunk))


@lru_cache(maxsize=32)
def _draw_program(model, opts: JointVIOptions):
    """``num_draws`` draws (g, z) of the fitted family (``_draw``) from the key's second split
    (the fit's program uses the first and the third)."""
    family = LocalGlobalFamily(opts.family)

    def draws(params: dict, start, key: jax.Array):
        k_draw = jax.random.split(key, 3)[1]
        n, d_l = params["l_loc"].shape[-2:]
        eps_g = jax.random.normal(k_draw, (opts.num_draws, params["g_loc"].shape[-1]))
        eps_l = jax.random.normal(jax.random.fold_in(k_draw, 1), (opts.num_draws, n, d_l))
        return _draw(family, model, opts, params, start, eps_g, eps_l)

    return jax.jit(draws)


def _call(model, opts: JointVIOptions, n: int, chunks: tuple[int, int], data: JointData,
          key: jax.Array, learning_rate: float):
    """Run the fit's program (jitted, cached in-process).

    Not a stored program (bayesvol._config.call_stored): with it, writing the compiled
    executable of this large program to JAX's persistent cache crashed the process
    (segmentation fault in ``executable.serialize``) twice in the full test suite, though
    never in a single test. Until that is understood a new session traces it again.
    """
    fit_opts = dataclasses.replace(opts, learning_rate=0.0, num_draws=0)  # runtime / drawn apart
    program = _program(model, fit_opts, n, *chunks)
    return program(data, key, jnp.asarray(learning_rate, dtype=jnp.float64))


@dataclass
class JointVIResult:
    g: np.ndarray  # [1, draws, d_g]
    z: np.ndarray  # [N, 1, draws, d_l]
    params: dict
    elbo: float
    elbo_trace: np.ndarray  # per iteration (full batch) or per evaluation (minibatch)
    iterations: int
    converged: bool
    failed: bool
    start_ok: np.ndarray  # [N]
    unpooled: np.ndarray  # [N, d_l] nearly unpooled per-asset modes (start.py, first pass)
    seconds: float
    minibatch: bool
    retries: int = 0  # reruns with a smaller learning rate after a divergence
    learning_rate: float = 0.0  # the learning rate of the returned run
    laplace_globals: bool = False  # g drawn from the Laplace marginal (``_draw``)


def minibatch_globals_warning(model, opts: JointVIOptions, n: int) -> str | None:
    """The warning for a minibatch fit that draws its globals from VI's own q(g), else None.

    Measured (benchmarks/hier_garch.py, accuracy section, 200 x 500, globals="vi" in both
    fits): minibatch q(g)'s population means were up to 1.0 (B = 50) and 3.2 (B = 20)
    full-batch sds from full batch's, its sds 0.33-0.95 of full batch's; the Laplace globals
    (``laplace_globals``) are computed from every asset at the start and are unaffected."""
    if not opts.minibatch(n) or laplace_globals(model, opts):
        return None
    return (f"minibatch VI (batch_size={opts.batch_size} of {n} assets) draws the globals from "
            "its own q(g), which lands away from the full-batch posterior (measured up to 1-3 "
            "posterior sds on a 200 x 500 hier-garch panel); globals='laplace' (a Gaussian "
            "population) or a full-batch fit give the globals' posterior")


def run_joint_vi(model, data: JointData, key: jax.Array, opts: JointVIOptions) -> JointVIResult:
    """Fit the local-global family to a joint model (module docstring)."""
    t0 = time.perf_counter()
    n = n_assets(data)
    if opts.family == "fullrank":
        from .dense import run_dense_vi

        return run_dense_vi(model, data, key, opts)
    message = minibatch_globals_warning(model, opts, n)
    if message:
        warnings.warn(message, UserWarning, stacklevel=2)
    length = max(int(np.prod(x.shape[1:])) for x in jax.tree_util.tree_leaves(data.local))
    # assets per chunk: of the full-data evaluations, and of a full-batch step's gradient
    chunks = (_chunk(opts, n, length, max(opts.elbo_draws, opts.eval_draws)),
              _chunk(opts, n, length, opts.mc_samples))
    # From the start's neighbourhood VI only climbs: a final ELBO below the start's (same
    # draws, beyond 1e-3 relative and DIVERGED_NATS) means the run diverged, even if it stayed
    # finite. It is retried with the learning rate / 3, twice at most (measured: a 6-asset
    # panel with 63-300 observations each went from -1784 to -3313 at 0.03 and to -1772 at
    # 0.01). The absolute margin: a start at the exact posterior (the Gaussian toy of the
    # tests, global_start="laplace") ended 0.1 nats below its own 16-draw estimate, noise
    # that the relative margin alone (0.1 nats at an ELBO of -96) counted as a divergence.
    lr, retries = opts.learning_rate, 0
    while True:
        params, trace, its, conv, failed, elbo, start, elbo0 = _call(
            model, opts, n, chunks, data, key, lr)
        elbo, elbo0 = float(elbo), float(elbo0)
        diverged = not np.isfinite(elbo) or (np.isfinite(elbo0) and elbo < elbo0 - max(
            1e-3 * abs(elbo0), DIVERGED_NATS))
        if not (diverged or bool(failed)) or retries == MAX_RETRIES:
            break
        lr, retries = lr / 3.0, retries + 1
    g, z, laplace = _draw_program(model, dataclasses.replace(opts, learning_rate=0.0))(
        params, start, key)
    jax.block_until_ready(z)
    its = int(its)
    trace = np.asarray(trace)
    trace = trace[~np.isnan(trace)] if opts.minibatch(n) else trace[:its]
    return JointVIResult(
        g=np.asarray(g)[None], z=np.moveaxis(np.asarray(z), 1, 0)[:, None],
        params=jax.tree_util.tree_map(np.asarray, params), elbo=elbo, elbo_trace=trace,
        iterations=its, converged=bool(conv), failed=bool(failed) or diverged,
        retries=retries, learning_rate=lr,
        start_ok=np.asarray(start.ok), unpooled=np.asarray(start.unpooled),
        seconds=time.perf_counter() - t0,
        minibatch=opts.minibatch(n), laplace_globals=bool(laplace))
