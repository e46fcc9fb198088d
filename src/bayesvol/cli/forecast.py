"""``bayesvol forecast DIR [--horizon H] [--levels 0.01,0.05] --out FILE``.

Loads a saved fit (DIR/posterior.nc; a factor SV fit, ``--model dfsv|fsv``, is recognised
and loaded as such), simulates the posterior predictive and writes a tidy CSV (asset, step,
date, quantity, value) or, for a .json name, the forecast's JSON document. A factor SV
forecast adds the predictive covariance (quantity ``cov_<ASSET2>``) and the step-1 global
minimum-variance weights (``gmv_weight``), which are also printed. A system fit with
covariance forecasts (``gas-t-cov``) writes the posterior-mean predictive covariance of each
step (columns step, asset, asset2, covariance; JSON: one k x k matrix per step) and prints
each asset's predicted volatility and the step-1 minimum-variance weights; a system fit
without them (``credit-intensity``) is refused with a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..atomic import atomic_write
from ..errors import InputError
from .app import app, console


def parse_levels(text: str) -> tuple[float, ...]:
    """'0.01,0.05' -> (0.01, 0.05); a bad entry is an input error."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(f"--levels must be comma-separated numbers, got '{text}'") from None


@app.command()
def forecast(
    fit_dir: Path = typer.Argument(..., help="folder written by 'bayesvol fit --out'"),
    horizon: int = typer.Option(10, "--horizon", help="steps ahead"),
    levels: str = typer.Option("0.01,0.05", "--levels", help="VaR/ES tail probabilities"),
    n_paths: int = typer.Option(4000, "--paths", help="predictive paths per asset"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(..., "--out", help="output file (.csv or .json)"),
) -> None:
    """Forecast volatility, return quantiles, VaR and ES from a saved fit."""
    from ..results import load_fit

    if not (fit_dir / "posterior.nc").exists():
        raise InputError("no posterior.nc here; write one with 'bayesvol fit --out'",
                         source=str(fit_dir))
    if out.suffix.lower() not in (".csv", ".json"):
        raise InputError("--out must end in .csv or .json", source=str(out))
    from ..results_system import SystemFit

    fit = load_fit(fit_dir)
    if isinstance(fit, SystemFit):
        system_forecast(fit, horizon, seed, out)
        return
    fc = fit.forecast(horizon=horizon, levels=parse_levels(levels), n_paths=n_paths,
                      seed=seed)
    table = Table(title=f"{horizon}-step forecast: risk as positive losses")
    table.add_column("asset")
    for col in fc.risk.columns:
        table.add_column(col, justify="right")
    for asset, row in fc.risk.iterrows():
        table.add_row(str(asset), *(f"{v:.4g}" for v in row))
    console.print(table)
    gmv = getattr(fc, "gmv", None)
    if gmv is not None:
        weights = ", ".join(f"{a} {w:.3f}" for a, w in gmv.weights.items())
        console.print(f"minimum-variance weights (step 1): {weights}; portfolio sd "
                      f"{gmv.variance ** 0.5:.4g}")
    if out.suffix.lower() == ".json":
        atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(fc.to_dict(), indent=2)))
    else:
        atomic_write(out, lambda tmp: fc.to_frame().to_csv(tmp, index=False))
    console.print(f"wrote {out}")


def system_forecast(fit, horizon: int, seed: int, out: Path) -> None:
    """The covariance forecast of a system fit (module docstring), printed and written."""
    import numpy as np

    from ..portfolio.weights import gmv_weights

    if not hasattr(fit.model, "forecast_covariance_draws"):
        raise InputError(f"{fit.model.name} fits have no return forecasts; 'bayesvol score' "
                         "scores new data against the fit")
    cov = fit.forecast_covariance(horizon=horizon, seed=seed)
    values = np.asarray(cov.values)
    assets = [str(a) for a in cov["asset"].values]
    table = Table(title=f"{horizon}-step covariance forecast: predicted volatility")
    table.add_column("asset")
    for h in (1, horizon) if horizon > 1 else (1,):
        table.add_column(f"step {h}", justify="right")
    for i, a in enumerate(assets):
        cells = [values[0, i, i]] + ([values[-1, i, i]] if horizon > 1 else [])
        table.add_row(a, *(f"{np.sqrt(v):.4g}" for v in cells))
    console.print(table)
    w = gmv_weights(values[0])
    console.print("minimum-variance weights (step 1): "
                  + ", ".join(f"{a} {x:.3f}" for a, x in zip(assets, w, strict=True)))
    if out.suffix.lower() == ".json":
        doc = {"model": fit.model.name, "assets": assets, "steps": list(range(1, horizon + 1)),
               "covariance": values.tolist(), "gmv_weights": dict(zip(assets, w.tolist(),
                                                                       strict=True))}
        atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=2)))
    else:
        frame = cov.to_dataframe().reset_index()[["step", "asset", "asset2",
                                                  "forecast_covariance"]]
        frame = frame.rename(columns={"forecast_covariance": "covariance"})
        atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False))
    console.print(f"wrote {out}")
