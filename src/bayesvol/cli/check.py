"""`bayesvol check FILE`: validate a returns (or prices) file and print what was found.

Prints the number of assets, the date range, the inferred frequency, the total number of
observations and, per asset, its first/last date, observations, leading gap (not yet listed),
trailing gap (delisted) and interior missing observations, then the totals of the three gaps.
Writes nothing. A bad file raises InputError, which ``main()`` turns into exit code 2; so does
a file where no asset has the ``MIN_OBS_TO_FIT`` observations fitting needs. Otherwise each
asset shorter than that gets one ``warning: ...`` line on stderr and the exit code is 0.
Imports nothing heavy: no JAX ever, and the data layer (pandas) only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError
from .app import app

_COLUMNS = ("asset", "first", "last", "obs", "not listed", "delisted", "interior missing")


def format_report(summary: dict) -> list[str]:
    """Plain text lines for a :meth:`ReturnsPanel.summary` dict (aligned table per asset)."""
    per = summary["per_asset"]
    lines = [
        f"file: {summary['source']}",
        f"assets: {summary['n_assets']}",
        f"dates: {summary['start']} to {summary['end']} ({summary['n_times']} dates)",
        f"frequency: {summary['frequency']}",
        f"observations: {summary['n_obs']}",
    ]
    table = [list(_COLUMNS)]
    for name, p in per.items():
        table.append([name, p["first"], p["last"], str(p["observations"]),
                      str(p["not_yet_listed"]), str(p["delisted"]), str(p["interior_missing"])])
    widths = [max(len(row[k]) for row in table) for k in range(len(_COLUMNS))]
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2])]
        cells += [c.rjust(w) for c, w in zip(row[3:], widths[3:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    totals = summary["totals"]
    lines.append(
        f"gaps: not yet listed {totals['not_yet_listed']}, delisted {totals['delisted']}, "
        f"interior missing {totals['interior_missing']}"
    )
    return lines


@app.command()
def check(
    file: Path = typer.Argument(..., help="Returns file: CSV/TXT or Parquet, wide or long."),
    prices: bool = typer.Option(False, "--prices", help="Values are prices; use log returns."),
    min_obs: int | None = typer.Option(
        None, "--min-obs", min=0, help="Reject assets with fewer observations than this."
    ),
    scale: float = typer.Option(1.0, "--scale", help="Multiply returns (100 for percent)."),
) -> None:
    """Validate a returns file and print assets, dates, frequency and gaps."""
    from ..data import MIN_OBS_TO_FIT, load_returns

    panel = load_returns(file, prices=prices, scale=scale, min_obs=min_obs)
    counts = dict(zip(panel.assets, panel.n_obs_per_asset.tolist(), strict=True))
    if max(counts.values()) < MIN_OBS_TO_FIT:
        raise InputError(
            f"no asset has enough observations to fit (the most is {max(counts.values())}); "
            f"fitting needs at least {MIN_OBS_TO_FIT} per asset",
            source=panel.source,
        )
    for line in format_report(panel.summary()):
        typer.echo(line)
    for name, n in counts.items():
        if n < MIN_OBS_TO_FIT:
            typer.echo(f"warning: asset '{name}' has {n} observations; fitting needs at least "
                       f"{MIN_OBS_TO_FIT}", err=True)
