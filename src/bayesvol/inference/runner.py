"""Run an inference method on every asset of a batch at once (jit + vmap), for any model.

A model here is any object with ``dim``, ``log_joint(z, data)``, ``log_likelihood(z, data)``,
``initial_z(data)`` and ``numpyro_model(data)``; ``data`` is a pytree whose leaves have the
asset axis first. The runner never looks at model names. Compiled programs are cached per
(model, options, shapes), so a second fit of the same shapes starts warm.

A model that also has ``program_key`` (a string that determines its log densities, e.g. the
repr of a frozen dataclass) gets its programs kept between processes (bayesvol._config
``call_stored``): a new Python session loads them instead of tracing the model again, which
was most of a warm-cache first fit. A VI fit is three programs, each one call: the mode and
Laplace start, the VI loop (which also derives the per-asset keys and the PSIS seed from the
one key, so a new seed is a new argument, never a new program), and the evaluation of the
proposal draws; only the last depends on the number of draws, so changing ``num_draws`` or
``psis_draws`` recompiles that small program and not the loop.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from .._config import call_stored
from ..errors import InputError, NumericalError
from .mode import find_mode
from .vi.families import draw, get_family
from .vi.loop import StopRule


@dataclass(frozen=True)
class VIOptions:
    """Settings of a VI fit. Defaults are the fast path; ``VIOptions.paper()`` is the paper's.

    family: meanfield | fullrank | precision;  estimator: reparam | score;
    init: laplace (mode + Laplace covariance) | mode (mode, 0.1 I) | zeros (0, 0.1 I).
    num_draws: posterior draws returned.
    psis: draw max(psis_draws, num_draws) proposals from q, evaluate the log-joint once at
    them (it serves both the final ELBO estimate, mean log p(y, z) + H[q], and the importance
    weights p/q), and return num_draws resampled by their Pareto-smoothed weights, with k-hat
    as the reliability diagnostic (vi/psis.py states the policy). With psis=False the
    num_draws are q's own and the ELBO is estimated from them.
    The proposals are evaluated in chunks sized so that one chunk for all assets holds about
    2^24 numbers per time-series array, which bounds memory for large panels.
    """

    family: str = "fullrank"
    estimator: str = "reparam"
    mc_samples: int = 8
    optimizer: str = "adam"
    learning_rate: float = 0.01
    init: str = "laplace"
    window: int = 25
    patience: int = 50
    max_iter: int = 2000
    entropy: str = "analytic"
    output: str = "average"
    psis: bool = True
    num_draws: int = 1000
    psis_draws: int = 1000

    @property
    def proposal_draws(self) -> int:
        """Draws from q at which the log-joint is evaluated after the fit."""
        return max(self.psis_draws, self.num_draws) if self.psis else self.num_draws

    @classmethod
    def paper(cls, estimator: str = "reparam", mc_samples: int | None = None) -> VIOptions:
        """The paper's settings: eta0 = 0.02 adaptive rule, t_W = 25, P = 100 (spec 2.5-2.7)."""
        family = "fullrank" if estimator == "reparam" else "precision"
        s = mc_samples or (5 if estimator == "reparam" else 10)
        return cls(family=family, estimator=estimator, mc_samples=s, optimizer="tran",
                   learning_rate=0.02, init="mode", window=25, patience=100, max_iter=20000,
                   entropy="mc", output="best", psis=False)


def _program_key(model) -> str | None:
    """The model's ``program_key`` (programs kept between processes), or None."""
    key = getattr(model, "program_key", None)
    return key if isinstance(key, str) else None


def _run(name: str, key: str | None, build, *args):
    """``jax.jit(build())(*args)``: kept between processes when the model has a key."""
    if key is None:
        return _jitted(build)(*args)
    return call_stored(name, key, build, *args)


@lru_cache(maxsize=128)
def _jitted(build):
    return jax.jit(build())


def _named(name: str, fn):
    """``fn`` under ``name`` (how JAX's compile logs and events call its program)."""
    def program(*args):
        return fn(*args)

    program.__name__ = program.__qualname__ = name
    return program


@lru_cache(maxsize=64)
def _mode_fn(model, likelihood_only: bool):
    def one(data):
        f = (lambda z: model.log_likelihood(z, data)) if likelihood_only else (
            lambda z: model.log_joint(z, data))
        return find_mode(f, model.initial_z(data))

    return _named("mode", jax.vmap(one))


def run_mode(model, data, likelihood_only: bool = False):
    """Posterior mode (or MLE) and Laplace covariance of every asset."""
    key = _program_key(model)
    return _run("mode", None if key is None else f"{key}|likelihood_only={likelihood_only}",
                _builder(_mode_fn, model, likelihood_only), data)


@lru_cache(maxsize=256)
def _builder(make, *static):
    """A hashable zero-argument builder of ``make(*static)`` (one per program, for _jitted)."""
    return lambda: make(*static)


def _initial_params(family, init: str, z: jax.Array, cov: jax.Array):
    d = z.shape[-1]
    if init == "laplace":
        return family.init(z, cov)
    small = 0.01 * jnp.eye(d)
    if init == "mode":
        return family.init(z, small)
    if init == "zeros":
        return family.init(jnp.zeros(d), small)
    raise ValueError(f"unknown VI init '{init}': choose laplace, mode or zeros")


_CHUNK_NUMBERS = 2**24


def _draw_chunk(n_assets: int, length: int, n_draws: int) -> int:
    """Draws per chunk of the post-fit log-joint evaluation (see VIOptions)."""
    return int(max(1, min(n_draws, _CHUNK_NUMBERS // max(1, n_assets * length))))


_DRAW_FIELDS = ("num_draws", "psis_draws")


def _loop_options(opts: VIOptions) -> VIOptions:
    """``opts`` with the draw counts at their defaults: the VI loop does not depend on them,
    so one loop program serves every number of draws."""
    return dataclasses.replace(opts, **{f: VIOptions.__dataclass_fields__[f].default
                                        for f in _DRAW_FIELDS})


@lru_cache(maxsize=64)
def _vi_loop_fn(model, opts: VIOptions, warm: bool):
    """The VI loop of every asset: keys from the one key, then mode/Laplace (or ``params0``)
    start, then ``run_vi``; also returns each asset's draw key and the PSIS seed."""
    from .vi.estimators import get_estimator
    from .vi.loop import run_vi
    from .vi.optim import get_optimizer

    family = get_family(opts.family)
    stop = StopRule(opts.window, opts.patience, opts.max_iter, opts.output)

    def one(data, z0, cov0, key, params0):
        def lj(z):
            return model.log_joint(z, data)
        est = get_estimator(opts.estimator, family, lj, opts.mc_samples, opts.entropy)
        params = _initial_params(family, opts.init, z0, cov0) if params0 is None else params0
        k_run, k_draw = jax.random.split(key)
        out = run_vi(est, get_optimizer(opts.optimizer, opts.learning_rate), params, k_run, stop)
        return out, k_draw

    def batch(data, z0, cov0, key, params0):
        keys = jax.random.split(key, z0.shape[0])
        out, k_draw = jax.vmap(one, in_axes=(0, 0, 0, 0, 0 if warm else None))(
            data, z0, cov0, keys, params0)
        psis_seed = jax.random.randint(jax.random.fold_in(key, 7), (), 0, 2**31 - 1)
        return out, k_draw, psis_seed

    return _named("vi_loop", batch)


@lru_cache(maxsize=64)
def _proposal_fn(model, opts: VIOptions, chunk: int):
    """Proposal draws from each asset's q, the log-joint at them, the ELBO and log p/q."""
    family = get_family(opts.family)

    def one(data, params, k_draw):
        def lj(z):
            return model.log_joint(z, data)
        z = draw(family, params, k_draw, opts.proposal_draws)
        log_p = jax.lax.map(lj, z, batch_size=chunk)
        elbo = jnp.mean(log_p) + family.entropy(params)
        log_w = log_p - family.log_q(params, z)  # importance log-weights p / q
        return z, elbo, log_w

    return _named("vi_draws", jax.vmap(one))


@dataclass
class VIResult:
    z: np.ndarray  # [N, 1, draws, d]
    params: dict  # family parameters, asset axis first
    elbo: np.ndarray  # [N]
    elbo_trace: list  # per asset, the ELBO estimates of the iterations run
    iterations: np.ndarray
    converged: np.ndarray
    failed: np.ndarray
    mode_ok: np.ndarray
    seconds: float
    log_weights: np.ndarray  # [N, proposals] log p(y, z) - log q(z) at q's proposal draws
    pareto_k: np.ndarray  # [N] PSIS shape estimate (vi/psis.py)
    psis_ess: np.ndarray  # [N] effective sample size of the smoothed weights
    psis_resampled: np.ndarray  # [N] whether z holds the PSIS-resampled draws
    psis_reliable: np.ndarray  # [N] k-hat under min(1 - 1/log10 M, 0.7)


def run_vi_batch(model, data, key: jax.Array, opts: VIOptions, params0=None) -> VIResult:
    """VI on every asset: mode + Laplace start (unless ``params0`` warm-starts), then the loop."""
    t0 = time.perf_counter()
    leaves = jax.tree_util.tree_leaves(data)
    n = leaves[0].shape[0]
    length = max(int(np.prod(x.shape[1:])) for x in leaves)  # the longest per-asset array
    chunk = _draw_chunk(n, length, opts.proposal_draws)
    loop_opts = _loop_options(opts)
    key_model = _program_key(model)
    warm = params0 is not None
    if not warm:
        mode = run_mode(model, data)
        z0, cov0, mode_ok = mode.z, mode.cov, np.asarray(mode.ok)
    else:
        d = model.dim
        z0 = jnp.zeros((n, d))
        cov0 = jnp.broadcast_to(jnp.eye(d), (n, d, d))
        mode_ok = np.ones(n, bool)
    out, k_draw, psis_seed = _run(
        "vi_loop", None if key_model is None else f"{key_model}|{loop_opts!r}|warm={warm}",
        _builder(_vi_loop_fn, model, loop_opts, warm), data, z0, cov0, key, params0)
    z, elbo, log_w = _run(
        "vi_draws", None if key_model is None else f"{key_model}|{opts!r}|chunk={chunk}",
        _builder(_proposal_fn, model, opts, chunk), data, out.params, k_draw)
    jax.block_until_ready(z)
    its = np.asarray(out.iterations)
    trace = np.asarray(out.elbo_trace)
    z, log_w = np.array(z), np.asarray(log_w)
    k_hat, ess = np.full(n, np.nan), np.zeros(n)
    resampled, reliable = np.zeros(n, bool), np.zeros(n, bool)
    if opts.psis:
        from .vi.psis import psis_resample

        seed = int(psis_seed)
        out_z = np.empty((n, opts.num_draws, z.shape[-1]))
        for i in range(n):
            out_z[i], k_hat[i], ess[i], resampled[i], reliable[i] = psis_resample(
                z[i], log_w[i], seed + i, opts.num_draws)
        z = out_z
    return VIResult(
        z=z[:, None], params=jax.tree_util.tree_map(np.asarray, out.params),
        elbo=np.asarray(elbo), elbo_trace=[trace[i, : its[i]] for i in range(n)],
        iterations=its, converged=np.asarray(out.converged), failed=np.asarray(out.failed),
        mode_ok=mode_ok, seconds=time.perf_counter() - t0, log_weights=log_w,
        pareto_k=k_hat, psis_ess=ess, psis_resampled=resampled, psis_reliable=reliable)


def psis_diagnostics(res: VIResult) -> dict:
    """The PSIS entries of a VI fit's diagnostics (per asset lists)."""
    return {"pareto_k": res.pareto_k.tolist(), "psis_resampled": res.psis_resampled.tolist(),
            "psis_reliable": res.psis_reliable.tolist(), "psis_ess": res.psis_ess.tolist()}


def check_vi_result(res: VIResult, assets) -> None:
    """Raise NumericalError naming the first asset whose VI failed or whose ELBO is not finite."""
    bad = res.failed | ~np.isfinite(res.elbo)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise NumericalError(f"VI failed for asset '{assets[i]}': the ELBO or its gradient "
                             "stayed non-finite")


@dataclass
class NUTSBatch:
    z: np.ndarray  # [N, chains, draws, d]
    divergences: np.ndarray
    rhat_max: np.ndarray
    ess_min: np.ndarray
    finite: np.ndarray
    seconds: float


def run_nuts_batch(model, data, key: jax.Array, num_warmup: int = 1000,
                   num_samples: int = 1000, num_chains: int = 2, progress: bool = False,
                   options: dict | None = None) -> NUTSBatch:
    """NUTS per asset (a loop over assets, not time), each chain started at the mode;
    ``options``: dense_mass, chain_method, target_accept (mcmc.nuts.nuts_settings; a bad
    one is a ValueError)."""
    from .mcmc import run_nuts  # NumPyro's MCMC: imported only when NUTS runs
    from .mcmc.nuts import nuts_settings

    settings = nuts_settings(options)
    t0 = time.perf_counter()
    mode = run_mode(model, data)
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    outs = []
    for i, k in enumerate(jax.random.split(key, n)):
        data_i = jax.tree_util.tree_map(lambda x, i=i: x[i], data)
        outs.append(run_nuts(model.numpyro_model, (data_i,), mode.z[i], k,
                             num_warmup=num_warmup, num_samples=num_samples,
                             num_chains=num_chains, progress=progress, **settings))
    return NUTSBatch(np.stack([o.z for o in outs]), np.array([o.divergences for o in outs]),
                     np.array([o.rhat_max for o in outs]), np.array([o.ess_min for o in outs]),
                     np.array([o.finite for o in outs]), time.perf_counter() - t0)


def checked_nuts_batch(model, data, key: jax.Array, num_warmup: int, num_samples: int,
                       num_chains: int, progress: bool, options: dict | None) -> NUTSBatch:
    """:func:`run_nuts_batch` for the API: a bad NUTS setting is an InputError and
    non-finite draws a NumericalError."""
    try:
        res = run_nuts_batch(model, data, key, num_warmup, num_samples, num_chains, progress,
                             options)
    except ValueError as exc:  # a bad NUTS setting
        raise InputError(f"method 'nuts': {exc}") from None
    if not np.all(res.finite):
        raise NumericalError("NUTS produced non-finite draws")
    return res


def laplace_draws(mode, key: jax.Array, num_draws: int) -> np.ndarray:
    """Draws from N(z_hat, Sigma_Laplace) per asset, shaped [N, 1, draws, d]."""
    n, d = mode.z.shape
    eps = jax.random.normal(key, (n, num_draws, d))
    chol = jnp.linalg.cholesky(mode.cov)
    z = mode.z[:, None, :] + jnp.einsum("nsd,ned->nse", eps, chol)
    return np.asarray(z)[:, None]


SAMPLER_METHODS = ("hmc", "rwmh", "admit", "griddy")


@dataclass
class SamplerBatch:
    method: str
    z: np.ndarray  # [N, chains, draws, d]
    acceptance: np.ndarray  # [N, chains]
    diagnostics: list  # per asset: mcmc.diagnostics.summarize
    info: list  # per asset: what the sampler tuned (JSON-ready)
    seconds: float  # sampling (warm-up included) of the whole batch
    compile_seconds: float
    mode_seconds: float


@lru_cache(maxsize=32)
def _sampler_fn(model, method: str, settings: tuple):
    """One sampler core per asset, vmapped over the assets (their own log densities)."""
    from .mcmc import core

    run = core(method)
    kw = dict(settings)

    def one(data, z0, cov0, key):
        return run(lambda z: model.log_joint(z, data), z0, cov0, key, **kw)

    return _named(f"sample_{method}", jax.vmap(one))


def run_sampler_batch(model, data, key: jax.Array, method: str, num_warmup: int = 1000,
                      num_samples: int = 1000, num_chains: int = 2, settings: dict | None = None,
                      assets=None) -> SamplerBatch:
    """An MCMC sampler of inference/mcmc (hmc, rwmh, admit, griddy) on every asset at once.

    Each asset starts at its posterior mode with the Laplace covariance there (the starting
    proposal of RW-MH, AdMit's first component, griddy Gibbs's grid bounds; chains start at
    draws around the mode), and all assets run in one compiled, vmapped program. The
    sampling time is the batch's, so ESS per second is per batch. A failure (non-finite
    draws, a chain that never moved) raises SamplerFailure naming the asset.
    """
    from .mcmc.base import SamplerFailure, finish

    t0 = time.perf_counter()
    mode = run_mode(model, data)
    jax.block_until_ready(mode.z)
    n = mode.z.shape[0]
    keys = jax.random.split(key, n)
    items = tuple(sorted((settings or {}).items()))
    items += (("num_warmup", num_warmup), ("num_samples", num_samples),
              ("num_chains", num_chains))
    try:
        fn = _sampler_fn(model, method, items)
    except TypeError as exc:  # an unhashable setting
        raise ValueError(f"sampler settings must be numbers, strings or tuples: {exc}") from None
    t1 = time.perf_counter()
    compiled = jax.jit(fn).lower(data, mode.z, mode.cov, keys).compile()
    t2 = time.perf_counter()
    out = jax.block_until_ready(compiled(data, mode.z, mode.cov, keys))
    seconds = time.perf_counter() - t2
    out = jax.tree_util.tree_map(np.asarray, out)
    results = [finish(method, {k: v[i] for k, v in out.items()}, seconds, t2 - t1,
                      raise_on_failure=False) for i in range(n)]
    for i, r in enumerate(results):
        if r.failed:
            name = assets[i] if assets is not None else i
            raise SamplerFailure(f"asset '{name}': {r.failure}", r)
    return SamplerBatch(method, np.stack([r.z for r in results]),
                        np.stack([r.acceptance for r in results]),
                        [r.diagnostics for r in results], [json_info(r.info) for r in results],
                        seconds, t2 - t1, t1 - t0)


def json_info(info: dict) -> dict:
    """A sampler's tuning record as JSON values (non-finite numbers as None)."""
    def clean(v):
        a = np.asarray(v)
        if a.dtype.kind == "b":
            return a.tolist()
        if a.dtype.kind in "iu":
            return a.tolist()
        a = a.astype(float)
        return None if a.ndim == 0 and not np.isfinite(a) else (
            float(a) if a.ndim == 0 else np.where(np.isfinite(a), a, np.nan).tolist())

    out = {k: clean(v) for k, v in info.items()}
    for k, v in out.items():  # lists: NaN -> None
        if isinstance(v, list):
            out[k] = _nan_to_none(v)
    return out


def _nan_to_none(v):
    if isinstance(v, list):
        return [_nan_to_none(x) for x in v]
    return None if isinstance(v, float) and not np.isfinite(v) else v
