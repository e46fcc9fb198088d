"""Helpers shared by the benchmark scripts: timestamped progress lines, number formatting and
the README's results blocks."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def log(msg: str) -> None:
    """Print ``[HH:MM:SS] msg`` and flush (benchmarks run for minutes)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fmt(x, digits: int = 3) -> str:
    """A table cell: n/a for missing, yes/no for booleans, integers as is, else ``digits``
    significant figures (no exponent for large numbers)."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(x)
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.0f}"


def update_readme_block(readme: Path, name: str, lines: list[str]) -> bool:
    """Replace the text between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in
    ``readme`` by ``lines``; False (and nothing written) when the markers are missing."""
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    text = readme.read_text()
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return False
    readme.write_text(text[: i + len(start)] + "\n" + "\n".join(lines) + "\n" + text[j:])
    return True


def md_table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table under a ``### title`` heading, as lines (pipes in cells escaped)."""
    def cell(x: str) -> str:
        return str(x).replace("|", "\\|")

    lines = [f"### {title}", "", "| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return lines + [""]


def machine_info() -> dict:
    """Date, platform, usable CPUs, load average and library versions, for a results file."""
    import datetime as dt
    import os
    import platform
    import sys

    import jax

    import bayesvol as bv

    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(), "python": sys.version.split()[0],
            "cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "loadavg_start": os.getloadavg(), "jax": jax.__version__,
            "jax_backend": jax.default_backend(), "bayesvol": bv.__version__}


def render(table: Table, markdown: bool) -> str:
    """A table as Markdown (``### title`` and a pipe table, pipes in cells escaped) or as
    aligned plain text for the terminal."""
    title, header, rows = table
    if markdown:
        return "\n".join(md_table(title, header, rows)[:-1]) + "\n"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)

    def fmt_row(r) -> str:
        return "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True))

    return "\n".join([title, line, fmt_row(header), line, *map(fmt_row, rows), line]) + "\n"


def standard_args(doc: str, name: str, sections: str, quick_help: str):
    """The options every results-writing benchmark takes: --quick, --only SECTIONS, --out
    and --render. Returns (args, out_dir): benchmarks/results by default, a fresh temporary
    folder with --quick."""
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--only", default=sections, help=f"sections: {sections}")
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/results; "
                    "a temp folder with --quick)")
    ap.add_argument("--render", action="store_true", help="only rewrite the Markdown")
    args = ap.parse_args()
    out_dir = Path(args.out) if args.out else (
        Path(tempfile.mkdtemp(prefix=f"bv-{name}-")) if args.quick
        else Path(__file__).resolve().parent / "results")
    return args, out_dir


def goal_word(ok: bool | None) -> str:
    """PASS, FAIL, or n/a for a goal not measured in the run."""
    return "n/a" if ok is None else "PASS" if ok else "FAIL"


def goal_rows(goals: dict) -> list[str]:
    """README table rows ``| goal | text | PASS/FAIL/n/a |`` of a benchmark's goals."""
    return [f"| goal | {k} | {goal_word(ok)} |" for k, ok in goals.items()]
