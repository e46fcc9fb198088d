"""Sequential updating engine: Seq-SVB and UVB (SVI-GARCH paper 2.10, 3.3).

A VI fit to y_{1:T} is updated with a new block B = y_{T+1:T+h}. This module holds the engine
half, on panels, arrays and variational parameters only: the UVB target, its data, and the
warm-started VI run (``warm_start_vi``, returning the runner's VIResult). Building a Fit from
it (``Fit.update``, ``update_fit``, ``run_sequential``) is the API's, in bayesvol/updating.py.

Seq-SVB (Gunawan et al. 2021; spec 2.10, Algorithm 4) re-runs VI on ALL data y_{1:T+h} with
the true prior, warm-started at the previous variational parameters lambda_T (fresh optimiser
state and patience counter, as Algorithm 2 re-initialises them). It targets p(theta | y_{1:T+h}).

UVB (Tomasetti et al. 2022; spec 2.10, Algorithm 3, eq. 34) turns the previous approximation
q_T = N(mu_T, Sigma_T) (on the unconstrained z) into the prior and uses the likelihood of the
new block only:

    p~(z | y_{1:T+h})  propto  L(z; B) N(z; mu_T, Sigma_T)                              (34)
    log p~ = l_B(z) - 1/2 |L_T^{-1}(z - mu_T)|^2 - sum_i log (L_T)_ii - d/2 log 2 pi
    (Sigma_T = L_T L_T^T; pseudo-prior gradient -Sigma_T^{-1}(z - mu_T) by autodiff)

again warm-started at lambda_T. mu_T and L_T travel in the data pytree (asset axis first), not in
the hashable target object, so one compiled program serves every update of the same shapes.

Variance entering the block (``carry``; the paper leaves it [UNSPECIFIED], spec 2.10):
    "plugin" (default)  sigma^2_{T+1} is computed once, by running the recursion over all past
        data at the previous posterior mean z = mu_T (GarchModel.next_variance), and is held
        fixed: the block recursion sigma^2_t = omega + alpha e_{t-1}^2 + beta sigma^2_{t-1},
        t = T+2..T+h, starts from that number for every z. Cost O(h) per likelihood, as the
        paper's UVB timings (Table 3) imply; the approximation is that sigma^2_{T+1} does not
        move with z.
    "exact"  sigma^2_{T+1}(z) is recomputed for every z by re-running the recursion over the
        whole history (start value by the model's ``start`` rule applied to the OLD data only,
        as in the previous fit), and only the block's terms are summed:
        l_B(z) = log p(y_B | y_{1:T}, z) = l(z; y_{1:T+h}) - l(z; y_{1:T}). Exact, cost O(T).
For an asset whose last old observation is before the last old date, the block starts right
after that observation; the unobserved dates in between only propagate the variance.

Models: GarchModel only (``check_updatable``). With an AR(1) mean (``ar=True``) Seq-SVB and
UVB "exact" stay exact (the residuals are computed on the whole history); UVB "plugin" is not
available, since its block series starts without the last old return that the AR mean of the
block's first point needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ..data import ReturnsPanel
from ..errors import InputError
from ..models.garch import GarchModel, SeriesData
from ..models.series import align_left_arrays, bucket_length
from .runner import VIOptions, VIResult, run_vi_batch
from .vi.families import get_family

METHODS = ("seqsvb", "uvb")
CARRIES = ("plugin", "exact")
_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


class BlockData(NamedTuple):
    """UVB input, asset axis first: the series, the block indicator, and the pseudo-prior.

    plugin: y/mask hold the block only (left-aligned at its start), block = 1, s1 = sigma^2 at
    the block start.  exact: y/mask hold the whole history (left-aligned at the asset's first
    observation), block = 1 on the new dates (0 on the old ones), s1 unused.
    """

    y: jax.Array  # [N, L]
    mask: jax.Array  # [N, L]
    block: jax.Array  # [N, L]
    s1: jax.Array  # [N]
    mu: jax.Array  # [N, d] previous variational mean
    chol: jax.Array  # [N, d, d] Cholesky factor of the previous variational covariance


def check_updatable(model, method: str, carry: str = "plugin") -> None:
    """InputError unless ``model`` can be updated by ``method``/``carry`` (module docstring)."""
    if getattr(model, "joint", False) or not isinstance(model, GarchModel):
        raise InputError(f"sequential updating is available for garch models without AR mean, "
                         f"not for '{getattr(model, 'name', type(model).__name__)}'")
    if model.ar and method == "uvb" and carry == "plugin":
        raise InputError("sequential updating is available for garch models without AR mean "
                         "by UVB with carry='plugin' (the block's first residual needs the "
                         "last old return): use carry='exact' or method='seqsvb'")


def gaussian_logpdf_chol(z: jax.Array, mu: jax.Array, chol: jax.Array) -> jax.Array:
    """log N(z; mu, L L^T) = -1/2 |L^{-1}(z - mu)|^2 - sum log L_ii - d/2 log 2 pi."""
    u = solve_triangular(chol, z - mu, lower=True)
    return -0.5 * jnp.dot(u, u) - jnp.sum(jnp.log(jnp.diag(chol))) - z.shape[-1] * _HALF_LOG_2PI


@dataclass(frozen=True)
class UVBTarget:
    """UVB pseudo-posterior (34) as a runner model: block log-likelihood + log N(z; mu, Sigma).

    Hashable (holds only the GarchModel and the carry rule); the block, the start variance and
    the Gaussian pseudo-prior come in the ``BlockData`` pytree.
    """

    model: GarchModel
    carry: str = "plugin"

    @property
    def dim(self) -> int:
        return self.model.dim

    def log_likelihood(self, z: jax.Array, data: BlockData) -> jax.Array:
        """l_B(z): log-likelihood of the new block only, variance carried per ``carry``.

        The recursion and missing-value rule are GarchModel.loglik_terms' (spec 1.1), started
        at sigma^2 = s1: the plug-in number, or the old fit's start rule on the old data.
        """
        p, _ = self.model.constrain_with_logdet(z)
        series = SeriesData(data.y, data.mask)
        if self.carry == "plugin":
            s1 = data.s1
        else:  # the old fit's start rule on the old data, then the recursion through the block
            e = self.model.residuals(p, series)
            s1 = self.model.start_variance(p, e, data.mask * (1.0 - data.block))
        return jnp.sum(self.model.loglik_terms(p, series, s1) * data.block)

    def log_prior(self, z: jax.Array, data: BlockData) -> jax.Array:
        return gaussian_logpdf_chol(z, data.mu, data.chol)

    def log_joint(self, z: jax.Array, data: BlockData) -> jax.Array:
        return self.log_likelihood(z, data) + self.log_prior(z, data)

    def initial_z(self, data: BlockData) -> jax.Array:
        return data.mu

    def numpyro_model(self, data: BlockData) -> None:
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        z = numpyro.sample("z", dist.ImproperUniform(constraints.real_vector, (), (self.dim,)))
        numpyro.factor("log_joint", self.log_joint(z, data))


# ------------------------------------------------------------------------------ UVB data
@lru_cache(maxsize=16)
def _plugin_program(model: GarchModel):
    def one(mu, data, last):
        return model.next_variance(model.constrain(mu), data, last)

    return jax.jit(jax.vmap(one))


def uvb_data(model: GarchModel, old: ReturnsPanel, full: ReturnsPanel, mu: np.ndarray,
             cov: np.ndarray, carry: str = "plugin") -> BlockData:
    """BlockData of a UVB update from panel ``old`` to ``full`` (= old + new dates).

    mu [N, d], cov [N, d, d]: the previous q's mean and covariance (the pseudo-prior). The block
    of asset i starts at old.last[i] + 1 (dates index of ``full``). The history comes from
    ``model.prepare`` (left-aligned at each asset's first observation).
    """
    if carry not in CARRIES:
        raise InputError(f"unknown carry '{carry}': choose plugin or exact")
    check_updatable(model, "uvb", carry)
    n, t_all = full.n_assets, full.n_times
    start = np.asarray(old.last) + 1
    chol = np.linalg.cholesky(0.5 * (cov + np.swapaxes(cov, 1, 2))
                              + 1e-12 * np.eye(cov.shape[-1]))
    if carry == "plugin":
        s0 = int(start.min())
        y, m = align_left_arrays(full.values[:, s0:], full.mask[:, s0:], start - s0,
                                 pad_to=bucket_length(t_all - s0, minimum=32))
        blk = np.ones_like(y)
        last = np.asarray(old.last) - np.asarray(old.first)
        s1 = _plugin_program(model)(jnp.asarray(mu), model.prepare(old), jnp.asarray(last))
    else:
        sd = model.prepare(full)
        y, m = np.asarray(sd.y), np.asarray(sd.mask)
        pos = np.arange(y.shape[1])[None, :]
        blk = (pos >= (start - np.asarray(full.first))[:, None]).astype(float)
        s1 = np.zeros(n)
    return BlockData(jnp.asarray(y), jnp.asarray(m), jnp.asarray(blk), jnp.asarray(s1),
                     jnp.asarray(mu), jnp.asarray(chol))


# ------------------------------------------------------------------------------ warm start
def warm_start_vi(model: GarchModel, old: ReturnsPanel, full: ReturnsPanel, params: dict,
                  family: str, opts: VIOptions, key: jax.Array, method: str = "seqsvb",
                  carry: str = "plugin") -> VIResult:
    """VI on ``full`` (= ``old`` + new dates) started at the previous variational parameters.

    params: lambda_T, the previous fit's parameters of variational family ``family``, asset
    axis first; opts.family may differ (then q_T is converted through its mean and
    covariance). method "seqsvb": the model's posterior on all of ``full`` (Algorithm 4);
    "uvb": the block likelihood x N(mu_T, Sigma_T) (eq. 34, ``carry`` as in the module
    docstring). Fresh optimiser state and patience, as Algorithm 2 re-initialises them.
    """
    if method not in METHODS:
        raise InputError(f"unknown update method '{method}': choose seqsvb or uvb")
    check_updatable(model, method, carry)
    old_family, new_family = get_family(family), get_family(opts.family)
    params = jax.tree_util.tree_map(jnp.asarray, dict(params))
    mu, cov = jax.vmap(old_family.mean_cov)(params)
    if new_family.name != old_family.name:
        params = jax.vmap(new_family.init)(mu, cov)
    if method == "seqsvb":
        return run_vi_batch(model, model.prepare(full), key, opts, params0=params)
    data = uvb_data(model, old, full, np.asarray(mu), np.asarray(cov), carry)
    return run_vi_batch(UVBTarget(model, carry), data, key, opts, params0=params)


def sequential_schedule(T_n: int, T_N: int, c: int) -> list[tuple[int, int]]:
    """Block boundaries of spec 2.10: T_{n+j} = T_n + j (T_N - T_n) / c, j = 1..c.

    Returns c half-open index ranges [(T_{n+j-1}, T_{n+j})): block j is y[T_{n+j-1}:T_{n+j}]
    (0-based), i.e. y_{T_{n+j-1}+1 : T_{n+j}} in the paper's 1-based notation. When c does not
    divide T_N - T_n the boundaries are floored, so blocks differ by at most one.
    """
    T_n, T_N, c = int(T_n), int(T_N), int(c)
    if not 0 < T_n < T_N:
        raise InputError(f"need 0 < T_n < T_N, got T_n={T_n}, T_N={T_N}")
    if not 1 <= c <= T_N - T_n:
        raise InputError(f"need 1 <= c <= T_N - T_n = {T_N - T_n}, got c={c}")
    bounds = [T_n + (j * (T_N - T_n)) // c for j in range(c + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))
