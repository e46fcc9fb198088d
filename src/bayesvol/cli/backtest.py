"""``bayesvol backtest FILE --model M [--model M2 ...] --window W --step S --out DIR``.

Rolling (or ``--expanding``) refits, one-step forecasts, scores, VaR/ES hits and portfolio
weights per date, written to DIR/forecasts.parquet, DIR/portfolios.parquet and
DIR/summary.json (docs/backtests.md). Rerunning the same command after an interruption
resumes; a folder holding anything else is refused (exit 2).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .app import app, console, fail

DEFAULT_BASELINES = "ewma,sample,arch-garch"


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(f"{what} must be comma-separated numbers, got '{text}'")
        raise  # unreachable: fail raises


@app.command()
def backtest(
    file: Path = typer.Argument(..., help="returns file (CSV or Parquet, wide or long)"),
    model: list[str] = typer.Option(..., "--model",
                                     help="model to backtest (repeat for several): garch, "
                                          "hier-garch, dfsv, fsv; or a baseline name"),
    window: int = typer.Option(..., "--window", help="dates per fit"),
    step: int = typer.Option(20, "--step", help="dates between refits"),
    update: str = typer.Option("refit", "--update",
                               help="refit (each window from scratch) or sequential "
                                    "(fit.update from the previous window)"),
    expanding: bool = typer.Option(False, "--expanding",
                                   help="windows grow from the first date instead of rolling"),
    out: Path = typer.Option(..., "--out", help="output folder (resumed when rerun)"),
    baselines: str = typer.Option(DEFAULT_BASELINES, "--baselines",
                                  help="comma-separated: ewma, sample, arch-garch; or none"),
    levels: str = typer.Option("0.01,0.05", "--levels", help="VaR/ES tail probabilities"),
    draws: int = typer.Option(500, "--draws", help="posterior and predictive draws per date"),
    rebalance: int = typer.Option(5, "--rebalance",
                                  help="recompute portfolio weights every N dates (and at "
                                       "each refit)"),
    dist: str = typer.Option(None, "--dist", help="garch innovations: normal, t, skewt"),
    factors: int = typer.Option(1, "--factors", help="dfsv/fsv: number of factors"),
    max_iter: int = typer.Option(None, "--max-iter", help="VI iterations at most per fit"),
    seed: int = typer.Option(0, "--seed"),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="Dask scheduler address (tcp://host:8786)"),
    workers: int = typer.Option(None, "--workers",
                                help="run on a local Dask cluster of N worker processes"),
    prices: bool = typer.Option(False, "--prices", help="the file holds prices"),
    scale: float = typer.Option(1.0, "--scale", help="multiply returns (100 for percent)"),
    return_unit: float = typer.Option(100.0, "--return-unit",
                                      help="a 100%% return in the data's units after --scale: "
                                           "100 for percent returns, 1 for fractions "
                                           "(portfolio wealth is prod(1 + r / unit))"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
) -> None:
    """Rolling backtest of models and baselines: forecasts, scores, risk hits, portfolios."""
    from ..data import load_returns
    from ..models.registry import factor_preset
    from ..portfolio.backtest import backtest as run_backtest
    from ..portfolio.forecasters import BASELINES
    from ..portfolio.weights import SKFOLIO_MISSING, skfolio_available

    if out.exists() and not out.is_dir():
        fail(f"{out}: --out must be a folder, and a file of that name exists")
    if scheduler is not None and workers is not None:
        fail("give --scheduler or --workers, not both")
    base = [] if baselines.strip().lower() == "none" else \
        [b.strip() for b in baselines.split(",") if b.strip()]
    if baselines == DEFAULT_BASELINES and "arch-garch" in base:
        try:
            import arch  # noqa: F401
        except ImportError:
            base.remove("arch-garch")
            console.print("[yellow]note:[/yellow] arch is not installed: the arch-garch "
                          "baseline is skipped (pip install 'bayesvol[backtest]')")
    models = list(dict.fromkeys(model))
    base = [b for b in base if b not in models]
    options = {}
    for m in models:
        if m in BASELINES:
            continue
        opt: dict = {}
        if factor_preset(m) is not None:
            opt["factors"] = factors
        elif dist is not None:
            opt["dist"] = dist
        if max_iter is not None and factor_preset(m) is None:
            opt["max_iter"] = max_iter
        if opt:
            options[m] = opt
    if not skfolio_available():
        console.print(f"[yellow]note:[/yellow] {SKFOLIO_MISSING}")
    panel = load_returns(file, prices=prices, scale=scale)
    result = run_backtest(panel, models=models, window=window, step=step, out=out,
                          update=update, expanding=expanding, baselines=base,
                          levels=_floats(levels, "--levels"), n_draws=draws, seed=seed,
                          rebalance=rebalance, fit_options=options, scheduler=scheduler,
                          workers=workers, progress=not no_progress,
                          return_unit=return_unit)
    _print(result)
    if result.failed:
        for s in result.failed:
            print(f"error: {s['model']} window {s['window']} failed: {s['error']}",
                  file=sys.stderr)
        raise typer.Exit(1)


def _print(result) -> None:
    from rich.table import Table

    summary = result.summary
    table = Table(title=f"forecasts {summary.get('first_date')} .. {summary.get('last_date')}")
    for col in ("model", "mean log score", "CRPS", "QLIKE"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for m, doc in summary.get("scores", {}).items():
        table.add_row(m, f"{doc['mean_log_score']:.4g}", f"{doc['mean_crps']:.4g}",
                      f"{doc['mean_qlike']:.4g}")
    console.print(table)
    ports = Table(title="portfolios (annualised)")
    for col in ("model", "portfolio", "volatility", "Sharpe", "turnover", "max drawdown"):
        ports.add_column(col, justify="left" if col in ("model", "portfolio") else "right")
    for row in summary.get("portfolios", []):
        ports.add_row(row["model"], row["portfolio"], f"{row['volatility']:.4g}",
                      f"{row['sharpe']:.3g}", f"{row['turnover']:.3g}",
                      f"{row['max_drawdown']:.3g}")
    console.print(ports)
    for line in summary.get("verdict", []):
        console.print(f"- {line}")
    console.print(f"wrote {result.out / 'forecasts.parquet'}, "
                  f"{result.out / 'portfolios.parquet'} and {result.out / 'summary.json'}")
