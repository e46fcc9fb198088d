"""Raw tables from CSV/text files, Parquet files and DataFrames, with user-facing row numbers.

A :class:`RawTable` is a list of named columns of cells (strings for text files) plus, for each
data row, the number a user would look for: the line in a text file (header = line 1; a quoted
field spanning lines counts from its first line) or the 1-based data row of a Parquet file or
DataFrame. Nothing here interprets the cells; see ``readers`` for that.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

TEXT_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DATE_NAMES = ("date", "timestamp", "datetime", "time")
_DELIMITERS = (",", ";", "\t", "|")


@dataclass
class RawTable:
    """Named columns of raw cells and the user-facing row number of each data row."""

    names: list[str]
    columns: list[object]  # one array-like per name, all of length len(rows)
    rows: np.ndarray
    source: str
    date_hint: int | None = None  # column that came from a DataFrame's date index
    header_row: int | None = None

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return int(len(self.rows))


def _sniff_delimiter(line: str) -> str:
    counts = [line.count(d) for d in _DELIMITERS]
    best = int(np.argmax(counts))
    return _DELIMITERS[best] if counts[best] > 0 else ","


def _read_bytes(path: Path, source: str) -> bytes:
    if not path.exists():
        raise InputError("file does not exist", source=source)
    if path.is_dir():
        raise InputError("is a directory, not a file", source=source)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror or exc})", source=source) from None


def read_text_table(path: Path, source: str) -> RawTable:
    """Read a delimited text file (comma, semicolon, tab or pipe; sniffed from the header).

    Blank lines (or lines of empty fields) are skipped; every other line must have as many
    fields as the header.
    """
    data = _read_bytes(path, source)
    if not data.strip():
        raise InputError("empty file", source=source)
    if b"\x00" in data:
        raise InputError("binary content: not a CSV text file", source=source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    first_line = next((ln for ln in text.splitlines() if ln.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line),
                        skipinitialspace=True)
    header: list[str] | None = None
    header_row = 0
    records: list[list[str]] = []
    rows: list[int] = []
    line = 0
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if not record or all(not f.strip() for f in record):
                continue
            if header is None:
                header, header_row = [f.strip() for f in record], start
                continue
            if len(record) != len(header):
                raise InputError(
                    f"expected {len(header)} fields as in the header (row {header_row}), "
                    f"found {len(record)}",
                    source=source, row=start,
                )
            records.append(record)
            rows.append(start)
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", source=source, row=line + 1) from None
    if header is None:
        raise InputError("empty file", source=source)
    if not records:
        raise InputError("no data rows after the header", source=source)
    cells = np.empty((len(records), len(header)), dtype=object)
    cells[:] = records
    return RawTable(list(header), [cells[:, j] for j in range(len(header))],
                    np.asarray(rows, dtype=np.int64), source, header_row=header_row)


def frame_table(df: pd.DataFrame, source: str) -> RawTable:
    """A DataFrame as a raw table; a DatetimeIndex (or an index named like a date) becomes
    the first column, flagged by ``date_hint``. Rows are numbered from 1."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a file path or a pandas DataFrame, got {type(df).__name__}",
                         source=source)
    if df.shape[1] == 0:
        raise InputError("no columns", source=source)
    if df.shape[0] == 0:
        raise InputError("no data rows", source=source)
    names = [str(c) for c in df.columns]
    columns: list[object] = [_column(df.iloc[:, j]) for j in range(df.shape[1])]
    index = df.index
    date_hint = None
    named_date = index.name is not None and str(index.name).strip().lower() in DATE_NAMES
    if isinstance(index, pd.DatetimeIndex) or named_date:
        name = str(index.name).strip() if index.name is not None else "date"
        if name in names:
            name = "<index>"
        names.insert(0, name)
        columns.insert(0, index if isinstance(index, pd.DatetimeIndex)
                       else index.to_numpy(dtype=object))
        date_hint = 0
    rows = np.arange(1, df.shape[0] + 1, dtype=np.int64)
    return RawTable(names, columns, rows, source, date_hint=date_hint)


def _column(series: pd.Series) -> object:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or dtype.kind == "M":
        return pd.DatetimeIndex(series)
    if dtype.kind in "fiu":
        return series.to_numpy()
    return series.to_numpy(dtype=object, na_value=None)


def read_parquet_table(path: Path, source: str) -> RawTable:
    """Read a Parquet file through pandas/pyarrow into a raw table."""
    _read_bytes(path, source)  # existence and permission checks with our messages
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001  (pyarrow raises many types on a bad file)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read Parquet file ({first})", source=source) from None
    return frame_table(df, source)


def read_table(path_or_frame: object) -> RawTable:
    """Dispatch on the input: a DataFrame, or a path whose extension picks the reader."""
    if isinstance(path_or_frame, pd.DataFrame):
        return frame_table(path_or_frame, "<DataFrame>")
    if not isinstance(path_or_frame, str | Path):
        raise InputError(
            f"expected a file path or a pandas DataFrame, got {type(path_or_frame).__name__}"
        )
    source = str(path_or_frame)
    path = Path(path_or_frame)
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return read_text_table(path, source)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet_table(path, source)
    _read_bytes(path, source)
    raise InputError(
        f"unsupported file type '{suffix or path.name}' (use .csv, .txt, .parquet or .pq)",
        source=source,
    )
