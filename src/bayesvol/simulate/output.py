"""Writing simulated panels and their truth: wide CSV and JSON, atomically.

CSV layout (docs: input-formats.md): first column ``date`` (ISO dates), one column per
asset, an empty cell where an asset is not listed, each value written with the shortest text
that reads back to the same float64 (exact round trip). JSON: the truth dict with arrays as
lists and NaN as ``null``. Each file is written to a temporary name in the target folder and
then ``os.replace``d, so an interrupted run never leaves a half file where a good one was.
Output is byte-for-byte deterministic given the data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import atomic_write
from ._common import to_jsonable


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` via a temporary file + os.replace."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    return atomic_write(path, write)


def frame_to_csv_text(frame: pd.DataFrame) -> str:
    """The wide CSV text of a returns frame indexed by date (exact float round trip)."""
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    out.index.name = "date"
    return out.to_csv(float_format=lambda v: repr(float(v)), na_rep="", lineterminator="\n")


def write_returns_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a wide returns frame (index ``date``, one column per asset) as CSV, atomically."""
    return atomic_write_text(path, frame_to_csv_text(frame))


def write_truth_json(truth: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a truth dict as JSON (arrays as lists, NaN as null), atomically."""
    text = json.dumps(to_jsonable(truth), indent=1, allow_nan=False) + "\n"
    return atomic_write_text(path, text)
