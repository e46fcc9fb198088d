"""Files of a backtest folder, written so that a run killed at any point resumes cleanly.

    DIR/run.json                                   settings, data fingerprint, the run key
    DIR/tasks/<model>/w<k>.portfolios.parquet      one window's portfolio rows
    DIR/tasks/<model>/w<k>.forecasts.parquet       one window's forecast rows (written last)
    DIR/state/<model>/                             the latest fit of a sequential chain
    DIR/forecasts.parquet, DIR/portfolios.parquet, DIR/summary.json   the merged results

Every file is written under a temporary name in its folder and renamed into place
(``os.replace``, atomic on POSIX), so a kill -9 leaves either the old file, the new file or
no file, never a half one. Each task file carries the run key in its Parquet schema metadata;
a window counts as finished when its forecasts file exists (it is written after the
portfolio file) and its key is the run's, so a resumed run skips exactly the finished
windows and recomputes nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_write
from ..errors import InputError

META_KEY = b"bayesvol_backtest"
KINDS = ("forecasts", "portfolios")


def data_fingerprint(values: np.ndarray, dates: np.ndarray, assets) -> str:
    """sha256 of the returns (NaN included), the dates and the asset names."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(values, dtype=np.float64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(dates, dtype="datetime64[ns]")).tobytes())
    h.update(json.dumps(list(assets)).encode())
    return h.hexdigest()


def run_key(settings: dict, fingerprint: str) -> str:
    """sha256 of the canonical JSON of the settings and the data fingerprint."""
    doc = json.dumps({"settings": settings, "data": fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def task_path(out: Path, model: str, window: int, kind: str) -> Path:
    """DIR/tasks/<model>/w<window>.<kind>.parquet."""
    return Path(out) / "tasks" / model / f"w{window:05d}.{kind}.parquet"


def state_dir(out: Path, model: str) -> Path:
    """DIR/state/<model>: the saved fit of a sequential chain."""
    return Path(out) / "state" / model


def prepare_folder(out: Path, settings: dict, fingerprint: str) -> tuple[str, bool]:
    """Create DIR (or check it) and write DIR/run.json; returns (run key, resuming).

    An existing folder is resumed when its run.json has the same key; a folder holding
    anything else (other settings or data, or files that are not a backtest) raises
    InputError: nothing is overwritten.
    """
    out = Path(out)
    key = run_key(settings, fingerprint)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out must be a folder, and a file of that name exists")
    manifest = out / "run.json"
    if out.exists() and any(out.iterdir()):
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError):
            raise InputError(f"{out}: the folder is not empty and holds no backtest "
                             "(run.json); choose another --out") from None
        if old.get("key") != key:
            raise InputError(f"{out} holds a backtest with other settings or data (run key "
                             f"{old.get('key')}, this run {key}); choose another --out")
        return key, True
    out.mkdir(parents=True, exist_ok=True)
    doc = {"key": key, "data": fingerprint, "settings": settings}
    atomic_write(manifest, lambda p: Path(p).write_text(json.dumps(doc, indent=2,
                                                                   default=str)))
    return key, False


def write_frame(path: Path, frame: pd.DataFrame, meta: dict) -> Path:
    """Write ``frame`` to Parquet at ``path`` atomically, ``meta`` (JSON) in its metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    old = table.schema.metadata or {}
    table = table.replace_schema_metadata({**old, META_KEY: json.dumps(meta).encode()})
    return atomic_write(path, lambda p: pq.write_table(table, p))


def read_meta(path: Path) -> dict | None:
    """The backtest metadata of a task file (None if unreadable or absent)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[META_KEY])
    except (OSError, KeyError, ValueError, TypeError):
        return None
    except Exception:  # pyarrow's ArrowInvalid for a file that is not Parquet
        return None


def window_done(out: Path, model: str, window: int, key: str) -> bool:
    """Both task files of (model, window) exist and belong to the run ``key``."""
    for kind in KINDS:
        meta = read_meta(task_path(out, model, window, kind))
        if meta is None or meta.get("key") != key:
            return False
    return True


def read_tasks(out: Path, key: str, kind: str) -> pd.DataFrame:
    """Concatenate every task file of ``kind`` that belongs to the run ``key``."""
    frames = []
    for path in sorted((Path(out) / "tasks").glob(f"*/w*.{kind}.parquet")):
        meta = read_meta(path)
        if meta is not None and meta.get("key") == key:
            frames.append(pd.read_parquet(path))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_json(path: Path, doc: dict) -> Path:
    """Write JSON atomically (NaN written as null)."""
    def clean(x):
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        if isinstance(x, np.generic):
            x = x.item()
        if isinstance(x, float) and not np.isfinite(x):
            return None
        return x

    text = json.dumps(clean(doc), indent=2)
    return atomic_write(path, lambda p: Path(p).write_text(text))


def remove_stale_temporaries(out: Path) -> None:
    """Delete temporary files a killed run left behind (``.NAME.*.tmp``)."""
    for tmp in Path(out).rglob(".*.tmp"):
        try:
            os.remove(tmp)
        except OSError:
            pass
