"""Fit the dynamic factor SV model by VI (or NUTS) and report covariance paths (``fit_dfsv``).

Model, identification and priors: ``bayesvol.models.dfsv``; the variational family and loop:
``bayesvol.inference.dfsv`` (after Gunawan, Kohn & Nott, "Variational approximation of factor
stochastic volatility models").

Data handling: each asset's sample mean is subtracted (``demean=True``; the model has no mean),
and the panel is divided by one overall scale s = sqrt(mean over assets of the sample
variances), so the priors act on returns of unit scale. Results are reported on the original
scale: Lambda s, mu_id + 2 log s, sigma2 s^2, h_id + 2 log s (h, phi's and sigma's are
unchanged).

Covariance path (posterior mean over draws, not a plug-in of means):

    E[Cov_t] ~ (1/D) sum_j [Lambda^j diag(exp(h_t^j)) Lambda^{jT} + diag(exp(h_id_t^j))],

with (theta^j, h^j, h_id^j) joint draws from q; ``correlation`` averages the correlation
matrix of each draw's Cov_t the same way. The ELBO is reported for the original data
(the scaled data's ELBO minus n_obs log s), so fits of the same data with different K compare.

Paths are stored non-centred (unit AR(1) paths x, ``bayesvol.models.dfsv``; log-variance =
level + sigma x per draw of theta) unless the VI option ``paths="centred"`` was used; every
output is in log-variance units either way.

The fitted returns are kept (``returns``, saved with the fit) because forecasts and scores
start from the Kalman filter's factor moments at the last date (``forecast.factor_forecast``:
``forecast``, ``forecast_covariance``, ``predictive_draws``, ``gmv_weights``, ``score``).

``method="nuts"`` (small problems): the same posterior by NUTS (``inference.dfsv.nuts``); the
fit then holds MCMC draws of theta and of the paths (``path_draws``) instead of q, ``params``
is empty, ``elbo`` is NaN, ``iterations`` is the number of kept draws per chain and
``converged`` means max split R-hat < 1.05 (``diagnostics`` has R-hat, ESS and divergences).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from .atomic import atomic_write
from .dfsv_moments import draw_log_variance_moments, moment_paths
from .errors import InputError
from .inference.dfsv.nuts import DfsvNutsOptions, run_dfsv_nuts
from .inference.dfsv.vi import (
    DfsvVIOptions,
    constrain_draws,
    log_variance_moments,
    run_dfsv_vi,
)
from .models.dfsv import DfsvModel, DfsvPriors
from .netcdf_io import no_dask

METHODS = ("vi", "nuts")

FORMAT = "bayesvol-dfsv-1"


def _panel(data) -> tuple[np.ndarray, list[str], pd.Index]:
    """y [T, N] (NaN where missing), asset names and the time index from data."""
    if isinstance(data, pd.DataFrame):
        y = data.to_numpy(dtype=float)
        assets = [str(c) for c in data.columns]
        times = pd.Index(data.index, name="time")
    else:
        arr = np.asarray(data, dtype=float)
        if arr.ndim != 2:
            raise InputError(f"data must be a DataFrame (dates x assets) or an array [N, T], "
                             f"got an array of shape {arr.shape}")
        y = arr.T
        assets = [f"A{i + 1}" for i in range(arr.shape[0])]
        times = pd.RangeIndex(arr.shape[1], name="time")
    if np.any(np.isinf(y)):
        raise InputError("data contain infinite values")
    empty = [a for a, ok in zip(assets, np.isfinite(y).any(axis=0), strict=True) if not ok]
    if empty:
        raise InputError(f"assets with no observed return: {', '.join(empty)}")
    if y.shape[0] < 10:
        raise InputError(f"need at least 10 dates, got {y.shape[0]}")
    return y, assets, times


@dataclass
class DfsvFit:
    """A DFSV fit: q's parameters (on the scaled data), posterior draws of the globals and the
    data's scale (module docstring). Build with ``fit_dfsv`` or ``DfsvFit.load``."""

    model: DfsvModel
    options: DfsvVIOptions | DfsvNutsOptions
    params: dict            # variational parameters (family.py names), scaled data; {} for NUTS
    theta_draws: np.ndarray  # [D, d] unconstrained draws of q(theta) (or MCMC), scaled data
    scale: float
    asset_mean: np.ndarray  # [N] subtracted means
    assets: list[str]
    times: pd.Index
    seed: int
    elbo: float
    elbo_trace: np.ndarray
    iterations: int
    converged: bool
    method: str = "vi"
    path_draws: np.ndarray | None = None   # [D, M, T] unit paths x (NUTS only)
    diagnostics: dict = field(default_factory=dict)   # NUTS: rhat_max, ess_min, divergences
    returns: np.ndarray | None = None   # [T, N] fitted returns, original scale, NaN = missing

    @property
    def paths(self) -> str:
        """How the stored paths are parameterised: "noncentred" or "centred" (VI option)."""
        return getattr(self.options, "paths", "noncentred")

    # ---- draws in natural units -----------------------------------------------------------
    def natural_draws(self) -> dict[str, np.ndarray]:
        """Natural parameters per draw on the original scale (``DfsvModel.constrain`` names)."""
        d = constrain_draws(self.model, self.theta_draws)
        s = self.scale
        d["Lambda"] = d["Lambda"] * s
        if "mu_id" in d:
            d["mu_id"] = d["mu_id"] + 2.0 * math.log(s)
        if "sigma2" in d:
            d["sigma2"] = d["sigma2"] * s * s
        return d

    def _time_index(self, times) -> np.ndarray:
        if times is None:
            return np.arange(len(self.times))
        want = pd.Index(np.atleast_1d(times))
        idx = self.times.get_indexer(want)
        if np.any(idx < 0):
            raise InputError(f"times not in the fit: {list(want[idx < 0])[:5]}")
        return idx

    def _draw_rows(self, num_draws: int | None) -> np.ndarray:
        """Rows of theta_draws used for path summaries: all, or ``num_draws`` evenly spaced
        (so MCMC draws come from every chain)."""
        total = self.theta_draws.shape[0]
        D = min(num_draws or total, total)
        return np.unique(np.linspace(0, total - 1, D).round().astype(int))

    def _moments(self, times, num_draws: int | None):
        idx = self._time_index(times)
        rows = self._draw_rows(num_draws)
        key = jax.random.fold_in(jax.random.key(self.seed), 7)
        p = {k: jnp.asarray(v) for k, v in self.params.items()}
        x = None if self.path_draws is None else jnp.asarray(self.path_draws[rows])
        # pad the requested times to a power-of-two bucket so few shapes get compiled
        n = len(idx)
        bucket = min(max(8, 1 << (n - 1).bit_length()), len(self.times))
        padded = np.concatenate([idx, np.full(max(bucket - n, 0), idx[-1])])
        cov, corr = moment_paths(self.model, self.paths, p,
                                  jnp.asarray(self.theta_draws[rows]), x, key,
                                  jnp.asarray(padded))
        return idx, np.asarray(cov)[:n] * self.scale**2, np.asarray(corr)[:n]

    def _matrix_array(self, values, idx, name: str) -> xr.DataArray:
        return xr.DataArray(values, dims=("time", "asset", "asset2"), name=name,
                            coords={"time": self.times[idx], "asset": self.assets,
                                    "asset2": self.assets})

    def covariance(self, times=None, num_draws: int | None = 200) -> xr.DataArray:
        """Posterior mean of Cov_t = Lambda diag(exp(h_t)) Lambda^T + diag(exp(h_id_t)),
        averaged over ``num_draws`` joint draws; dims (time, asset, asset2). ``times``: labels
        of the time coordinate (None: all)."""
        idx, cov, _ = self._moments(times, num_draws)
        return self._matrix_array(cov, idx, "covariance")

    def correlation(self, times=None, num_draws: int | None = 200) -> xr.DataArray:
        """Posterior mean of the correlation matrix of Cov_t (averaged over draws)."""
        idx, _, corr = self._moments(times, num_draws)
        return self._matrix_array(corr, idx, "correlation")

    def log_variances(self) -> xr.Dataset:
        """Posterior means and sds of the log-variance paths: factor_mean, factor_sd
        (time, factor) and idio_mean, idio_sd (time, asset) on the original scale (for
        idio="constant", the posterior of log sigma2, constant over time). VI: moments of q,
        mixed over the draws of theta (``log_variance_moments``); NUTS: over the draws."""
        K, N = self.model.n_factors, self.model.n_assets
        if self.path_draws is None:
            loc, sd = log_variance_moments(self.model, self.params, self.theta_draws,
                                           self.paths)
        else:
            loc, sd = (np.asarray(a) for a in draw_log_variance_moments(
                self.model, jnp.asarray(self.theta_draws), jnp.asarray(self.path_draws)))
        shift = 2.0 * math.log(self.scale)
        T = len(self.times)
        if self.model.idio == "ar1":
            id_mean, id_sd = loc[K:].T + shift, sd[K:].T
        else:
            ls2 = self.theta_draws[:, self.model.layout["sigma2"]] + shift
            id_mean = np.broadcast_to(ls2.mean(axis=0), (T, N))
            id_sd = np.broadcast_to(ls2.std(axis=0), (T, N))
        coords = {"time": self.times, "factor": np.arange(1, K + 1), "asset": self.assets}
        return xr.Dataset(
            {"factor_mean": (("time", "factor"), loc[:K].T),
             "factor_sd": (("time", "factor"), sd[:K].T),
             "idio_mean": (("time", "asset"), np.asarray(id_mean)),
             "idio_sd": (("time", "asset"), np.asarray(id_sd))},
            coords=coords, attrs={"note": "log variances; factor log-variance has mean 0"})

    def loadings(self, stat: str = "mean") -> pd.DataFrame:
        """Posterior ``mean`` or ``sd`` of Lambda (original scale), asset x factor (1..K);
        entries above the diagonal are 0 by the identification rule."""
        lam = self.natural_draws()["Lambda"]
        if stat not in ("mean", "sd"):
            raise ValueError("stat must be 'mean' or 'sd'")
        vals = lam.mean(axis=0) if stat == "mean" else lam.std(axis=0)
        return pd.DataFrame(vals, index=pd.Index(self.assets, name="asset"),
                            columns=pd.Index(np.arange(1, self.model.n_factors + 1),
                                             name="factor"))

    def summary(self) -> pd.DataFrame:
        """Posterior mean, sd and 5/50/95% quantiles of the globals on the original scale, rows
        ``lambda[ASSET,k]``, ``phi_f[k]``, ``phi_h[k]``, ``sigma_h[k]``, ``mu_id[ASSET]``,
        ``phi_id[ASSET]``, ``sigma_id[ASSET]`` (or ``sigma2[ASSET]``)."""
        nat = self.natural_draws()
        rows, cols = self.model.loading_positions()
        blocks = [nat["Lambda"][:, rows, cols]]
        for name in list(self.model.layout)[1:]:
            blocks.append(nat[name])
        x = np.concatenate(blocks, axis=1)
        q = np.quantile(x, [0.05, 0.5, 0.95], axis=0)
        return pd.DataFrame({"mean": x.mean(axis=0), "sd": x.std(axis=0), "q05": q[0],
                             "q50": q[1], "q95": q[2]},
                            index=pd.Index(self.model.parameter_names(self.assets),
                                           name="parameter"))

    # ---- forecasts and scores (bayesvol.forecast.factor_forecast) ---------------------
    def forecast_covariance(self, horizon: int = 10, max_draws: int | None = None
                            ) -> xr.DataArray:
        """Posterior-mean predictive covariance of r_{T+s}, s = 1..horizon, original scale:
        dims (step, asset, asset2). E over draws of Lambda V_s Lambda^T + diag(E exp h_id_{T+s})
        (V_s the factor covariance propagated by Phi_f from the filtered P_T, plus
        E diag exp h_{T+s}) plus the covariance of the draws' conditional means
        (``forecast.factor_forecast``). max_draws: posterior draws used (None: all)."""
        from .forecast.factor_forecast import forecast_covariance

        return forecast_covariance(self, horizon, max_draws=max_draws)

    def forecast_moments(self, horizon: int = 10, max_draws: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Predictive means [h, N] and covariances [h, N, N] of r_{T+1..T+h}, original scale."""
        from .forecast.factor_forecast import forecast_moments

        return forecast_moments(self, horizon, max_draws=max_draws)

    def predictive_draws(self, horizon: int = 10, n_paths: int = 4000, seed: int = 0,
                         max_draws: int | None = None) -> np.ndarray:
        """Simulated draws [n_paths, horizon, N] of r_{T+1..T+h} from the posterior
        predictive (log-variances, factors, returns), original scale."""
        from .forecast.factor_forecast import predictive_draws

        return predictive_draws(self, horizon, n_paths, seed, max_draws=max_draws)

    def gmv_weights(self, horizon: int = 1, levels: tuple[float, ...] = (0.01, 0.05),
                    n_paths: int = 4000, seed: int = 0, max_draws: int | None = None):
        """Global minimum-variance portfolio w = Sigma^{-1} 1 / 1^T Sigma^{-1} 1 from the
        ``horizon``-step predictive covariance, and the predictive density of w^T r_{T+h}:
        a ``GmvForecast`` (.weights by asset, .draws, .mean, .sd, .variance, .risk)."""
        from .forecast.factor_forecast import gmv_forecast

        return gmv_forecast(self, horizon, levels, n_paths, seed, max_draws=max_draws)

    def forecast(self, horizon: int = 10, levels: tuple[float, ...] = (0.01, 0.05),
                 n_paths: int = 4000, seed: int | None = None, max_draws: int | None = None):
        """Posterior predictive forecast: per-asset volatility, return quantiles, VaR and ES
        (``.risk``, ``.to_frame()``, ``.to_dict()`` as for GARCH), plus the predictive
        covariance and the GMV portfolio (``forecast.factor_forecast.FactorForecast``)."""
        from .forecast.factor_forecast import forecast_dfsv

        return forecast_dfsv(self, horizon, levels, n_paths,
                             self.seed if seed is None else seed, max_draws=max_draws)

    def score(self, new_returns, max_draws: int = 200, seed: int | None = None,
              n_particles: int = 100, resample: str = "ess"):
        """One-step log predictive scores of returns after the fit's last date, no refit: a
        Rao-Blackwellised particle filter per posterior draw from the state at T. Returns a
        ``FactorScoreTerms`` (a ``forecast.score.ScoreTerms``): each asset's marginal score
        and the joint score as asset ``"__joint__"``; ``.to_frame()`` gives date, asset,
        log_score."""
        from .forecast.factor_score import score_dfsv

        return score_dfsv(self, new_returns, max_draws=max_draws, seed=seed,
                          n_particles=n_particles, resample=resample)

    # ---- sequential updating (bayesvol.dfsv_sequential) -------------------------------
    def update(self, new_returns, seed: int | None = None, capacity: int | None = None,
               **options) -> DfsvFit:
        """A new fit to old + new returns by the full ELBO over all data, warm-started at this
        fit's q (seq-VA of Gunawan, Kohn & Nott, Section 3.5): q(theta) and the old path
        entries carried over, new path entries started by continuing each AR(1); the time
        axis is padded to a capacity bucket so updates within a bucket reuse one compiled
        program (``bayesvol.dfsv_sequential.update_dfsv``). new_returns: a DataFrame indexed by
        dates after the fit's last (some or all of its assets). options: ``DfsvVIOptions``
        fields overriding the fit's (not family, paths, conditional). Raises InputError."""
        from .dfsv_sequential import update_dfsv

        return update_dfsv(self, new_returns, seed=seed, capacity=capacity, **options)

    # ---- persistence --------------------------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        p = self.params
        d = self.theta_draws.shape[1]
        T = len(self.times)
        dims = {"theta_loc": ("param",), "theta_logd": ("param",), "path_loc": ("path", "time"),
                "path_logd": ("path", "time"), "path_c": ("path", "time_pair"),
                "theta_off": ("param", "param2"), "path_B": ("path", "time", "path_global"),
                "mix_la": ("mix", "time"), "mix_lb": ("mix", "time")}
        vars_ = {k: (dims[k], p[k]) for k in dims if k in p}
        vars_.update({
            "theta_draws": (("draw", "param"), self.theta_draws),
            "elbo_trace": ("iteration", self.elbo_trace),
            "asset_mean": ("asset", self.asset_mean),
        })
        if self.path_draws is not None:
            vars_["path_draws"] = (("draw", "path", "time"), self.path_draws)
        if self.returns is not None:
            vars_["returns"] = (("time", "asset"), np.asarray(self.returns, float))
        model_cfg = {"n_assets": self.model.n_assets, "n_factors": self.model.n_factors,
                     "idio": self.model.idio, "factor_ar": self.model.factor_ar,
                     "factor_var": self.model.factor_var, "errors": self.model.errors,
                     "priors": asdict(self.model.priors)}
        attrs = {"format": FORMAT, "model": json.dumps(model_cfg),
                 "options": json.dumps(asdict(self.options)), "scale": self.scale,
                 "seed": self.seed, "elbo": self.elbo, "iterations": self.iterations,
                 "converged": int(self.converged), "method": self.method,
                 "diagnostics": json.dumps(self.diagnostics)}
        names = self.model.parameter_names(self.assets)
        assert len(names) == d
        return xr.Dataset(vars_, coords={"time": self.times, "asset": self.assets,
                                         "param": names, "time_pair": np.arange(T - 1)},
                          attrs=attrs)

    def save(self, path) -> Path:
        """Write the fit to a NetCDF file (xarray, h5netcdf engine); ``DfsvFit.load`` reads it."""
        with no_dask():
            ds = self.to_dataset()
            return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))

    @classmethod
    def load(cls, path) -> DfsvFit:
        with no_dask(), xr.open_dataset(path, engine="h5netcdf") as handle:
            ds = handle.load()
        if ds.attrs.get("format") != FORMAT:
            raise InputError(f"{path}: not a DFSV fit (format {ds.attrs.get('format')!r})")
        cfg = json.loads(ds.attrs["model"])
        priors = DfsvPriors(**cfg.pop("priors"))
        model = DfsvModel(priors=priors, **cfg)
        method = str(ds.attrs.get("method", "vi"))
        opt_cls = DfsvNutsOptions if method == "nuts" else DfsvVIOptions
        options = opt_cls(**json.loads(ds.attrs["options"]))
        params = {k: ds[k].values for k in ("theta_loc", "theta_logd", "path_loc", "path_logd",
                                            "path_c", "theta_off", "path_B", "mix_la",
                                            "mix_lb") if k in ds}
        return cls(model=model, options=options, params=params,
                   theta_draws=ds["theta_draws"].values, scale=float(ds.attrs["scale"]),
                   asset_mean=ds["asset_mean"].values,
                   assets=[str(a) for a in ds["asset"].values],
                   times=pd.Index(ds["time"].values, name="time"), seed=int(ds.attrs["seed"]),
                   elbo=float(ds.attrs["elbo"]), elbo_trace=ds["elbo_trace"].values,
                   iterations=int(ds.attrs["iterations"]),
                   converged=bool(int(ds.attrs["converged"])), method=method,
                   path_draws=ds["path_draws"].values if "path_draws" in ds else None,
                   diagnostics=json.loads(ds.attrs.get("diagnostics", "{}")),
                   returns=ds["returns"].values if "returns" in ds else None)


def fit_dfsv(data, n_factors: int = 1, idio: str = "ar1", seed: int = 0, *,
             factor_ar: bool = True, factor_var: bool = False, errors: str = "normal",
             demean: bool = True, priors: DfsvPriors | None = None, method: str = "vi",
             num_warmup: int | None = None, num_samples: int | None = None,
             num_chains: int | None = None, **options) -> DfsvFit:
    """Fit the DFSV model (``bayesvol.models.dfsv``) by VI or NUTS (``bayesvol.inference.dfsv``).

    data: wide DataFrame (dates x assets, NaN where missing) or an array [N, T].
    n_factors: K (<= N; the first K assets anchor the lower-triangular loadings).
    idio: "ar1" (stochastic idiosyncratic log-variances) or "constant".
    factor_ar: estimate a diagonal factor AR matrix Phi_f (False: Phi_f = 0).
    factor_var: a full VAR(1) (Phi_h, Q_h) for the factor log-variances (K >= 2; default
    False: K independent AR(1)s); VI needs the default non-centred paths.
    errors: "normal" (default) or "t" (Student-t idiosyncratic and factor innovations, one
    degrees-of-freedom parameter per series; non-centred paths).
    method: "vi" (default) or "nuts" (the exact posterior; small problems only).
    options: fields of ``DfsvVIOptions`` for VI (family, mc_samples, learning_rate, window,
    patience, max_iter, output, num_draws, elbo_draws, paths, conditional), or of
    ``DfsvNutsOptions`` for NUTS (target_accept, max_tree_depth).
    num_warmup, num_samples, num_chains: NUTS's settings (None: ``DfsvNutsOptions``'s
    defaults; ignored by VI).
    Raises InputError on bad data or options, NumericalError when the ELBO is not finite.
    """
    if method not in METHODS:
        raise InputError(f"method must be 'vi' or 'nuts', got {method!r}")
    y, assets, times = _panel(data)
    T, N = y.shape
    mask = np.isfinite(y)
    means = np.nanmean(y, axis=0) if demean else np.zeros(N)
    yc = y - means
    scale = float(np.sqrt(np.mean(np.nanvar(yc, axis=0))))
    if not np.isfinite(scale) or scale <= 0:
        raise InputError("data have zero variance")
    model = DfsvModel(N, int(n_factors), idio, bool(factor_ar), priors or DfsvPriors(),
                      bool(factor_var), errors)
    opt_cls = DfsvNutsOptions if method == "nuts" else DfsvVIOptions
    if method == "nuts":
        sampler = {"num_warmup": num_warmup, "num_samples": num_samples,
                   "num_chains": num_chains}
        options.update({k: int(v) for k, v in sampler.items() if v is not None})
    try:
        opts = opt_cls(**options)
    except TypeError as err:
        raise InputError(f"bad option for method={method!r}: {err}") from None
    ys = np.where(mask, yc / scale, 0.0)
    key = jax.random.key(seed)
    common = dict(model=model, options=opts, scale=scale, asset_mean=np.asarray(means, float),
                  assets=assets, times=times, seed=int(seed), method=method,
                  returns=np.asarray(y, float))
    if method == "nuts":
        res = run_dfsv_nuts(model, ys, mask, key, opts)
        diag = {"rhat_max": res.rhat_max, "ess_min": res.ess_min,
                "divergences": res.divergences, "seconds": res.seconds}
        converged = bool(res.finite and (opts.num_chains < 2 or res.rhat_max < 1.05))
        return DfsvFit(params={}, theta_draws=res.theta_draws, elbo=float("nan"),
                       elbo_trace=np.zeros(0), iterations=opts.num_samples,
                       converged=converged, path_draws=res.path_draws, diagnostics=diag,
                       **common)
    res = run_dfsv_vi(model, ys, mask, key, opts)
    jacobian = -float(mask.sum()) * math.log(scale)    # log p(y) = log p(y / s) - n_obs log s
    return DfsvFit(params=res.params, theta_draws=res.theta_draws, elbo=res.elbo + jacobian,
                   elbo_trace=res.elbo_trace + jacobian, iterations=res.iterations,
                   converged=res.converged, **common)


def sequential_dfsv(data, n_factors: int = 1, t0: int = 250, every: int = 5, **kwargs):
    """Seq-VA with one-step scoring: a batch fit on the first t0 dates, then per block of
    ``every`` dates, score the block with the current fit and update it; returns a
    ``DfsvSequential`` (``.clapl``, ``.joint``, ``.steps``, ``.fit``). See
    ``bayesvol.dfsv_sequential.sequential_dfsv`` for the options."""
    from .dfsv_sequential import sequential_dfsv as run

    return run(data, n_factors, t0, every, **kwargs)


def select_factors(data, ks=(1, 2, 3), t0: int = 250, every: int = 5, **kwargs
                   ) -> pd.DataFrame:
    """Choose K by the ELBO of the full-data fit and by CLAPL (the sum of one-step joint log
    predictive scores over the sequential part; Gunawan, Kohn & Nott, Section 4): a table
    indexed by K (``bayesvol.dfsv_sequential.select_factors``)."""
    from .dfsv_sequential import select_factors as run

    return run(data, ks, t0, every, **kwargs)


__all__ = ["DfsvFit", "fit_dfsv", "select_factors", "sequential_dfsv"]
