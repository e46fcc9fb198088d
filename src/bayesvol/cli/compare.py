"""``bayesvol compare DIR1 DIR2 ... [--method bridge|warp3] [--repetitions R] [--json OUT]``.

Loads each saved fit, estimates its log marginal likelihood by bridge sampling
(bayesvol.comparison.compare) and prints one row per fit, best first: log p(y | M), its
error, 2 log BF of the best model against this one with its standard deviation, and the
Kass & Raftery (1995) category of that evidence. Folders whose fits are of different data
exit 2 with one ``error: ...`` line. ``--json`` also writes the table and each estimate's
details.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import typer

from ..atomic import atomic_write
from ..errors import InputError
from .app import app, console


def _fmt(x, digits: int = 2) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "-" if math.isnan(v) else f"{v:.{digits}f}"


@app.command()
def compare(
    fit_dirs: list[Path] = typer.Argument(..., help="folders written by 'bayesvol fit --out'"),
    method: str = typer.Option("warp3", "--method", help="bridge or warp3"),
    repetitions: int = typer.Option(3, "--repetitions",
                                    help="bridge estimates with fresh proposal draws"),
    seed: int | None = typer.Option(None, "--seed", help="default: each fit's own seed"),
    json_out: Path | None = typer.Option(None, "--json", help="also write the table as JSON"),
) -> None:
    """Compare saved fits of the same data by marginal likelihood (bridge sampling)."""
    if method not in ("bridge", "warp3"):
        raise InputError(f"--method must be bridge or warp3, got '{method}'")
    if repetitions < 1:
        raise InputError(f"--repetitions must be >= 1, got {repetitions}")
    for d in fit_dirs:
        if not (d / "posterior.nc").exists():
            raise InputError("no posterior.nc here; write one with 'bayesvol fit --out'",
                             source=str(d))
    from rich.table import Table

    from ..comparison import compare as compare_fits

    df = compare_fits([str(d) for d in fit_dirs], method=method, repetitions=repetitions,
                      seed=seed)
    table = Table(title=f"log marginal likelihood ({method}, {repetitions} repetitions)")
    for col, justify in (("fit", "left"), ("model", "left"), ("log ML", "right"),
                         ("error", "right"), ("2 log BF (best vs this)", "right"),
                         ("sd", "right"), ("evidence for the best", "left"),
                         ("BIC", "right")):
        table.add_column(col, justify=justify)
    for name, row in df.iterrows():
        table.add_row(str(name), f"{row['model']} {row['dist']} ({row['fit_method']})",
                      _fmt(row["log_ml"]), _fmt(row["error"], 3), _fmt(row["two_log_bf"]),
                      _fmt(row["two_log_bf_error"]), str(row["evidence"]), _fmt(row["bic"]))
    console.print(table)
    notes = sorted({n for ev in df.attrs["evidence"].values() for n in ev["notes"]})
    for note in notes:
        console.print(f"note: {note}")
    if json_out is not None:
        doc = {"method": method, "repetitions": repetitions,
               "table": [{"fit": str(name), **{k: _plain(v) for k, v in row.items()}}
                         for name, row in df.iterrows()],
               "evidence": df.attrs["evidence"]}
        atomic_write(json_out, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=2)))
        console.print(f"wrote {json_out}")


def _plain(v):
    """A JSON value from a table cell (numpy scalars included; NaN -> null)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return None if math.isnan(x) else x
