"""Dynamic factor stochastic volatility (DFSV) model: parameters, priors and log densities.

The model (the project's DFSV write-up; the factor SV special case is Gunawan, Kohn & Nott,
"Variational approximation of factor stochastic volatility models", Sections 2 and S4), for
N assets, K factors and t = 1..T, with arrays time-first ([T, N], [T, K]):

    r_t        = Lambda f_t + eps_t,                 eps_t ~ N(0, diag(exp(h_id_t)))
    f_t        = Phi_f f_{t-1} + nu_t,               nu_t  ~ N(0, diag(exp(h_t)))
    h_{k,t}    = phi_h_k h_{k,t-1} + sigma_h_k eta_{k,t}                (mu = 0, see below)
    h_id_{i,t} = mu_id_i + phi_id_i (h_id_{i,t-1} - mu_id_i) + sigma_id_i z_{i,t}  (idio="ar1")
    h_id_{i,t} = log sigma2_i                                            (idio="constant")

with every log-variance path started from its stationary law, h_{k,1} ~ N(0, sigma_h_k^2 /
(1 - phi_h_k^2)), and f_0 ~ N(0, diag(exp(h_1) / (1 - phi_f^2))) (the stationary variance at the
first factor log-variance; f_0 = 0 when ``factor_ar`` is False).

By default Phi_f = diag(phi_f), Phi_h = diag(phi_h) and Q_h = diag(sigma_h^2) (K independent
factor AR(1)s). With ``factor_var=True`` the factor log-variances follow the full VAR(1) of the
simulator, h_t = Phi_h h_{t-1} + eta_t, eta_t ~ N(0, Q_h), with Phi_h and Q_h full K x K
matrices, stationary for every theta (``bayesvol.models.factor_var``: Phi_h = L_Q B L_Q^{-1},
B = A chol(I + A A^T)^{-1}, A_kk = sinh(r_k) with r_k the phi_h entry of theta, Q_h =
L_Q L_Q^T with L_Q = diag(sigma_h) L_R); with A diagonal and L_R = I it is the diagonal model
at the same theta (phi_k = tanh r_k). ``factor_ar=False`` sets Phi_f = 0, the factor SV
model of the paper.

Student-t errors (``errors="t"``; Gunawan, Kohn & Nott, Supplement S8, with the variance
multiplier of the full conditionals in S9): each idiosyncratic and factor innovation variance
is multiplied by its own mixing variable,

    eps_{i,t} ~ N(0, W_{i,t} exp(h_id_{i,t})),  nu_{k,t} ~ N(0, W_{k,t} exp(h_{k,t})),
    W ~ IG(v / 2, v / 2)  (v = nu_id_i or nu_f_k, one per series),

so eps and nu are Student-t with v degrees of freedom given the log-variances. The mixing
variables are latent states like the paths: u = log W enters the likelihood as h + u (the
Kalman filter is unchanged), with the prior log p(u | v) = a log a - log Gamma(a) - a u -
a e^{-u}, a = v / 2 (IG density plus the Jacobian e^u), and v ~ Gamma(shape 20, scale 1.25)
(the paper's prior, mean 25, on log v with its Jacobian). Two coordinate systems:

- VI (``log_joint_mixed``) works on u itself, with an inverse-gamma factor q(W | v) per
  variable (``inference.dfsv.family``);
- NUTS (``log_joint_noncentred``) stores them standardised by their prior moments,
  u = m(v) + s(v) e with m = log a - digamma(a), s = sqrt(trigamma(a)) (the exact mean and
  sd of log W), so e is about N(0, 1) for every v: log p(e | v) = log p(u | v) + log s. Their
  K + N rows follow the log-variance rows in the state array x (``n_paths`` counts them;
  ``n_logvar`` does not).

Identification (paper, Supplement S4, after Geweke & Zhou 1996): Lambda is lower triangular
(Lambda_{ik} = 0 for k > i) with a positive diagonal, which fixes rotation, sign and column
order; the scale of factor k is fixed by the factor log-variance mean mu_k = 0 (no level
parameter), so the diagonal loadings are free. This is the simulator's default (mu = 0,
Lambda lower triangular with positive diagonal). It needs K <= N, and results depend on which
assets come first.

Unconstrained parameter vector theta (``DfsvModel.layout``), in this order:

    lambda      N K - K (K - 1) / 2   the lower triangle of Lambda column by column (k = 0..K-1,
                                      i = k..N-1); the diagonal entry holds log Lambda_kk
    phi_f       K                     atanh(phi_f)            (only when factor_ar)
    phi_h       K                     atanh(phi_h) (factor_var: r_k, A_kk = sinh r_k)
    phi_h_off   K (K - 1)             A's off-diagonal entries, row-major (only factor_var)
    sigma_h     K                     log sigma_h (factor_var: sqrt of diag Q_h)
    q_h_corr    K (K - 1) / 2         atanh of the partial correlations of Q_h (factor_var)
    mu_id       N                     mu_id                   (idio="ar1")
    phi_id      N                     atanh(phi_id)           (idio="ar1")
    sigma_id    N                     log sigma_id            (idio="ar1")
    sigma2      N                     log sigma2              (idio="constant")
    nu_f        K                     log v of the factors      (errors="t")
    nu_id       N                     log v of the assets       (errors="t")

tanh keeps every phi in (-1, 1), so each AR(1) (and the diagonal factor VAR) is stationary.

Priors (``DfsvPriors``; weakly informative on returns of unit scale, which ``fit_dfsv`` makes
by dividing the data by one overall scale; each prior's log-Jacobian is added so the density
is on theta):

    Lambda_ik (i > k)        N(0, lambda_scale^2)
    Lambda_kk                half-normal(lambda_scale)               Jacobian: Lambda_kk
    (phi_h + 1) / 2, (phi_id + 1) / 2 ~ Beta(20, 1.5)   (paper 2, after Kim, Shephard & Chib
                             1998: mass on 0.8-0.99, mean 0.86)      Jacobian: 1 - phi^2
    (phi_f + 1) / 2          Beta(2, 2) (mean 0, sd 0.45)            Jacobian: 1 - phi^2
    sigma_h, sigma_id        half-normal(sigma_scale = 1), i.e. sigma^2 ~ chi^2_1 (Kastner
                             & Fruhwirth-Schnatter 2014)             Jacobian: sigma
    mu_id, log sigma2        N(0, 10) (variance 10, the paper's prior on the level kappa)
    factor_var: r_k as atanh(phi_h) above (the diagonal model's prior); A's off-diagonal
                             entries N(0, var_off_scale^2 = 0.25) (A_12 = 0.5 moves Phi_h's
                             off-diagonal entries by about 0.15 at persistence 0.95); the
                             correlation of Q_h LKJ(lkj_eta = 2), as independent Beta laws of
                             its partial correlations (normalised)

Non-centred paths (Gunawan, Kohn & Nott, Section 2; the parameterisation VI and NUTS use):
each log-variance path is a level plus a scaled unit-innovation AR(1),

    h_{k,t} = sigma_h_k x_{k,t},     h_id_{i,t} = mu_id_i + sigma_id_i x_{K+i,t},
    x_{j,1} ~ N(0, 1 / (1 - phi_j^2)),   x_{j,t} = phi_j x_{j,t-1} + N(0, 1),

(factor_var: h_t = L_Q x_{1:K,t} with x a unit-innovation VAR(1), ``factor_var.unit_var_logpdf``)

so p(x | theta) depends on the phi's only and sigma enters through the likelihood
(``log_joint_noncentred``; ``path_level_scale`` gives the map x -> h). The density of
(theta, x) is the same posterior as that of (theta, h, h_id) (``log_joint``), reparameterised
(x -> h is linear given theta, and the Jacobian is absorbed by the AR(1) densities). In the
centred form an approximation that is independent across theta and the paths pins sigma at its
start (the path's roughness is fixed by q(h) alone); in the non-centred form sigma scales the
path inside the likelihood, so q(theta) learns it.

The likelihood integrates the factors out exactly with the Kalman filter
(``bayesvol.filtering.factor_loglik``), so the states of the joint density are the
log-variance paths only:

    log p(y, h, h_id, theta) = log p(theta) + log p(h, h_id | theta) + log p(y | h, h_id, theta).

Its gradient is computed by Fisher's identity from the RTS smoother's moments
(``factor_loglik_fisher``: same value, same gradient, about 3-4x cheaper than reverse mode
through the filter's scan). It is a ``custom_vjp``, so only first derivatives are available
(no forward-over-reverse Hessian of ``log_likelihood``). Without ``factor_ar`` (Phi_f = 0, the
paper's model) the factors are independent over time given the paths and the likelihood is
evaluated for all dates at once, without a scan (``fsv_loglik_fisher``; paper, Section 4:
Woodbury and the determinant lemma per date).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..filtering.factor_fisher import factor_loglik_fisher, fsv_loglik_fisher
from . import factor_var as fvar
from . import student_mixing as smix
from .bijections import log_sigmoid
from .priors import beta_logpdf_logs, normal_logpdf

IDIO = ("ar1", "constant")
ERRORS = ("normal", "t")
_LOG2 = math.log(2.0)
_LOG_2PI = math.log(2.0 * math.pi)
_LOG4 = math.log(4.0)


def _log1m_tanh2(raw: jax.Array) -> jax.Array:
    """log(1 - tanh(raw)^2) = log 4 + log sigmoid(2 raw) + log sigmoid(-2 raw), stably."""
    return _LOG4 + log_sigmoid(2.0 * raw) + log_sigmoid(-2.0 * raw)


def _tanh_beta_logprior(raw: jax.Array, a: float, b: float) -> jax.Array:
    """log prior of raw = atanh(phi) when (phi + 1) / 2 ~ Beta(a, b), Jacobian included.

    u = (phi + 1) / 2 = sigmoid(2 raw), du / draw = 2 u (1 - u), so
    log p(raw) = log Beta(u; a, b) + log 2 + log u + log(1 - u).
    """
    lu, l1mu = log_sigmoid(2.0 * raw), log_sigmoid(-2.0 * raw)
    return beta_logpdf_logs(lu, l1mu, a, b) + _LOG2 + lu + l1mu


def _halfnormal_log_logprior(log_x: jax.Array, scale: float) -> jax.Array:
    """log prior of log x when x ~ half-normal(scale), Jacobian x included."""
    return _LOG2 + normal_logpdf(jnp.exp(log_x), 0.0, scale) + log_x


def ar1_logpdf(x: jax.Array, mu: jax.Array, phi: jax.Array, sigma: jax.Array,
               log1m_phi2: jax.Array | None = None) -> jax.Array:
    """Log density of a stationary Gaussian AR(1) path x [T] (scalar mu, phi, sigma):

        log N(x_1; mu, sigma^2 / (1 - phi^2)) + sum_{t>=2} log N(x_t; mu + phi (x_{t-1} - mu),
        sigma^2).

    ``log1m_phi2`` = log(1 - phi^2) may be given (computed stably from atanh(phi)).
    """
    if log1m_phi2 is None:
        log1m_phi2 = jnp.log1p(-phi * phi)
    z = x - mu
    e = z[1:] - phi * z[:-1]
    T = x.shape[0]
    quad = jnp.exp(log1m_phi2) * z[0] ** 2 + jnp.sum(e * e)
    return (-0.5 * T * math.log(2.0 * math.pi) - T * jnp.log(sigma) + 0.5 * log1m_phi2
            - 0.5 * quad / sigma**2)


def padded_ar1_logpdf(x: jax.Array, mu: jax.Array, phi: jax.Array, sigma: jax.Array,
                      log1m_phi2: jax.Array, active: jax.Array) -> jax.Array:
    """Log density of a path x [T] that is a stationary AR(1) on the active dates and
    N(0, 1), independent of theta, on the padded ones (``active`` False; the padded model of
    sequential updating, ``inference.dfsv.sequential``):

        log N(x_1; mu, sigma^2 / (1 - phi^2))
          + sum_{t >= 2, active} log N(x_t; mu + phi (x_{t-1} - mu), sigma^2)
          + sum_{t >= 2, padded} log N(x_t; 0, 1).

    With every date active it equals ``ar1_logpdf``.
    """
    z = x - mu
    e = z[1:] - phi * z[:-1]
    first = (-0.5 * _LOG_2PI - jnp.log(sigma) + 0.5 * log1m_phi2
             - 0.5 * jnp.exp(log1m_phi2) * z[0] ** 2 / sigma**2)
    on = -0.5 * _LOG_2PI - jnp.log(sigma) - 0.5 * e * e / sigma**2
    off = -0.5 * _LOG_2PI - 0.5 * x[1:] ** 2
    first = jnp.where(active[0], first, -0.5 * _LOG_2PI - 0.5 * x[0] ** 2)
    return first + jnp.sum(jnp.where(active[1:], on, off))


@dataclass(frozen=True)
class DfsvPriors:
    """Prior hyperparameters (module docstring); on returns of unit overall scale."""

    lambda_scale: float = 1.0
    phi_a: float = 20.0
    phi_b: float = 1.5
    phi_f_a: float = 2.0
    phi_f_b: float = 2.0
    sigma_scale: float = 1.0
    level_var: float = 10.0
    var_off_scale: float = 0.5
    lkj_eta: float = 2.0
    nu_shape: float = 20.0
    nu_scale: float = 1.25


@dataclass(frozen=True)
class DfsvModel:
    """The DFSV model with diagonal Phi_f, Phi_h, Q_h (module docstring).

    n_assets N, n_factors K (K <= N), idio "ar1" | "constant", factor_ar (estimate a diagonal
    Phi_f, else Phi_f = 0), factor_var (full VAR(1) Phi_h, Q_h for the factor log-variances,
    else diagonal). Hashable, so it can key compiled programs.
    """

    n_assets: int
    n_factors: int = 1
    idio: str = "ar1"
    factor_ar: bool = True
    priors: DfsvPriors = field(default_factory=DfsvPriors)
    factor_var: bool = False
    errors: str = "normal"

    def __post_init__(self) -> None:
        if self.idio not in IDIO:
            raise InputError(f"idio must be 'ar1' or 'constant', got {self.idio!r}")
        if self.errors not in ERRORS:
            raise InputError(f"errors must be 'normal' or 't', got {self.errors!r}")
        if int(self.n_factors) < 1 or int(self.n_assets) < 1:
            raise InputError("n_assets and n_factors must be >= 1")
        if self.n_factors > self.n_assets:
            raise InputError(f"a lower-triangular Lambda with positive diagonal needs K <= N; "
                             f"got K = {self.n_factors} factors for N = {self.n_assets} assets")

    # ---- layout -------------------------------------------------------------------------
    @property
    def n_loadings(self) -> int:
        N, K = self.n_assets, self.n_factors
        return N * K - K * (K - 1) // 2

    @property
    def layout(self) -> dict[str, slice]:
        """Blocks of theta in order (module docstring): name -> slice."""
        N, K = self.n_assets, self.n_factors
        sizes = [("lambda", self.n_loadings)]
        if self.factor_ar:
            sizes.append(("phi_f", K))
        var = self.full_var
        sizes += [("phi_h", K)] + ([("phi_h_off", K * (K - 1))] if var else [])
        sizes += [("sigma_h", K)] + ([("q_h_corr", fvar.n_corr(K))] if var else [])
        if self.idio == "ar1":
            sizes += [("mu_id", N), ("phi_id", N), ("sigma_id", N)]
        else:
            sizes.append(("sigma2", N))
        if self.errors == "t":
            sizes += [("nu_f", K), ("nu_id", N)]
        out, start = {}, 0
        for name, n in sizes:
            out[name] = slice(start, start + n)
            start += n
        return out

    @property
    def full_var(self) -> bool:
        """True when the factor log-variances are a full VAR(1) (factor_var and K >= 2)."""
        return bool(self.factor_var) and self.n_factors > 1

    @property
    def dim(self) -> int:
        return list(self.layout.values())[-1].stop

    @property
    def n_logvar(self) -> int:
        """Number of log-variance paths: K factor paths (+ N idiosyncratic for ar1)."""
        return self.n_factors + (self.n_assets if self.idio == "ar1" else 0)

    @property
    def n_mix(self) -> int:
        """Rows of mixing states u = log W: K + N for errors="t", else 0."""
        return self.n_factors + self.n_assets if self.errors == "t" else 0

    @property
    def n_paths(self) -> int:
        """Rows of the state array x: the log-variance paths, then the mixing states."""
        return self.n_logvar + self.n_mix

    def loading_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of the free loadings, in theta's order."""
        N, K = self.n_assets, self.n_factors
        rows = np.concatenate([np.arange(k, N) for k in range(K)])
        cols = np.concatenate([np.full(N - k, k) for k in range(K)])
        return rows, cols

    def parameter_names(self, assets=None) -> list[str]:
        """Labels of theta's entries in natural names, e.g. ``lambda[A1,1]``, ``phi_h[1]``."""
        N, K = self.n_assets, self.n_factors
        assets = [f"A{i + 1}" for i in range(N)] if assets is None else list(assets)
        rows, cols = self.loading_positions()
        names = [f"lambda[{assets[i]},{k + 1}]" for i, k in zip(rows, cols, strict=True)]
        pairs = {"phi_h_off": ("phi_h", fvar.offdiag_positions(K)),
                 "q_h_corr": ("corr_h", fvar.corr_positions(K))}
        for block in list(self.layout)[1:]:
            if block in pairs:
                label, (ii, jj) = pairs[block]
                names += [f"{label}[{i + 1},{j + 1}]" for i, j in zip(ii, jj, strict=True)]
                continue
            per = assets if block in ("mu_id", "phi_id", "sigma_id", "sigma2", "nu_id") else [
                str(k + 1) for k in range(K)]
            names += [f"{block}[{p}]" for p in per]
        return names

    # ---- transforms ---------------------------------------------------------------------
    def _blocks(self, theta: jax.Array) -> dict[str, jax.Array]:
        return {name: theta[..., s] for name, s in self.layout.items()}

    def loadings(self, theta: jax.Array) -> jax.Array:
        """Lambda [N, K] from theta (lower triangular, exp on the diagonal)."""
        N, K = self.n_assets, self.n_factors
        rows, cols = self.loading_positions()
        raw = theta[self.layout["lambda"]]
        vals = jnp.where(jnp.asarray(rows == cols), jnp.exp(raw), raw)
        return jnp.zeros((N, K), raw.dtype).at[rows, cols].set(vals)

    def factor_parts(self, theta: jax.Array) -> fvar.VarParts:
        """The factor log-variance VAR(1) at theta (``factor_var.VarParts``: Phi_h, L_Q, B, L_x
        and the stationary covariance's Cholesky factor); diagonal matrices for the diagonal
        model (B = diag(phi_h), L_x = diag(1 / sqrt(1 - phi_h^2)), L_Q = diag(sigma_h))."""
        b = self._blocks(theta)
        if self.full_var:
            return fvar.var_parts(b["phi_h"], b["phi_h_off"], b["sigma_h"], b["q_h_corr"])
        phi, sig = jnp.tanh(b["phi_h"]), jnp.exp(b["sigma_h"])
        lx = jnp.exp(-0.5 * _log1m_tanh2(b["phi_h"]))
        return fvar.VarParts(jnp.diag(phi), jnp.diag(sig), jnp.diag(phi), jnp.diag(lx),
                             jnp.diag(sig * lx))

    def constrain(self, theta: jax.Array) -> dict[str, jax.Array]:
        """Natural parameters, named as in ``simulate_dfsv``: Lambda [N, K], Phi_f, Phi_h, Q_h
        [K, K] (diagonal unless factor_var), mu [K] (zeros), and mu_id, phi_id, sigma_id [N]
        (ar1) or sigma2 [N] (constant); plus the vectors phi_f, phi_h (diagonal of Phi_h),
        sigma_h (square roots of Q_h's diagonal) [K], the Cholesky factors Q_h_chol of Q_h and
        Gamma_h_chol of h's stationary covariance [K, K], and for factor_var phi_h_off (Phi_h's
        off-diagonal entries, row-major) and q_h_corr (Q_h's correlations, lower triangle row
        by row)."""
        b = self._blocks(theta)
        K = self.n_factors
        phi_f = jnp.tanh(b["phi_f"]) if self.factor_ar else jnp.zeros(K, theta.dtype)
        vp = self.factor_parts(theta)
        Q = vp.L_Q @ vp.L_Q.T
        sigma_h = jnp.exp(b["sigma_h"])
        out = {"Lambda": self.loadings(theta), "Phi_f": jnp.diag(phi_f), "Phi_h": vp.Phi,
               "Q_h": Q, "mu": jnp.zeros(K, theta.dtype), "phi_f": phi_f,
               "phi_h": jnp.diagonal(vp.Phi), "sigma_h": sigma_h, "Q_h_chol": vp.L_Q,
               "Gamma_h_chol": vp.L_G}
        if self.full_var:
            oi, oj = fvar.offdiag_positions(K)
            ci, cj = fvar.corr_positions(K)
            out["phi_h_off"] = vp.Phi[oi, oj]
            out["q_h_corr"] = (Q / (sigma_h[:, None] * sigma_h[None, :]))[ci, cj]
        if self.idio == "ar1":
            out.update(mu_id=b["mu_id"], phi_id=jnp.tanh(b["phi_id"]),
                       sigma_id=jnp.exp(b["sigma_id"]))
        else:
            out["sigma2"] = jnp.exp(b["sigma2"])
        if self.errors == "t":
            out.update(nu_f=jnp.exp(b["nu_f"]), nu_id=jnp.exp(b["nu_id"]))
        return out

    def unconstrain(self, params: dict) -> np.ndarray:
        """theta from natural parameters (inverse of ``constrain``; diagonal parts of the K x K
        matrices are used, or the vectors phi_f, phi_h, sigma_h when given)."""
        def vec(name, mat):
            if name in params:
                return np.asarray(params[name], float).reshape(-1)
            return np.diag(np.asarray(params[mat], float)).copy()

        L = np.asarray(params["Lambda"], float)
        rows, cols = self.loading_positions()
        lam = L[rows, cols].copy()
        diag = rows == cols
        if np.any(lam[diag] <= 0):
            raise InputError("Lambda must have a positive diagonal")
        lam[diag] = np.log(lam[diag])
        parts = [lam]
        if self.factor_ar:
            parts.append(np.arctanh(vec("phi_f", "Phi_f")))
        if self.full_var:
            r, a_off, log_sig, c = fvar.raw_from_var(params["Phi_h"], params["Q_h"])
            parts += [r, a_off, log_sig, c]
        else:
            sigma_h = (np.asarray(params["sigma_h"], float) if "sigma_h" in params
                       else np.sqrt(np.diag(np.asarray(params["Q_h"], float))))
            parts += [np.arctanh(vec("phi_h", "Phi_h")), np.log(sigma_h)]
        if self.idio == "ar1":
            parts += [np.asarray(params["mu_id"], float), np.arctanh(params["phi_id"]),
                      np.log(params["sigma_id"])]
        else:
            parts.append(np.log(np.asarray(params["sigma2"], float)))
        if self.errors == "t":
            parts += [np.log(np.asarray(params["nu_f"], float)),
                      np.log(np.asarray(params["nu_id"], float))]
        theta = np.concatenate([np.asarray(p, float).reshape(-1) for p in parts])
        assert theta.shape == (self.dim,)
        return theta

    def idio_path(self, theta: jax.Array, h_id: jax.Array | None, T: int) -> jax.Array:
        """The [T, N] idiosyncratic log-variances: h_id (ar1) or log sigma2 broadcast."""
        if self.idio == "ar1":
            return h_id
        return jnp.broadcast_to(theta[self.layout["sigma2"]], (T, self.n_assets))

    # ---- densities ----------------------------------------------------------------------
    def log_prior(self, theta: jax.Array) -> jax.Array:
        """log p(theta) on the unconstrained scale, Jacobians included (module docstring)."""
        pr = self.priors
        b = self._blocks(theta)
        rows, cols = self.loading_positions()
        diag = jnp.asarray(rows == cols)
        raw = b["lambda"]
        lp_lam = jnp.where(diag, _halfnormal_log_logprior(raw, pr.lambda_scale),
                           normal_logpdf(raw, 0.0, pr.lambda_scale))
        lp = jnp.sum(lp_lam)
        if self.factor_ar:
            lp += jnp.sum(_tanh_beta_logprior(b["phi_f"], pr.phi_f_a, pr.phi_f_b))
        lp += jnp.sum(_tanh_beta_logprior(b["phi_h"], pr.phi_a, pr.phi_b))
        lp += jnp.sum(_halfnormal_log_logprior(b["sigma_h"], pr.sigma_scale))
        if self.full_var:
            lp += jnp.sum(normal_logpdf(b["phi_h_off"], 0.0, pr.var_off_scale))
            beta = fvar.lkj_partial_beta(self.n_factors, pr.lkj_eta)
            lp += jnp.sum(_tanh_beta_logprior(b["q_h_corr"], beta, beta))
        level_sd = math.sqrt(pr.level_var)
        if self.idio == "ar1":
            lp += jnp.sum(normal_logpdf(b["mu_id"], 0.0, level_sd))
            lp += jnp.sum(_tanh_beta_logprior(b["phi_id"], pr.phi_a, pr.phi_b))
            lp += jnp.sum(_halfnormal_log_logprior(b["sigma_id"], pr.sigma_scale))
        else:
            lp += jnp.sum(normal_logpdf(b["sigma2"], 0.0, level_sd))
        if self.errors == "t":
            lp += jnp.sum(smix.log_nu_prior(jnp.log(self.degrees_of_freedom(theta)),
                                            pr.nu_shape, pr.nu_scale))
        return lp

    def _half_dof(self, theta: jax.Array) -> jax.Array:
        """a = v / 2 [K + N, 1] of the mixing rows."""
        return 0.5 * self.degrees_of_freedom(theta)[:, None]

    def log_mixing_prior(self, theta: jax.Array, e: jax.Array,
                         active: jax.Array | None = None) -> jax.Array:
        """log p(e | v) of the standardised mixing states e [K + N, T] (module docstring,
        ``student_mixing.log_e_prior``); dates outside ``active`` get the theta-free N(0, 1)
        (padded sequential model)."""
        lp = smix.log_e_prior(self._half_dof(theta), e)
        if active is not None:
            lp = jnp.where(active[None, :], lp, -0.5 * math.log(2 * math.pi) - 0.5 * e * e)
        return jnp.sum(lp)

    def log_mixing_prior_u(self, theta: jax.Array, u: jax.Array) -> jax.Array:
        """log p(u | v) of the mixing states u = log W [K + N, T] themselves (the variational
        family's coordinates): sum a log a - log Gamma(a) - a u - a e^{-u}. (Padded dates keep
        this prior: the variational q(W | v) equals it there, so they add nothing.)"""
        return jnp.sum(smix.log_u_prior(self._half_dof(theta), u))

    def degrees_of_freedom(self, theta: jax.Array) -> jax.Array:
        """v [K + N] of the mixing states' rows (errors="t")."""
        b = self._blocks(theta)
        return jnp.exp(jnp.concatenate([b["nu_f"], b["nu_id"]]))

    def mixing(self, theta: jax.Array, x: jax.Array
               ) -> tuple[jax.Array | None, jax.Array | None]:
        """The mixing states of x [M, T] as u = log W: u_f [T, K], u_id [T, N] (None, None
        for normal errors)."""
        if self.errors != "t":
            return None, None
        K, L = self.n_factors, self.n_logvar
        m, s = smix.log_w_moments(self._half_dof(theta))
        u = m + s * x[L:]
        return u[:K].T, u[K:].T

    def mixing_mean(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        """E W = v / (v - 2) per factor [K] and asset [N] (inf where v <= 2; ones for normal
        errors): the factor by which the mixing inflates each variance on average."""
        K, N = self.n_factors, self.n_assets
        if self.errors != "t":
            return jnp.ones(K, theta.dtype), jnp.ones(N, theta.dtype)
        w = smix.mean_w(self.degrees_of_freedom(theta))
        return w[:K], w[K:]

    def log_states_prior(self, theta: jax.Array, h: jax.Array,
                         h_id: jax.Array | None = None) -> jax.Array:
        """log p(h, h_id | theta): stationary AR(1) densities (``ar1_logpdf``) of the K factor
        paths h [T, K] (mean 0; factor_var: the VAR(1), by x = L_Q^{-1} h and the Jacobian
        -T log det L_Q) and, for idio="ar1", the N paths h_id [T, N]."""
        b = self._blocks(theta)
        if self.full_var:
            vp = self.factor_parts(theta)
            x = jax.scipy.linalg.solve_triangular(vp.L_Q, h.T, lower=True)
            lp = (fvar.unit_var_logpdf(x, vp.B, vp.L_x)
                  - h.shape[0] * jnp.sum(jnp.log(jnp.diagonal(vp.L_Q))))
        else:
            lp = jnp.sum(jax.vmap(ar1_logpdf, in_axes=(1, None, 0, 0, 0))(
                h, 0.0, jnp.tanh(b["phi_h"]), jnp.exp(b["sigma_h"]), _log1m_tanh2(b["phi_h"])))
        if self.idio == "ar1":
            lp_i = jax.vmap(ar1_logpdf, in_axes=(1, 0, 0, 0, 0))(
                h_id, b["mu_id"], jnp.tanh(b["phi_id"]), jnp.exp(b["sigma_id"]),
                _log1m_tanh2(b["phi_id"]))
            lp += jnp.sum(lp_i)
        return lp

    def initial_factor_cov(self, theta: jax.Array, h: jax.Array) -> jax.Array:
        """P0 = diag(exp(h_1) / (1 - phi_f^2)), the law of f_0 (zeros without factor_ar)."""
        if not self.factor_ar:
            return jnp.zeros((self.n_factors, self.n_factors), theta.dtype)
        raw = theta[self.layout["phi_f"]]
        return jnp.diag(jnp.exp(h[0] - _log1m_tanh2(raw)))

    def log_likelihood(self, theta: jax.Array, h: jax.Array, h_id: jax.Array | None,
                       y: jax.Array, mask: jax.Array | None, u_f: jax.Array | None = None,
                       u_id: jax.Array | None = None) -> jax.Array:
        """log p(y | h, h_id, theta) with the factors integrated out by the Kalman filter
        (``factor_loglik``, gradient by Fisher's identity: ``factor_loglik_fisher``); y, mask
        [T, N] (mask True where observed). Without ``factor_ar`` (Phi_f = 0) the dates are
        independent given the paths, sum_t log N(y_t; 0, Lambda Q_t Lambda^T + D_t), computed
        for all t at once (``fsv_loglik_fisher``, same value and gradient). Student-t errors:
        the mixing states u_f [T, K], u_id [T, N] add to the log-variances (the start f_0 uses
        h_1 alone)."""
        p = self.constrain(theta)
        hid = self.idio_path(theta, h_id, y.shape[0])
        P0 = self.initial_factor_cov(theta, h)
        if u_f is not None:
            h, hid = h + u_f, hid + u_id
        if not self.factor_ar:      # Phi_f = 0: independent dates, no recursion
            return fsv_loglik_fisher(y, mask, p["Lambda"], h, hid)
        return factor_loglik_fisher(y, mask, p["Lambda"], p["Phi_f"], h, hid, P0)

    def log_joint(self, theta: jax.Array, h: jax.Array, h_id: jax.Array | None,
                  y: jax.Array, mask: jax.Array | None) -> jax.Array:
        """log p(theta) + log p(h, h_id | theta) + log p(y | h, h_id, theta)."""
        return (self.log_prior(theta) + self.log_states_prior(theta, h, h_id)
                + self.log_likelihood(theta, h, h_id, y, mask))

    # ---- non-centred paths (module docstring) ------------------------------------------
    def path_level_scale(self, theta: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(level, scale, raw phi) [M] of the M = ``n_paths`` paths (K factor paths, then N
        idiosyncratic for ar1): log-variance = level + scale x; raw phi = atanh(phi). For
        factor_var the factor entries are the diagonal parts only (sigma_h and r_k): the
        factor paths mix through L_Q (``scale_paths``, ``path_moments``)."""
        b = self._blocks(theta)
        K = self.n_factors
        level = jnp.zeros(K, theta.dtype)
        scale, raw = jnp.exp(b["sigma_h"]), b["phi_h"]
        if self.idio == "ar1":
            level = jnp.concatenate([level, b["mu_id"]])
            scale = jnp.concatenate([scale, jnp.exp(b["sigma_id"])])
            raw = jnp.concatenate([raw, b["phi_id"]])
        return level, scale, raw

    def path_globals(self) -> np.ndarray:
        """[M, 3] indices into theta of each path's own globals: (log Lambda_kk, atanh phi_h_k,
        log sigma_h_k) for factor path k, (mu_id_i, atanh phi_id_i, log sigma_id_i) for
        idiosyncratic path i (used by the conditional path family)."""
        lay = self.layout
        K, N = self.n_factors, self.n_assets
        rows, cols = self.loading_positions()
        diag = np.flatnonzero(rows == cols) + lay["lambda"].start
        out = [np.stack([diag, lay["phi_h"].start + np.arange(K),
                         lay["sigma_h"].start + np.arange(K)], axis=1)]
        if self.idio == "ar1":
            out.append(np.stack([lay["mu_id"].start + np.arange(N),
                                 lay["phi_id"].start + np.arange(N),
                                 lay["sigma_id"].start + np.arange(N)], axis=1))
        return np.concatenate(out, axis=0)

    def scale_paths(self, theta: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        """Unit paths x [M, T] -> h [T, K] and h_id [T, N] (None for idio="constant"); the
        mixing rows of x (errors="t") are not log-variances and are left out."""
        level, scale, _ = self.path_level_scale(theta)
        x = x[:self.n_logvar]
        hp = level[:, None] + scale[:, None] * x
        K = self.n_factors
        h = (self.factor_parts(theta).L_Q @ x[:K]).T if self.full_var else hp[:K].T
        return h, (hp[K:].T if self.idio == "ar1" else None)

    def path_moments(self, theta: jax.Array, mean_x: jax.Array, var_x: jax.Array
                     ) -> tuple[jax.Array, jax.Array]:
        """Means and variances [M, T] of the log-variance paths given theta when the unit
        paths are independent with means mean_x and variances var_x [M, T]: level + scale
        mean_x and scale^2 var_x; factor_var mixes the factor paths, L_Q mean_x and
        (L_Q o L_Q) var_x. Only the ``n_logvar`` log-variance rows are returned."""
        level, scale, _ = self.path_level_scale(theta)
        mean_x, var_x = mean_x[:self.n_logvar], var_x[:self.n_logvar]
        m = level[:, None] + scale[:, None] * mean_x
        v = scale[:, None] ** 2 * var_x
        if self.full_var:
            K = self.n_factors
            L = self.factor_parts(theta).L_Q
            m = m.at[:K].set(L @ mean_x[:K])
            v = v.at[:K].set((L * L) @ var_x[:K])
        return m, v

    def log_unit_paths_prior(self, theta: jax.Array, x: jax.Array,
                             active: jax.Array | None = None) -> jax.Array:
        """log p(x | theta) for unit paths x [M, T]: stationary unit-innovation AR(1)s
        (factor_var: the factor paths' unit VAR(1), ``factor_var.unit_var_logpdf``), plus the
        prior of the standardised mixing states of errors="t" when x holds them
        (``log_mixing_prior``; x of ``n_logvar`` rows: the paths alone). ``active`` [T]
        (padded sequential model): dates outside it get theta-free N(0, 1) densities
        (``padded_ar1_logpdf``)."""
        _, _, raw = self.path_level_scale(theta)
        L = self.n_logvar
        lp = self.log_mixing_prior(theta, x[L:], active) if x.shape[0] > L else 0.0
        first = self.n_factors if self.full_var else 0     # the VAR's rows are done apart
        if first:
            vp = self.factor_parts(theta)
            lp += fvar.unit_var_logpdf(x[:first], vp.B, vp.L_x, active)
        raw = raw[first:]
        args = (x[first:L], 0.0, jnp.tanh(raw), jnp.ones((), x.dtype), _log1m_tanh2(raw))
        if active is None:
            ar1 = jax.vmap(ar1_logpdf, in_axes=(0, None, 0, None, 0))(*args)
        else:
            ar1 = jax.vmap(padded_ar1_logpdf, in_axes=(0, None, 0, None, 0, None))(*args, active)
        return lp + jnp.sum(ar1)

    def log_joint_noncentred(self, theta: jax.Array, x: jax.Array, y: jax.Array,
                             mask: jax.Array | None) -> jax.Array:
        """log p(theta) + log p(x | theta) + log p(y | h(theta, x), h_id(theta, x), theta)
        for unit paths x [M, T] (module docstring)."""
        h, h_id = self.scale_paths(theta, x)
        return (self.log_prior(theta) + self.log_unit_paths_prior(theta, x)
                + self.log_likelihood(theta, h, h_id, y, mask, *self.mixing(theta, x)))

    def log_joint_mixed(self, theta: jax.Array, x: jax.Array, u: jax.Array, y: jax.Array,
                        mask: jax.Array | None, active: jax.Array | None = None
                        ) -> jax.Array:
        """The joint density in VI's coordinates for Student-t errors: unit log-variance
        paths x [n_logvar, T] and the mixing states u = log W [K + N, T] (not standardised):
        log p(theta) + log p(x | theta) + log p(u | v) + log p(y | h, h_id, u, theta).
        ``active``: the padded model's dates (None: all)."""
        h, h_id = self.scale_paths(theta, x)
        K = self.n_factors
        return (self.log_prior(theta) + self.log_unit_paths_prior(theta, x, active)
                + self.log_mixing_prior_u(theta, u)
                + self.log_likelihood(theta, h, h_id, y, mask, u[:K].T, u[K:].T))


__all__ = ["DfsvModel", "DfsvPriors", "ERRORS", "IDIO", "ar1_logpdf", "factor_loglik_fisher",
           "padded_ar1_logpdf"]
