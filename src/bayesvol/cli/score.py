"""``bayesvol score FITDIR FILE --out scores.csv``: out-of-sample log scores of a saved fit.

FILE holds returns after the fit's last date for some or all of the fit's assets (same
layouts and options as ``fit``). The model's filter runs on through them with the posterior
draws (no refit); each observed new point gets its one-step-ahead log predictive density,
mixed over draws (bayesvol.forecast.score). Writes a CSV with columns date, asset, log_score
and prints the sum of the log scores per asset. For a factor SV fit (``--model dfsv|fsv``) a
Rao-Blackwellised particle filter (``--particles`` per draw) runs on from each draw's state at
the fit's last date (bayesvol.forecast.factor_forecast): the rows are each asset's marginal
one-step score plus the joint score of all the assets observed that date, under the asset
name ``__joint__``; the printed total is the joint one. A system-model fit (``gas-t-cov``)
gets one joint row per date (``SystemFit.score``). An asset the fit does not know, or a
date not after the fit's last one, exits 2 with one ``error: ...`` line.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..atomic import atomic_write
from ..errors import InputError
from .app import app, console


@app.command()
def score(
    fit_dir: Path = typer.Argument(..., help="folder written by 'bayesvol fit --out'"),
    file: Path = typer.Argument(..., help="returns after the fit's last date (CSV or Parquet); "
                                "for credit-intensity, rating histories (or an event file) "
                                "of the fitted period and after"),
    out: Path = typer.Option(..., "--out", help="output CSV: date, asset, log_score"),
    prices: bool = typer.Option(False, "--prices",
                                help="FILE holds prices (start it with the price on the "
                                     "fit's last date so the first new return is kept)"),
    scale: float = typer.Option(1.0, "--scale",
                                help="multiply returns (use the fit's value, e.g. 100)"),
    max_draws: int = typer.Option(1000, "--max-draws", help="posterior draws per asset"),
    seed: int | None = typer.Option(None, "--seed",
                                    help="subsampling seed (default: the fit's)"),
    particles: int = typer.Option(100, "--particles",
                                  help="particles per draw (factor SV fits only)"),
) -> None:
    """Score returns after a fit's last date by their one-step log predictive density."""
    from ..data import load_returns
    from ..forecast.score import score_terms
    from ..results import fit_kind, load_fit

    if not (fit_dir / "posterior.nc").exists():
        raise InputError("no posterior.nc here; write one with 'bayesvol fit --out'",
                         source=str(fit_dir))
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir() or not folder.is_dir():
        raise InputError("--out must be a file name in an existing folder", source=str(out))
    from ..results_system import SystemFit, is_system_dir

    system = is_system_dir(fit_dir)
    fit = SystemFit.load(fit_dir) if system else None
    # a model with its own input (credit-intensity: rating histories) reads FILE itself
    own_input = system and hasattr(fit.model, "new_input")
    panel = None if own_input else load_returns(file, prices=prices, scale=scale)
    if system:  # one joint score per date (e.g. gas-t-cov) or per event time (credit)
        result = fit.score(file if own_input else panel, max_draws=max_draws, seed=seed)
    elif fit_kind(fit_dir) == "factor":
        fit = load_fit(fit_dir)
        result = fit.score(panel, max_draws=max_draws, seed=seed, n_particles=particles)
    else:
        fit = load_fit(fit_dir)
        result = score_terms(fit, panel, max_draws=max_draws, seed=seed)
    frame = result.to_frame()
    sums = result.sums()
    joint = "__joint__"
    table = Table(title=f"log score of {file.name} ({result.terms.shape[1]} draws)")
    table.add_column("asset")
    table.add_column("points", justify="right")
    table.add_column("sum log score", justify="right")
    for asset, row in sums.drop(index=joint, errors="ignore").iterrows():
        table.add_row(str(asset), str(int(row["n_points"])), f"{row['log_score']:.4f}")
    if joint in sums.index:      # a joint model: the total is the joint score, not a sum
        table.add_row("total (joint)", str(int(sums.loc[joint, "n_points"])),
                      f"{float(sums.loc[joint, 'log_score']):.4f}", style="bold")
    else:
        table.add_row("total", str(int(sums["n_points"].sum())),
                      f"{float(sums['log_score'].sum()):.4f}", style="bold")
    console.print(table)
    date_fmt = "%Y-%m-%d" if bool((frame["date"] == frame["date"].dt.normalize()).all()) \
        else None
    atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False, date_format=date_fmt))
    console.print(f"wrote {out} ({len(frame)} scores)")
