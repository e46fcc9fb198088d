"""SystemFit: the posterior of a system model (one parameter vector for a whole multivariate
system; bayesvol.fit_system), with summaries, saving, scores and the model's extras.

Draws are kept unconstrained, ``theta`` [chains, draws, d]; natural parameters come from the
model's ``constrain`` (vmapped over draws). ``save(DIR)`` writes DIR/summary.json and
DIR/posterior.nc (NetCDF groups ``posterior``: theta and the natural draws, with the model
configuration, method, options and diagnostics as a JSON attribute; ``observed_data``: the
model input), and ``SystemFit.load(DIR)`` reads them back exactly. No pickle.
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
import xarray as xr
from scipy.special import logsumexp

from .atomic import atomic_write
from .errors import InputError
from .netcdf_io import no_dask

SYSTEM_FORMAT = "bayesvol-system-1"  # the ``format`` attribute of posterior.nc's posterior


@lru_cache(maxsize=32)
def _constrain_program(model):
    names: list[str] = []

    def values(z):
        p = model.constrain(z)
        names[:] = list(p)
        return [p[k] for k in names]

    return jax.jit(jax.vmap(values)), names


@lru_cache(maxsize=32)
def _terms_program(model):
    return jax.jit(jax.vmap(model.loglik_terms, in_axes=(0, None)))


def _panel_to_dataset(panel) -> xr.Dataset:
    return xr.Dataset({"y": (("asset", "time"), np.asarray(panel.values))},
                      coords={"asset": list(panel.assets), "time": np.asarray(panel.dates)},
                      attrs={"source": panel.source or ""})


def _panel_from_dataset(ds: xr.Dataset):
    from .data import ReturnsPanel

    return ReturnsPanel.from_values(ds["y"].values, pd.DatetimeIndex(ds["time"].values),
                                    [str(a) for a in ds["asset"].values],
                                    source=ds.attrs.get("source") or None)


@dataclass
class SystemFit:
    """A fitted system model: unconstrained draws ``theta`` [chains, draws, d], the method,
    diagnostics, runtime and the model input it was fitted to."""

    model: Any
    input: Any
    method: str
    theta: np.ndarray
    diagnostics: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    seed: int = 0
    elbo: float | None = None
    point: np.ndarray | None = None  # [d] mode (mle / map)
    point_cov: np.ndarray | None = None  # [d, d] Laplace covariance in theta

    # ------------------------------------------------------------------------ accessors
    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(getattr(self.input, "assets", ()))

    @property
    def times(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.input.dates, name="time")

    @property
    def panel(self):
        """The model input (a ReturnsPanel for return models)."""
        return self.input

    def flat_theta(self) -> np.ndarray:
        """theta with chains pooled: [chains * draws, d]."""
        return self.theta.reshape(-1, self.theta.shape[-1])

    def data(self):
        """The model's input arrays (``model.prepare``)."""
        return self.model.prepare(self.input)

    def natural_draws(self) -> dict[str, np.ndarray]:
        """Natural-scale draws, name -> [chains, draws, *shape] (``model.constrain``)."""
        program, names = _constrain_program(self.model)
        values = program(jnp.asarray(self.flat_theta()))
        c, s = self.theta.shape[:2]
        return {k: np.asarray(v).reshape(c, s, *np.shape(v)[1:])
                for k, v in zip(names, values, strict=True)}

    def _labels(self) -> dict[str, list[str]]:
        return self.model.labels(self.input) if hasattr(self.model, "labels") else {}

    def _subsample(self, num_draws: int | None, seed: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(indices, draws) of at most ``num_draws`` pooled draws, without replacement."""
        z = self.flat_theta()
        idx = np.arange(z.shape[0])
        if num_draws is not None and z.shape[0] > int(num_draws):
            rng = np.random.default_rng(self.seed if seed is None else seed)
            idx = np.sort(rng.choice(z.shape[0], int(num_draws), replace=False))
        return idx, z[idx]

    # ------------------------------------------------------------------------ summaries
    def summary(self) -> pd.DataFrame:
        """Posterior mean, sd and 5/50/95% quantiles, one row per scalar parameter (vector
        parameters as ``name[label]``: the model's labels, else 1-based indices). For
        ``method="mle"`` the quantiles are those of the Laplace draws."""
        labels = self._labels()
        rows = {}
        for name, arr in self.natural_draws().items():
            x = arr.reshape(arr.shape[0] * arr.shape[1], -1)
            if arr.ndim == 2:
                names = [name]
            else:
                lab = labels.get(name) or [str(i + 1) for i in range(x.shape[1])]
                names = [f"{name}[{lab[i]}]" for i in range(x.shape[1])]
            q = np.quantile(x, [0.05, 0.5, 0.95], axis=0)
            sd = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1])
            for j, row in enumerate(names):
                rows[row] = {"mean": float(x[:, j].mean()), "sd": float(sd[j]),
                             "q05": float(q[0, j]), "q50": float(q[1, j]),
                             "q95": float(q[2, j])}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "parameter"
        return frame

    def summary_dict(self) -> dict:
        """The summary.json document (the fields of the other models' summary.json)."""
        diag = self.diagnostics
        k_hat = diag.get("pareto_k")
        return {
            "model": self.model.name,
            "dist": getattr(self.model, "dist", None),
            "method": self.method,
            "system": True,
            "assets": list(self.assets),
            "n_obs": int(getattr(self.input, "n_obs", 0)),
            "runtime_s": {k: round(float(v), 4) for k, v in self.runtime.items()},
            "parameters": {k: {c: float(v) for c, v in row.items()}
                           for k, row in self.summary().iterrows()},
            "elbo": self.elbo,
            "log_marginal_likelihood": None,
            "diagnostics": {
                "converged": bool(diag.get("converged", True)),
                "iterations": diag.get("iterations"),
                "rhat_max": diag.get("rhat_max"),
                "ess_min": diag.get("ess_min"),
                "divergences": diag.get("divergences"),
                "acceptance_rate": diag.get("acceptance_rate"),
                "ess_per_s_min": diag.get("ess_per_s_min"),
                "geweke_max_abs": diag.get("geweke_max_abs"),
                "pareto_k_max": (float(k_hat) if k_hat is not None and np.isfinite(k_hat)
                                 else None),
                "psis_reliable": diag.get("psis_reliable"),
            },
            "model_config": self.model.config(),
            "options": self.options,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        return (f"SystemFit(model={self.model.name}, method={self.method}, "
                f"assets={len(self.assets)}, draws={self.flat_theta().shape[0]})")

    # ------------------------------------------------------------------ model extras
    def _need(self, hook: str, what: str) -> None:
        if not hasattr(self.model, hook):
            raise NotImplementedError(f"{self.model.name} has no {what} (the model defines "
                                      f"no {hook})")

    def _time_index(self, times) -> np.ndarray:
        T = len(self.times)
        if times is None:
            return np.arange(T)
        idx = self.times.get_indexer(pd.DatetimeIndex(np.atleast_1d(times)))
        if np.any(idx < 0):
            raise KeyError(f"time(s) not in the fit: {np.atleast_1d(times)[idx < 0][:3]}")
        return idx

    def _matrix_array(self, values: np.ndarray, idx: np.ndarray, name: str) -> xr.DataArray:
        return xr.DataArray(values, dims=("time", "asset", "asset2"), name=name,
                            coords={"time": self.times[idx], "asset": list(self.assets),
                                    "asset2": list(self.assets)})

    def _covariance_draws(self, times, num_draws) -> tuple[np.ndarray, np.ndarray]:
        self._need("covariance_paths", "covariance paths")
        idx = self._time_index(times)
        _, z = self._subsample(num_draws)
        paths = self.model.covariance_paths(z, self.data())
        return idx, paths[:, idx]

    def covariance(self, times=None, num_draws: int | None = 200) -> xr.DataArray:
        """Posterior mean of the conditional covariance matrices Sigma_t over ``num_draws``
        draws: dims (time, asset, asset2), as ``DfsvFit.covariance``. ``times``: labels of
        the time coordinate (None: all). Needs the model's ``covariance_paths``."""
        idx, cov = self._covariance_draws(times, num_draws)
        return self._matrix_array(cov.mean(axis=0), idx, "covariance")

    def correlation(self, times=None, num_draws: int | None = 200) -> xr.DataArray:
        """Posterior mean of the conditional correlation matrices (each draw's Sigma_t
        scaled to unit diagonal, then averaged)."""
        idx, cov = self._covariance_draws(times, num_draws)
        sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
        corr = cov / (sd[..., :, None] * sd[..., None, :])
        return self._matrix_array(corr.mean(axis=0), idx, "correlation")

    def forecast_covariance(self, horizon: int = 10, num_draws: int | None = 200,
                            paths: int = 20, seed: int | None = None) -> xr.DataArray:
        """Posterior-mean predictive covariance of y_{T+h}, h = 1..horizon: dims (step,
        asset, asset2) (needs the model's ``forecast_covariance_draws``)."""
        self._need("forecast_covariance_draws", "covariance forecasts")
        if int(horizon) < 1:
            raise InputError(f"horizon must be >= 1, got {horizon}")
        _, z = self._subsample(num_draws, seed)
        cov = self.model.forecast_covariance_draws(z, self.input, int(horizon), int(paths),
                                                   self.seed if seed is None else seed)
        return xr.DataArray(cov.mean(axis=0), dims=("step", "asset", "asset2"),
                            name="forecast_covariance",
                            coords={"step": np.arange(1, int(horizon) + 1),
                                    "asset": list(self.assets), "asset2": list(self.assets)})

    def score(self, new_returns, max_draws: int | None = 1000, seed: int | None = None):
        """One-step log predictive density of each new date after the fit, no refit:
        log (1/S) sum_s p(y_t | y_{<t}, theta_s) (the filter runs on from the fitted data
        through the new dates with each draw). Returns a forecast.score.ScoreTerms with the
        one joint row ``__joint__`` (``to_frame()``: date, asset, log_score)."""
        self._need("loglik_terms", "one-step scores")
        self._need("continued_data", "one-step scores")
        from .forecast.score import ScoreTerms, checked_new_panel

        if hasattr(self.model, "new_input"):
            new = self.model.new_input(self.input, new_returns)
        else:
            new = checked_new_panel(self.assets, self.times[-1], new_returns)
        data, pos = self.model.continued_data(self.input, new)
        idx, z = self._subsample(max_draws, seed)
        unit = jax.tree_util.tree_map(lambda x: x[0], data)
        terms = np.asarray(_terms_program(self.model)(jnp.asarray(z), unit))[:, pos]
        observed = np.asarray(unit.mask)[pos] > 0 if hasattr(unit, "mask") else \
            np.ones(len(pos), bool)
        terms = np.where(observed[None], terms, np.nan)
        log_score = logsumexp(terms, axis=0) - np.log(terms.shape[0])
        return ScoreTerms(assets=("__joint__",), dates=pd.DatetimeIndex(new.dates),
                          terms=terms[None], log_score=log_score[None], draws=idx[None])

    # ---------------------------------------------------------------- save and load
    def to_dataset(self) -> xr.Dataset:
        """Draws as an xarray Dataset: ``theta`` (chain, draw, theta_dim) and each natural
        parameter (chain, draw[, NAME_dim]) with its labels as coordinates."""
        labels = self._labels()
        c, s = self.theta.shape[:2]
        coords = {"chain": np.arange(c), "draw": np.arange(s),
                  "theta_dim": list(self.model.unconstrained_names)}
        variables = {"theta": (("chain", "draw", "theta_dim"), self.theta)}
        for name, arr in self.natural_draws().items():
            if arr.ndim == 2:
                variables[name] = (("chain", "draw"), arr)
            else:
                dim = f"{name}_dim"
                variables[name] = (("chain", "draw", dim), arr)
                coords[dim] = labels.get(name) or [str(i + 1) for i in range(arr.shape[2])]
        return xr.Dataset(variables, coords=coords)

    def _attrs(self) -> dict:
        return {"model_config": self.model.config(), "method": self.method,
                "diagnostics": _jsonable(self.diagnostics), "runtime": self.runtime,
                "options": _jsonable(self.options), "seed": self.seed, "elbo": self.elbo,
                "point": None if self.point is None else np.asarray(self.point).tolist(),
                "point_cov": None if self.point_cov is None else
                np.asarray(self.point_cov).tolist()}

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write DIR/summary.json and DIR/posterior.nc (each to a temporary name, renamed)."""
        with no_dask():
            return self._save(Path(out_dir))

    def _save(self, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        post = self.to_dataset()
        post.attrs = {"format": SYSTEM_FORMAT, "bayesvol_system": json.dumps(self._attrs())}
        if hasattr(self.model, "input_to_dataset"):
            observed = self.model.input_to_dataset(self.input)
        else:
            observed = _panel_to_dataset(self.input)

        def write(path):
            for mode, group, ds in (("w", "posterior", post), ("a", "observed_data", observed)):
                enc = {k: {"zlib": True} for k, v in ds.variables.items()
                       if v.dtype.kind in "biuf"}
                ds.to_netcdf(path, mode=mode, group=group, engine="h5netcdf", encoding=enc)

        atomic_write(out / "summary.json",
                     lambda p: Path(p).write_text(json.dumps(self.summary_dict(), indent=2)))
        atomic_write(out / "posterior.nc", write)
        return out

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> SystemFit:
        """Load a fit written by :meth:`save` (InputError if the folder holds another kind)."""
        from .models.registry import model_from_config

        path = Path(out_dir) / "posterior.nc"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no posterior.nc here (write one with 'fit --out')")
        try:
            with no_dask(), xr.open_dataset(path, group="posterior",
                                            engine="h5netcdf") as handle:
                post = handle.load()
            with no_dask(), xr.open_dataset(path, group="observed_data",
                                            engine="h5netcdf") as handle:
                observed = handle.load()
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a system-model fit ({exc})") from None
        if post.attrs.get("format") != SYSTEM_FORMAT:
            raise InputError(f"{path}: not a system-model fit (format "
                             f"{post.attrs.get('format')!r})")
        attrs = json.loads(post.attrs["bayesvol_system"])
        model = model_from_config(attrs["model_config"])
        if hasattr(model, "input_from_dataset"):
            inp = model.input_from_dataset(observed)
        else:
            inp = _panel_from_dataset(observed)

        def arr(k):
            return None if attrs.get(k) is None else np.asarray(attrs[k], dtype=float)

        return cls(model=model, input=inp, method=attrs["method"],
                   theta=np.asarray(post["theta"].values), diagnostics=attrs["diagnostics"],
                   runtime=attrs["runtime"], options=attrs["options"], seed=attrs["seed"],
                   elbo=attrs["elbo"], point=arr("point"), point_cov=arr("point_cov"))


def is_system_dir(out_dir: str | os.PathLike) -> bool:
    """Whether ``out_dir`` holds a system-model fit (summary.json says ``"system": true``)."""
    try:
        doc = json.loads((Path(out_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and bool(doc.get("system"))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


__all__ = ["SYSTEM_FORMAT", "SystemFit", "is_system_dir"]
