"""Multivariate Student-t GAS covariance model (GAS-t; Creal, Koopman & Lucas 2011; thesis
section 4.3.1; docs/models/gas-t-cov.md). One parameter vector for the whole panel: a "system" model
(``system = True``), fitted by bayesvol.fit_system.

Observation model for the k-vector y_t (demeaned by the sample mean unless ``demean=False``):

    y_t | f_t ~ Student t with 1/nubar degrees of freedom and covariance Sigma_t,
    Sigma_t = D_t R_t D_t,  f_t = (log diag(D_t^2) [k]; phi_t [k(k-1)/2] hyperspherical angles)

(density, angle maps, score and information: models/hyperspherical.py). The recursion is the
generic GAS filter (models/gas_filter.py, Creal, Koopman & Lucas 2013) with inverse-information
scaling and targeting (thesis eq. 3):

    f_{t+1} = (I - B) omega_tilde + A s_t + B f_t,   s_t = I_t^{-1} nabla_t,
    A = diag(a_D, a_phi),  B = diag(b_D, b_phi),

omega_tilde fixed from the data so that Sigma(omega_tilde) is the sample covariance (log sample
variances and the angles of the sample correlation, column by column from its upper Cholesky
factor), and f_1 = omega_tilde (the source leaves f_1 open, E19: "inspired by sample moments").

Variants (option ``variant``):

    "full"    a_D, b_D [k], a_phi, b_phi [m], nubar: k(k+1) + 1 parameters (GAS-t)
    "scalar"  a_D, b_D [k], one a_phi and b_phi for every angle, nubar: 2k + 3 (s-GAS-t)
    "hier"    "full" with the hierarchical prior (24) on the angle dynamics (RC-GAS-t):
              a_phi,i ~ N(mu_a, sigma_a^2), b_phi,i ~ TN(mu_b, sigma_b^2; -1, 1),
              k(k+1) + 5 parameters; ``centred=False`` (the default) is the non-centred
              form (25), a_phi,i = mu_a + sigma_a xi_a,i and b_phi,i = mu_b + sigma_b
              Phi^{-1}(Phi(alpha) + Phi(xi_b,i) (Phi(beta) - Phi(alpha))) with xi ~ N(0, 1),
              alpha = (-1 - mu_b)/sigma_b, beta = (1 - mu_b)/sigma_b: exactly the truncated
              normal, by its inverse CDF.

Priors (thesis section 4.3.5; :class:`GasTCovPriors`): a ~ N(0.05, 0.5^2) and mu_a likewise;
b ~ truncated N(0.95, 0.5^2) on (-1, 1) with the normaliser Phi((1 - mu)/s) - Phi((-1 - mu)/s)
(erratum E4), mu_b likewise; sigma_a, sigma_b ~ half-Cauchy(0.25); nubar ~ U(0, 1/2). The
hierarchical prior on b_phi is normalised as a truncated normal (a choice E19 leaves open).

Unconstrained coordinates (log-Jacobians in the prior): a = z, b = tanh(z),
nubar = sigmoid(z)/2, mu_b = tanh(z), sigma = exp(z), xi = z.

References: D. Creal, S. J. Koopman and A. Lucas (2011), A dynamic multivariate heavy-tailed
model for time-varying volatilities and correlations, JBES 29(4), 552-563; Creal, Koopman and
Lucas (2013), Generalized autoregressive score models with applications, JAE 28(5), 777-795;
R. Niesert (2017), Bayesian inference for generalized autoregressive score models, MSc thesis,
Erasmus University Rotterdam, section 4.3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri

from ..errors import InputError
from .bijections import log_sigmoid
from .gas_filter import GasPath, gas_filter, tanh_forward
from .hyperspherical import (
    corr_to_angles,
    n_angles,
    scaled_score,
)
from .priors import (  # noqa: F401  (re-exported: the truncated normal helpers)
    half_cauchy_logpdf,
    log_trunc_mass,
    normal_logpdf,
    trunc_normal_from_std,
    trunc_normal_logpdf,
)
from .series import bucket_length

VARIANTS = ("full", "scalar", "hier")


@dataclass(frozen=True)
class GasTCovPriors:
    """Prior settings (module docstring): a ~ N(a_loc, a_scale^2), b ~ TN(b_loc, b_scale^2;
    -1, 1), the same for the hyper-means, hyper-sds ~ half-Cauchy(sigma_scale)."""

    a_loc: float = 0.05
    a_scale: float = 0.5
    b_loc: float = 0.95
    b_scale: float = 0.5
    sigma_scale: float = 0.25

    def __post_init__(self) -> None:
        for name in ("a_scale", "b_scale", "sigma_scale"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
                raise ValueError(f"prior setting {name} must be a positive number, "
                                 f"got {value!r}")


class GasTCovData(NamedTuple):
    """Model input with a leading unit axis of size 1 (fit_system's convention):
    y [1, L, k] (demeaned; 0 where missing or padding), mask [1, L], target [1, n]
    (omega_tilde, also f_1)."""

    y: jax.Array
    mask: jax.Array
    target: jax.Array


# ------------------------------------------------------------------------------ helpers
def sample_targets(y: np.ndarray, demean: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mean [k], omega_tilde [n]) of observations y [T, k]: omega_tilde = (log sample
    variances, angles of the sample correlation). Without ``demean`` the mean is 0 and the
    second moments are taken about 0 (the model's mean)."""
    mean = y.mean(axis=0) if demean else np.zeros(y.shape[1])
    e = y - mean
    S = e.T @ e / e.shape[0]
    sd = np.sqrt(np.diag(S))
    R = S / np.outer(sd, sd)
    phi = np.asarray(corr_to_angles(R))
    return mean, np.concatenate([np.log(np.diag(S)), phi])


# -------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class GasTCovModel:
    """The GAS-t covariance model (module docstring): parameter maps, priors, GAS filter
    likelihood, covariance paths, one-step scores and simulation."""

    variant: str = "full"
    centred: bool = False
    demean: bool = True
    n_assets: int = 0  # k, set from the data by ``bind``
    priors: GasTCovPriors = field(default_factory=GasTCovPriors)

    name = "gas-t-cov"
    label = "GAS-t covariance"
    dist = "t"
    system = True

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant '{self.variant}' for gas-t-cov: use "
                             f"{', '.join(VARIANTS)}")
        for name in ("centred", "demean"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.n_assets, int) or self.n_assets < 0:
            raise ValueError(f"n_assets must be a non-negative integer, got {self.n_assets!r}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_options(cls, variant: str = "full", centred: bool = False, demean: bool = True,
                     priors: GasTCovPriors | dict | None = None, dist: str | None = None
                     ) -> GasTCovModel:
        """The model from ``bv.fit`` options (registry interface); ``dist`` must be t."""
        if dist not in (None, "t", "student", "std"):
            raise ValueError(f"gas-t-cov has multivariate Student-t innovations only, "
                             f"not '{dist}'")
        if isinstance(priors, dict):
            priors = GasTCovPriors(**priors)
        return cls(variant=str(variant).lower(), centred=centred, demean=demean,
                   priors=priors or GasTCovPriors())

    def config(self) -> dict:
        """JSON-serialisable description (``from_config`` inverts it)."""
        return {"model": self.name, "variant": self.variant, "centred": bool(self.centred),
                "demean": bool(self.demean), "n_assets": int(self.n_assets),
                "priors": dict(vars(self.priors))}

    @classmethod
    def from_config(cls, cfg: dict) -> GasTCovModel:
        return cls(variant=cfg["variant"], centred=bool(cfg["centred"]),
                   demean=bool(cfg["demean"]), n_assets=int(cfg.get("n_assets", 0)),
                   priors=GasTCovPriors(**cfg.get("priors", {})))

    @property
    def program_key(self) -> str:
        return repr(self)

    # --------------------------------------------------------------------- the data
    def check_panel(self, panel) -> None:
        """InputError unless the panel has >= 2 assets, all observed on the same dates
        (a date where every asset is missing is a missing observation)."""
        if panel.n_assets < 2:
            raise InputError(f"gas-t-cov needs at least 2 assets, got {panel.n_assets}",
                             source=panel.source)
        mask = np.asarray(panel.mask)
        partial = mask.any(axis=0) & ~mask.all(axis=0)
        if partial.any():
            t = int(np.argmax(partial))
            a = int(np.argmax(~mask[:, t]))
            raise InputError(f"gas-t-cov needs every asset observed on the same dates: asset "
                             f"'{panel.assets[a]}' is missing on {panel.dates[t].date()} "
                             "while others are observed", source=panel.source,
                             column=panel.assets[a])
        if int(mask.all(axis=0).sum()) < 2 * n_angles(panel.n_assets) + 10:
            raise InputError("gas-t-cov: too few dates with observations for "
                             f"{panel.n_assets} assets", source=panel.source)

    def bind(self, panel) -> GasTCovModel:
        """This model with k set from (and checked against) the panel."""
        self.check_panel(panel)
        if self.n_assets not in (0, panel.n_assets):
            raise InputError(f"the model was set up for {self.n_assets} assets, the data have "
                             f"{panel.n_assets}", source=panel.source)
        return GasTCovModel(self.variant, self.centred, self.demean, panel.n_assets,
                            self.priors)

    def _arrays(self, panel, new=None, pad: bool = True):
        """(y [L, k], mask [L], target [n], positions of the new dates) of ``panel`` (and of
        ``new`` after it, demeaned by the fitted panel's mean)."""
        obs = np.asarray(panel.mask).all(axis=0)
        values = np.asarray(panel.values).T
        mean, target = sample_targets(values[obs], self.demean)
        ys, ms = [np.where(obs[:, None], values - mean, 0.0)], [obs.astype(float)]
        positions = np.zeros(0, dtype=int)
        if new is not None:
            cols = [list(new.assets).index(a) if a in new.assets else None
                    for a in panel.assets]
            block = np.full((new.n_times, len(cols)), np.nan)
            for i, c in enumerate(cols):
                if c is not None:
                    block[:, i] = np.asarray(new.values)[c]
            ok = ~np.isnan(block).any(axis=1)
            ys.append(np.where(ok[:, None], block - mean, 0.0))
            ms.append(ok.astype(float))
            positions = len(obs) + np.arange(new.n_times)
        y, m = np.concatenate(ys), np.concatenate(ms)
        length = bucket_length(len(m)) if pad else len(m)
        y = np.concatenate([y, np.zeros((length - len(m), y.shape[1]))])
        m = np.concatenate([m, np.zeros(length - len(m))])
        return y, m, target, positions

    def prepare(self, panel) -> GasTCovData:
        """Model input of a panel: demeaned returns, mask, target; padded to a bucket length
        (mask 0), with the unit axis."""
        y, m, target, _ = self._arrays(panel)
        return GasTCovData(jnp.asarray(y)[None], jnp.asarray(m)[None],
                           jnp.asarray(target)[None])

    def continued_data(self, panel, new) -> tuple[GasTCovData, np.ndarray]:
        """Input of the fitted panel followed by new dates (mean and target from the fitted
        panel only), and the positions of the new dates in its time axis. A new date where
        an asset is missing is a missing observation (no score)."""
        y, m, target, pos = self._arrays(panel, new)
        return (GasTCovData(jnp.asarray(y)[None], jnp.asarray(m)[None],
                            jnp.asarray(target)[None]), pos)

    def labels(self, panel) -> dict[str, list[str]]:
        """Labels of the vector parameters: assets for a_D, b_D; 1..m for the angles."""
        m = n_angles(panel.n_assets)
        angles = [str(i + 1) for i in range(m)]
        return {"a_D": list(panel.assets), "b_D": list(panel.assets),
                "a_phi": angles, "b_phi": angles, "xi_a_phi": angles, "xi_b_phi": angles}

    # ------------------------------------------------------------- parameter layout
    @property
    def k(self) -> int:
        if self.n_assets < 2:
            raise ValueError("gas-t-cov model has no assets yet: call bind(panel)")
        return self.n_assets

    @property
    def m(self) -> int:
        return n_angles(self.k)

    @property
    def n(self) -> int:
        return self.k + self.m

    @property
    def _blocks(self) -> tuple[tuple[str, int], ...]:
        k, m = self.k, self.m
        blocks = [("a_D", k), ("atanh_b_D", k)]
        if self.variant == "scalar":
            blocks += [("a_phi", 0), ("atanh_b_phi", 0)]
        elif self.variant == "hier" and not self.centred:
            blocks += [("xi_a_phi", m), ("xi_b_phi", m)]
        else:
            blocks += [("a_phi", m), ("atanh_b_phi", m)]
        if self.variant == "hier":
            blocks += [("mu_a_phi", 0), ("atanh_mu_b_phi", 0), ("log_sigma_a_phi", 0),
                       ("log_sigma_b_phi", 0)]
        return tuple(blocks + [("logit_2nu_bar", 0)])

    @property
    def unconstrained_names(self) -> tuple[str, ...]:
        """Names of the coordinates of z (vector blocks 1-based: a_D[1], ...)."""
        names = []
        for name, size in self._blocks:
            names += [name] if size == 0 else [f"{name}[{i + 1}]" for i in range(size)]
        return tuple(names)

    @property
    def dim(self) -> int:
        return len(self.unconstrained_names)

    @property
    def param_names(self) -> tuple[str, ...]:
        names = ("a_D", "b_D", "a_phi", "b_phi", "nu_bar")
        if self.variant == "hier":
            names += ("mu_a_phi", "mu_b_phi", "sigma_a_phi", "sigma_b_phi")
        return names

    def _split(self, z: jax.Array) -> dict[str, jax.Array]:
        out, pos = {}, 0
        for name, size in self._blocks:
            out[name] = z[pos] if size == 0 else z[pos:pos + size]
            pos += max(size, 1)
        return out

    def constrain_with_logdet(self, z: jax.Array) -> tuple[dict[str, jax.Array], jax.Array]:
        """Natural parameters (``param_names``) and the log-Jacobian of the maps of the
        parameters that carry a prior density (the xi of the non-centred form are their own
        coordinates)."""
        u = self._split(z)
        p = {"a_D": u["a_D"]}
        p["b_D"], logdet = tanh_forward(u["atanh_b_D"])
        if self.variant == "hier":
            p["mu_a_phi"] = u["mu_a_phi"]
            p["mu_b_phi"], ld = tanh_forward(u["atanh_mu_b_phi"])
            p["sigma_a_phi"] = jnp.exp(u["log_sigma_a_phi"])
            p["sigma_b_phi"] = jnp.exp(u["log_sigma_b_phi"])
            logdet += ld + u["log_sigma_a_phi"] + u["log_sigma_b_phi"]
        if self.variant == "hier" and not self.centred:
            p["a_phi"] = p["mu_a_phi"] + p["sigma_a_phi"] * u["xi_a_phi"]
            p["b_phi"] = trunc_normal_from_std(u["xi_b_phi"], p["mu_b_phi"], p["sigma_b_phi"])
        else:
            p["a_phi"] = u["a_phi"]
            p["b_phi"], ld = tanh_forward(u["atanh_b_phi"])
            logdet += ld
        z_nu = u["logit_2nu_bar"]
        p["nu_bar"] = 0.5 * jax.nn.sigmoid(z_nu)
        logdet += jnp.log(0.5) + log_sigmoid(z_nu) + log_sigmoid(-z_nu)
        return {k: p[k] for k in self.param_names}, logdet

    def constrain(self, z: jax.Array) -> dict[str, jax.Array]:
        """Natural parameters from one z [d]."""
        return self.constrain_with_logdet(z)[0]

    def unconstrain(self, params: dict) -> jax.Array:
        """z from natural parameters (the inverse of :meth:`constrain`)."""
        def get(name, size):
            x = jnp.asarray(params[name], dtype=float)
            return x.reshape(()) if size == 0 else jnp.broadcast_to(x, (size,))

        def atanh(x):
            return jnp.arctanh(x)

        cols = []
        for name, size in self._blocks:
            if name == "a_D":
                v = get("a_D", size)
            elif name == "atanh_b_D":
                v = atanh(get("b_D", size))
            elif name == "a_phi":
                v = get("a_phi", size)
            elif name == "atanh_b_phi":
                v = atanh(get("b_phi", size))
            elif name == "xi_a_phi":
                v = (get("a_phi", size) - params["mu_a_phi"]) / params["sigma_a_phi"]
            elif name == "xi_b_phi":
                mu, s = params["mu_b_phi"], params["sigma_b_phi"]
                b = get("b_phi", size)
                pa, pb = ndtr((-1.0 - mu) / s), ndtr((1.0 - mu) / s)
                v = ndtri((ndtr((b - mu) / s) - pa) / (pb - pa))
            elif name == "mu_a_phi":
                v = get("mu_a_phi", 0)
            elif name == "atanh_mu_b_phi":
                v = atanh(get("mu_b_phi", 0))
            elif name.startswith("log_sigma"):
                v = jnp.log(get(name[4:], 0))
            else:
                nb = get("nu_bar", 0)
                v = jnp.log(2.0 * nb) - jnp.log1p(-2.0 * nb)
            cols.append(jnp.atleast_1d(v))
        return jnp.concatenate(cols)

    # ------------------------------------------------------------------- densities
    def log_prior(self, z: jax.Array) -> jax.Array:
        """log p(z): the priors of the module docstring plus the log-Jacobian."""
        pr = self.priors
        p, logdet = self.constrain_with_logdet(z)
        u = self._split(z)
        lp = jnp.sum(normal_logpdf(p["a_D"], pr.a_loc, pr.a_scale))
        lp += jnp.sum(trunc_normal_logpdf(p["b_D"], pr.b_loc, pr.b_scale))
        if self.variant == "hier":
            lp += normal_logpdf(p["mu_a_phi"], pr.a_loc, pr.a_scale)
            lp += trunc_normal_logpdf(p["mu_b_phi"], pr.b_loc, pr.b_scale)
            lp += half_cauchy_logpdf(p["sigma_a_phi"], pr.sigma_scale)
            lp += half_cauchy_logpdf(p["sigma_b_phi"], pr.sigma_scale)
            if self.centred:
                lp += jnp.sum(normal_logpdf(p["a_phi"], p["mu_a_phi"], p["sigma_a_phi"]))
                lp += jnp.sum(trunc_normal_logpdf(p["b_phi"], p["mu_b_phi"],
                                                  p["sigma_b_phi"]))
            else:
                lp += jnp.sum(normal_logpdf(u["xi_a_phi"], 0.0, 1.0))
                lp += jnp.sum(normal_logpdf(u["xi_b_phi"], 0.0, 1.0))
        else:
            lp += jnp.sum(normal_logpdf(p["a_phi"], pr.a_loc, pr.a_scale))
            lp += jnp.sum(trunc_normal_logpdf(p["b_phi"], pr.b_loc, pr.b_scale))
        lp += jnp.log(2.0)  # nu_bar ~ U(0, 1/2)
        return lp + logdet

    def dynamics(self, p: dict[str, jax.Array], target: jax.Array
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(omega = (1 - b) omega_tilde, diag A, diag B) as n-vectors."""
        m = self.m
        A = jnp.concatenate([p["a_D"], jnp.broadcast_to(p["a_phi"], (m,))])
        B = jnp.concatenate([p["b_D"], jnp.broadcast_to(p["b_phi"], (m,))])
        return (1.0 - B) * target, A, B

    def filter(self, p: dict[str, jax.Array], data_i: GasTCovData) -> GasPath:
        """The GAS filter (models/gas_filter.py) of one unit with f_1 = omega_tilde and
        inverse-information scaling, the scaled score s_t = I_t^{-1} nabla_t in closed form
        (``hyperspherical.scaled_score``, no n x n solve) passed as the filter's score (so
        the filter's own scaling is the identity)."""
        omega, A, B = self.dynamics(p, data_i.target)
        nb = p["nu_bar"]

        def log_density(y, f):
            return scaled_score(y, f, nb)[0]

        def score(y, f):
            return scaled_score(y, f, nb)[1]

        return gas_filter(data_i.y, data_i.mask, log_density, omega, A, B, data_i.target,
                          scaling=0.0, score=score)

    def loglik_terms(self, z: jax.Array, data_i: GasTCovData) -> jax.Array:
        """Per-date log p(y_t | f_t) at unconstrained z (0 where missing or padding)."""
        return self.filter(self.constrain(z), data_i).loglik

    def log_likelihood(self, z: jax.Array, data_i: GasTCovData) -> jax.Array:
        """Sum of ``loglik_terms``. JAX's default modes (reverse gradient, forward over
        reverse Hessian) measured faster here than ``gas_filter.forward_hessian`` (T = 500,
        k = 3: Hessian 0.17 s against 0.42 s)."""
        return jnp.sum(self.loglik_terms(z, data_i))

    def log_joint(self, z: jax.Array, data_i: GasTCovData) -> jax.Array:
        return self.log_likelihood(z, data_i) + self.log_prior(z)

    def numpyro_model(self, data_i: GasTCovData) -> None:
        """NumPyro model over the same unconstrained z (NUTS)."""
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        z = numpyro.sample("z", dist.ImproperUniform(constraints.real_vector, (), (self.dim,)))
        numpyro.factor("log_joint", self.log_joint(z, data_i))

    def initial_z(self, data_i: GasTCovData) -> jax.Array:
        """Start of the mode search: a_D 0.05, b_D 0.95, a_phi 0.03, b_phi 0.95, nubar 0.1
        (hier: mu_a 0.03, mu_b 0.95, sigmas 0.05)."""
        start = {"a_D": 0.05, "b_D": 0.95, "a_phi": 0.03, "b_phi": 0.95, "nu_bar": 0.1,
                 "mu_a_phi": 0.03, "mu_b_phi": 0.95, "sigma_a_phi": 0.05, "sigma_b_phi": 0.05}
        return self.unconstrain(start).astype(data_i.y.dtype)

    # ------------------------------------------------------------- derived quantities
    def covariance_paths(self, z: np.ndarray, data: GasTCovData) -> np.ndarray:
        """Sigma_t, t = 1..L, for each draw z [S, d]: [S, L, k, k] (data with its unit axis)."""
        unit = jax.tree_util.tree_map(lambda x: x[0], data)
        return np.asarray(_covariance_program(self)(jnp.asarray(z), unit))

    def next_state(self, z: np.ndarray, data: GasTCovData, last: int) -> np.ndarray:
        """f_{T+1} = omega + A s_T + B f_T after index ``last`` for each draw: [S, n]."""
        unit = jax.tree_util.tree_map(lambda x: x[0], data)
        return np.asarray(_next_state_program(self)(jnp.asarray(z), unit, last))

    def simulate_paths(self, p: dict, f1: jax.Array, target: jax.Array, key: jax.Array,
                       T: int) -> tuple[jax.Array, jax.Array]:
        """One path of (y_t [T, k], f_t [T, n]) from f_1 under natural parameters ``p``."""
        return simulate_gas_t(p, f1, target, key, T, self.k)

    def forecast_covariance_draws(self, z: np.ndarray, panel, horizon: int, paths: int,
                                  seed: int) -> np.ndarray:
        """E[Sigma_{T+h} | theta] for h = 1..horizon per draw [S, horizon, k, k] after the
        panel's last date: h = 1 is exact (Sigma(f_{T+1}) is deterministic given theta);
        later steps average ``paths`` simulated paths of the recursion."""
        data = self.prepare(panel)
        last = int(np.flatnonzero(np.asarray(panel.mask).any(axis=0))[-1])
        f_next = jnp.asarray(self.next_state(z, data, last))
        target = data.target[0]
        keys = jax.random.split(jax.random.PRNGKey(seed), f_next.shape[0] * paths)
        keys = keys.reshape(f_next.shape[0], paths, *keys.shape[1:])
        out = _forecast_program(self, int(horizon))(jnp.asarray(z), f_next, target, keys)
        return np.asarray(out)


from .gas_t_cov_paths import (  # noqa: E402  (after the model class they take)
    _covariance_program,
    _forecast_program,
    _next_state_program,
    sample_mvt,
    simulate_gas_t,
)

__all__ = ["GasTCovData", "GasTCovModel", "GasTCovPriors", "VARIANTS", "sample_mvt",
           "sample_targets", "simulate_gas_t", "trunc_normal_from_std", "trunc_normal_logpdf"]
