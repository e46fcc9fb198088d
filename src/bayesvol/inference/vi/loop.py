"""The VI iteration loop: one ``lax.while_loop`` (jit-able, vmap-able over assets).

Each iteration draws from q, estimates (ELBO, gradient), and takes an optimiser step on
-ELBO. A step whose ELBO or gradient is not finite is skipped and counted; ``max_bad``
consecutive bad steps stop the loop with ``failed = True`` (reported, never silent).

Stopping rule (SVI-GARCH paper 2.6): after t_W iterations, the moving average of the last t_W
ELBO estimates is compared with the best so far; patience resets on a new best and otherwise
grows; the loop stops at patience P or at ``max_iter``.

What is returned (``StopRule.output``): "average" (default) the Polyak-Ruppert average of the
iterates, an exponential moving average with weight 1/t_W (1/t early on), which removes the
jitter a constant-step optimiser leaves around the optimum; "tail" the arithmetic mean of all
iterates after the first t_W (a longer average: less jitter, a little more lag when the
iterates still drift); "best" the paper's lambda_best, the
iterate at the last improvement of the moving-average ELBO; "last" the final iterate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

if TYPE_CHECKING:  # optax is imported by vi/optim.py, only when a loop is traced
    import optax


@dataclass(frozen=True)
class StopRule:
    """Moving-average ELBO stopping: window t_W, patience P, and an iteration cap."""

    window: int = 25
    patience: int = 100
    max_iter: int = 5000
    output: str = "average"
    max_bad: int = 20


class VIOutput(NamedTuple):
    params: Any
    elbo_trace: jax.Array  # [max_iter], NaN after the last iteration
    iterations: jax.Array
    converged: jax.Array  # stopped by the patience rule
    failed: jax.Array  # stopped by repeated non-finite steps
    best_ma_elbo: jax.Array


class _State(NamedTuple):
    it: jax.Array
    params: Any
    opt_state: Any
    est_state: Any
    key: jax.Array
    trace: jax.Array
    ma_best: jax.Array
    patience: jax.Array
    best_params: Any
    avg_params: Any
    bad: jax.Array


def run_vi(estimator, optimizer: optax.GradientTransformation, params0, key: jax.Array,
           stop: StopRule) -> VIOutput:
    """Optimise the ELBO from ``params0``; pure function, so jit and vmap apply."""
    tw = stop.window

    def cond(s: _State):
        return (s.it < stop.max_iter) & (s.patience < stop.patience) & (s.bad < stop.max_bad)

    def body(s: _State) -> _State:
        key, sub = jax.random.split(s.key)
        elbo, grad, est_state = estimator.step(s.params, s.est_state, sub)
        leaves = jax.tree_util.tree_leaves(grad)
        ok = jnp.isfinite(elbo) & jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in leaves]))
        neg = jax.tree_util.tree_map(lambda g: -jnp.where(ok, g, 0.0), grad)
        updates, opt_state = optimizer.update(neg, s.opt_state, s.params)
        params = jax.tree_util.tree_map(
            lambda p, u, po: jnp.where(ok, p + u, po), s.params, updates, s.params)
        opt_state = jax.tree_util.tree_map(
            lambda new, old: jnp.where(ok, new, old), opt_state, s.opt_state)
        est_state = jax.tree_util.tree_map(
            lambda new, old: jnp.where(ok, new, old), est_state, s.est_state)
        trace = s.trace.at[s.it].set(jnp.where(ok, elbo, jnp.nan))
        # moving average of the last tw estimates (a skipped step counts as 0 and no improvement)
        window = jax.lax.dynamic_slice(jnp.where(jnp.isnan(trace), 0.0, trace),
                                       (jnp.maximum(s.it - tw + 1, 0),), (tw,))
        ma = jnp.sum(window) / tw
        active = s.it >= tw - 1
        improved = active & ok & (ma >= s.ma_best)
        ma_best = jnp.where(improved, ma, s.ma_best)
        patience = jnp.where(active & ~improved, s.patience + 1,
                             jnp.where(improved, 0, s.patience))
        best = jax.tree_util.tree_map(lambda new, old: jnp.where(improved, new, old),
                                      s.params, s.best_params)
        if stop.output == "tail":  # arithmetic mean of the iterates after the first tw
            rate = 1.0 / jnp.maximum(s.it - tw + 2, 1).astype(float)
        else:  # exponential moving average, weight 1/tw (1/t at first)
            rate = 1.0 / jnp.minimum(s.it + 1, tw).astype(float)
        avg = jax.tree_util.tree_map(lambda a, p: a + rate * (p - a), s.avg_params, params)
        bad = jnp.where(ok, 0, s.bad + 1)
        return _State(s.it + 1, params, opt_state, est_state, key, trace, ma_best, patience,
                      best, avg, bad)

    init = _State(
        it=jnp.zeros((), jnp.int32),
        params=params0,
        opt_state=optimizer.init(params0),
        est_state=estimator.init(params0),
        key=key,
        trace=jnp.full((stop.max_iter,), jnp.nan),
        ma_best=jnp.array(-jnp.inf),
        patience=jnp.zeros((), jnp.int32),
        best_params=params0,
        avg_params=params0,
        bad=jnp.zeros((), jnp.int32),
    )
    s = jax.lax.while_loop(cond, body, init)
    if stop.output in ("average", "tail"):
        params = s.avg_params
    elif stop.output == "best":
        params = jax.tree_util.tree_map(lambda b, p: jnp.where(jnp.isfinite(s.ma_best), b, p),
                                        s.best_params, s.params)
    elif stop.output == "last":
        params = s.params
    else:
        raise ValueError(f"unknown VI output '{stop.output}': choose average, best or last")
    return VIOutput(params, s.trace, s.it, s.patience >= stop.patience,
                    s.bad >= stop.max_bad, s.ma_best)
