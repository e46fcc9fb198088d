"""Two independent checks on a bridge-sampling estimate of log p(y): the Laplace approximation
and importance sampling with a heavy-tailed proposal.

Laplace (Kass & Raftery 1995, section 4.1.1; Tierney & Kadane 1986): with z^ the mode of
log k(z) = log p(y | z) + log p(z) and Sigma = (-grad^2 log k(z^))^{-1},

    log p(y) ~= log k(z^) + (d / 2) log(2 pi) + (1 / 2) log |Sigma|,

exact for a Gaussian posterior, with relative error O(1/n) otherwise; it has no Monte Carlo
error to estimate (``error`` is NaN). Coordinates matter: this is the approximation in the
model's unconstrained coordinates z, where the posterior is closest to normal.

Importance sampling (Geweke 1989): draws z_j from a multivariate Student-t q with ``df``
degrees of freedom, centred at the posterior mean with the posterior covariance as scale
matrix (heavier tails than the posterior, so the weights k / q have a finite variance when
the posterior tails are at most Gaussian-like), and

    log p(y) ~= log (1/M) sum_j k(z_j) / q(z_j),   error ~= sd(w) / (sqrt(M) mean(w)),

the delta-method standard deviation of the log estimate. The Pareto k-hat of the weights
(Vehtari et al. 2024) says whether that error can be trusted (k-hat < 0.7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from ...errors import NumericalError
from ..mode import find_mode
from ..vi.psis import pareto_smooth
from .bridge import chunked


@dataclass
class ApproxResult:
    """An estimate of log p(y) by ``method`` (laplace | importance) for one density."""

    log_ml: float
    error: float  # NaN for the Laplace approximation
    method: str
    converged: bool
    pareto_k: float = float("nan")  # importance sampling only
    draws: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"log_ml": self.log_ml, "error": self.error, "method": self.method,
                "converged": self.converged, "pareto_k": self.pareto_k, "draws": self.draws,
                "notes": list(self.notes)}


def laplace_terms(log_density: Callable[[jax.Array], jax.Array], z0: jax.Array
                  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(Laplace log p(y), mode found ok, gradient norm) from start z0 (jit/vmap friendly)."""
    mode = find_mode(log_density, z0)
    d = z0.shape[-1]
    sign, logdet = jnp.linalg.slogdet(mode.cov)
    value = mode.value + 0.5 * d * jnp.log(2.0 * jnp.pi) + 0.5 * logdet
    return value, mode.ok & (sign > 0), mode.grad_norm


def laplace_approximation(log_density: Callable[[jax.Array], jax.Array], z0: np.ndarray
                          ) -> ApproxResult:
    """Laplace approximation of log p(y) from a start ``z0`` near the mode (module docstring).

    A mode search that does not converge (non-finite value, gradient not small, Hessian not
    negative definite) raises NumericalError.
    """
    with jax.enable_x64(True):
        value, ok, gnorm = jax.jit(lambda z: laplace_terms(log_density, z))(
            jnp.asarray(z0, dtype=jnp.float64))
    if not bool(ok) or not np.isfinite(float(value)):
        raise NumericalError(f"Laplace approximation: the mode search did not converge "
                             f"(gradient {float(gnorm):.2g})")
    return ApproxResult(float(value), float("nan"), "laplace", True)


def student_t_proposal(draws: np.ndarray, df: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale Cholesky factor of the importance proposal from posterior draws."""
    x = np.asarray(draws, dtype=np.float64).reshape(-1, np.shape(draws)[-1])
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    return x.mean(0), np.linalg.cholesky(cov)


def student_t_sample(key: jax.Array, mean: np.ndarray, chol: np.ndarray, df: float,
                     num: int) -> tuple[np.ndarray, np.ndarray]:
    """num draws of the multivariate t (mean, chol chol^T, df) and their log density."""
    d = mean.size
    with jax.enable_x64(True):
        k1, k2 = jax.random.split(key)
        eps = np.asarray(jax.random.normal(k1, (num, d), dtype=jnp.float64))
        chi2 = np.asarray(2.0 * jax.random.gamma(k2, df / 2.0, (num,), dtype=jnp.float64))
    u = eps * np.sqrt(df / chi2)[:, None]
    x = mean + u @ chol.T
    q = (float(gammaln((df + d) / 2.0) - gammaln(df / 2.0)) - 0.5 * d * np.log(df * np.pi)
         - np.sum(np.log(np.diag(chol))) - 0.5 * (df + d) * np.log1p(np.sum(u * u, 1) / df))
    return x, q


def importance_estimate(log_k: np.ndarray, log_q: np.ndarray) -> ApproxResult:
    """log p(y) and its error from kernel and proposal log densities at the proposal draws."""
    lw = np.asarray(log_k, dtype=np.float64) - log_q
    bad = np.isnan(lw) | (lw == np.inf)
    notes = []
    if np.any(bad):
        if np.mean(bad) > 0.01:
            raise NumericalError(f"importance sampling: the log density is NaN or +inf at "
                                 f"{int(np.sum(bad))} of {lw.size} draws")
        notes.append(f"{int(np.sum(bad))} draws with NaN or +inf log density (counted as 0)")
        lw = np.where(bad, -np.inf, lw)
    top = np.max(lw)
    if not np.isfinite(top):
        raise NumericalError("importance sampling: no draw has a finite weight")
    w = np.exp(lw - top)
    m = len(w)
    log_ml = float(top + np.log(np.mean(w)))
    err = float(np.std(w, ddof=1) / (np.sqrt(m) * np.mean(w)))
    _, k_hat = pareto_smooth(lw - top)
    k_hat = float(k_hat)
    if not k_hat < 0.7:
        notes.append(f"Pareto k-hat {k_hat:.2f} >= 0.7: the weights' variance may be infinite "
                     "and the error estimate is not reliable")
    return ApproxResult(log_ml, err, "importance", True, pareto_k=k_hat, draws=m, notes=notes)


def importance_sampling(log_density: Callable[[jax.Array], jax.Array], draws: np.ndarray, *,
                        num: int = 20000, df: float = 4.0, seed: int = 0,
                        batch_size: int = 512) -> ApproxResult:
    """log p(y) by importance sampling from a Student-t fitted to ``draws`` (module
    docstring). ``draws``: posterior draws [..., d] in the density's coordinates."""
    mean, chol = student_t_proposal(draws, df)
    with jax.enable_x64(True):
        x, log_q = student_t_sample(jax.random.PRNGKey(seed), mean, chol, df, num)
        program = jax.jit(jax.vmap(jax.vmap(lambda z, _: log_density(z), in_axes=(0, None))))
        log_k = chunked(program, x[None], jnp.zeros(1), batch_size)[0]
    return importance_estimate(log_k, log_q)
