"""Helpers shared by the benchmark scripts: timestamped progress lines and number formatting."""

from __future__ import annotations

import time

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
