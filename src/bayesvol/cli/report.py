"""``bayesvol report DIR [--out FILE.html] [--reference DIR]``: one self-contained HTML page.

DIR is a fit folder (``fit --out``) or a backtest folder (``backtest --out``); the page is
written to DIR/report.html unless ``--out`` says otherwise. A folder that is neither exits 2
with one line naming it; an existing --out that is not a bayesvol report is not overwritten
(exit 2). Sections and how to read them: docs/report.md.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console


@app.command()
def report(
    folder: Path = typer.Argument(..., help="a fit folder or a backtest folder"),
    out: Path = typer.Option(None, "--out", help="the HTML file (default DIR/report.html)"),
    reference: Path = typer.Option(None, "--reference",
                                   help="another fit of the same model and data (e.g. NUTS) "
                                        "to compare this fit with (fit folders only)"),
) -> None:
    """Write one self-contained HTML report (plots embedded, no network) of a fit or backtest."""
    from ..reporting import write_report

    path = write_report(folder, out, reference=reference)
    console.print(f"wrote {path}")
