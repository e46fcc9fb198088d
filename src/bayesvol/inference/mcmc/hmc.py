"""Static HMC (Duane et al. 1987; Neal 2011) with a fixed trajectory length, on NumPyro's
HMC transition, and the warm-up schedule of Niesert (2017, the GAS thesis; see the docs'
Samplers section).

One transition: momenta gamma ~ N(0, M), L leapfrog steps of size eps,

    gamma <- gamma + (eps/2) grad log k(z);  z <- z + eps M^{-1} gamma;
    gamma <- gamma + (eps/2) grad log k(z)

and acceptance with probability min(1, exp(H(z, gamma) - H(z*, gamma*))) for
H = -log k(z) + gamma' M^{-1} gamma / 2 (NumPyro's ``hmc(algo="HMC")`` sample kernel does
exactly this; the trajectory length T = eps L is fixed, L = ceil(T / eps)).

Warm-up (the thesis's schedule; ``schedule=(50, 50)``, ``tail=40``):

1. ``schedule[0]`` iterations with M = I (``initial_mass="identity"``); M^{-1} is then set to
   the covariance of the last ``tail`` of them (pooled over chains).
2. ``schedule[1]`` more with that M; M^{-1} is re-estimated from all of them.
   In both windows L is capped at ``warmup_max_steps`` (20, as in the thesis) and the step
   size is tuned by dual averaging (Hoffman and Gelman 2014; NumPyro's implementation) toward
   ``target_accept``, where the thesis set it by hand (0.005 then 0.1).
3. The rest of ``num_warmup`` tunes eps for the final M at the full trajectory length (the
   thesis's step 2 of its tuning recipe: raise eps with T fixed until acceptance is
   0.6-0.8). Skipped when ``step_size`` is given (e.g. the thesis's eps = 0.5, L = 4).

Sampling then runs with eps and L fixed. A covariance estimate is shrunk toward
1e-3 I by n / (n + 5), as Stan and NumPyro do. Unconstrained coordinates make the thesis's
reflection at box constraints unnecessary. All chains share eps and M.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .base import LogDensity, SamplerOutput, pooled_cov, run_sampler, start_points


def _regularised(cov: jax.Array, n: int, dense: bool) -> jax.Array:
    shrunk = (n / (n + 5.0)) * cov + 1e-3 * (5.0 / (n + 5.0)) * jnp.eye(cov.shape[0])
    return shrunk if dense else jnp.diag(shrunk)


def hmc_core(logdensity: LogDensity, z0: jax.Array, cov0: jax.Array, key: jax.Array, *,
             num_warmup: int = 1000, num_samples: int = 1000, num_chains: int = 2,
             trajectory_length: float = 2.0, num_steps: int | None = None,
             step_size: float | None = None, schedule: tuple[int, int] = (50, 50),
             tail: int = 40, warmup_max_steps: int = 20, max_steps: int = 256,
             dense: bool = True, target_accept: float = 0.75, initial_mass: str = "identity",
             spread: float = 1.0) -> dict:
    """Pure-JAX HMC run (module docstring); returns the draws and the tuning."""
    from numpyro.infer.hmc import hmc
    from numpyro.infer.hmc_util import _initialize_mass_matrix, dual_averaging

    d = z0.shape[-1]
    w1, w2 = schedule
    final_window = num_warmup - w1 - w2 if step_size is None else 0
    if w1 < tail or (step_size is None and final_window < 20):
        raise ValueError(f"HMC warm-up: num_warmup {num_warmup} is too short for the schedule "
                         f"{schedule} (+ at least 20 step-size iterations); tail {tail} must "
                         f"fit in the first window")
    init_kernel, sample_kernel = hmc(potential_fn=lambda z: -logdensity(z), algo="HMC")
    da_init, da_update = dual_averaging()
    k_start, k_init, k_run = jax.random.split(key, 3)
    starts = start_points(z0, cov0, k_start, num_chains, spread)
    inv0 = (cov0 if dense else jnp.diag(cov0)) if initial_mass == "laplace" else (
        jnp.eye(d) if dense else jnp.ones(d))
    eps_start = 0.1
    states = jax.vmap(lambda z, k: init_kernel(
        z, 0, step_size=eps_start, inverse_mass_matrix=inv0, adapt_step_size=False,
        adapt_mass_matrix=False, dense_mass=dense, trajectory_length=trajectory_length,
        rng_key=k))(starts, jax.random.split(k_init, num_chains))

    def set_tuning(st, eps, length, mm):
        a = st.adapt_state._replace(step_size=eps, inverse_mass_matrix=mm[0],
                                    mass_matrix_sqrt=mm[1], mass_matrix_sqrt_inv=mm[2])
        return st._replace(adapt_state=a, trajectory_length=length)

    def window(states, n, inv, eps0, adapt, cap, length):
        mm = _initialize_mass_matrix(z0, inv, dense)

        def step(carry, _):
            st, da, eps = carry
            t_eff = jnp.minimum(length, cap * eps) * (1.0 - 1e-12)  # L <= cap
            st = jax.vmap(set_tuning, in_axes=(0, None, None, None))(st, eps, t_eff, mm)
            z_old = st.z
            st = jax.vmap(sample_kernel)(st)
            acc = jnp.where(jnp.isfinite(st.accept_prob), st.accept_prob, 0.0)
            if adapt:
                da = da_update(target_accept - jnp.mean(acc), da)
                eps = jnp.exp(da[0])
            moved = jnp.any(st.z != z_old, axis=-1)
            return (st, da, eps), (st.z, moved, acc, st.diverging, st.num_steps)

        da0 = da_init(jnp.log(10.0 * eps0))
        (states, da, eps), trace = jax.lax.scan(step, (states, da0, eps0), None, length=n)
        eps_out = jnp.exp(da[1]) if adapt else eps0
        return states, eps_out, trace

    cap_w = float(warmup_max_steps)
    states, eps, tr1 = window(states, w1, inv0, jnp.asarray(eps_start), True, cap_w,
                              trajectory_length)
    inv1 = _regularised(pooled_cov(tr1[0][-tail:]), tail * num_chains, dense)
    states, eps, tr2 = window(states, w2, inv1, eps, True, cap_w, trajectory_length)
    inv2 = _regularised(pooled_cov(tr2[0]), w2 * num_chains, dense)
    warm_acc = [jnp.mean(tr1[2]), jnp.mean(tr2[2])]
    if step_size is None:
        length = trajectory_length if num_steps is None else None
        if length is None:  # fixed L: tune eps with L steps
            states, eps, tr3 = _fixed_l_window(window, states, final_window, inv2, eps,
                                               num_steps)
        else:
            states, eps, tr3 = window(states, final_window, inv2, eps, True,
                                      float(max_steps), length)
        warm_acc.append(jnp.mean(tr3[2]))
    else:
        eps = jnp.asarray(step_size, dtype=z0.dtype)
    length = trajectory_length if num_steps is None else eps * num_steps
    states, _, tr = window(states, num_samples, inv2, eps, False, float(max_steps), length)
    z, moved, acc, div, steps = tr
    return {"z": jnp.swapaxes(z, 0, 1), "moved": jnp.swapaxes(moved, 0, 1),
            "step_size": eps, "num_steps": jnp.max(steps),
            "inverse_mass_matrix": inv2, "mean_accept_prob": jnp.mean(acc),
            "divergences": jnp.sum(div), "warmup_accept": jnp.stack(warm_acc)}


def _fixed_l_window(window, states, n, inv, eps, num_steps):
    """Step-size tuning at a fixed number of leapfrog steps L: the cap is L and the length
    unbounded, so every trajectory has exactly L steps."""
    return window(states, n, inv, eps, True, float(num_steps), jnp.inf)


def run_hmc(logdensity: LogDensity, z0, key: jax.Array, *, cov0=None, num_warmup: int = 1000,
            num_samples: int = 1000, num_chains: int = 2, raise_on_failure: bool = True,
            **settings) -> SamplerOutput:
    """Static HMC on ``logdensity`` from z0 (settings: see :func:`hmc_core`)."""
    return run_sampler("hmc", hmc_core, logdensity, z0, cov0, key,
                       raise_on_failure=raise_on_failure, num_warmup=num_warmup,
                       num_samples=num_samples, num_chains=num_chains, **settings)
