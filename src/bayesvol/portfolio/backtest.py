"""Rolling and expanding backtests: ``bayesvol.backtest`` (docs/backtests.md).

Every model (registered Bayesian models and the baselines of portfolio/forecasters.py) is
fitted on each window of the schedule (portfolio/windows.py) and forecasts one step ahead for
each date until the next refit. ``update="refit"`` fits each window from scratch (each
(model, window) is an independent task); ``update="sequential"`` fits the first window, then
moves to each next one with ``fit.update`` on the returns of the block just forecast (Seq-SVB
for garch, seq-VA for factor SV): the posterior then conditions on every return seen so far,
so a sequential chain is expanding whatever the window (the baselines always refit). A model
whose ``update`` is not available (or fails) is refitted, and its rows say so (column
``fit``). A sequential chain is one task per model, its windows in order, its latest fit kept
in DIR/state/<model>/ so that a resumed chain continues from it.

Each window writes its own files (portfolio/store.py) and the parent merges them into
DIR/forecasts.parquet, DIR/portfolios.parquet and DIR/summary.json (portfolio/summary.py).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import MIN_OBS_TO_FIT, ReturnsPanel, as_panel
from ..errors import InputError
from . import store
from .evaluate import forecast_rows, portfolio_rows
from .executor import run_tasks
from .forecasters import (
    BASELINES,
    Block,
    check_backtestable,
    fit_model,
    forecast_baseline,
    forecast_factor,
    forecast_univariate,
    task_seed,
    update_model,
)
from .windows import Window, schedule

UPDATES = ("refit", "sequential")


@dataclass
class BacktestResult:
    """The merged results of a backtest and where they were written."""

    out: Path
    forecasts: pd.DataFrame
    portfolios: pd.DataFrame
    summary: dict
    statuses: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        """Statuses of the windows that failed (their rows are missing)."""
        return [s for s in self.statuses if s.get("status") == "failed"]


# ------------------------------------------------------------------------------ settings
def _settings(models, baselines, window, step, expanding, update, levels, n_draws, seed,
              rebalance, periods_per_year, fit_options, use_skfolio, min_obs,
              return_unit=100.0) -> dict:
    return {"models": list(models), "baselines": list(baselines), "window": window,
            "step": step, "expanding": bool(expanding), "update": update,
            "levels": [float(x) for x in levels], "n_draws": int(n_draws), "seed": int(seed),
            "rebalance": int(rebalance), "periods_per_year": float(periods_per_year),
            "fit_options": fit_options, "skfolio": bool(use_skfolio), "min_obs": int(min_obs),
            "return_unit": float(return_unit)}


def _check(models, baselines, update, levels, n_draws, rebalance) -> None:
    if not models and not baselines:
        raise InputError("name at least one --model (or keep the baselines)")
    names = list(models) + list(baselines)
    if len(set(names)) != len(names):
        raise InputError(f"a model is named twice: {', '.join(names)}")
    for name in models:
        check_backtestable(name)
    for name in baselines:
        if name not in BASELINES:
            raise InputError(f"unknown baseline '{name}': choose from {', '.join(BASELINES)}")
    if update not in UPDATES:
        raise InputError(f"--update must be refit or sequential, got '{update}'")
    for lv in levels:
        if not 0.0 < float(lv) < 0.5:
            raise InputError(f"risk level must be in (0, 0.5), got {lv}")
    if n_draws < 10:
        raise InputError(f"n_draws must be at least 10, got {n_draws}")
    if rebalance < 1:
        raise InputError(f"--rebalance must be at least 1 date, got {rebalance}")


# ------------------------------------------------------------------------------ one task
def _panel(task: dict) -> ReturnsPanel:
    return ReturnsPanel.from_values(np.asarray(task["values"], dtype=float),
                                    pd.DatetimeIndex(np.asarray(task["dates"],
                                                                dtype="datetime64[ns]")),
                                    task["assets"])


def _window_panel(panel: ReturnsPanel, w: Window, min_obs: int) -> ReturnsPanel:
    """The window's dates and the assets with at least ``min_obs`` returns in them."""
    sub = panel.slice_time(w.start, w.end)
    keep = [a for a, n in zip(sub.assets, sub.n_obs_per_asset, strict=True) if n >= min_obs]
    if not keep:
        raise InputError(f"window {w.index} has no asset with {min_obs} returns")
    return sub.select(keep)


def _block(panel: ReturnsPanel, assets, lo: int, hi: int) -> Block:
    idx = [panel.assets.index(a) for a in assets]
    return Block(np.asarray(panel.values[idx, lo:hi]), panel.dates[lo:hi], tuple(assets))


def _fit_dates(fit) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(fit.panel.dates if hasattr(fit, "panel") else fit.times)


def _save_state(fit, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(fit, "panel"):
        fit.save(folder)
    else:
        fit.save(folder / "posterior.nc")


def _load_state(folder: Path):
    if not (folder / "posterior.nc").exists():
        return None
    from ..results import load_fit

    try:
        return load_fit(folder)
    except Exception:  # an unreadable state: the chain refits
        return None


def _continue_chain(prev, panel: ReturnsPanel, w: Window, seed: int):
    """The chain's fit at the end of window ``w``: ``prev`` itself when it ends there, else
    ``prev.update`` with the returns after its last date; None when that is impossible."""
    if prev is None:
        return None, ""
    last = _fit_dates(prev)[-1]
    end = int(panel.dates.searchsorted(last, side="right"))
    if panel.dates[end - 1] != last or end > w.end:
        return None, ""
    if end == w.end:
        return prev, "update"
    block = _block(panel, list(prev.assets), end, w.end)
    try:
        return update_model(prev, block, seed), "update"
    except (InputError, ValueError, NotImplementedError):
        return None, ""


def run_task(task: dict, on_status: Callable[[dict], None] | None = None) -> list[dict]:
    """Run the windows of one task, writing each window's files; their statuses.

    Top-level (importable by Dask workers). A window already finished for this run key is
    skipped.
    """
    from ..models.registry import factor_preset

    s = task["settings"]
    out, key, model = Path(task["out"]), task["key"], task["model"]
    panel = _panel(task)
    levels = tuple(s["levels"])
    baseline = model in BASELINES
    sequential = s["update"] == "sequential" and not baseline
    state = store.state_dir(out, model)
    options = dict((s.get("fit_options") or {}).get(model, {}))
    statuses = []
    prev = None
    for wd in task["windows"]:
        w = Window(**wd)
        if store.window_done(out, model, w.index, key):
            prev = None
            statuses.append({"model": model, "window": w.index, "status": "skipped"})
            if on_status:
                on_status(statuses[-1])
            continue
        t0 = time.perf_counter()
        seed = task_seed(s["seed"], model, w.index)
        hpad = s["step"]
        if baseline:
            win = _window_panel(panel, w, s["min_obs"])
            block = _block(panel, win.assets, w.end, w.stop)
            fc = forecast_baseline(model, win, block, s["n_draws"], seed)
        else:
            fit, kind = None, "refit"
            if sequential and w.index > 0:
                fit, kind = _continue_chain(prev if prev is not None else _load_state(state),
                                            panel, w, seed)
            if fit is None:
                fit, kind = fit_model(model, _window_panel(panel, w, s["min_obs"]), seed,
                                      options), "refit"
            if sequential:
                _save_state(fit, state)
                prev = fit
            seconds = time.perf_counter() - t0
            block = _block(panel, list(fit.assets), w.end, w.stop)
            forecast = forecast_factor if factor_preset(model) is not None \
                else forecast_univariate
            fc = forecast(fit, block, hpad, s["n_draws"], seed, kind, seconds)
        fit_end = panel.dates[w.end - 1]
        rows = forecast_rows(fc, block, model, w.index, fit_end, levels)
        ports = portfolio_rows(fc, block, model, w.index, tuple(panel.assets), s["rebalance"],
                               s["skfolio"])
        meta = {"key": key, "model": model, "window": w.index}
        store.write_frame(store.task_path(out, model, w.index, "portfolios"), ports, meta)
        store.write_frame(store.task_path(out, model, w.index, "forecasts"), rows, meta)
        statuses.append({"model": model, "window": w.index, "status": "done",
                         "fit": fc.kind, "seconds": time.perf_counter() - t0})
        if on_status:
            on_status(statuses[-1])
    return statuses


# ------------------------------------------------------------------------------ the run
def _progress(total: int, enabled: bool):
    """A rich progress bar (windows done, elapsed, time left) on stderr, or None."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("backtest"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=False)
    return bar


def backtest(data, models: Sequence[str] = ("garch",), window: int = 500, step: int = 20,
             out: str | Path = "backtest", *, update: str = "refit", expanding: bool = False,
             baselines: Sequence[str] = ("ewma", "sample", "arch-garch"),
             levels: Sequence[float] = (0.01, 0.05), n_draws: int = 500, seed: int = 0,
             rebalance: int = 5, periods_per_year: float = 252.0, return_unit: float = 100.0,
             fit_options: dict[str, dict] | None = None, skfolio: bool = True,
             min_obs: int = MIN_OBS_TO_FIT, scheduler: str | None = None,
             workers: int | None = None, processes: bool = True,
             progress: bool = False) -> BacktestResult:
    """Rolling (or ``expanding``) backtest of ``models`` and ``baselines`` on ``data``.

    data: anything ``bayesvol.load_returns`` / ``as_panel`` accepts. models: registered model
    names (garch, hier-garch, dfsv, fsv); baselines: ewma, sample, arch-garch (the last needs
    arch). window, step: dates per fit and dates between refits. update: "refit" or
    "sequential" (module docstring). levels: VaR/ES tail probabilities. n_draws: posterior
    (and predictive) draws per asset and date. rebalance: portfolio weights are recomputed at
    each refit and every ``rebalance`` dates. fit_options: per model name, keywords for
    ``bayesvol.fit`` (e.g. {"garch": {"dist": "t", "max_iter": 500}}). skfolio: build the
    long-only min-variance and risk-parity portfolios when skfolio is installed. return_unit:
    the value of a 100% return in the data's units, 100 for percent returns (bayesvol's
    convention), 1 for fractions; portfolio wealth (maximum drawdown, cumulative returns) is
    prod(1 + r / return_unit).
    scheduler / workers: a Dask scheduler address, or a LocalCluster of N workers
    (``processes=False``: threads). Results go to ``out`` (a folder; an interrupted run with the
    same settings resumes there, a folder with other contents is refused). Raises InputError.
    """
    from .summary import merge

    panel = as_panel(data)
    models, baselines = list(models), list(baselines)
    levels = tuple(float(x) for x in levels)
    _check(models, baselines, update, levels, n_draws, rebalance)
    if not return_unit > 0:
        raise InputError(f"return_unit must be > 0 (100 for percent returns), got {return_unit}")
    if "arch-garch" in baselines:
        try:
            import arch  # noqa: F401
        except ImportError:
            raise InputError("the arch-garch baseline needs the arch package: pip install "
                             "'bayesvol[backtest]' (or leave out arch-garch)") from None
    windows = schedule(panel.n_times, window, step, expanding, min_window=min_obs)
    from .weights import skfolio_available

    use_skfolio = bool(skfolio) and skfolio_available()
    fit_options = {k: dict(v) for k, v in (fit_options or {}).items()}
    unknown = [k for k in fit_options if k not in models]
    if unknown:
        raise InputError(f"fit options for '{unknown[0]}', which is not a --model")
    settings = _settings(models, baselines, window, step, expanding, update, levels, n_draws,
                         seed, rebalance, periods_per_year, fit_options, use_skfolio, min_obs,
                         return_unit)
    fingerprint = store.data_fingerprint(panel.values, panel.dates.asi8, panel.assets)
    out = Path(out)
    key, _ = store.prepare_folder(out, settings, fingerprint)
    store.remove_stale_temporaries(out)
    base = {"key": key, "out": str(out), "settings": settings, "values": panel.values,
            "dates": panel.dates.asi8, "assets": list(panel.assets)}
    tasks, total, done = [], 0, 0
    for model in models + baselines:
        chain = update == "sequential" and model not in BASELINES
        wins = [dataclasses.asdict(w) for w in windows]
        total += len(wins)
        if chain:
            if all(store.window_done(out, model, w["index"], key) for w in wins):
                done += len(wins)
            else:
                tasks.append({**base, "model": model, "windows": wins})
            continue
        for w in wins:
            if store.window_done(out, model, w["index"], key):
                done += 1
            else:
                tasks.append({**base, "model": model, "windows": [w]})
    bar = _progress(total, progress)
    statuses: list[dict] = []
    if bar is None:
        statuses = run_tasks(run_task, tasks, None, scheduler, workers, processes)
    else:
        with bar:
            tid = bar.add_task("windows", total=total, completed=done)

            def advance(status: dict) -> None:
                if status.get("status") != "skipped":
                    bar.advance(tid)

            statuses = run_tasks(run_task, tasks, advance, scheduler, workers, processes)
    result = merge(out, key, panel, settings)
    result.statuses = statuses
    if update == "sequential" and not result.failed:
        shutil.rmtree(out / "state", ignore_errors=True)
    return result
