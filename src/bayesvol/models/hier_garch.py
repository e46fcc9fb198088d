"""Hierarchical (pooled) AR(1)-GARCH(1,1)-t over many assets (README, "Hierarchical GARCH").

Per asset i, on its own window [first_i, last_i] of a ragged panel (models/garch.py, ar=True):

    y_t = phi_i y~_{t-1} + e_t,  e_t = sigma_t eps_t,  eps_t ~ unit-variance t(nu_i)
    sigma_t^2 = omega_i + alpha_i e_{t-1}^2 + beta_i sigma_{t-1}^2

with the local block z_i = (phi, log omega, cloglog persistence, logit alpha share,
log(nu - 2)) in the unconstrained coordinates of GarchModel (persistence = alpha + beta,
alpha share = alpha / persistence). Interior gaps propagate mean and variance in expectation
and add no likelihood; each recursion starts at the asset's first observation.

Population (``population``):

  "mvn" (default)  z_i ~ N(loc, diag(scale) R diag(scale)), R ~ LKJ(lkj_eta), so persistence,
                   omega and the rest co-vary across assets. Globals g = (loc [5],
                   log scale [5], R's 10 unconstrained coordinates, numpyro's
                   CorrCholeskyTransform).
  "beta"           the seed's Beta pooling of persistence and alpha share, by mean and
                   concentration (persistence ~ Beta(m c, (1 - m) c)); normal pooling of phi,
                   log omega and log(nu - 2). Globals g = (phi_loc, log phi_scale,
                   log_omega_loc, log log_omega_scale, logit persistence_mean,
                   log persistence_concentration, logit alpha_share_mean,
                   log alpha_share_concentration, log_nu_excess_loc, log log_nu_excess_scale).

Hyperpriors (HierPriors): locations normal around centre values, with log omega's centre
log(0.05 v) for v the median over assets of the sample variance (scale-free in the data's
units); scales half-normal; Beta means logit-normal and concentrations log-normal (so the
Betas are not the seed's U-shaped Exponential(2) ones). The names of the globals in natural
space match the simulator's hyperparameters (simulate/hier_garch.py) where they mean the same.

Forgetting (``decay``, option ``asset_weights`` of ``prepare``): the log-likelihood of asset i
at date t is weighted by w_i decay^(last_i - t), counted from that asset's own last
observation. decay = 1 and w_i = 1 (the defaults) give the plain model, the only one whose
posterior is a real posterior; other values give a tempered pseudo-posterior, to be chosen
by out-of-sample score (bayesvol.select_decay), never learned as a parameter (a learned
likelihood weight only rewards w -> 1 where log p > 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import CorrCholeskyTransform

from ..small_linalg import solve_lower
from .bijections import cloglog, cloglog_forward, cloglog_logs, logit, sigmoid_logs
from .garch import GarchModel, SeriesData
from .joint_data import JointData
from .priors import beta_logpdf_logs, normal_logpdf
from .series import series_arrays

LOCAL = GarchModel(dist="t", ar=True)  # local coordinates: phi, log_omega, cloglog_psi1, ...
COORDS = ("phi", "log_omega", "cloglog_persistence", "logit_alpha_share", "log_nu_excess")
N_CORR = len(COORDS) * (len(COORDS) - 1) // 2
_LOG_OMEGA_SHIFT = float(np.log(0.05))


@dataclass(frozen=True)
class HierPriors:
    """Hyperpriors: centre/sd of each coordinate's location, half-normal sd of its scale.

    Coordinates in COORDS order. The log omega centre is relative: log(0.05 v) + centre[1]
    with v the median sample variance of the assets. The Beta-pooling option uses
    persistence_mean ~ logit-normal(logit centre, 1), concentrations ~ LogNormal(log 30, 1).
    """

    loc_centre: tuple[float, ...] = (0.0, 0.0, float(cloglog(0.95)), float(logit(0.1)),
                                     float(np.log(6.0)))
    loc_sd: tuple[float, ...] = (0.1, 2.0, 1.0, 1.0, 1.0)
    scale_sd: tuple[float, ...] = (0.1, 1.0, 0.5, 1.0, 0.5)
    independent_sd: tuple[float, ...] = (0.5, 3.0, 1.5, 2.0, 1.5)  # start only
    concentration_loc: float = float(np.log(30.0))
    concentration_sd: float = 1.0


class HierLocal(NamedTuple):
    """Per-asset inputs (asset axis first): left-aligned returns, mask, likelihood weights."""

    y: jax.Array  # [N, L]
    mask: jax.Array  # [N, L]
    weight: jax.Array  # [N, L] w_i decay^(last_i - t)
    log_var: jax.Array  # [N] log sample variance


def _half_normal_log(log_s: jax.Array, sd: jax.Array) -> jax.Array:
    """log HalfNormal(s; sd) + log s: the density of the coordinate log s."""
    s = jnp.exp(log_s)
    return jnp.log(2.0) + normal_logpdf(s, 0.0, sd) + log_s


@dataclass(frozen=True)
class HierGarchModel:
    """Pooled AR(1)-GARCH(1,1)-t (module docstring); a joint model for inference/joint."""

    population: str = "mvn"
    # decay only sets the weights ``prepare`` computes (data): it is left out of equality and
    # hashing so that fits differing only in decay share one compiled program
    decay: float = field(default=1.0, compare=False)
    lkj_eta: float = 2.0
    priors: HierPriors = field(default_factory=HierPriors)

    name = "hier-garch"
    label = "pooled AR(1)-GARCH(1,1)"  # plot titles
    dist = "t"
    joint = True

    def __post_init__(self) -> None:
        if self.population not in ("mvn", "beta"):
            raise ValueError(f"unknown population '{self.population}': use mvn or beta")
        if not 0.0 < float(self.decay) <= 1.0:
            raise ValueError(f"decay must lie in (0, 1], got {self.decay}")
        if not self.lkj_eta > 0:
            raise ValueError(f"lkj_eta must be > 0, got {self.lkj_eta}")

    # ------------------------------------------------------------------------- layout
    local = LOCAL
    local_dim = len(COORDS)
    unconstrained_names = COORDS
    param_names = ("phi", "omega", "alpha", "beta", "nu", "persistence", "alpha_share")

    @property
    def global_dim(self) -> int:
        return 2 * self.local_dim + (N_CORR if self.population == "mvn" else 0)

    @property
    def global_names(self) -> tuple[str, ...]:
        """Names of the coordinates of g."""
        if self.population == "beta":
            return ("phi_loc", "log_phi_scale", "log_omega_loc", "log_log_omega_scale",
                    "logit_persistence_mean", "log_persistence_concentration",
                    "logit_alpha_share_mean", "log_alpha_share_concentration",
                    "log_nu_excess_loc", "log_log_nu_excess_scale")
        pairs = [f"corr_raw{j}" for j in range(N_CORR)]
        return (tuple(f"{c}_loc" for c in COORDS) + tuple(f"log_{c}_scale" for c in COORDS)
                + tuple(pairs))

    # ----------------------------------------------------------------- data preparation
    def prepare(self, panel, asset_weights=None) -> JointData:
        """Model input from a ReturnsPanel: left-aligned, bucket-padded arrays and weights."""
        y, m, last = series_arrays(panel)
        n, length = y.shape
        t = np.arange(length)[None, :]
        w = np.ones(n) if asset_weights is None else np.asarray(asset_weights, dtype=float)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError(f"asset_weights must be {n} positive numbers")
        age = np.maximum(last[:, None] - t, 0)
        weight = w[:, None] * float(self.decay) ** age * m
        obs = np.maximum(m.sum(1), 1.0)
        mean = (y * m).sum(1) / obs
        var = np.maximum(((y - mean[:, None]) ** 2 * m).sum(1) / obs, 1e-300)
        local = HierLocal(jnp.asarray(y), jnp.asarray(m), jnp.asarray(weight),
                          jnp.asarray(np.log(var)))
        return JointData(glob=jnp.asarray(float(np.median(np.log(var)))), local=local)

    def series(self, panel) -> SeriesData:
        """Left-aligned (y, mask) per asset, for volatility, forecasts and scores."""
        y, m, _ = series_arrays(panel)
        return SeriesData(jnp.asarray(y), jnp.asarray(m))

    # ---------------------------------------------------------------------- densities
    def _centre(self, log_var: jax.Array) -> jax.Array:
        c = jnp.asarray(self.priors.loc_centre)
        return c.at[1].add(log_var + _LOG_OMEGA_SHIFT)

    def _mvn_parts(self, g: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        d = self.local_dim
        loc, log_scale, raw = g[:d], g[d:2 * d], g[2 * d:]
        return loc, jnp.exp(log_scale), CorrCholeskyTransform()(raw)

    def log_global(self, g: jax.Array, log_var_ref: jax.Array) -> jax.Array:
        """log p(g): hyperpriors in g's coordinates (Jacobians included)."""
        pr = self.priors
        d = self.local_dim
        centre = self._centre(log_var_ref)
        if self.population == "mvn":
            lp = jnp.sum(normal_logpdf(g[:d], centre, jnp.asarray(pr.loc_sd)))
            lp += jnp.sum(_half_normal_log(g[d:2 * d], jnp.asarray(pr.scale_sd)))
            tr = CorrCholeskyTransform()
            raw = g[2 * d:]
            chol = tr(raw)
            return (lp + dist.LKJCholesky(d, self.lkj_eta).log_prob(chol)
                    + tr.log_abs_det_jacobian(raw, chol))
        loc_sd, scale_sd = jnp.asarray(pr.loc_sd), jnp.asarray(pr.scale_sd)
        lp = 0.0
        for j, k in ((0, 0), (2, 1), (8, 4)):  # normal-pooled coordinates: phi, log omega, nu
            lp += normal_logpdf(g[j], centre[k], loc_sd[k])
            lp += _half_normal_log(g[j + 1], scale_sd[k])
        for j, k in ((4, 2), (6, 3)):  # Beta-pooled: persistence, alpha share
            logs = cloglog_logs(centre[2]) if k == 2 else sigmoid_logs(centre[3])
            mean_centre = logs[0] - logs[1]  # logit of the centre value
            lp += normal_logpdf(g[j], mean_centre, 1.0)
            lp += normal_logpdf(g[j + 1], pr.concentration_loc, pr.concentration_sd)
        return lp

    def log_local_prior(self, z: jax.Array, g: jax.Array) -> jax.Array:
        """log p(z_i | g), the population density of one asset's block."""
        if self.population == "mvn":
            loc, scale, chol = self._mvn_parts(g)
            u = solve_lower(chol, (z - loc) / scale)
            # log N(z; loc, S R S), S = diag(scale), R = chol chol^T: both log-determinants
            return (-0.5 * jnp.dot(u, u) - jnp.sum(jnp.log(scale))
                    - jnp.sum(jnp.log(jnp.diag(chol)))
                    - 0.5 * self.local_dim * jnp.log(2.0 * jnp.pi))
        lp = normal_logpdf(z[0], g[0], jnp.exp(g[1]))
        lp += normal_logpdf(z[1], g[2], jnp.exp(g[3]))
        lp += normal_logpdf(z[4], g[8], jnp.exp(g[9]))
        # Beta by mean m and concentration c, on the cloglog / logit coordinate (+ Jacobian)
        for zi, logs, jac, j in ((z[2], cloglog_logs, z[2] - jnp.exp(z[2]), 4),
                                 (z[3], sigmoid_logs, None, 6)):
            m = jax.nn.sigmoid(g[j])
            c = jnp.exp(g[j + 1])
            log_x, log_1mx = logs(zi)
            lp += beta_logpdf_logs(log_x, log_1mx, m * c, (1.0 - m) * c)
            lp += jac if jac is not None else log_x + log_1mx
        return lp

    def local_log_likelihood(self, z: jax.Array, local: HierLocal) -> jax.Array:
        """sum_t w_t log p(y_t | y_{<t}, z_i) for one asset."""
        p, _ = self.local.constrain_with_logdet(z)
        terms = self.local.loglik_terms(p, SeriesData(local.y, local.mask))
        return jnp.sum(terms * local.weight)

    def independent_globals(self, log_var_ref: jax.Array) -> jax.Array:
        """A weak population for the first start pass (inference/joint/start.py): locations
        at the hyperprior centres, wide scales, no correlation (Beta concentration 2)."""
        centre = self._centre(log_var_ref)
        wide = jnp.log(jnp.asarray(self.priors.independent_sd))
        if self.population == "mvn":
            return jnp.concatenate([centre, wide, jnp.zeros(N_CORR)])
        logs_p, logs_a = cloglog_logs(centre[2]), sigmoid_logs(centre[3])
        two = jnp.log(2.0)
        return jnp.stack([centre[0], wide[0], centre[1], wide[1], logs_p[0] - logs_p[1], two,
                          logs_a[0] - logs_a[1], two, centre[4], wide[4]])

    def initial_local(self, local: HierLocal) -> jax.Array:
        """Mode search start: omega = 0.05 var, alpha 0.05, beta 0.9, nu 8, phi 0."""
        var = jnp.exp(local.log_var)
        return self.local.unconstrain({"phi": 0.0, "omega": 0.05 * var, "alpha": 0.05,
                                       "beta": 0.9, "nu": 8.0})

    @property
    def gaussian_population(self) -> bool:
        """Is p(z_i | g) Gaussian (so ``population_gaussian`` is exact)? The joint VI draws
        the globals from their Laplace marginal then (inference/joint/vi.py)."""
        return self.population == "mvn"

    def initial_candidates(self, local: HierLocal) -> jax.Array:
        """Mode search starts [18, d_l] (the start keeps the best): persistence 0.9, 0.96,
        0.99 x alpha share 0.04, 0.1, 0.2 x nu 5, 12, phi 0, omega targeting the sample
        variance (omega = (1 - persistence) var)."""
        var = jnp.exp(local.log_var)
        return jnp.stack([
            self.local.unconstrain({"phi": 0.0, "omega": (1.0 - p) * var, "alpha": s * p,
                                    "beta": (1.0 - s) * p, "nu": nu})
            for p in (0.9, 0.96, 0.99) for s in (0.04, 0.1, 0.2) for nu in (5.0, 12.0)])

    def population_gaussian(self, g: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Mean and covariance of p(z_i | g) (inference/joint/start.py): exact for mvn; for
        the Beta population exact on the logit coordinate (digamma / trigamma) and by the
        delta method on the cloglog one."""
        if self.population == "mvn":
            loc, scale, chol = self._mvn_parts(g)
            f = scale[:, None] * chol
            return loc, f @ f.T
        from jax.scipy.special import digamma, polygamma

        mean = [g[0], g[2], 0.0, 0.0, g[8]]
        var = [jnp.exp(2 * g[1]), jnp.exp(2 * g[3]), 0.0, 0.0, jnp.exp(2 * g[9])]
        m, c = jax.nn.sigmoid(g[4]), jnp.exp(g[5])
        mean[2] = cloglog(m)
        var[2] = m * (1 - m) / (c + 1) / ((1 - m) * -jnp.log1p(-m)) ** 2
        a, b = jax.nn.sigmoid(g[6]) * jnp.exp(g[7]), (1 - jax.nn.sigmoid(g[6])) * jnp.exp(g[7])
        mean[3] = digamma(a) - digamma(b)
        var[3] = polygamma(1, a) + polygamma(1, b)
        return jnp.stack([jnp.asarray(x) for x in mean]), jnp.diag(jnp.stack(
            [jnp.asarray(x) for x in var]))

    def globals_from_moments(self, m: jax.Array, v: jax.Array, ok: jax.Array,
                             log_var_ref: jax.Array) -> jax.Array:
        """The M-step of the start's random-effects EM (inference/joint/start.py): g from the
        assets' Gaussian posteriors N(m_i, V_i), weighted by ``ok``.

        Location: mean of m_i; covariance: mean of (m_i - loc)(m_i - loc)^T + V_i, scales
        clipped to [0.02, 3]; mvn correlation shrunk towards I by d / (n + d). Beta
        population: mean and concentration of the natural value x_i = F(z_i) by moments,
        Var x from (x_i - mean)^2 + F'(m_i)^2 V_i (delta method), concentration in [2, 1000].
        """
        w = ok.astype(m.dtype)
        n = jnp.sum(w)
        any_ok = n > 0
        wn = w / jnp.maximum(n, 1.0)
        centre = self._centre(log_var_ref)
        loc = jnp.where(any_ok, wn @ m, centre)
        dev = m - loc
        cov = jnp.einsum("i,ij,ik->jk", wn, dev, dev) + jnp.einsum("i,ijk->jk", wn, v)
        sd = jnp.sqrt(jnp.clip(jnp.diag(cov), 0.02**2, 9.0))
        sd = jnp.where(any_ok, sd, jnp.asarray(self.priors.independent_sd))
        if self.population == "mvn":
            corr = cov / jnp.outer(sd, sd)
            lam = self.local_dim / (n + self.local_dim)
            corr = (1 - lam) * corr + lam * jnp.eye(self.local_dim)
            dsd = jnp.sqrt(jnp.diag(corr))
            corr = corr / jnp.outer(dsd, dsd)
            raw = CorrCholeskyTransform().inv(jnp.linalg.cholesky(corr))
            raw = jnp.where(jnp.all(jnp.isfinite(raw)), raw, 0.0)
            return jnp.concatenate([loc, jnp.log(sd), raw])
        out = []
        for k in range(self.local_dim):
            if k in (2, 3):
                zk = m[:, k]
                if k == 2:
                    x, dx = cloglog_forward(zk)[0], jnp.exp(zk - jnp.exp(zk))
                else:
                    x = jax.nn.sigmoid(zk)
                    dx = x * (1 - x)
                mean = jnp.clip(wn @ x, 1e-3, 1 - 1e-3)
                var = jnp.maximum(wn @ ((x - mean) ** 2 + dx**2 * v[:, k, k]), 1e-8)
                c = jnp.clip(mean * (1 - mean) / var - 1.0, 2.0, 1000.0)
                mean = jnp.where(any_ok, mean, 0.5)
                c = jnp.where(any_ok & jnp.isfinite(c), c, 30.0)
                out += [jnp.log(mean) - jnp.log1p(-mean), jnp.log(c)]
            else:
                out += [loc[k], jnp.log(sd[k])]
        return jnp.stack(out)

    def global_start_cov(self, g: jax.Array, ok: jax.Array) -> jax.Array:
        """Start covariance of g: sampling variances of moment estimates from n assets,
        scale^2 / n for a location and 1 / n for everything else (diagonal)."""
        n = jnp.maximum(jnp.sum(ok), 1.0)
        d = self.local_dim
        var = jnp.full(self.global_dim, 1.0 / n)
        if self.population == "mvn":
            var = var.at[:d].set(jnp.exp(2.0 * g[d:2 * d]) / n)
        else:
            var = var.at[jnp.array([0, 2, 8])].set(jnp.exp(2.0 * g[jnp.array([1, 3, 9])]) / n)
        return jnp.diag(var)

    # ------------------------------------------------------------------- prior sampling
    def sample_prior(self, key: jax.Array, n_assets: int, log_var_ref: float | jax.Array
                     ) -> tuple[jax.Array, jax.Array]:
        """One draw (g, z [n_assets, d_l]) from the hyperprior and the population.

        ``log_var_ref`` sets the scale of omega's hyperprior as in ``prepare`` (the log of a
        typical return variance).
        """
        pr = self.priors
        d = self.local_dim
        k_loc, k_scale, k_corr, k_z, k_beta = jax.random.split(key, 5)
        centre = self._centre(jnp.asarray(log_var_ref, dtype=float))
        loc = centre + jnp.asarray(pr.loc_sd) * jax.random.normal(k_loc, (d,))
        scale = jnp.abs(jnp.asarray(pr.scale_sd) * jax.random.normal(k_scale, (d,)))
        if self.population == "mvn":
            chol = dist.LKJCholesky(d, self.lkj_eta).sample(k_corr)
            g = jnp.concatenate([loc, jnp.log(scale), CorrCholeskyTransform().inv(chol)])
            return g, self.from_theta(jnp.concatenate(
                [g, jax.random.normal(k_z, (n_assets * d,))]), n_assets)[1]
        k_m, k_c, k_b = jax.random.split(k_beta, 3)
        logs_p, logs_a = cloglog_logs(centre[2]), sigmoid_logs(centre[3])
        logit_m = (jnp.stack([logs_p[0] - logs_p[1], logs_a[0] - logs_a[1]])
                   + jax.random.normal(k_m, (2,)))
        log_c = pr.concentration_loc + pr.concentration_sd * jax.random.normal(k_c, (2,))
        g = jnp.stack([loc[0], jnp.log(scale[0]), loc[1], jnp.log(scale[1]), logit_m[0],
                       log_c[0], logit_m[1], log_c[1], loc[4], jnp.log(scale[4])])
        eps = jax.random.normal(k_z, (n_assets, 3))
        m, c = jax.nn.sigmoid(logit_m), jnp.exp(log_c)
        shares = jax.random.beta(k_b, m * c, (1.0 - m) * c, (n_assets, 2))
        shares = jnp.clip(shares, 1e-12, 1.0 - 1e-12)
        z = jnp.stack([loc[0] + scale[0] * eps[:, 0], loc[1] + scale[1] * eps[:, 1],
                       cloglog(shares[:, 0]), logit(shares[:, 1]),
                       loc[4] + scale[4] * eps[:, 2]], axis=-1)
        return g, z

    # ------------------------------------------------------------------- natural space
    def constrain(self, z: jax.Array) -> dict[str, jax.Array]:
        """Per-asset natural parameters (any leading shape), with persistence, alpha_share."""
        p, _ = self.local.constrain_with_logdet(z)
        out = {k: p[k] for k in self.local.param_names}
        out["persistence"], out["alpha_share"] = p["psi1"], p["psi2"]
        return out

    def constrain_global(self, g: jax.Array) -> dict[str, jax.Array]:
        """Globals in natural space (any leading shape): simulator names where they agree."""
        d = self.local_dim
        if self.population == "beta":
            out = {"phi_loc": g[..., 0], "phi_scale": jnp.exp(g[..., 1]),
                   "log_omega_loc": g[..., 2], "log_omega_scale": jnp.exp(g[..., 3]),
                   "persistence_mean": jax.nn.sigmoid(g[..., 4]),
                   "persistence_concentration": jnp.exp(g[..., 5]),
                   "alpha_share_mean": jax.nn.sigmoid(g[..., 6]),
                   "alpha_share_concentration": jnp.exp(g[..., 7]),
                   "log_nu_excess_loc": g[..., 8], "log_nu_excess_scale": jnp.exp(g[..., 9])}
            return out
        out = {}
        for k, c in enumerate(COORDS):
            out[f"{c}_loc"] = g[..., k]
            out[f"{c}_scale"] = jnp.exp(g[..., d + k])
        out["persistence_median"] = cloglog_forward(g[..., 2])[0]
        out["alpha_share_median"] = jax.nn.sigmoid(g[..., 3])
        chol = CorrCholeskyTransform()(g[..., 2 * d:])
        corr = chol @ jnp.swapaxes(chol, -1, -2)
        for a in range(d):
            for b in range(a + 1, d):
                out[f"corr[{COORDS[a]},{COORDS[b]}]"] = corr[..., a, b]
        return out

    # ------------------------------------------------------------ per-asset delegation
    def variance_path(self, p, data: SeriesData, s1=None):
        return self.local.variance_path(p, data, s1)

    def residuals(self, p, data: SeriesData):
        return self.local.residuals(p, data)

    def start_variance(self, p, e, mask):
        return self.local.start_variance(p, e, mask)

    def loglik_terms(self, p, data: SeriesData, s1=None):
        return self.local.loglik_terms(p, data, s1)

    def next_variance(self, p, data: SeriesData, last):
        return self.local.next_variance(p, data, last)

    def simulate_ahead(self, p, s2_next, horizon, key, y_last=0.0):
        return self.local.simulate_ahead(p, s2_next, horizon, key, y_last)

    # ---------------------------------------------------------------------------- NUTS
    def to_theta(self, g: jax.Array, z: jax.Array) -> jax.Array:
        """Flat NUTS coordinates (g, eta_1..eta_N); eta_i = R_chol^{-1} (z_i - loc) / scale
        for the non-centred mvn population, eta_i = z_i for the Beta population."""
        if self.population == "mvn":
            loc, scale, chol = self._mvn_parts(g)
            z = solve_lower(chol, (z - loc) / scale)
        return jnp.concatenate([g, z.reshape(-1)])

    def from_theta(self, theta: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """(g, z [N, d_l]) from flat NUTS coordinates (inverse of ``to_theta``)."""
        dg = self.global_dim
        g, eta = theta[:dg], theta[dg:].reshape(n, self.local_dim)
        if self.population == "mvn":
            loc, scale, chol = self._mvn_parts(g)
            return g, loc + scale * (eta @ chol.T)
        return g, eta

    def numpyro_model(self, data: JointData) -> None:
        """The joint density for NUTS over theta = (g, eta): non-centred for the mvn population.

        log p(g) + sum_i [log N(eta_i; 0, I) + loglik_i(loc + scale * R_chol eta_i)], the
        centred density after the change of variables (its Jacobian is prod scale * |R_chol|).
        """
        n = int(data.local.y.shape[0])
        size = self.global_dim + n * self.local_dim
        theta = numpyro.sample("theta", dist.ImproperUniform(constraints.real_vector, (),
                                                             (size,)))
        g, z = self.from_theta(theta, n)
        lik = jnp.sum(jax.vmap(self.local_log_likelihood)(z, data.local))
        if self.population == "mvn":
            eta = theta[self.global_dim:]
            prior = -0.5 * jnp.dot(eta, eta) - 0.5 * eta.size * jnp.log(2.0 * jnp.pi)
        else:
            prior = jnp.sum(jax.vmap(self.log_local_prior, in_axes=(0, None))(z, g))
        numpyro.factor("log_joint", self.log_global(g, data.glob) + prior + lik)

    # ----------------------------------------------------------------------- config
    def config(self) -> dict:
        return {"model": self.name, "dist": "t", "population": self.population,
                "decay": float(self.decay), "lkj_eta": float(self.lkj_eta),
                "priors": {k: list(v) if isinstance(v, tuple) else v
                           for k, v in vars(self.priors).items()}}

    @classmethod
    def from_options(cls, dist: str = "t", population: str = "mvn", decay: float = 1.0,
                     lkj_eta: float = 2.0, priors: HierPriors | dict | None = None
                     ) -> HierGarchModel:
        """The model from ``bv.fit`` options (registry interface); innovations are t only."""
        if dist not in ("t", "student", "student-t"):
            raise ValueError(f"hier-garch has Student-t innovations only, not '{dist}'")
        if isinstance(priors, dict):
            priors = HierPriors(**priors)
        return cls(population=population, decay=decay, lkj_eta=lkj_eta,
                   priors=priors or HierPriors())

    @classmethod
    def from_config(cls, cfg: dict) -> HierGarchModel:
        pri = {k: tuple(v) if isinstance(v, list) else v
               for k, v in cfg.get("priors", {}).items()}
        return cls(population=cfg.get("population", "mvn"), decay=cfg.get("decay", 1.0),
                   lkj_eta=cfg.get("lkj_eta", 2.0), priors=HierPriors(**pri))
