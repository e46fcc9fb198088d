"""Prior log-densities on the natural scale (the bijection's Jacobian is added by the model).

Parametrisations follow SVI-GARCH paper 1.6: inverse-gamma IG(a, b) with density
b^a / Gamma(a) x^{-a-1} e^{-b/x}; Beta(a, b) (U(0,1) = Beta(1,1)); the translated exponential
p(nu) = rate * exp(-rate (nu - shift)) on nu > shift (the paper's exp(-nu) 1{nu>2} normalised).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.scipy.special import betaln, gammaln, ndtr, ndtri


def inv_gamma_logpdf(x: jax.Array, a: float, b: float) -> jax.Array:
    """log IG(x; a, b) = a log b - log Gamma(a) - (a+1) log x - b/x."""
    return a * jnp.log(b) - gammaln(a) - (a + 1.0) * jnp.log(x) - b / x


def beta_logpdf_logs(log_x: jax.Array, log_1mx: jax.Array, a: float, b: float) -> jax.Array:
    """log Beta(x; a, b) from log x and log(1 - x): finite when x rounds to 0 or 1."""
    return (a - 1.0) * log_x + (b - 1.0) * log_1mx - betaln(a, b)


def shifted_exp_logpdf(x: jax.Array, rate: float, shift: float) -> jax.Array:
    """log of rate * exp(-rate (x - shift)) for x > shift."""
    return jnp.log(rate) - rate * (x - shift)


def normal_logpdf(x: jax.Array, loc: float, scale: float) -> jax.Array:
    """log N(x; loc, scale^2)."""
    z = (x - loc) / scale
    return -0.5 * z * z - jnp.log(scale) - 0.5 * jnp.log(2.0 * jnp.pi)


@dataclass(frozen=True)
class GarchPriors:
    """Priors of the Bayesian GARCH(1,1) (defaults: the paper's, SVI-GARCH paper 1.6).

    omega ~ IG(omega_a, omega_b); psi1 = alpha+beta ~ Beta(psi1_a, psi1_b);
    psi2 = alpha/(alpha+beta) ~ Beta(psi2_a, psi2_b); nu - 2 ~ Exponential(nu_rate);
    xi ~ IG(xi_a, xi_b); mu ~ N(0, mu_scale^2) when a constant mean is fitted;
    phi ~ N(0, phi_scale^2) when an AR(1) mean is fitted.
    """

    omega_a: float = 1.0
    omega_b: float = 1.0
    psi1_a: float = 1.0
    psi1_b: float = 1.0
    psi2_a: float = 1.0
    psi2_b: float = 1.0
    nu_rate: float = 1.0
    xi_a: float = 1.0
    xi_b: float = 1.0
    mu_scale: float = 1.0
    phi_scale: float = 1.0


# ------------------------------------------- truncated normal on (-1, 1) and half-Cauchy
# (the GAS priors of the thesis, section 2.8; erratum E4: the normaliser uses loc)
def log_trunc_mass(loc: jax.Array, scale: jax.Array) -> jax.Array:
    """log(Phi((1 - loc)/scale) - Phi((-1 - loc)/scale)) for |loc| < 1 (stable: the two tails
    are subtracted from 1)."""
    return jnp.log1p(-(ndtr((-1.0 - loc) / scale) + ndtr((loc - 1.0) / scale)))


def trunc_normal_logpdf(x: jax.Array, loc: jax.Array, scale: jax.Array) -> jax.Array:
    """log TN(x; loc, scale^2; -1, 1) with the correct normaliser (erratum E4)."""
    return normal_logpdf(x, loc, scale) - log_trunc_mass(loc, scale)


def half_cauchy_logpdf(x: jax.Array, scale: float) -> jax.Array:
    """log of 2 / (pi s (1 + (x/s)^2)) for x > 0."""
    return jnp.log(2.0 / (jnp.pi * scale)) - jnp.log1p((x / scale) ** 2)


def trunc_normal_from_std(xi: jax.Array, loc: jax.Array, scale: jax.Array) -> jax.Array:
    """b = loc + scale Phi^{-1}(Phi(alpha) + Phi(xi)(Phi(beta) - Phi(alpha))): xi ~ N(0, 1)
    gives b ~ TN(loc, scale^2; -1, 1). The lower or the upper tail form is used, whichever
    keeps its probability below 1/2, so neither rounds to 1."""
    pa = ndtr((-1.0 - loc) / scale)
    pbc = ndtr((loc - 1.0) / scale)
    mass = 1.0 - pa - pbc
    lo = pa + ndtr(xi) * mass
    up = pbc + ndtr(-xi) * mass  # 1 - lo
    use_lo = lo < 0.5
    x = jnp.where(use_lo, ndtri(jnp.where(use_lo, lo, 0.5)),
                  -ndtri(jnp.where(use_lo, 0.5, up)))
    return loc + scale * x
