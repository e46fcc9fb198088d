"""`bayesvol simulate MODEL`: write a simulated returns panel (wide CSV) and its truth (JSON).

    bayesvol simulate MODEL [--assets N] [--T T] [--factors K] [--dist D] [--seed S]
                            --out FILE.csv [--truth FILE.json]

MODEL is garch, hier-garch, dfsv, fsv, beta-t-egarch or gas-t-cov (defaults:
bayesvol.simulate.registry), or credit-intensity, which writes rating histories (columns
firm, date, rating; --T is the number of rating events, default 500, --factors 1, 2 or 3)
that ``bayesvol fit --model credit-intensity`` reads.
Output is deterministic by seed (same seed, byte-identical files) and written atomically. Bad
option values exit 2 with one ``error: ...`` line. The simulators (JAX) are imported only when
the command runs, so ``bayesvol --help`` and ``bayesvol simulate --help`` stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from ..errors import InputError
from .app import app, console

MAX_VALUES = 200_000_000  # --assets x --T: about 1.6 GB of float64 per array


def _fail(message: str) -> NoReturn:
    """Refuse with exit code 2 and one ``error:`` line.

    Raises InputError, which ``bayesvol.cli.main`` turns into ``error: ...`` and exit 2.
    (``app.fail`` raises typer.Exit, whose code ``main`` currently drops: with
    ``standalone_mode=False`` typer returns the code instead of raising it.)
    """
    raise InputError(message)


def _check_target(path: Path, option: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        _fail(f"{option} {path}: is a folder, expected a file name")
    if not folder.is_dir():
        _fail(f"{option} {path}: folder '{folder}' does not exist")


@app.command("simulate")
def simulate_command(
    model: str = typer.Argument(..., help="garch, hier-garch, dfsv, fsv, beta-t-egarch, "
                                "gas-t-cov or credit-intensity (writes rating histories)"),
    assets: int | None = typer.Option(
        None, "--assets", help="number of assets (default: garch and beta-t-egarch 1, others 10)"),
    T: int | None = typer.Option(None, "--T", help="number of days (default: 1000)"),
    factors: int | None = typer.Option(
        None, "--factors", help="factors, dfsv and fsv only (default: 2)"),
    dist: str | None = typer.Option(
        None, "--dist", help="garch: normal, t or skewt (default: normal); dfsv, fsv: normal "
                     "or t (v = 8); beta-t-egarch: gen-t (v free, default) or t (v = 2)"),
    seed: int = typer.Option(0, "--seed", help="random seed (>= 0)"),
    out: Path = typer.Option(..., "--out", help="returns file to write (wide CSV)"),
    truth: Path | None = typer.Option(None, "--truth", help="truth file to write (JSON)"),
) -> None:
    """Simulate returns from a model with known parameters; write CSV (and truth JSON)."""
    for value, option in ((assets, "--assets"), (T, "--T"), (factors, "--factors")):
        if value is not None and value < 1:
            _fail(f"{option} must be >= 1, got {value}")
    if seed < 0:
        _fail(f"--seed must be >= 0, got {seed}")
    n_values = (assets or 10) * (T or 1000)
    if n_values > MAX_VALUES:
        _fail(f"panel too large: {n_values} values (--assets x --T); the limit is {MAX_VALUES}")
    _check_target(out, "--out")
    if truth is not None:
        _check_target(truth, "--truth")
        if truth.resolve() == out.resolve():
            _fail("--truth and --out name the same file")
    if str(model).lower() == "credit-intensity":
        _simulate_ratings(T, factors, dist, assets, seed, out, truth)
        return
    from ..simulate import simulate_model, write_returns_csv, write_truth_json

    sim = simulate_model(model, n_assets=assets, T=T, n_factors=factors, dist=dist, seed=seed)
    try:
        write_returns_csv(sim.to_frame(), out)
        if truth is not None:
            write_truth_json(sim.truth, truth)
    except OSError as exc:
        _fail(f"cannot write {exc.filename or out}: {exc.strerror or exc}")
    n, t = sim.returns.shape
    what = f"{sim.truth['model']}, {n} asset{'s' if n != 1 else ''} x {t} days, seed {seed}"
    extra = f" and truth to {truth}" if truth is not None else ""
    console.print(f"wrote {out} ({what}){extra}", markup=False, highlight=False,
                  soft_wrap=True)


def _simulate_ratings(n_events: int | None, factors: int | None, dist: str | None,
                      assets: int | None, seed: int, out: Path, truth: Path | None) -> None:
    """``simulate credit-intensity``: rating histories (firm, date, rating) of a simulated
    firm population (bayesvol.simulate.credit_intensity) as CSV, and the truth as JSON."""
    from ..atomic import atomic_write
    from ..models.credit_intensity import CreditIntensityModel
    from ..simulate import write_truth_json
    from ..simulate.credit_intensity import simulate_credit_intensity

    if dist is not None or assets is not None:
        _fail("credit-intensity takes --T (events), --factors and --seed only")
    if factors is not None and factors not in (1, 2, 3):
        _fail(f"--factors must be 1, 2 or 3 for credit-intensity, got {factors}")
    model = CreditIntensityModel.from_options(factors=factors or 1)
    sim = simulate_credit_intensity(model, n_events=n_events or 500, seed=seed)
    hist = sim.rating_histories()
    try:
        atomic_write(out, lambda p: hist.to_csv(p, index=False))
        if truth is not None:
            write_truth_json(sim.truth, truth)
    except OSError as exc:
        _fail(f"cannot write {exc.filename or out}: {exc.strerror or exc}")
    extra = f" and truth to {truth}" if truth is not None else ""
    console.print(f"wrote {out} (credit-intensity rating histories: {hist['firm'].nunique()} "
                  f"firms, {len(sim.event_type)} events, seed {seed}){extra}", markup=False,
                  highlight=False, soft_wrap=True)
