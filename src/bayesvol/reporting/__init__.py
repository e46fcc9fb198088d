"""``bayesvol report DIR``: one self-contained HTML page for a fit or a backtest.

    import bayesvol as bv
    bv.report("fit_vi/", reference="fit_nuts/")   # writes fit_vi/report.html
    bv.report("bt/")                               # a backtest folder: bt/report.html

The page embeds its figures as base64 PNG and its style sheet inline, and links to nothing
outside itself, so it opens offline and can be mailed as one file. Sections (each an element
with a stable id): for a fit, ``data-summary``, ``posterior``, ``volatility`` and
``vi-vs-mcmc`` (report/fit_report.py); for a backtest, ``data-summary``, ``scores``, ``risk``,
``portfolios``, ``cumulative-returns``, ``volatility`` and ``verdict``
(report/backtest_report.py). A section without data says so in a sentence. What each section
shows and how to read it: docs/report.md.

``bv.report(path, ...)`` is :func:`write_report`. Nothing heavy is imported until a report
is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

__all__ = ["folder_kind", "render", "write_report"]

REPORT_NAME = "report.html"


def folder_kind(folder: str | os.PathLike) -> str:
    """"backtest" (summary.json with a run key, and forecasts.parquet or run.json), "fit"
    (summary.json and posterior.nc); anything else raises InputError naming the folder."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"{path}: no such folder (give a fit folder or a backtest folder)")
    from .fit_report import read_summary

    summary = read_summary(path)
    if summary.get("run_key") and ((path / "forecasts.parquet").exists()
                                   or (path / "run.json").exists()):
        return "backtest"
    if summary and (path / "posterior.nc").exists():
        return "fit"
    raise InputError(f"{path}: neither a fit (summary.json and posterior.nc, written by "
                     "'fit --out') nor a backtest (summary.json and forecasts.parquet, "
                     "written by 'backtest --out')")


def render(folder: str | os.PathLike, reference: str | os.PathLike | None = None) -> str:
    """The report page of ``folder`` as HTML text (nothing written)."""
    from .html import page  # figures are built without pyplot: no backend or display needed

    path = Path(folder)
    kind = folder_kind(path)
    if kind == "backtest":
        if reference is not None:
            raise InputError("--reference compares two fits; it does not apply to a backtest")
        from .backtest_report import backtest_sections

        title, subtitle, sections = backtest_sections(path)
    else:
        ref = None
        if reference is not None:
            ref = Path(reference)
            if folder_kind(ref) != "fit":
                raise InputError(f"{ref}: the reference must be a fit folder")
        from .fit_report import fit_sections

        title, subtitle, sections = fit_sections(path, ref)
    return page(title, subtitle, sections)


def write_report(folder: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 reference: str | os.PathLike | None = None) -> Path:
    """Write the report of the fit or backtest in ``folder`` to ``out`` (default
    ``folder/report.html``) and return its path.

    ``reference``: another fit of the same model and data (e.g. NUTS for a VI fit), compared
    in the "VI against MCMC" section. Only the report file is written: an existing ``out``
    that is not a report written here, or a folder, raises InputError (nothing is
    overwritten). Raises InputError for a folder that is neither a fit nor a backtest.
    """
    from ..atomic import atomic_write
    from .html import is_report

    target = Path(out) if out is not None else Path(folder) / REPORT_NAME
    if target.is_dir():
        raise InputError(f"{target}: is a folder; give --out FILE.html")
    if target.exists():
        try:
            with open(target, encoding="utf-8", errors="replace") as handle:
                head = handle.read(4096)
        except OSError:
            head = ""
        if not is_report(head):
            raise InputError(f"{target} exists and is not a bayesvol report: not overwritten "
                             "(choose another --out)")
    text = render(folder, reference)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda p: Path(p).write_text(text, encoding="utf-8"))
    return target


# the public name: ``bayesvol.report`` (lazy, bayesvol/__init__.py) is this function
report = write_report
