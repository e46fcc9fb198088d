"""Independence Metropolis-Hastings with an adaptive mixture of Student-t candidates (AdMit;
Hoogerheide, Kaashoek and van Dijk 2007; Ardia, Hoogerheide and van Dijk 2009).

Candidate: q(z) = sum_h pi_h t_df(z | mu_h, Sigma_h), every component with ``df`` degrees of
freedom (1 by default, tails fatter than the target). Fitting, from the start (mu_1,
Sigma_1) = (the posterior mode, the Laplace covariance there; or a VI mean and covariance):

1. q = t_df(mu_1, Sigma_1). Draw ``n_cv`` points from q; importance weights w = k / q and
   their coefficient of variation CV = sd(w) / mean(w).
2. Add a component at the maximum of log w(z) = log k(z) - log q(z) (damped Newton,
   inference/mode.py, started at the draw of largest weight), with Sigma_h the negative
   inverse Hessian of log w there. Where that Hessian is not negative definite (or the search
   fails) the weighted covariance of the draws is used instead.
3. Choose the mixing probabilities that minimise the squared CV of w on ``n_weights`` draws
   from each component (common random numbers; CV^2 = E_q[w^2] / E_q[w]^2 - 1 with
   E_q[f] = sum_h pi_h E_{t_h}[f]), by Adam on the softmax logits.
4. Recompute the CV on fresh draws; stop when it improved by ``cv_tol`` (10%) or less
   (keeping the better mixture) or at ``max_components``.

Then an independence chain: candidates z* ~ q, accepted with probability
min(1, w(z*) / w(z)). Every candidate's log density is evaluated in one vectorised batch, the
accept/reject pass is a ``lax.scan``. The first ``num_warmup`` iterations are discarded.
Departures from the R package: ``n_cv`` 2000 draws (package: 1e5) and ``max_components``
5 (package: 10), to bound the cost of the fit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, logsumexp

from ..mode import find_mode
from .base import LogDensity, SamplerOutput, run_sampler, safe_cholesky
from .rwmh import mvt_batch

_NEG = -1e30  # log weight of an unused component


def log_t(x: jax.Array, mu: jax.Array, inv: jax.Array, df: int) -> jax.Array:
    """log density of the multivariate t_df(mu, Sigma) at x [d], given inv = L^{-1} for
    Sigma = L L' (a product, not a solve, so the Hessian of log w stays cheap to compile)."""
    d = x.shape[-1]
    u = inv @ (x - mu)
    return (gammaln((df + d) / 2.0) - gammaln(df / 2.0) - 0.5 * d * jnp.log(df * jnp.pi)
            + jnp.sum(jnp.log(jnp.diag(inv))) - 0.5 * (df + d) * jnp.log1p(u @ u / df))


def _inverse(chol):
    return jax.scipy.linalg.solve_triangular(chol, jnp.eye(chol.shape[-1], dtype=chol.dtype),
                                             lower=True)


def _log_q(x, mus, invs, logp, df):
    """log density of the mixture at x, given the components' inverse Cholesky factors."""
    comps = jax.vmap(lambda m, c: log_t(x, m, c, df))(mus, invs)
    return logsumexp(logp + comps)


def _draw_q(key, n, mus, chols, logp, df):
    """n draws of the mixture: a component by inverse CDF of a uniform, then its t draw."""
    k1, k2 = jax.random.split(key)
    cum = jnp.cumsum(jnp.exp(logp))
    u = jax.random.uniform(k1, (n,), mus.dtype) * cum[-1]
    h = jnp.minimum(jnp.sum(u[:, None] >= cum[None, :], axis=1), mus.shape[0] - 1)
    eps = mvt_batch(k2, n, mus.shape[-1], df, mus.dtype)
    return mus[h] + jnp.einsum("nij,nj->ni", chols[h], eps)


def _log_mean_exp(a, axis=None):
    n = a.shape[axis] if axis is not None else a.size
    return logsumexp(a, axis=axis) - jnp.log(n)


def _cv(lw):
    """Coefficient of variation of importance weights exp(lw)."""
    return jnp.sqrt(jnp.maximum(jnp.exp(_log_mean_exp(2.0 * lw) - 2.0 * _log_mean_exp(lw))
                                - 1.0, 0.0))


def _clean(v):
    return jnp.where(jnp.isnan(v), -jnp.inf, v)


def admit_core(logdensity: LogDensity, z0: jax.Array, cov0: jax.Array, key: jax.Array, *,
               num_warmup: int = 1000, num_samples: int = 1000, num_chains: int = 2,
               df: int = 1, max_components: int = 5, n_cv: int = 2000,
               n_weights: int = 500, cv_tol: float = 0.1, weight_steps: int = 200,
               batch_size: int = 256) -> dict:
    """Pure-JAX AdMit fit and independence chain (module docstring)."""
    d = z0.shape[-1]
    H = max_components
    lk = jax.vmap(lambda x: _clean(logdensity(x)))

    def batched_lk(xs):
        return _clean(jax.lax.map(logdensity, xs, batch_size=batch_size))

    mus = jnp.zeros((H, d), z0.dtype).at[0].set(z0)
    chols = jnp.broadcast_to(jnp.eye(d, dtype=z0.dtype), (H, d, d)).at[0].set(
        safe_cholesky(cov0))
    logp = jnp.full(H, _NEG, z0.dtype).at[0].set(0.0)
    k_fit, k_chain = jax.random.split(key)

    def weights(key, mus, chols, logp):
        x = _draw_q(key, n_cv, mus, chols, logp, df)
        invs = jax.vmap(_inverse)(chols)
        lq = jax.vmap(lambda xi: _log_q(xi, mus, invs, logp, df))(x)
        return x, batched_lk(x) - lq

    x, lw = weights(jax.random.fold_in(k_fit, 0), mus, chols, logp)
    cv0 = _cv(lw)
    cvs = jnp.full(H, jnp.nan, z0.dtype).at[0].set(cv0)

    def optimise_probs(key, mus, chols, logp, n):
        """Mixing log-probabilities minimising log(1 + CV^2) on component-wise draws."""
        import optax

        active = jnp.arange(H) <= n
        eps = mvt_batch(key, H * n_weights, d, df, z0.dtype).reshape(H, n_weights, d)
        y = mus[:, None, :] + jnp.einsum("hij,hnj->hni", chols, eps)
        lky = lk(y.reshape(-1, d)).reshape(H, n_weights)
        invs = jax.vmap(_inverse)(chols)
        lt = jax.vmap(jax.vmap(lambda yy: jax.vmap(lambda m, c: log_t(yy, m, c, df))(
            mus, invs)))(y)  # [H, n, H]

        def objective(logits):
            lp = jax.nn.log_softmax(jnp.where(active, logits, _NEG))
            lw = lky - logsumexp(lp[None, None, :] + lt, axis=-1)
            lw = jnp.where(active[:, None], lw, -jnp.inf)
            e1 = logsumexp(lp + _log_mean_exp(lw, axis=1))
            e2 = logsumexp(lp + _log_mean_exp(2.0 * lw, axis=1))
            return e2 - 2.0 * e1

        opt = optax.adam(0.05)
        init = jnp.where(active, jnp.where(jnp.arange(H) == n, jnp.log(0.1),
                                           logp + jnp.log(0.9)), _NEG)
        init = jnp.where(active, init, 0.0)

        def step(carry, _):
            logits, state = carry
            g = jax.grad(objective)(logits)
            g = jnp.where(active & jnp.isfinite(g), g, 0.0)
            upd, state = opt.update(g, state)
            return (optax.apply_updates(logits, upd), state), None

        (logits, _), _ = jax.lax.scan(step, (init, opt.init(init)), None, length=weight_steps)
        return jax.nn.log_softmax(jnp.where(active, logits, _NEG))

    def cond(c):
        return (~c["done"]) & (c["n"] < H)

    def body(c):
        n = c["n"]
        mus, chols, logp = c["mus"], c["chols"], c["logp"]
        invs = jax.vmap(_inverse)(chols)

        def log_w(z):
            return _clean(logdensity(z)) - _log_q(z, mus, invs, logp, df)

        start = c["x"][jnp.argmax(c["lw"])]
        mode = find_mode(log_w, start)
        w = jax.nn.softmax(c["lw"])
        xm = c["x"] - w @ c["x"]
        is_cov = (xm * w[:, None]).T @ xm
        good = mode.ok & jnp.all(jnp.isfinite(mode.z))
        mu_new = jnp.where(good, mode.z, start)
        chol_new = safe_cholesky(jnp.where(good, mode.cov, is_cov))
        mus2 = mus.at[n].set(mu_new)
        chols2 = chols.at[n].set(chol_new)
        k1, k2 = jax.random.split(jax.random.fold_in(k_fit, n))
        logp2 = optimise_probs(k1, mus2, chols2, logp, n)
        x2, lw2 = weights(k2, mus2, chols2, logp2)
        cv2 = _cv(lw2)
        better = jnp.isfinite(cv2) & (cv2 < c["cv"])
        done = ~better | ((c["cv"] - cv2) / c["cv"] <= cv_tol)
        pick = lambda new, old: jnp.where(better, new, old)  # noqa: E731
        return {"n": n + 1, "done": done, "mus": pick(mus2, mus), "chols": pick(chols2, chols),
                "logp": pick(logp2, logp), "x": pick(x2, c["x"]), "lw": pick(lw2, c["lw"]),
                "cv": pick(cv2, c["cv"]), "cvs": c["cvs"].at[n].set(cv2),
                "n_used": jnp.where(better, n + 1, c["n_used"])}

    c = jax.lax.while_loop(cond, body, {
        "n": jnp.asarray(1), "done": jnp.asarray(False), "mus": mus, "chols": chols,
        "logp": logp, "x": x, "lw": lw, "cv": cv0, "cvs": cvs, "n_used": jnp.asarray(1)})
    mus, chols, logp = c["mus"], c["chols"], c["logp"]

    # independence chain: all candidates and their weights in one batch
    n_iter = num_warmup + num_samples
    cand = _draw_q(k_chain, num_chains * n_iter, mus, chols, logp, df)
    invs = jax.vmap(_inverse)(chols)
    lq = jax.vmap(lambda xi: _log_q(xi, mus, invs, logp, df))(cand)
    lw_c = (batched_lk(cand) - lq).reshape(num_chains, n_iter)
    cand = cand.reshape(num_chains, n_iter, d)
    lw0 = _clean(logdensity(z0)) - _log_q(z0, mus, invs, logp, df)
    us = jnp.log(jax.random.uniform(jax.random.fold_in(k_chain, 1), (num_chains, n_iter)))

    def chain(cand, lw_c, us):
        def step(carry, inp):
            z, lw = carry
            x, lwx, lu = inp
            acc = lu < lwx - lw
            return (jnp.where(acc, x, z), jnp.where(acc, lwx, lw)), (jnp.where(acc, x, z), acc)

        _, (zs, acc) = jax.lax.scan(step, (z0, lw0), (cand, lw_c, us))
        return zs, acc

    zs, acc = jax.vmap(chain)(cand, lw_c, us)
    return {"z": zs[:, num_warmup:], "moved": acc[:, num_warmup:],
            "components": c["n_used"], "cv": c["cvs"], "weights": jnp.exp(logp),
            "means": mus, "warmup_accept": jnp.mean(acc[:, :num_warmup].astype(z0.dtype))}


def run_admit(logdensity: LogDensity, z0, key: jax.Array, *, cov0=None, num_warmup: int = 1000,
              num_samples: int = 1000, num_chains: int = 2, raise_on_failure: bool = True,
              **settings) -> SamplerOutput:
    """AdMit independence MH on ``logdensity``; z0 and cov0 should be the mode and Laplace
    covariance (or a VI mean and covariance); without cov0 the mode is found here."""
    if cov0 is None:
        mode = jax.jit(lambda z: find_mode(logdensity, z))(jnp.asarray(z0, jnp.float64))
        z0, cov0 = mode.z, mode.cov
    return run_sampler("admit", admit_core, logdensity, z0, cov0, key,
                       raise_on_failure=raise_on_failure, num_warmup=num_warmup,
                       num_samples=num_samples, num_chains=num_chains, **settings)
