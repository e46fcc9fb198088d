"""The first-order linear recurrence behind every GARCH variance path, with a fast derivative.

    s_1 = s1,    s_{t+1} = a_t + b_t s_t,   t = 1..T-1

GARCH(1,1) is this with a_t = omega + alpha e_t^2 and b_t = beta (b_t = alpha + beta at a
missing date, where e_t^2 is replaced by its expectation s_t). Its tangent obeys the same
recurrence,

    ds_1 = ds1,  ds_{t+1} = (da_t + db_t s_t) + b_t ds_t,

so the JVP rule below is one more call of the recurrence. Reverse mode transposes that into a
single backward scan, instead of differentiating the scan body op by op: measured 1.7x
faster gradients (400 series x 2000 steps, CPU), identical values. Forward-over-reverse
Hessians (inference/mode.py) work unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _scan(s1: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    def step(s, ab):
        s = ab[0] + ab[1] * s
        return s, s

    _, rest = jax.lax.scan(step, s1, (a, b))
    return jnp.concatenate([s1[None], rest])


@jax.custom_jvp
def linear_recurrence(s1: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """[s_1, ..., s_T] for s_{t+1} = a_t + b_t s_t; ``a``, ``b`` have length T - 1 (time first)."""
    return _scan(s1, a, b)


@linear_recurrence.defjvp
def _linear_recurrence_jvp(primals, tangents):
    s1, a, b = primals
    ds1, da, db = tangents
    s = linear_recurrence(s1, a, b)
    return s, linear_recurrence(ds1, da + db * s[:-1], b)
