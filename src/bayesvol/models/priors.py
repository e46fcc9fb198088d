"""Prior log-densities on the natural scale (the bijection's Jacobian is added by the model).

Parametrisations follow SVI-GARCH paper 1.6: inverse-gamma IG(a, b) with density
b^a / Gamma(a) x^{-a-1} e^{-b/x}; Beta(a, b) (U(0,1) = Beta(1,1)); the translated exponential
p(nu) = rate * exp(-rate (nu - shift)) on nu > shift (the paper's exp(-nu) 1{nu>2} normalised).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.scipy.special import betaln, gammaln


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
