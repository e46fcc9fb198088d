"""The generalised t of the Beta-Gen-t-EGARCH (Harvey & Lange 2017; models/beta_t_egarch.py,
docs/models/beta-t-egarch.md): log density with scale e^f, its score and information in f,
the variance factor c (with its GED limit), draws, and the Beta-quantile VaR.

    p(e | f) = e^{-f} v etabar^{1/v} / (2 B(1/(v etabar), 1/v))
               * (1 + etabar |e e^{-f}|^v)^{-(etabar + 1)/(v etabar)}
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .special import betaln, gammaln

GED_THRESHOLD = 0.005


# ------------------------------------------------------------------------ the density
def _abs_pow(e: jax.Array, f: jax.Array, v: jax.Array) -> jax.Array:
    """x^v for x = |e| e^{-f}, 0 at e = 0 with finite derivatives there (no log 0)."""
    nz = e != 0
    log_abs = jnp.log(jnp.where(nz, jnp.abs(e), 1.0))
    return jnp.where(nz, jnp.exp(v * (log_abs - f)), 0.0)


def gen_t_logpdf(e: jax.Array, f: jax.Array, eta_bar: jax.Array, v: jax.Array) -> jax.Array:
    """log p(e | f) of the generalised t with scale e^f (module docstring, corrected form):

    -f + log v + log(etabar)/v - log 2 - log B(1/(v etabar), 1/v)
       - (etabar + 1)/(v etabar) log(1 + etabar |e e^{-f}|^v)
    """
    return gen_t_log_norm(eta_bar, v) + gen_t_log_kernel(e, f, eta_bar, v)


def gen_t_log_norm(eta_bar: jax.Array, v: jax.Array) -> jax.Array:
    """The constant log v + log(etabar)/v - log 2 - log B(1/(v etabar), 1/v) of the density."""
    return (jnp.log(v) + jnp.log(eta_bar) / v - jnp.log(2.0)
            - betaln(1.0 / (v * eta_bar), 1.0 / v))


def gen_t_log_kernel(e: jax.Array, f: jax.Array, eta_bar: jax.Array, v: jax.Array
                     ) -> jax.Array:
    """The rest of the log density: -f - (etabar + 1)/(v etabar) log(1 + etabar x^v)."""
    xv = _abs_pow(e, f, v)
    return -f - (eta_bar + 1.0) / (v * eta_bar) * jnp.log1p(eta_bar * xv)


def gen_t_score(e: jax.Array, f: jax.Array, eta_bar: jax.Array, v: jax.Array) -> jax.Array:
    """nabla = d log p / d f = (etabar + 1)/etabar b - 1 = (etabar + 1) x^v / (1 + etabar x^v) - 1
    (Harvey & Lange 2017; written without dividing by etabar, so exact as etabar -> 0)."""
    xv = _abs_pow(e, f, v)
    return (eta_bar + 1.0) * xv / (1.0 + eta_bar * xv) - 1.0


def gen_t_information(eta_bar: jax.Array, v: jax.Array) -> jax.Array:
    """I = E[nabla^2] = ((etabar + 1)/etabar)^2 var(b) with b ~ Beta(1/v, 1/(v etabar)),
    which simplifies to v / (1 + (v + 1) etabar) (2 nu / (nu + 3) for the t, v = 2)."""
    return v / (1.0 + (v + 1.0) * eta_bar)


def log_variance_factor(eta_bar: jax.Array, v: jax.Array,
                        threshold: float = GED_THRESHOLD) -> jax.Array:
    """log c with var(y | f) = c e^{2f} (module docstring); the GED limit
    log Gamma(3/v) - log Gamma(1/v) + (2/v) log v for etabar <= ``threshold``."""
    big = eta_bar > threshold
    eb = jnp.where(big, eta_bar, 0.25)  # keeps the unused branch (and its gradient) finite
    exact = (gammaln(3.0 / v) + gammaln((1.0 - 2.0 * eb) / (v * eb)) - gammaln(1.0 / v)
             - gammaln(1.0 / (v * eb)) - 2.0 / v * jnp.log(eb))
    ged = gammaln(3.0 / v) - gammaln(1.0 / v) + 2.0 / v * jnp.log(v)
    return jnp.where(big, exact, ged)


_GAMMA_TRIES = 8


def sample_gamma(key: jax.Array, a: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """Gamma(a, 1) draws by Marsaglia & Tsang (2000) with a fixed number of proposals.

    For a >= 1, with d = a - 1/3, c = 1/sqrt(9d), x ~ N(0, 1), w = (1 + c x)^3 and
    u ~ U(0, 1), d w is accepted when w > 0 and log u < x^2/2 + d - d w + d log w; for a < 1
    the draw is G(a + 1) U^{1/a}. Each draw takes the first accepted of 8 proposals (each is
    accepted with probability above 0.95, so all 8 fail with probability below 4e-11, when
    the mean d is returned). A fixed-size graph with no loop: it compiles in a fraction of
    the time of ``jax.random.gamma``'s rejection loop, inside every forecast program.
    """
    a = jnp.broadcast_to(jnp.asarray(a, dtype=float), shape)
    boost = a < 1.0
    aa = jnp.where(boost, a + 1.0, a)
    d = aa - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (_GAMMA_TRIES, *shape))
    u = jax.random.uniform(k2, (_GAMMA_TRIES, *shape), minval=1e-300)
    w = (1.0 + c * x) ** 3
    pos = w > 0
    ws = jnp.where(pos, w, 1.0)
    ok = pos & (jnp.log(u) < 0.5 * x * x + d - d * ws + d * jnp.log(ws))
    first = jnp.argmax(ok, axis=0)
    g = d * jnp.take_along_axis(ws, first[None], axis=0)[0]
    g = jnp.where(jnp.any(ok, axis=0), g, d)
    ub = jax.random.uniform(k3, shape, minval=1e-300)
    return jnp.where(boost, g * ub ** (1.0 / a), g)


def sample_gen_t(key: jax.Array, eta_bar: jax.Array, v: jax.Array,
                 shape: tuple[int, ...] = ()) -> jax.Array:
    """Draws of the unit-scale generalised t: |e|^v = G1 / (etabar G2), G1 ~ Gamma(1/v),
    G2 ~ Gamma(1/(v etabar)) (so b = G1 / (G1 + G2) ~ Beta(1/v, 1/(v etabar))), random sign;
    gammas by :func:`sample_gamma`."""
    k1, k2, k3 = jax.random.split(key, 3)
    g1 = sample_gamma(k1, 1.0 / v, shape)
    g2 = sample_gamma(k2, 1.0 / (v * eta_bar), shape)
    sign = jnp.where(jax.random.bernoulli(k3, 0.5, shape), 1.0, -1.0)
    return sign * (g1 / (eta_bar * g2)) ** (1.0 / v)


def quantile(alpha: np.ndarray | float, f: np.ndarray | float, eta_bar: np.ndarray | float,
             v: np.ndarray | float, mu: np.ndarray | float = 0.0,
             threshold: float = GED_THRESHOLD) -> np.ndarray:
    """Lower alpha-quantile (alpha < 1/2) of y = mu + e^f eps (module docstring), NumPy:
    mu - e^f ((1/q - 1)/etabar)^{1/v}, q = Beta(1/(v etabar), 1/v) quantile at 2 alpha; below
    ``threshold`` the GED limit mu - e^f (v G)^{1/v}, G the Gamma(1/v) quantile at 1 - 2 alpha."""
    from scipy.special import betaincinv, gammainccinv

    alpha, f, eta, v, mu = np.broadcast_arrays(*(np.asarray(x, dtype=float)
                                                 for x in (alpha, f, eta_bar, v, mu)))
    if np.any((alpha <= 0) | (alpha >= 0.5)):
        raise ValueError("alpha must be in (0, 0.5)")
    big = eta > threshold
    eb = np.where(big, eta, 0.25)
    q = betaincinv(1.0 / (v * eb), 1.0 / v, 2.0 * alpha)
    k_exact = ((1.0 / q - 1.0) / eb) ** (1.0 / v)
    k_ged = (v * gammainccinv(1.0 / v, 2.0 * alpha)) ** (1.0 / v)
    return mu - np.exp(f) * np.where(big, k_exact, k_ged)


