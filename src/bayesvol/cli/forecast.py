"""``bayesvol forecast DIR [--horizon H] [--levels 0.01,0.05] --out FILE``.

Loads a saved fit (DIR/posterior.nc; a factor SV fit, ``--model dfsv|fsv``, is recognised
and loaded as such), simulates the posterior predictive and writes a tidy CSV (asset, step,
date, quantity, value) or, for a .json name, the forecast's JSON document. A factor SV
forecast adds the predictive covariance (quantity ``cov_<ASSET2>``) and the step-1 global
minimum-variance weights (``gmv_weight``), which are also printed.
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
    fc = load_fit(fit_dir).forecast(horizon=horizon, levels=parse_levels(levels),
                                    n_paths=n_paths, seed=seed)
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
