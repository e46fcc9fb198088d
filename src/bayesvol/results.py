"""Fit: the draws of a fitted model with its method, diagnostics and data.

Posterior draws are kept in the unconstrained space, ``z`` [assets, chains, draws, d]; natural
parameters are derived by the model's ``constrain``. Pooled models (``model.joint``) also have
global draws ``g`` [chains, draws, d_g], reported through ``model.constrain_global`` under
names without an asset. A fit saves as ``summary.json`` (the JSON summary described in
docs/input-formats.md, "Output files") and ``posterior.nc`` (ArviZ InferenceData, NetCDF:
natural-scale and unconstrained draws, the returns, the model configuration and
diagnostics), and loads back without loss. Files are written under a temporary name and renamed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .atomic import atomic_write
from .data import ReturnsPanel
from .errors import InputError
from .models.registry import model_from_config
from .models.series import SeriesData, series_data  # noqa: F401  (series_data re-exported)
from .netcdf_io import no_dask


@dataclass
class Fit:
    """A fitted model: draws, method, diagnostics, runtime and the data it was fitted to."""

    model: Any
    panel: ReturnsPanel
    method: str
    z: np.ndarray  # [N, chains, draws, d]
    diagnostics: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)
    elbo: np.ndarray | None = None  # [N]
    elbo_trace: list | None = None
    vi_params: dict | None = None  # variational parameters, asset axis first
    options: dict = field(default_factory=dict)
    seed: int = 0
    point: np.ndarray | None = None  # [N, d] mode (mle/map)
    point_cov: np.ndarray | None = None  # [N, d, d] Laplace covariance in z
    g: np.ndarray | None = None  # [chains, draws, d_g] global draws of a pooled model
    unpooled: np.ndarray | None = None  # [N, d] nearly unpooled per-asset modes (pooled VI)

    # ------------------------------------------------------------------------ accessors
    @property
    def assets(self) -> tuple[str, ...]:
        return self.panel.assets

    @property
    def pooled(self) -> bool:
        return self.g is not None

    def data(self) -> SeriesData:
        """Per-asset left-aligned (y, mask) of the fitted panel (the model's ``series``)."""
        return self.model.series(self.panel)

    def global_draws(self) -> dict[str, np.ndarray]:
        """Natural-scale global draws of a pooled model, name -> [chains, draws] ({} if none)."""
        if self.g is None:
            return {}
        p = self.model.constrain_global(jnp.asarray(self.g))
        return {k: np.asarray(v) for k, v in p.items()}

    def draws(self) -> dict[str, np.ndarray]:
        """Natural-scale draws, name -> [N, chains, draws] (``model.constrain``, jitted: one
        compiled program instead of one per elementwise operation)."""
        try:
            program, names = _constrain_program(self.model)
        except TypeError:  # a model that is not hashable: operation by operation
            p = self.model.constrain(jnp.asarray(self.z))
            return {k: np.asarray(v) for k, v in p.items()}
        values = program(jnp.asarray(self.z))
        return {k: np.asarray(v) for k, v in zip(names, values, strict=True)}

    def flat_draws(self, asset: int | str = 0) -> dict[str, np.ndarray]:
        """Natural-scale draws of one asset, chains pooled: name -> [chains * draws]."""
        i = self._asset_index(asset)
        return {k: v[i].reshape(-1) for k, v in self.draws().items()}

    def _asset_index(self, asset: int | str) -> int:
        if isinstance(asset, str):
            if asset not in self.assets:
                raise KeyError(f"no asset '{asset}' in this fit: {', '.join(self.assets)}")
            return self.assets.index(asset)
        return int(asset)

    def label(self, name: str, i: int) -> str:
        """``name`` for a single-asset fit, ``name[ASSET]`` for a panel or a pooled model."""
        single = len(self.assets) == 1 and not self.pooled
        return name if single else f"{name}[{self.assets[i]}]"

    # ------------------------------------------------------------------------- summary
    def summary(self) -> pd.DataFrame:
        """Posterior mean, sd and 5/50/95% quantiles per parameter (natural scale).

        For ``method="mle"`` the mean is the MLE and sd its standard error (delta method on
        the Laplace covariance); quantiles are those of the asymptotic normal in z.
        """
        rows = {}
        for name, arr in self.global_draws().items():
            x = arr.reshape(-1)
            q05, q50, q95 = np.quantile(x, [0.05, 0.5, 0.95])
            rows[name] = {"mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)),
                          "q05": float(q05), "q50": float(q50), "q95": float(q95)}
        draws = self.draws()
        se = self.standard_errors() if self.method == "mle" else None
        for name, arr in draws.items():
            for i in range(len(self.assets)):
                x = arr[i].reshape(-1)
                q05, q50, q95 = np.quantile(x, [0.05, 0.5, 0.95])
                mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
                if se is not None:
                    mean, sd = float(se[name][0][i]), float(se[name][1][i])
                rows[self.label(name, i)] = {"mean": mean, "sd": sd, "q05": float(q05),
                                             "q50": float(q50), "q95": float(q95)}
        return pd.DataFrame.from_dict(rows, orient="index")

    def standard_errors(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(estimate, standard error) per natural parameter at the mode (mle/map fits)."""
        if self.point is None or self.point_cov is None:
            raise ValueError("standard errors need a mode fit (method='mle' or 'map')")
        names = self.model.param_names

        def nat(z):
            p = self.model.constrain(z)
            return jnp.stack([p[k] for k in names])

        z = jnp.asarray(self.point)
        est = np.asarray(jax.vmap(nat)(z))
        jac = jax.vmap(jax.jacobian(nat))(z)
        cov = jnp.einsum("nij,njk,nlk->nil", jac, jnp.asarray(self.point_cov), jac)
        se = np.sqrt(np.asarray(jnp.diagonal(cov, axis1=1, axis2=2)))
        return {k: (est[:, j], se[:, j]) for j, k in enumerate(names)}

    def summary_dict(self) -> dict:
        """The summary.json document (fields: docs/input-formats.md, "Output files")."""
        diag = self.diagnostics
        k_hat = np.asarray(diag.get("pareto_k") or [np.nan], dtype=float)
        psis_ran = "psis_reliable" in diag and not np.all(np.isnan(k_hat))
        return {
            "model": self.model.name,
            "dist": self.model.dist,
            "method": self.method,
            "assets": list(self.assets),
            "n_obs": int(self.panel.n_obs),
            "runtime_s": {k: round(float(v), 4) for k, v in self.runtime.items()},
            "parameters": {k: {c: float(v) for c, v in row.items()}
                           for k, row in self.summary().iterrows()},
            "elbo": None if self.elbo is None else float(np.sum(self.elbo)),
            "log_marginal_likelihood": None,
            "diagnostics": {
                "converged": bool(diag.get("converged", True)),
                "iterations": diag.get("iterations"),
                "rhat_max": diag.get("rhat_max"),
                "ess_min": diag.get("ess_min"),
                "divergences": diag.get("divergences"),
                # MCMC samplers (nuts: ESS/s only; hmc, rwmh, admit, griddy: all three)
                "acceptance_rate": diag.get("acceptance_rate"),
                "ess_per_s_min": diag.get("ess_per_s_min"),
                "geweke_max_abs": diag.get("geweke_max_abs"),
                # None where PSIS did not run (NUTS, MLE, psis=False: k-hat is NaN)
                "pareto_k_max": (float(np.max(k_hat)) if psis_ran and np.all(np.isfinite(k_hat))
                                 else None),
                "psis_reliable": bool(all(diag["psis_reliable"])) if psis_ran else None,
            },
            "model_config": self.model.config(),
            "options": self.options,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        return (f"Fit(model={self.model.name}, dist={self.model.dist}, method={self.method}, "
                f"assets={len(self.assets)}, draws={self.z.shape[1] * self.z.shape[2]})")

    # --------------------------------------------------------------- volatility, forecast
    def volatility(self, quantiles: tuple[float, ...] = (0.05, 0.5, 0.95), max_draws: int = 500
                   ) -> dict[str, pd.DataFrame]:
        """Posterior of the in-sample conditional volatility sigma_t, per asset.

        Returns asset -> DataFrame indexed by date with columns mean and the quantiles (NaN
        outside the asset's listed window).
        """
        data = self.data()
        out = {}
        rng = np.random.default_rng(self.seed)
        for i, asset in enumerate(self.assets):
            zi = self.z[i].reshape(-1, self.z.shape[-1])
            if zi.shape[0] > max_draws:
                zi = zi[rng.choice(zi.shape[0], max_draws, replace=False)]
            di = jax.tree_util.tree_map(lambda x, i=i: x[i], data)
            s2 = np.asarray(_vol_paths(self.model, jnp.asarray(zi), di))
            n = int(self.panel.last[i] - self.panel.first[i] + 1)
            sig = np.sqrt(s2[:, :n])
            frame = pd.DataFrame(index=self.panel.dates)
            window = slice(int(self.panel.first[i]), int(self.panel.last[i]) + 1)
            frame["mean"] = np.nan
            frame.iloc[window, 0] = sig.mean(0)
            for q in quantiles:
                col = np.full(len(self.panel.dates), np.nan)
                col[window] = np.quantile(sig, q, axis=0)
                frame[f"q{round(q * 100):02d}"] = col
            out[asset] = frame
        return out

    def forecast(self, horizon: int = 10, levels: tuple[float, ...] = (0.01, 0.05),
                 n_paths: int = 4000, seed: int | None = None):
        """Posterior predictive forecast (see forecast.garch_forecast.forecast_fit)."""
        from .forecast.garch_forecast import forecast_fit

        return forecast_fit(self, horizon=horizon, levels=levels, n_paths=n_paths,
                            seed=self.seed if seed is None else seed)

    def score(self, new_returns, **kwargs) -> pd.DataFrame:
        """One-step-ahead log predictive scores of returns after the fit's last date, no refit
        (columns date, asset, log_score; see forecast.score.score_fit: max_draws, seed)."""
        from .forecast.score import score_fit

        return score_fit(self, new_returns, **kwargs)

    def update(self, new_returns, method: str = "seqsvb", **kwargs) -> Fit:
        """Sequential update with new data (see bayesvol.updating.update_fit)."""
        from .updating import update_fit

        return update_fit(self, new_returns, method=method, **kwargs)

    def posterior_predictive(self, num_draws: int = 200, seed: int | None = None, assets=None):
        """Replicated return series per asset, one per subsampled posterior draw, and their
        checks (``.table()``; see forecast.predictive.posterior_predictive)."""
        from .forecast.predictive import posterior_predictive

        return posterior_predictive(self, num_draws=num_draws,
                                    seed=self.seed if seed is None else seed, assets=assets)

    def shrinkage(self, params=("persistence", "alpha_share", "omega", "nu", "phi"),
                  interval: float = 0.9) -> pd.DataFrame:
        """Per-asset unpooled vs pooled estimates against the population centre, with the
        shrinkage factor (pooled fits; see bayesvol.shrinkage.shrinkage_table)."""
        from .shrinkage import shrinkage_table

        return shrinkage_table(self, params=params, interval=interval)

    # ---------------------------------------------------------------------- save / load
    def to_inference_data(self):
        """ArviZ InferenceData: posterior (natural and unconstrained), observed returns."""
        import arviz as az  # imported here: it costs seconds at start-up

        groups = self._groups()
        idata = az.InferenceData(posterior=groups["posterior"],
                                 observed_data=groups["observed_data"])
        if "variational" in groups:
            idata.add_groups({"variational": groups["variational"]})
        return idata

    def _groups(self) -> dict:
        """The InferenceData groups as xarray Datasets, built without importing ArviZ (1-4 s,
        more than a warm fit) so that ``save`` does not pay for it; the layout is that of
        ``arviz.from_dict`` (dims chain, draw, then the variable's; coords from 0)."""
        import xarray as xr

        draws = self.draws()
        chains, n_draws = self.z.shape[1], self.z.shape[2]
        coords = {"chain": np.arange(chains), "draw": np.arange(n_draws),
                  "asset": list(self.assets), "z_dim": list(self.model.unconstrained_names)}
        post = {k: (("chain", "draw", "asset"), np.moveaxis(v, 0, -1)) for k, v in draws.items()}
        post["z"] = (("chain", "draw", "asset", "z_dim"), np.moveaxis(self.z, 0, 2))
        if self.g is not None:
            post.update({k: (("chain", "draw"), v) for k, v in self.global_draws().items()})
            post["g"] = (("chain", "draw", "g_dim"), self.g)
            coords["g_dim"] = list(self.model.global_names)
        attrs = _dataset_attrs()
        groups = {"posterior": xr.Dataset(post, coords=coords,
                                          attrs={**attrs, "bayesvol_fit": json.dumps(
                                              self._attrs())})}
        groups["observed_data"] = xr.Dataset(
            {"y": (("asset", "time"), self.panel.values)},
            coords={"asset": list(self.assets), "time": np.asarray(self.panel.dates)},
            attrs=attrs)
        if self.vi_params is not None:
            def var_dims(k: str, v: np.ndarray) -> tuple[str, ...]:
                if self.g is not None and not k.startswith("l_"):  # a pooled fit's globals
                    return tuple(f"{k}_dim{j}" for j in range(v.ndim))
                return ("asset",) + tuple(f"{k}_dim{j}" for j in range(v.ndim - 1))

            groups["variational"] = xr.Dataset(
                {k: (var_dims(k, v), v) for k, v in self.vi_params.items()},
                coords={"asset": list(self.assets)})
        return groups

    def _attrs(self) -> dict:
        return {
            "model_config": self.model.config(), "method": self.method,
            "diagnostics": _jsonable(self.diagnostics), "runtime": self.runtime,
            "options": self.options, "seed": self.seed, "source": self.panel.source,
            "elbo": None if self.elbo is None else np.asarray(self.elbo).tolist(),
            "elbo_trace": None if self.elbo_trace is None else
            [np.asarray(t).tolist() for t in self.elbo_trace],
            "point": None if self.point is None else np.asarray(self.point).tolist(),
            "point_cov": None if self.point_cov is None else np.asarray(self.point_cov).tolist(),
            "unpooled": None if self.unpooled is None else np.asarray(self.unpooled).tolist(),
        }

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write summary.json and posterior.nc into ``out_dir`` (created if needed)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "summary.json",
                      lambda p: Path(p).write_text(json.dumps(self.summary_dict(), indent=2)))
        with no_dask():
            atomic_write(out / "posterior.nc", lambda p: _write_groups(self._groups(), p))
        return out

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> Fit:
        """Load a fit saved by :meth:`save`."""
        path = Path(out_dir) / "posterior.nc"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no posterior.nc here (write one with 'fit --out')")
        with no_dask():
            import arviz as az

            idata = az.from_netcdf(path, engine="h5netcdf")
        if "posterior" not in idata.groups() or "bayesvol_fit" not in idata.posterior.attrs:
            raise InputError(_not_a_fit_message(path))
        attrs = json.loads(idata.posterior.attrs["bayesvol_fit"])
        assets = [str(a) for a in idata.posterior["asset"].values]
        z = np.moveaxis(idata.posterior["z"].values, 2, 0)
        obs = idata.observed_data
        panel = ReturnsPanel.from_values(obs["y"].values, pd.DatetimeIndex(obs["time"].values),
                                         assets, source=attrs.get("source"))
        vi_params = None
        if "variational" in idata.groups():
            vi_params = {k: np.asarray(v.values) for k, v in idata["variational"].items()}

        def arr(k: str) -> np.ndarray | None:
            return None if attrs.get(k) is None else np.asarray(attrs[k])

        return cls(
            model=model_from_config(attrs["model_config"]), panel=panel,
            method=attrs["method"], z=z, diagnostics=attrs["diagnostics"],
            runtime=attrs["runtime"], elbo=arr("elbo"),
            elbo_trace=None if attrs["elbo_trace"] is None else
            [np.asarray(t) for t in attrs["elbo_trace"]],
            vi_params=vi_params, options=attrs["options"], seed=attrs["seed"],
            point=arr("point"), point_cov=arr("point_cov"),
            g=np.asarray(idata.posterior["g"].values) if "g" in idata.posterior else None,
            unpooled=arr("unpooled"))


@lru_cache(maxsize=32)
def _constrain_program(model) -> tuple:
    """jit of ``model.constrain`` returning a list, and the names in the model's order (set
    when it is traced; a jitted dict would come back in sorted key order)."""
    names: list[str] = []

    def values(z):
        p = model.constrain(z)
        names[:] = list(p)
        return [p[k] for k in names]

    return jax.jit(values), names


def _vol_paths(model, z: jax.Array, data: SeriesData) -> jax.Array:
    return _vol_program(model)(z, data)


@lru_cache(maxsize=32)
def _vol_program(model):
    def paths(z, data):
        return jax.vmap(lambda zz: model.variance_path(model.constrain(zz), data))(z)

    return jax.jit(paths)


def _dataset_attrs() -> dict:
    """The attributes ``arviz.from_dict`` gives each group (creation time, ArviZ version)."""
    import datetime as dt
    from importlib import metadata

    return {"created_at": dt.datetime.now(dt.UTC).isoformat(),
            "arviz_version": metadata.version("arviz")}


def _write_groups(groups: dict, path) -> None:
    """Write Datasets as the groups of one NetCDF file, as ``InferenceData.to_netcdf`` does
    (h5netcdf, numeric variables zlib-compressed), so ``arviz.from_netcdf`` reads it back."""
    mode = "w"
    for name, data in groups.items():
        encoding = {k: {"zlib": True} for k, v in data.variables.items()
                    if v.dtype.kind in "biufcS"}
        data.to_netcdf(path, mode=mode, group=name, engine="h5netcdf", encoding=encoding)
        mode = "a"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj



FACTOR_FORMAT = "bayesvol-dfsv-1"   # the ``format`` attribute of a DfsvFit's posterior.nc
FACTOR_MODELS = ("dfsv", "fsv")


def _netcdf_format(path: Path) -> str | None:
    """The ``format`` attribute of a NetCDF file (None if unreadable or absent)."""
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.attrs.get("format")
    except (OSError, ValueError):
        return None


def fit_kind(out_dir: str | os.PathLike) -> str:
    """"factor" for a folder holding a factor SV (dfsv/fsv) fit, else "fit": summary.json's
    ``model`` when it names a factor model, otherwise the ``format`` attribute of
    posterior.nc."""
    folder = Path(out_dir)
    try:
        model = json.loads((folder / "summary.json").read_text()).get("model")
    except (OSError, ValueError, AttributeError):
        model = None
    if model in FACTOR_MODELS:
        return "factor"
    path = folder / "posterior.nc"
    return "factor" if path.exists() and _netcdf_format(path) == FACTOR_FORMAT else "fit"


def load_fit(out_dir: str | os.PathLike):
    """Load the fit saved in ``out_dir``: a ``bayesvol.dfsv_fit.DfsvFit`` for a factor SV fit
    (``fit_kind``), a ``bayesvol.results_system.SystemFit`` for a system model (gas-t-cov,
    credit-intensity), else a :class:`Fit` (``Fit.load``)."""
    from .results_system import SystemFit, is_system_dir

    if is_system_dir(out_dir):
        return SystemFit.load(out_dir)
    if fit_kind(out_dir) == "factor":
        from .dfsv_fit import DfsvFit

        path = Path(out_dir) / "posterior.nc"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no posterior.nc here (write one with 'fit --out')")
        return DfsvFit.load(path)
    return Fit.load(out_dir)


def _not_a_fit_message(path: Path) -> str:
    """Why ``path`` cannot be loaded as a Fit: a factor SV fit (load it with ``load_fit`` or
    ``DfsvFit.load``) or no bayesvol fit at all."""
    if _netcdf_format(path) == FACTOR_FORMAT:
        return (f"{path}: a factor SV (dfsv/fsv) fit, not a Fit: load it with "
                "bayesvol.results.load_fit or bayesvol.dfsv_fit.DfsvFit.load")
    return f"{path}: not a bayesvol fit (no posterior group written by 'fit --out')"
