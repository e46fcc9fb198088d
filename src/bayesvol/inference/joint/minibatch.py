"""Minibatch joint VI over assets with sparse optimiser updates (docs: "Joint models").

The same loop runs full-batch VI (B = N: every asset each step, the global step equal to
the locals', the stopping rule and averages below with one "epoch" per step; the caller sets
``eval_every`` and ``min_iter`` for that case, inference/joint/vi.py).

Each step draws a batch b of B assets (a fresh random permutation each epoch, consecutive
slices of it), estimates the ELBO with S reparameterised draws (objective.py,
``split_minibatch_elbo``: the globals' terms and every asset's cheap population-prior and
entropy terms in full, only the O(T) likelihood terms from the batch, times N/B), and takes one
Adam step (optax) on

  - the global parameters, with that unbiased gradient (its noise comes from the likelihood
    terms only) and a step size B / N times the locals' (see ``opt_g`` below: a common step
    made globals and locals oscillate with growing amplitude at N = 2000);
  - the batch's local parameters only, with the exact gradient of their own terms: their
    parameters and Adam moments are gathered, stepped and scattered back. Each asset keeps
    its own Adam state (step count and moments, ``vmap`` of optax's update), so assets
    outside the batch neither move nor decay.

Stopping: every ``eval_every`` steps the full-data ELBO of the averaged parameters is
evaluated with fixed eps (common random numbers, so successive values differ only through the
parameters), asset chunk by chunk. The fit stops when it rose by less than ``tol`` |ELBO| over
the last ``patience`` evaluations (ELBO_k - ELBO_{k-patience} < tol |ELBO_k|), or at
``max(max_iter, 2 x min_epochs x steps per epoch)`` steps, and never before ``min_epochs``
epochs and 200 steps: the averages below
change slowly by construction, so from a good start (start.py) their ELBO looked flat after
six epochs and the fit stopped with per-asset means 0.4-0.8 full-batch sds away (measured,
16 x 300, B = 4; each asset must get about as many updates as a full-batch fit takes).
(A rule on each evaluation's own rise stopped too early as well: the globals' scales creep
up by small steps for many epochs.) The returned parameters are the averages: globals an
exponential moving average with weight 1/min(t, window x steps per epoch), each asset's
locals one with weight 1/min(t_i, window) over its own t_i updates, so both average over
about ``window`` epochs. Of the evaluated averages, the one with the highest full-data ELBO
is returned (the evaluations share their eps, so this compares parameters, not noise): a
noisy excursion late in a run (seen once at 2000 x 2500, B = 100, where the ELBO fell to
-5e19) then costs little; such a run is not reported as converged (that excursion was the globals
outrunning the locals, fixed by their B / N step). Evaluations that were
never finite are a failure.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .objective import (
    JointData,
    LikelihoodSurrogate,
    chunked_elbo_grad,
    full_elbo,
    n_assets,
    split,
    split_minibatch_elbo,
    take_assets,
)


class MinibatchOutput(NamedTuple):
    params: Any
    eval_trace: jax.Array  # full-data ELBO at each evaluation, NaN after the last
    step_trace: jax.Array  # each step's ELBO estimate (minibatch: unbiased, noisy), NaN after
    iterations: jax.Array
    converged: jax.Array
    failed: jax.Array


class _State(NamedTuple):
    it: jax.Array
    gp: Any
    lp: Any
    g_opt: Any
    l_opt: Any
    g_avg: Any
    l_avg: Any
    perm: jax.Array
    key: jax.Array
    trace: jax.Array
    steps: jax.Array
    best: jax.Array
    best_g: Any
    best_l: Any
    stall: jax.Array
    bad: jax.Array


def run_minibatch(family, model, data: JointData, params0: dict, key: jax.Array, *,
                  batch_size: int, mc_samples: int, learning_rate: float, eval_every: int,
                  eval_draws: int, patience: int, tol: float, max_iter: int, window: int,
                  chunk: int, min_iter: int, grad_chunk: int = 0,
                  max_bad: int = 20, global_draws: int = 0,
                  surrogate: LikelihoodSurrogate | None = None) -> MinibatchOutput:
    """Minibatch VI from ``params0`` (module docstring); a pure function, jit-able.

    ``batch_size`` = N is full-batch VI under the same averaging and stopping rule; then a
    ``grad_chunk`` in (0, N) computes each step's gradient ``grad_chunk`` assets at a time
    (objective.py, ``chunked_elbo_grad``: the same gradient, memory of one chunk).
    ``chunk``: assets per chunk of the full-data evaluations. ``surrogate``: the likelihood
    terms of each step's gradient and of the evaluations as a control variate (objective.py).
    ``global_draws``: draws of g for the population terms (at least ``mc_samples``, resp.
    ``eval_draws``; the likelihood terms use the first of them, objective.py
    ``local_elbo``): those terms cost O(N d^2) per draw, not O(N T).
    """
    n = n_assets(data)
    b = int(batch_size)
    per_epoch = max(n // b, 1)
    scale = n / b
    opt = optax.adam(learning_rate)
    # the globals step B / N times as far as an asset's locals, so that both move the same
    # distance per epoch (each asset is updated once per epoch, the globals every step). With
    # the common step the globals outran the locals they depend on and the pair oscillated with
    # growing amplitude: at 2000 x 300 and 2000 x 2500, B = 100, the population scales rose by
    # e^7 and the full-data ELBO fell from -7.0e5 to -1e13 within 2000 steps; with B / N, the
    # ELBO rose monotonically to convergence (-7.017e5). (Tried first: sqrt(B / N), with the
    # older estimator that subsampled the prior terms too; worse on 16 x 300, B = 4.)
    opt_g = optax.adam(learning_rate * b / n)
    gp0, lp0 = split(params0)
    d_g = params0["g_loc"].shape[-1]
    d_l = params0["l_loc"].shape[-1]
    k_eval, key = jax.random.split(key)
    s_g, s_eval = max(mc_samples, global_draws), max(eval_draws, global_draws)
    eval_eps = (jax.random.normal(k_eval, (s_eval, d_g)),
                jax.random.normal(jax.random.fold_in(k_eval, 1), (eval_draws, n, d_l)))
    max_iter = max(max_iter, 2 * min_iter)  # room to confirm convergence after min_epochs
    n_evals = max_iter // eval_every + 1

    def objective(gp, lpb, lp, idx, local_b, eps_g, eps_l):
        return split_minibatch_elbo(family, model, gp, lp, lpb, idx, eps_g, eps_l, local_b,
                                    data.glob, scale, surrogate)

    def cond(s: _State):
        return ((s.it < max_iter) & (s.stall < patience) & (s.bad < max_bad))

    def body(s: _State) -> _State:
        key, k_perm, k_eps = jax.random.split(s.key, 3)
        slot = s.it % per_epoch
        if b < n:
            perm = jnp.where(slot == 0, jax.random.permutation(k_perm, n), s.perm)
            idx = jax.lax.dynamic_slice(perm, (slot * b,), (b,))
        else:  # full batch
            perm = idx = s.perm
        lpb = take_assets(s.lp, idx)
        eps_g = jax.random.normal(k_eps, (s_g, d_g))
        eps_l = jax.random.normal(jax.random.fold_in(k_eps, 1), (mc_samples, n, d_l))
        if b == n and 0 < grad_chunk < n:
            value, (gg, gl) = chunked_elbo_grad(family, model, s.gp, s.lp, eps_g, eps_l,
                                                data, grad_chunk, surrogate)
        else:
            value, (gg, gl) = jax.value_and_grad(objective, argnums=(0, 1))(
                s.gp, lpb, s.lp, idx, take_assets(data.local, idx), eps_g, eps_l)
        leaves = jax.tree_util.tree_leaves((gg, gl))
        ok = jnp.isfinite(value) & jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in leaves]))
        neg = lambda t: jax.tree_util.tree_map(lambda x: -jnp.where(ok, x, 0.0), t)  # noqa: E731
        up_g, g_opt = opt_g.update(neg(gg), s.g_opt, s.gp)
        opt_b = take_assets(s.l_opt, idx)
        up_l, opt_b_new = jax.vmap(opt.update)(neg(gl), opt_b, lpb)
        keep = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
            lambda a, c: jnp.where(ok, a, c), new, old)
        gp = keep(optax.apply_updates(s.gp, up_g), s.gp)
        g_opt = keep(g_opt, s.g_opt)
        lpb_new = keep(optax.apply_updates(lpb, up_l), lpb)
        opt_b_new = keep(opt_b_new, opt_b)
        lp = jax.tree_util.tree_map(lambda full, part: full.at[idx].set(part), s.lp, lpb_new)
        l_opt = jax.tree_util.tree_map(lambda full, part: full.at[idx].set(part), s.l_opt,
                                       opt_b_new)
        # averages: globals every step, each asset over its own updates
        rate_g = 1.0 / jnp.minimum(s.it + 1, window * per_epoch).astype(float)
        g_avg = jax.tree_util.tree_map(lambda a, p: a + rate_g * (p - a), s.g_avg, gp)
        counts = jax.tree_util.tree_leaves(opt_b_new)[0]  # per-asset Adam step counts [B]
        rate_l = 1.0 / jnp.minimum(counts, window).astype(float)
        avg_b = take_assets(s.l_avg, idx)
        avg_b = jax.tree_util.tree_map(
            lambda a, p: a + rate_l.reshape((-1,) + (1,) * (a.ndim - 1)) * (p - a), avg_b,
            lpb_new)
        l_avg = jax.tree_util.tree_map(lambda full, part: full.at[idx].set(part), s.l_avg,
                                       avg_b)
        # full-data ELBO of the averages every eval_every steps
        do_eval = (s.it + 1) % eval_every == 0

        def evaluate(_):
            return full_elbo(family, model, {**g_avg, **l_avg}, *eval_eps, data, chunk,
                             surrogate)

        val = jax.lax.cond(do_eval, evaluate, lambda _: jnp.nan, None)
        j = (s.it + 1) // eval_every - 1
        trace = jnp.where(do_eval, s.trace.at[j].set(val), s.trace)
        steps = s.steps.at[s.it].set(jnp.where(ok, value, jnp.nan))
        past = trace[jnp.maximum(j - patience, 0)]
        improved = do_eval & jnp.isfinite(val) & (val > s.best)
        best = jnp.where(improved, val, s.best)
        # flat: no longer rising, and at (within 10 tol of) the best so far. A run whose ELBO
        # fell away (4 x 300, lr 0.03: from -1902 to -2984 in 20 steps, then climbing back)
        # is not flat but still recovering; stopping it there was a divergence.
        flat = (do_eval & (j >= patience) & (s.it + 1 >= min_iter)
                & (val - past < tol * jnp.abs(val))
                & (val >= best - 10.0 * tol * jnp.abs(val)))
        pick = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
            lambda a, c: jnp.where(improved, a, c), new, old)
        best_g, best_l = pick(g_avg, s.best_g), pick(l_avg, s.best_l)
        stall = jnp.where(flat, patience, s.stall)
        bad = jnp.where(ok, 0, s.bad + 1)
        return _State(s.it + 1, gp, lp, g_opt, l_opt, g_avg, l_avg, perm, key, trace, steps,
                      best, best_g, best_l, stall, bad)

    init = _State(jnp.zeros((), jnp.int32), gp0, lp0, opt_g.init(gp0), jax.vmap(opt.init)(lp0),
                  gp0, lp0, jnp.arange(n), key, jnp.full((n_evals,), jnp.nan),
                  jnp.full((max_iter,), jnp.nan), jnp.asarray(-jnp.inf), gp0, lp0,
                  jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    s = jax.lax.while_loop(cond, body, init)
    found = jnp.isfinite(s.best)  # some evaluation was finite
    pick = lambda a, c: jax.tree_util.tree_map(lambda x, y: jnp.where(found, x, y), a, c)  # noqa: E731
    params = pick({**s.best_g, **s.best_l}, {**s.g_avg, **s.l_avg})
    evaluated = s.it >= eval_every
    # converged: the rule fired and the last evaluation is still (nearly) the best one; a run
    # whose ELBO fell away after its best evaluation has not converged, whatever the rule says
    last = s.trace[jnp.maximum(s.it // eval_every - 1, 0)]
    held = jnp.isfinite(last) & (last >= s.best - 10.0 * tol * jnp.abs(s.best))
    return MinibatchOutput(params, s.trace, s.steps, s.it, (s.stall >= patience) & held,
                           (s.bad >= max_bad) | (evaluated & ~found))
