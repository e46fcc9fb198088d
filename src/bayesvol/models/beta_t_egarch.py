"""Beta-Gen-t-EGARCH and Beta-t-EGARCH: score-driven volatility with generalised-t returns
(Harvey 2013; Harvey & Lange 2017; docs/models/beta-t-egarch.md).

Observation model for one asset with mask m_t, residual e_t = y_t - mu and log scale f_t:

    p(y_t | f_t) = e^{-f_t} v etabar^{1/v} / (2 B(1/(v etabar), 1/v))
                   * (1 + etabar |e_t e^{-f_t}|^v)^{-(etabar + 1)/(v etabar)}

the generalised t with tail parameter etabar = 1/eta (the inverse degrees of freedom) in
(0, 1/2) and peak parameter v > 0 (the power v on |.| is needed for this density to
integrate to 1 with the constant shown). v = 2 is the Student t with 1/etabar degrees of
freedom and scale e^{f_t} (Beta-t-EGARCH, Harvey & Chakravarty 2008); etabar -> 0 is the
generalised error distribution (GED). The log scale follows the GAS recursion
(models/gas_filter.py, Creal, Koopman & Lucas 2013) with scalar omega, A, B:

    f_{t+1} = omega + A s_t + B f_t,       s_t = m_t I^{-a} nabla_t
    nabla_t = (etabar + 1)/etabar * b_t - 1,   b_t = etabar x_t^v / (etabar x_t^v + 1),
    x_t = |e_t| e^{-f_t},   b_t ~ Beta(1/v, 1/(v etabar))

so nabla_t = d log p / d f_t is bounded in the shock (the robustness of Beta-t-EGARCH). The
default scaling is a = 0 (nabla_t itself). The information I = E[nabla_t^2] =
v / (1 + (v + 1) etabar) does not depend on f_t (from the Beta variance of b_t), so a = 1/2
or 1 only rescales A (option ``scaling``).

Conditional variance (Harvey & Lange 2017), the square root of which is reported as the
volatility:

    var(y_t | f_t) = c e^{2 f_t},  c = Gamma(3/v) Gamma((1 - 2 etabar)/(v etabar))
                                     / (Gamma(1/v) Gamma(1/(v etabar)) etabar^{2/v})

computed with log-gamma functions; for etabar <= ``ged_threshold`` (0.005) c is its GED
limit Gamma(3/v) v^{2/v} / Gamma(1/v). One-step VaR: 1 - b_t ~ Beta(1/(v etabar), 1/v), so
the lower alpha-quantile of y_t is mu - e^{f_t} ((1/q - 1)/etabar)^{1/v},
q = F^{-1}_{Beta(1/(v etabar), 1/v)}(2 alpha) (:func:`quantile`).

Parameters: (mu), omega, A, B, etabar (``eta_bar``), v. Option ``dist``: "gen-t" (v free,
Beta-Gen-t-EGARCH) or "t" (v fixed at 2, Beta-t-EGARCH). Unconstrained coordinates, in order:

    mu = z_mu (when ``mean``)
    f_bar = z (intercept "unconditional", omega = (1 - B) f_bar) or omega = z ("free")
    A = z_A,   B = tanh(z_B),   etabar = sigmoid(z_eta) / 2,   v = exp(z_v)   (gen-t)
    f_1 = z_f1 (start "estimated")

Priors (proper, normalised; :class:`BetaTEgarchPriors`): B ~ U(-1, 1) and etabar ~ U(0, 1/2)
(the flat priors of Niesert 2017 on these bounded sets), A ~ N(0.05, 0.5^2), f_bar ~ N(0, 5^2)
(or omega ~ N(0, 1)), mu ~ N(0, 1), v ~ LogNormal(log 2, 0.5^2) (in place of the improper
flat prior on v > 0), f_1 ~ N(0, 5^2).

Start of the recursion (option ``start``; the source leaves f_1 to the user): "sample" (the
default: f_1 such that var(y_1 | f_1) is the mean of the observed e_t^2), "unconditional"
(f_1 = f_bar = omega / (1 - B)), "estimated" (f_1 a parameter) or a positive number (the
variance of y_1). The start is passed around as the variance s1 = c e^{2 f_1}, the quantity
``start_variance`` gives, as for GARCH (forecast/score.py applies the rule to the fitted
data only).

References: A. C. Harvey (2013), Dynamic Models for Volatility and Heavy Tails, Cambridge UP;
A. C. Harvey and R.-J. Lange (2017), Volatility modeling with a generalized t distribution,
Journal of Time Series Analysis 38(2), 175-190; A. C. Harvey and T. Chakravarty (2008),
Beta-t-(E)GARCH, Cambridge Working Papers in Economics 0840; R. Niesert (2017), Bayesian
inference for generalized autoregressive score models, MSc thesis, Erasmus University
Rotterdam.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from .bijections import log_sigmoid, softplus
from .gas_filter import GasPath, forward_hessian, gas_filter, tanh_inverse
from .gen_t import (  # noqa: F401  (re-exported: the density and its helpers)
    GED_THRESHOLD,
    gen_t_information,
    gen_t_log_kernel,
    gen_t_log_norm,
    gen_t_logpdf,
    gen_t_score,
    log_variance_factor,
    quantile,
    sample_gamma,
    sample_gen_t,
)
from .priors import normal_logpdf
from .series import PerAssetSeriesModel, SeriesData

DISTS = {"gen-t": "gen-t", "gent": "gen-t", "gen_t": "gen-t", "generalized-t": "gen-t",
         "generalised-t": "gen-t", "gt": "gen-t", "t": "t", "student": "t", "std": "t"}
INTERCEPTS = ("unconditional", "free")
STARTS = ("sample", "unconditional", "estimated")


# ------------------------------------------------------------------------------ priors
@dataclass(frozen=True)
class BetaTEgarchPriors:
    """Proper priors (normalised log densities), natural scale.

    mu ~ N(0, mu_scale^2); f_bar = omega/(1 - B) ~ N(f_bar_loc, f_bar_scale^2) (intercept
    "unconditional") or omega ~ N(omega_loc, omega_scale^2) ("free"); A ~ N(A_loc, A_scale^2);
    B ~ U(-1, 1); etabar ~ U(0, 1/2); log v ~ N(log v_median, v_log_scale^2);
    f_1 ~ N(f1_loc, f1_scale^2) (start "estimated").
    """

    mu_scale: float = 1.0
    f_bar_loc: float = 0.0
    f_bar_scale: float = 5.0
    omega_loc: float = 0.0
    omega_scale: float = 1.0
    A_loc: float = 0.05
    A_scale: float = 0.5
    v_median: float = 2.0
    v_log_scale: float = 0.5
    f1_loc: float = 0.0
    f1_scale: float = 5.0

    def __post_init__(self) -> None:
        for name in ("mu_scale", "f_bar_scale", "omega_scale", "A_scale", "v_median",
                     "v_log_scale", "f1_scale"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
                raise ValueError(f"prior setting {name} must be a positive number, "
                                 f"got {value!r}")


# ------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class BetaTEgarchModel(PerAssetSeriesModel):
    """Beta-Gen-t-EGARCH / Beta-t-EGARCH model (module docstring): parameter maps, proper
    priors, GAS filter likelihood, volatility, forecasts and one-step scores."""

    dist: str = "gen-t"
    mean: bool = False
    intercept: str = "unconditional"
    start: str | float = "sample"
    scaling: float = 0.0
    ged_threshold: float = GED_THRESHOLD
    priors: BetaTEgarchPriors = field(default_factory=BetaTEgarchPriors)

    name = "beta-t-egarch"
    label = "Beta-t-EGARCH"  # plot titles

    def __post_init__(self) -> None:
        key = str(self.dist).lower()
        if key not in DISTS:
            raise ValueError(f"unknown dist '{self.dist}' for beta-t-egarch: use gen-t (v free) "
                             "or t (v fixed at 2)")
        object.__setattr__(self, "dist", DISTS[key])
        if self.intercept not in INTERCEPTS:
            raise ValueError(f"unknown intercept '{self.intercept}': use unconditional or free")
        if isinstance(self.start, str):
            if self.start not in STARTS:
                raise ValueError(f"unknown start '{self.start}': use sample, unconditional, "
                                 "estimated or a positive number (the variance of y_1)")
        elif not (isinstance(self.start, int | float) and not isinstance(self.start, bool)
                  and np.isfinite(self.start) and self.start > 0):
            raise ValueError(f"start must be sample, unconditional, estimated or a positive "
                             f"number, got {self.start!r}")
        try:
            a = float(self.scaling)
        except (TypeError, ValueError):
            a = -1.0
        if a not in (0.0, 0.5, 1.0):
            raise ValueError(f"scaling must be 0, 0.5 or 1, got {self.scaling!r}")
        object.__setattr__(self, "scaling", a)
        if not (0.0 <= float(self.ged_threshold) < 0.5):
            raise ValueError(f"ged_threshold must be in [0, 0.5), got {self.ged_threshold!r}")

    # ----------------------------------------------------------------- parameter layout
    @property
    def free_v(self) -> bool:
        """Whether v is a parameter (dist gen-t) or fixed at 2 (dist t)."""
        return self.dist == "gen-t"

    @property
    def param_names(self) -> tuple[str, ...]:
        """Natural-scale parameter names, as reported."""
        names = (("mu",) if self.mean else ()) + ("omega", "A", "B", "eta_bar")
        names += ("v",) if self.free_v else ()
        return names + (("f1",) if self.start == "estimated" else ())

    @property
    def unconstrained_names(self) -> tuple[str, ...]:
        """Names of the coordinates of z."""
        names = ("mu",) if self.mean else ()
        names += ("f_bar" if self.intercept == "unconditional" else "omega", "A", "atanh_B",
                  "logit_2eta_bar")
        names += ("log_v",) if self.free_v else ()
        return names + (("f1",) if self.start == "estimated" else ())

    @property
    def dim(self) -> int:
        return len(self.unconstrained_names)

    def _split(self, z: jax.Array) -> dict[str, jax.Array]:
        return {n: z[..., i] for i, n in enumerate(self.unconstrained_names)}

    def constrain_with_logdet(self, z: jax.Array) -> tuple[dict[str, jax.Array], jax.Array]:
        """Natural parameters (with f_bar) and the log-Jacobian of B, etabar and v's maps."""
        u = self._split(z)
        B = jnp.tanh(u["atanh_B"])
        logdet = 2.0 * jnp.log(2.0) - 2.0 * jnp.logaddexp(u["atanh_B"], -u["atanh_B"])
        eta_bar = 0.5 * jax.nn.sigmoid(u["logit_2eta_bar"])
        logdet += (jnp.log(0.5) + log_sigmoid(u["logit_2eta_bar"])
                   + log_sigmoid(-u["logit_2eta_bar"]))
        if self.intercept == "unconditional":
            f_bar = u["f_bar"]
            omega = (1.0 - B) * f_bar
        else:
            omega = u["omega"]
            f_bar = omega / (1.0 - B)
        params = {"omega": omega, "A": u["A"], "B": B, "eta_bar": eta_bar, "f_bar": f_bar}
        if self.mean:
            params["mu"] = u["mu"]
        if self.free_v:
            params["v"] = jnp.exp(u["log_v"])
            logdet = logdet + u["log_v"]
        if self.start == "estimated":
            params["f1"] = u["f1"]
        return params, logdet

    def constrain(self, z: jax.Array) -> dict[str, jax.Array]:
        """Natural parameters (``param_names``) from z; works on any leading shape."""
        params, _ = self.constrain_with_logdet(z)
        return {k: params[k] for k in self.param_names}

    def unconstrain(self, params: dict[str, float | jax.Array]) -> jax.Array:
        """Inverse map: natural parameters -> z (|B| < 1, 0 < eta_bar < 1/2, v > 0)."""
        def get(k, default=None):
            x = params.get(k, default)
            return jnp.asarray(x, dtype=float)

        B = get("B")
        cols = [get("mu", 0.0)] if self.mean else []
        if self.intercept == "unconditional":
            cols.append(get("f_bar") if "f_bar" in params else get("omega") / (1.0 - B))
        else:
            cols.append(get("omega"))
        eta = get("eta_bar")
        cols += [get("A"), tanh_inverse(B), jnp.log(2.0 * eta) - jnp.log1p(-2.0 * eta)]
        if self.free_v:
            cols.append(jnp.log(get("v", 2.0)))
        if self.start == "estimated":
            cols.append(get("f1", 0.0))
        return jnp.stack(jnp.broadcast_arrays(*cols), axis=-1)

    def _natural(self, p: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """``p`` with v (2 when fixed), mu (0 when not fitted) and f_bar filled in."""
        out = dict(p)
        out.setdefault("v", jnp.asarray(2.0))
        out.setdefault("mu", jnp.asarray(0.0))
        if "f_bar" not in out:
            out["f_bar"] = out["omega"] / (1.0 - out["B"])
        return out

    # ------------------------------------------------------------------------ densities
    def log_prior(self, z: jax.Array) -> jax.Array:
        """log p(z): the proper priors of :class:`BetaTEgarchPriors` plus the log-Jacobian."""
        pr = self.priors
        p, logdet = self.constrain_with_logdet(z)
        u = self._split(z)
        lp = jnp.log(0.5) + jnp.log(2.0)  # B ~ U(-1, 1) (density 1/2), etabar ~ U(0, 1/2) (2)
        if self.intercept == "unconditional":
            lp += normal_logpdf(p["f_bar"], pr.f_bar_loc, pr.f_bar_scale)
        else:
            lp += normal_logpdf(p["omega"], pr.omega_loc, pr.omega_scale)
        lp += normal_logpdf(p["A"], pr.A_loc, pr.A_scale)
        if self.mean:
            lp += normal_logpdf(p["mu"], 0.0, pr.mu_scale)
        if self.free_v:  # log-normal on v: a normal on log v minus log v
            lp += normal_logpdf(u["log_v"], float(np.log(pr.v_median)), pr.v_log_scale)
            lp -= u["log_v"]
        if self.start == "estimated":
            lp += normal_logpdf(p["f1"], pr.f1_loc, pr.f1_scale)
        return lp + logdet

    def log_c(self, p: dict[str, jax.Array]) -> jax.Array:
        """log c, var(y_t | f_t) = c e^{2 f_t} (:func:`log_variance_factor`)."""
        q = self._natural(p)
        return log_variance_factor(q["eta_bar"], q["v"], self.ged_threshold)

    def residuals(self, p: dict[str, jax.Array], data: SeriesData) -> jax.Array:
        """e_t = y_t - mu where observed, 0 where missing."""
        q = self._natural(p)
        return (data.y - q["mu"]) * data.mask

    def start_variance(self, p: dict[str, jax.Array], e: jax.Array, mask: jax.Array
                       ) -> jax.Array:
        """var(y_1 | f_1) under the ``start`` rule (module docstring)."""
        q = self._natural(p)
        if self.start == "sample":
            return jnp.sum(mask * e * e) / jnp.maximum(jnp.sum(mask), 1.0)
        if self.start == "unconditional":
            return jnp.exp(self.log_c(q) + 2.0 * q["f_bar"])
        if self.start == "estimated":
            return jnp.exp(self.log_c(q) + 2.0 * q["f1"])
        return jnp.asarray(float(self.start))

    def filter(self, p: dict[str, jax.Array], data: SeriesData,
               s1: jax.Array | None = None) -> GasPath:
        """The GAS filter of one asset (models/gas_filter.py) with the closed-form score;
        ``s1`` (the variance of y_1) overrides the ``start`` rule."""
        q = self._natural(p)
        eta, v = q["eta_bar"], q["v"]
        e = self.residuals(q, data)
        m = data.mask
        s1 = self.start_variance(q, e, m) if s1 is None else jnp.asarray(s1, dtype=e.dtype)
        f1 = 0.5 * (jnp.log(s1) - self.log_c(q))
        info = gen_t_information(eta, v)
        # everything that does not depend on f_t is computed once, outside the scan: the
        # constant, log etabar, and log|e_t| (0 where e_t = 0, where the kernel's terms are
        # multiplied by nz = 0, so no log 0 reaches a value or a derivative)
        log_norm = gen_t_log_norm(eta, v)
        log_eta = jnp.log(eta)
        c1 = (eta + 1.0) / (v * eta)
        nz = (e != 0).astype(e.dtype)
        log_abs = jnp.log(jnp.where(nz > 0, jnp.abs(e), 1.0))
        obs = (log_abs, nz)

        def log_density(o, f):  # w = log(etabar x^v), x = |e| e^{-f}
            w = log_eta + v * (o[0] - f)
            return log_norm - f - c1 * o[1] * softplus(w)

        def score(o, f):  # (etabar + 1)/etabar b - 1 with b = sigmoid(w)
            b = o[1] * jax.nn.sigmoid(log_eta + v * (o[0] - f))
            return b + b / eta - 1.0

        return gas_filter(obs, m, log_density, q["omega"], q["A"], q["B"], f1,
                          scaling=self.scaling, score=score, information=lambda f: info)

    def variance_path(self, p: dict[str, jax.Array], data: SeriesData,
                      s1: jax.Array | None = None) -> jax.Array:
        """Conditional variances var(y_t | f_t) = c e^{2 f_t}, t = 1..T, for one asset."""
        return jnp.exp(self.log_c(p) + 2.0 * self.filter(p, data, s1).f)

    def log_scale_path(self, p: dict[str, jax.Array], data: SeriesData,
                       s1: jax.Array | None = None) -> jax.Array:
        """The filtered log scale f_t, t = 1..T."""
        return self.filter(p, data, s1).f

    def loglik_terms(self, p: dict[str, jax.Array], data: SeriesData,
                     s1: jax.Array | None = None) -> jax.Array:
        """Per-observation log p(y_t | f_t) (0 where missing)."""
        return self.filter(p, data, s1).loglik

    def log_likelihood(self, z: jax.Array, data: SeriesData) -> jax.Array:
        """Sum of loglik_terms at unconstrained z (one asset). Differentiated through
        ``gas_filter.forward_hessian``: reverse-mode gradient, forward-over-forward Hessian."""
        def raw(zz, dd):
            return jnp.sum(self.loglik_terms(self.constrain(zz), dd))

        return forward_hessian(raw)(z, data)

    def log_joint(self, z: jax.Array, data: SeriesData) -> jax.Array:
        """log p(y | z) + log p(z): the target every inference engine works on."""
        return self.log_likelihood(z, data) + self.log_prior(z)

    def numpyro_model(self, data: SeriesData) -> None:
        """NumPyro model over the same unconstrained z (for NUTS, AutoGuides, Predictive)."""
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        z = numpyro.sample("z", dist.ImproperUniform(constraints.real_vector, (), (self.dim,)))
        numpyro.factor("log_joint", self.log_joint(z, data))

    def initial_z(self, data: SeriesData) -> jax.Array:
        """Start of the mode search: A 0.05, B 0.95, etabar 0.1, v 2, f_bar from the sample
        variance, mu the sample mean."""
        y, m = data
        n = jnp.maximum(jnp.sum(m), 1.0)
        mean = jnp.sum(y * m) / n if self.mean else 0.0
        var = jnp.maximum(jnp.sum(m * (y - mean) ** 2) / n, 1e-12)
        f_bar = 0.5 * (jnp.log(var) - log_variance_factor(jnp.asarray(0.1), jnp.asarray(2.0)))
        start = {"mu": mean, "f_bar": f_bar, "A": 0.05, "B": 0.95, "eta_bar": 0.1, "v": 2.0,
                 "f1": f_bar}
        if self.intercept == "free":
            start["omega"] = 0.05 * f_bar
        return self.unconstrain(start)

    def config(self) -> dict:
        """JSON-serialisable description (saved with a fit; ``from_config`` inverts it)."""
        return {"model": "beta-t-egarch", "dist": self.dist, "mean": self.mean,
                "intercept": self.intercept, "start": self.start, "scaling": self.scaling,
                "ged_threshold": self.ged_threshold, "priors": dict(vars(self.priors))}

    @classmethod
    def from_options(cls, dist: str = "gen-t", mean: bool = False,
                     intercept: str = "unconditional", start: str | float = "sample",
                     scaling: float = 0.0, ged_threshold: float = GED_THRESHOLD,
                     priors: BetaTEgarchPriors | dict | None = None) -> BetaTEgarchModel:
        """The model from ``bv.fit`` options (registry interface)."""
        if isinstance(priors, dict):
            priors = BetaTEgarchPriors(**priors)
        return cls(dist=dist, mean=bool(mean), intercept=intercept, start=start,
                   scaling=scaling, ged_threshold=ged_threshold,
                   priors=priors or BetaTEgarchPriors())

    @classmethod
    def from_config(cls, cfg: dict) -> BetaTEgarchModel:
        return cls(dist=cfg["dist"], mean=bool(cfg["mean"]), intercept=cfg["intercept"],
                   start=cfg["start"], scaling=cfg["scaling"],
                   ged_threshold=cfg["ged_threshold"],
                   priors=BetaTEgarchPriors(**cfg.get("priors", {})))

    # ------------------------------------------------------------------------ forecasts
    def next_log_scale(self, p: dict[str, jax.Array], data: SeriesData, last: int
                       ) -> jax.Array:
        """f_{T+1} = omega + A s_T + B f_T after the asset's last index ``last``."""
        q = self._natural(p)
        path = self.filter(q, data)
        return q["omega"] + q["A"] * path.score[last] + q["B"] * path.f[last]

    def next_variance(self, p: dict[str, jax.Array], data: SeriesData, last: int
                      ) -> jax.Array:
        """var(y_{T+1} | f_{T+1}) = c e^{2 f_{T+1}} after the asset's last index ``last``."""
        return jnp.exp(self.log_c(p) + 2.0 * self.next_log_scale(p, data, last))

    def simulate_ahead(self, p: dict[str, jax.Array], s2_next: jax.Array, horizon: int,
                       key: jax.Array, y_last: jax.Array | float = 0.0
                       ) -> tuple[jax.Array, jax.Array]:
        """One predictive path: returns and conditional variances for steps 1..horizon given
        var(y_{T+1}) = ``s2_next`` (f_{T+1} = (log s2_next - log c)/2). ``y_last`` is unused
        (no AR mean); it keeps the signature of the other models."""
        q = self._natural(p)
        eta, v = q["eta_bar"], q["v"]
        log_c = self.log_c(q)
        scale = gen_t_information(eta, v) ** (-self.scaling)
        eps = sample_gen_t(key, eta, v, (horizon,))
        f0 = 0.5 * (jnp.log(s2_next) - log_c)

        def step(f, eps_k):
            y = q["mu"] + jnp.exp(f) * eps_k
            s = scale * gen_t_score(eps_k, 0.0, eta, v)
            return q["omega"] + q["A"] * s + q["B"] * f, (y, jnp.exp(log_c + 2.0 * f))

        _, (ret, var) = jax.lax.scan(step, f0, eps)
        return ret, var

    def news_impact(self, p: dict[str, jax.Array], eps: jax.Array) -> jax.Array:
        """Update of the log scale caused by a standardised shock eps = (y_t - mu) e^{-f_t}:
        f_{t+1} - (omega + B f_t) = A I^{-a} nabla(eps)."""
        q = self._natural(p)
        eta, v = q["eta_bar"], q["v"]
        scale = gen_t_information(eta, v) ** (-self.scaling)
        return q["A"] * scale * gen_t_score(eps, 0.0, eta, v)


def one_step_var(fit, level: float = 0.01, asset: int | str = 0, max_draws: int = 2000
                 ) -> np.ndarray:
    """Posterior draws of the one-step-ahead VaR (a positive loss) of a beta-t-egarch fit:
    -quantile(level) of y_{T+1} given each draw's f_{T+1} (Beta quantile, :func:`quantile`).

    This is the distribution of the per-draw VaR (Niesert 2017, Fig. 3d); the predictive
    VaR of ``fit.forecast`` is the quantile of the mixture over draws instead.
    """
    model = fit.model
    if not isinstance(model, BetaTEgarchModel):
        raise ValueError("one_step_var needs a beta-t-egarch fit")
    if not 0.0 < float(level) < 0.5:
        raise ValueError(f"level must be in (0, 0.5), got {level!r}")
    i = fit._asset_index(asset)
    data = fit.data()
    series = SeriesData(data.y[i], data.mask[i])
    last = int(fit.panel.last[i] - fit.panel.first[i])
    z = np.asarray(fit.z[i]).reshape(-1, model.dim)
    if z.shape[0] > max_draws:
        z = z[np.random.default_rng(fit.seed).choice(z.shape[0], max_draws, replace=False)]

    f, eta, v, mu = (np.asarray(x) for x in _next_state_program(model)(
        jnp.asarray(z), series, jnp.asarray(last)))
    return -quantile(level, f, eta, v, mu, model.ged_threshold)


@lru_cache(maxsize=16)
def _next_state_program(model: BetaTEgarchModel):
    """jit(vmap over draws): (f_{T+1}, etabar, v, mu) of each draw z after index ``last``."""
    def nat(zz, series, last):
        q = model._natural(model.constrain(zz))
        return (model.next_log_scale(q, series, last), q["eta_bar"], q["v"], q["mu"])

    return jax.jit(jax.vmap(nat, in_axes=(0, None, None)))
