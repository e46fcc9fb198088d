"""Marginal likelihood by bridge sampling: the iterative optimal bridge of Meng & Wong (1996)
and its warp-3 variant (Meng & Schilling 2002), in unconstrained coordinates.

For an unnormalised posterior k(z) = p(y | z) p(z) with normaliser r = p(y), and a proposal
density q, the bridge identity is, for any bridge function h,

    r = E_q[h(z) k(z)] / E_p[h(z) q(z)],

with p = k / r the posterior. With n_p posterior draws and n_q proposal draws,
s_1 = n_p / (n_p + n_q), s_2 = n_q / (n_p + n_q), the optimal bridge h = 1 / (s_1 k / r + s_2 q)
turns the identity into the fixed-point iteration (Meng & Wong 1996, eq. 4.1)

    r^(t+1) = [(1/n_q) sum_j l_j / (s_1 l_j + s_2 r^(t))]
              / [(1/n_p) sum_i 1 / (s_1 l_i + s_2 r^(t))],

where l = k / q, evaluated at the proposal draws z_j and at the posterior draws z_i. It runs
here in log space (no overflow at any scale of k) until |log r^(t+1) - log r^(t)| < tol; an
iteration that does not converge within ``max_iter`` steps is reported, never returned
silently.

Proposal (Gronau et al. 2017): the posterior draws are split in two halves. The first half
gives the mean m and covariance S = L L^T of a multivariate normal q; the iteration runs on the
second half and on as many fresh draws from q, so the proposal is independent of the draws it
is evaluated on. With several chains, whole chains go to each half (chains [0, C/2) fit q);
with one chain (or an odd number), each chain's first half fits q.

Warp-3 (Meng & Schilling 2002): centre, scale and symmetrise. In eta = L^{-1} (z - m) the
warped, symmetrised kernel

    k~(eta) = |L| [k(m + L eta) + k(m - L eta)] / 2

has the same normaliser r, and its skewness is removed; q is then the standard normal. Since
both k~ and q are even in eta, the whitened posterior draws serve as draws of k~ / r. It
costs two kernel evaluations per point.

Error (Fruehwirth-Schnatter 2004, approximate relative mean-squared error of r):

    RE^2 = Var_q(f_1) / (n_q E_q[f_1]^2) + tau_{f_2} Var_p(f_2) / (n_p E_p[f_2]^2),
    f_1 = p^ / (s_1 p^ + s_2 q) at the proposal draws,  f_2 = q / (s_1 p^ + s_2 q) at the
    posterior draws,  p^ = k / r^,

with tau_{f_2} the integrated autocorrelation time of f_2 along the chains (Geyer's initial
monotone sequence, floored at 1). RE approximates the standard deviation of log r^. The
estimate is repeated with fresh proposal draws (``repetitions``); the spread of those
repetitions measures the proposal's share of the error only, since they share the posterior
draws. See docs/model-comparison.md.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ...errors import InputError, NumericalError

METHODS = ("bridge", "warp3")
MAX_NONFINITE = 0.01  # share of non-finite kernel values at proposal draws tolerated


@dataclass
class BridgeResult:
    """Bridge-sampling estimate of log p(y) for one density.

    ``log_ml`` is the mean of the repetitions' estimates ``estimates``; ``error`` the larger of
    the approximate relative RMSE (``relative_error``, root-mean-square over repetitions) and
    the standard deviation of the repetitions (``sd_repetitions``): an approximate standard
    deviation of one estimate of log p(y), conservative for their mean.
    """

    log_ml: float
    error: float
    method: str
    repetitions: int
    estimates: np.ndarray  # [R] log r per repetition
    relative_error: float
    sd_repetitions: float
    iterations: np.ndarray  # [R]
    converged: bool
    n_fit: int  # posterior draws used to fit the proposal
    n_iter: int  # posterior draws (= proposal draws) in the iteration
    tau: float  # integrated autocorrelation time of f_2
    nonfinite: int = 0  # proposal draws whose kernel value was not finite (set to 0)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"log_ml": self.log_ml, "error": self.error, "method": self.method,
                "repetitions": self.repetitions, "estimates": self.estimates.tolist(),
                "relative_error": self.relative_error, "sd_repetitions": self.sd_repetitions,
                "iterations": self.iterations.tolist(), "converged": self.converged,
                "n_fit": self.n_fit, "n_iter": self.n_iter, "tau": self.tau,
                "nonfinite": self.nonfinite, "notes": list(self.notes)}


# --------------------------------------------------------------------------- splitting
def as_chains(draws: np.ndarray) -> np.ndarray:
    """Draws as [chains, draws, d] (a 2-D array [n, d] is one chain)."""
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InputError(f"posterior draws must be [n, d] or [chains, draws, d], got {x.shape}")
    return x


def split_draws(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(draws that fit the proposal [n_fit, d], draws of the iteration [chains', S', d]).

    Whole chains to each half when there is an even number of chains, else each chain's
    first half fits the proposal and its second half enters the iteration. Draws that repeat
    (importance-resampled draws, e.g. PSIS-corrected VI) are split by distinct value instead,
    the k-th distinct value in order of first appearance going to half k mod 2, so that no
    point serves both to fit the proposal and in the iteration (measured once on a 400-point
    GARCH-t series, 2000 PSIS-resampled VI draws of which 1200 distinct, two VI seeds: the
    warp-3 offset from the NUTS-based value moved from -0.029 and -0.025 to -0.017 and -0.023).
    """
    x = as_chains(draws)
    c, s, d = x.shape
    flat = x.reshape(-1, d)
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    if len(first) < 0.99 * len(flat):
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        half = rank[np.ravel(inverse)] % 2
        return flat[half == 0], flat[half == 1][None]
    if c >= 2 and c % 2 == 0:
        fit, rest = x[: c // 2], x[c // 2:]
    else:
        h = s // 2
        fit, rest = x[:, :h], x[:, h: 2 * h]
    return fit.reshape(-1, d), rest


def fit_proposal(fit_draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and lower Cholesky factor of the draws' covariance (the normal proposal)."""
    n, d = fit_draws.shape
    if n <= d + 1:
        raise InputError(f"bridge sampling needs more than {2 * (d + 1)} posterior draws for a "
                         f"{d}-dimensional posterior (half of them fit the proposal), got "
                         f"{2 * n}")
    mean = fit_draws.mean(0)
    cov = np.atleast_2d(np.cov(fit_draws, rowvar=False))
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise NumericalError("the posterior draws' covariance is not positive definite (too "
                             "few distinct draws?): bridge sampling cannot fit its "
                             "proposal") from None
    return mean, chol


# ------------------------------------------------------------------------- iteration
def _iterate_one(l_p: jax.Array, l_q: jax.Array, tol: float, max_iter: int):
    """The log-space Meng-Wong fixed point for one (l_p [n_p], l_q [n_q]) pair."""
    n_p, n_q = l_p.shape[-1], l_q.shape[-1]
    log_s1 = math.log(n_p / (n_p + n_q))
    log_s2 = math.log(n_q / (n_p + n_q))

    def update(log_r):
        num = logsumexp(l_q - jnp.logaddexp(log_s1 + l_q, log_s2 + log_r)) - math.log(n_q)
        den = logsumexp(-jnp.logaddexp(log_s1 + l_p, log_s2 + log_r)) - math.log(n_p)
        return num - den

    start = logsumexp(l_q) - math.log(n_q)  # the plain importance-sampling estimate
    start = jnp.where(jnp.isfinite(start), start, jnp.median(l_p))

    def cond(s):
        it, _, delta = s
        return (it < max_iter) & (delta >= tol)

    def body(s):
        it, log_r, _ = s
        new = update(log_r)
        delta = jnp.where(jnp.isfinite(new), jnp.abs(new - log_r), -1.0)  # NaN stops
        return it + 1, new, delta

    it, log_r, delta = jax.lax.while_loop(
        cond, body, (jnp.zeros((), jnp.int32), start, jnp.asarray(jnp.inf, l_p.dtype)))
    ok = jnp.isfinite(log_r) & (delta >= 0) & (delta < tol)
    return log_r, it, ok


@partial(jax.jit, static_argnames=("tol", "max_iter"))
def iterate(l_p: jax.Array, l_q: jax.Array, tol: float = 1e-10, max_iter: int = 1000):
    """The iteration for every problem and repetition: l_p [N, R, n_p], l_q [N, R, n_q] ->
    (log r, iterations, converged), each [N, R] (a vmapped ``lax.while_loop``)."""
    fn = jax.vmap(jax.vmap(_iterate_one, in_axes=(0, 0, None, None)),
                  in_axes=(0, 0, None, None))
    return fn(l_p, l_q, tol, max_iter)


# ----------------------------------------------------------------------------- error
def integrated_time(x: np.ndarray) -> float:
    """Integrated autocorrelation time of x [chains, draws] (Geyer 1992, initial monotone
    sequence over the chains' mean autocovariance), floored at 1."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    _, s = x.shape
    if s < 8:
        return 1.0
    xc = x - x.mean(axis=1, keepdims=True)
    n = 1 << int(np.ceil(np.log2(2 * s)))
    f = np.fft.rfft(xc, n=n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=n, axis=1)[:, :s].mean(0) / s
    if not acov[0] > 0:
        return 1.0
    rho = acov / acov[0]
    pairs = rho[: 2 * (s // 2)].reshape(-1, 2).sum(1)
    nonpos = np.nonzero(pairs <= 0)[0]
    pairs = pairs[: nonpos[0]] if nonpos.size else pairs
    if pairs.size == 0:
        return 1.0
    tau = -1.0 + 2.0 * float(np.sum(np.minimum.accumulate(pairs)))
    return max(tau, 1.0)


def relative_error(l_p: np.ndarray, l_q: np.ndarray, log_r: float, tau: float) -> float:
    """Approximate relative RMSE of r^ (Fruehwirth-Schnatter 2004; module docstring)."""
    n_p, n_q = l_p.size, l_q.size
    s1, s2 = n_p / (n_p + n_q), n_q / (n_p + n_q)
    with np.errstate(over="ignore", divide="ignore"):
        f1 = 1.0 / (s1 + s2 * np.exp(-(l_q - log_r)))
        f2 = 1.0 / (s1 * np.exp(l_p - log_r) + s2)
    term1 = np.var(f1, ddof=1) / (n_q * np.mean(f1) ** 2)
    term2 = tau * np.var(f2, ddof=1) / (n_p * np.mean(f2) ** 2)
    return float(np.sqrt(term1 + term2))


# ------------------------------------------------------------------------ batch driver
def _points(method: str, mean: np.ndarray, chol: np.ndarray, post: np.ndarray,
            xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the kernel is evaluated: posterior-side points [P, n, d] and proposal-side
    points [R, Q, n, d] (P = Q = 1 for the bridge, 2 for warp-3: z and its reflection)."""
    prop = mean + xi @ chol.T  # [R, n, d]
    if method == "bridge":
        return post[None], prop[:, None]
    return np.stack([post, 2.0 * mean - post]), np.stack([prop, 2.0 * mean - prop], axis=1)


def _log_mvn(x: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    d = mean.size
    u = np.linalg.solve(chol, (x - mean).reshape(-1, d).T).T.reshape(x.shape)
    return (-0.5 * np.sum(u * u, -1) - np.sum(np.log(np.diag(chol)))
            - 0.5 * d * np.log(2.0 * np.pi))


def _log_terms(method: str, mean, chol, post, xi, k_post, k_prop) -> tuple[np.ndarray, ...]:
    """log l = log k - log q at the posterior draws [n] and at the proposal draws [R, n]."""
    if method == "bridge":
        l_p = k_post[0] - _log_mvn(post, mean, chol)
        l_q = k_prop[:, 0] - _log_mvn(mean + xi @ chol.T, mean, chol)
        return l_p, l_q
    log_det = float(np.sum(np.log(np.diag(chol))))
    d = mean.size
    eta = np.linalg.solve(chol, (post - mean).T).T

    def log_std_normal(e):
        return -0.5 * np.sum(e * e, -1) - 0.5 * d * np.log(2.0 * np.pi)

    with np.errstate(invalid="ignore"):
        sym_post = np.logaddexp(k_post[0], k_post[1]) - np.log(2.0)
        sym_prop = np.logaddexp(k_prop[:, 0], k_prop[:, 1]) - np.log(2.0)
    return (log_det + sym_post - log_std_normal(eta), log_det + sym_prop - log_std_normal(xi))


def bridge_batch(log_kernel: Callable[[np.ndarray], np.ndarray], draws: np.ndarray, *,
                 method: str = "warp3", repetitions: int = 3, seed: int = 0,
                 tol: float = 1e-10, max_iter: int = 1000, tau_extra: np.ndarray | None = None,
                 names: list[str] | None = None, strict: bool = True) -> list[BridgeResult]:
    """Bridge sampling for N independent problems at once.

    log_kernel: points [N, M, d] -> log k [N, M] (each problem its own kernel; the caller
    vectorises it, e.g. ``jax.vmap`` over problems of a chunked map over points).
    draws: posterior draws [N, chains, draws, d] in the kernel's (unconstrained) coordinates.
    tau_extra: [N] an additional variance inflation of the posterior-draw term (e.g. 1 +
    n / ESS for importance-resampled draws), multiplied into tau.
    strict: a non-converged iteration or non-finite value raises NumericalError (else a
    warning, the result's ``converged`` is False and its ``notes`` say why).
    Same ``seed``, same numbers: repetition j draws its proposals from
    ``jax.random.fold_in(PRNGKey(seed), j)``.
    """
    if method not in METHODS:
        raise InputError(f"unknown bridge method '{method}': use {' or '.join(METHODS)}")
    if repetitions < 1:
        raise InputError(f"repetitions must be >= 1, got {repetitions}")
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim == 3:
        draws = draws[:, None]
    n_prob, _, _, d = draws.shape
    names = names or [str(i) for i in range(n_prob)]
    if not np.all(np.isfinite(draws)):
        raise NumericalError("the posterior draws contain non-finite values")
    plans = []
    for i in range(n_prob):
        fit_half, it_half = split_draws(draws[i])
        mean, chol = fit_proposal(fit_half)
        plans.append((fit_half.shape[0], mean, chol, it_half))
    sizes = [p[3].shape[0] * p[3].shape[1] for p in plans]
    n = min(sizes)
    if max(sizes) != n:  # halves split by distinct value differ in size: trim to the least
        plans = [(nf, m, c, h.reshape(1, -1, d)[:, :n]) for nf, m, c, h in plans]
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(seed)
        xi = np.stack([np.asarray(jax.random.normal(jax.random.fold_in(key, j), (n, d),
                                                    dtype=jnp.float64))
                       for j in range(repetitions)])  # [R, n, d], shared by the problems
    posts, props = [], []
    for _, mean, chol, it_half in plans:
        pp, qq = _points(method, mean, chol, it_half.reshape(-1, d), xi)
        posts.append(pp)
        props.append(qq)
    post_pts = np.stack(posts)  # [N, P, n, d]
    prop_pts = np.stack(props)  # [N, R, Q, n, d]
    flat = np.concatenate([post_pts.reshape(n_prob, -1, d), prop_pts.reshape(n_prob, -1, d)], 1)
    with jax.enable_x64(True):
        logk = np.asarray(log_kernel(flat), dtype=np.float64)
    n_post = post_pts.shape[1] * n
    k_post = logk[:, :n_post].reshape(post_pts.shape[:3])
    k_prop = logk[:, n_post:].reshape(prop_pts.shape[:4])
    results: list[BridgeResult] = []
    l_ps, l_qs, nonfinite = [], [], []
    for i, (_, mean, chol, it_half) in enumerate(plans):
        if not np.all(np.isfinite(k_post[i][0])):
            raise NumericalError(f"{names[i]}: the log density is not finite at "
                                 f"{int(np.sum(~np.isfinite(k_post[i][0])))} posterior draws")
        kp = np.where(np.isnan(k_post[i]), -np.inf, k_post[i])  # a reflected draw may fail
        kq = k_prop[i]
        bad = ~np.isfinite(kq) & ~(kq == -np.inf)
        nonfinite.append(int(np.sum(np.any(bad, axis=1))))
        kq = np.where(bad, -np.inf, kq)
        if nonfinite[-1] > MAX_NONFINITE * kq.shape[0] * kq.shape[-1]:
            raise NumericalError(f"{names[i]}: the log density is NaN or +inf at "
                                 f"{nonfinite[-1]} of {kq.shape[0] * kq.shape[-1]} proposal "
                                 "draws")
        l_p, l_q = _log_terms(method, mean, chol, it_half.reshape(-1, d), xi, kp, kq)
        l_ps.append(l_p)
        l_qs.append(l_q)
    l_p_all, l_q_all = np.stack(l_ps), np.stack(l_qs)  # [N, n], [N, R, n]
    with jax.enable_x64(True):
        l_p_rep = np.broadcast_to(l_p_all[:, None, :], l_q_all.shape)
        log_r, its, ok = iterate(jnp.asarray(l_p_rep), jnp.asarray(l_q_all),
                                 tol=float(tol), max_iter=int(max_iter))
    log_r, its, ok = np.asarray(log_r), np.asarray(its), np.asarray(ok)
    for i, (n_fit, _, _, it_half) in enumerate(plans):
        notes = []
        if not np.all(ok[i]):
            bad_j = [j for j in range(repetitions) if not ok[i, j]]
            msg = (f"{names[i]}: the bridge iteration did not converge (repetitions {bad_j}; "
                   f"log r = {log_r[i].tolist()}, {its[i].tolist()} iterations)")
            if strict or not np.all(np.isfinite(log_r[i])):
                raise NumericalError(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            notes.append(msg)
        if nonfinite[i]:
            notes.append(f"{nonfinite[i]} proposal draws had a NaN or +inf log density "
                         "(counted as zero density)")
        with np.errstate(over="ignore", divide="ignore"):
            f2 = 1.0 / (0.5 * np.exp(l_p_all[i] - np.mean(log_r[i])) + 0.5)
        tau = integrated_time(f2.reshape(it_half.shape[:2]))
        if tau_extra is not None:
            tau *= float(tau_extra[i])
        res = np.array([relative_error(l_p_all[i], l_q_all[i, j], log_r[i, j], tau)
                        for j in range(repetitions)])
        rel = float(np.sqrt(np.mean(res**2)))
        sd = float(np.std(log_r[i], ddof=1)) if repetitions > 1 else 0.0
        err = max(rel, sd)
        if not np.isfinite(err):
            raise NumericalError(f"{names[i]}: the bridge error estimate is not finite")
        results.append(BridgeResult(
            log_ml=float(np.mean(log_r[i])), error=err, method=method, repetitions=repetitions,
            estimates=log_r[i].copy(), relative_error=rel, sd_repetitions=sd,
            iterations=its[i].copy(), converged=bool(np.all(ok[i])), n_fit=int(n_fit),
            n_iter=int(n), tau=float(tau), nonfinite=nonfinite[i], notes=notes))
    return results


def chunked(program, points: np.ndarray, data, batch: int) -> np.ndarray:
    """program over points [P, M, d] in chunks [P, batch, d] (the last one padded by repeating
    its first point), so that one compiled shape serves every M."""
    p, m, d = points.shape
    out = np.empty((p, m))
    with jax.enable_x64(True):
        for lo in range(0, m, batch):
            chunk = points[:, lo: lo + batch]
            k = chunk.shape[1]
            if k < batch:
                chunk = np.concatenate([chunk, np.repeat(chunk[:, :1], batch - k, 1)], 1)
            out[:, lo: lo + k] = np.asarray(program(jnp.asarray(chunk, dtype=jnp.float64),
                                                    data))[:, :k]
    return out


def bridge_sampling(log_density: Callable[[jax.Array], jax.Array], draws: np.ndarray, *,
                    method: str = "warp3", repetitions: int = 3, seed: int = 0,
                    tol: float = 1e-10, max_iter: int = 1000, batch_size: int = 512,
                    strict: bool = True) -> BridgeResult:
    """log of the normaliser of ``exp(log_density)`` from posterior ``draws`` by bridge sampling.

    log_density: z [d] -> log k(z) (a JAX function; the unnormalised log posterior, prior
    and likelihood both normalised, so that r = p(y)). draws: [n, d] or [chains, draws, d]
    from k / r, in the same coordinates. method: ``bridge`` (Meng & Wong 1996, normal
    proposal) or ``warp3`` (Meng & Schilling 2002). See the module docstring for the
    equations and docs/model-comparison.md for how to read ``error``.
    """
    x = as_chains(draws)
    program = jax.jit(jax.vmap(jax.vmap(lambda z, _: log_density(z), in_axes=(0, None))))

    def kernel(pts: np.ndarray) -> np.ndarray:
        return chunked(program, pts, jnp.zeros(pts.shape[0]), batch_size)

    res = bridge_batch(kernel, x[None], method=method,
                       repetitions=repetitions, seed=seed, tol=tol, max_iter=max_iter,
                       strict=strict)
    return res[0]
