"""Property tests: malformed input only ever raises InputError (CLI: exit 0 or 2, no traceback);
well-formed random panels survive CSV and DataFrame round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesvol.cli import main
from bayesvol.data import ReturnsPanel, load_returns
from bayesvol.errors import InputError

FAST = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

NAMES = st.sampled_from(["date", "Date", "A", "B", "A", "", "x y", "ticker", "asset", "value",
                         "price", "1", "é"])
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-1, 1).map(lambda x: f"{x:.4f}"),
    st.sampled_from(["", "NA", "nan", "abc", "1.2%", "inf", "-0", "1e999", " ", "\"", "0x1",
                     "2021-01-04", "2021-02-30", "True", "9999-12-31", "1_0", ";", "\t"]),
    st.dates().map(str),
    st.text(max_size=6),
)
DATES = st.one_of(
    st.dates(min_value=pd.Timestamp("1990-01-01").date(),
             max_value=pd.Timestamp("2030-01-01").date()).map(str),
    st.datetimes().map(str),
    st.sampled_from(["", "2021-13-01", "yesterday", "May", "20210104", "2021", "01/02/2021"]),
    st.text(max_size=8),
)


VALUES = st.one_of(st.floats(-1, 1).map(lambda x: f"{x:.4f}"), st.just(""),
                   st.floats(0.5, 500).map(lambda x: f"{x:.2f}"))


@st.composite
def tables(draw: st.DrawFn) -> str:
    """CSV-ish text: a mostly clean wide table with a few random defects (junk cells, wrong
    field counts, odd names, bad or unsorted dates), or junk throughout."""
    junk = draw(st.booleans())
    if junk:
        header = draw(st.lists(NAMES, min_size=1, max_size=5))
    else:
        header = ["date", *[f"A{k}" for k in range(draw(st.integers(1, 4)))]]
    n_rows = draw(st.integers(0, 14))
    start = pd.Timestamp("2020-01-01") + pd.Timedelta(days=draw(st.integers(0, 3000)))
    step = draw(st.sampled_from([1, 1, 7, 30, 91, 365]))
    rows = []
    for r in range(n_rows):
        date = str((start + pd.Timedelta(days=step * r)).date())
        if junk and draw(st.booleans()):
            date = draw(DATES)
        cells = [draw(CELLS if junk else VALUES) for _ in range(len(header) - 1)]
        rows.append([date, *cells])
    for _ in range(draw(st.integers(0, 2))):  # defects
        if not rows:
            break
        r = draw(st.integers(0, len(rows) - 1))
        kind = draw(st.sampled_from(["cell", "drop", "extra", "date", "swap", "name"]))
        if kind == "cell" and len(rows[r]) > 1:
            rows[r][draw(st.integers(1, len(rows[r]) - 1))] = draw(CELLS)
        elif kind == "drop":
            rows[r] = rows[r][:-1]
        elif kind == "extra":
            rows[r].append(draw(CELLS))
        elif kind == "date" and rows[r]:
            rows[r][0] = draw(DATES)
        elif kind == "swap" and r > 0:
            rows[r], rows[r - 1] = rows[r - 1], rows[r]
        elif kind == "name":
            header[draw(st.integers(0, len(header) - 1))] = draw(NAMES)
    lines = [",".join(header)] + [",".join(row) for row in rows]
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    return sep.join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


def _load_or_input_error(path: Path, **kwargs: object) -> None:
    try:
        panel = load_returns(path, **kwargs)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
        return
    assert isinstance(panel, ReturnsPanel)
    assert panel.values.shape == (panel.n_assets, panel.n_times)
    assert np.isfinite(panel.values[panel.mask]).all()


@FAST
@given(text=st.one_of(tables(), st.text(max_size=200)), prices=st.booleans())
def test_random_text_only_raises_input_error(tmp_path: Path, text: str, prices: bool) -> None:
    path = tmp_path / "junk.csv"
    path.write_text(text, encoding="utf-8")
    _load_or_input_error(path, prices=prices)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_only_raise_input_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "junk.txt"
    path.write_bytes(data)
    _load_or_input_error(path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=tables())
def test_cli_exit_code_is_0_or_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                 text: str) -> None:
    path = tmp_path / "cli.csv"
    path.write_text(text, encoding="utf-8")
    code = main(["check", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("error: ")
    else:
        assert "assets:" in out and err == ""


@st.composite
def panels(draw: st.DrawFn) -> ReturnsPanel:
    n = draw(st.integers(1, 4))
    t = draw(st.integers(3, 25))
    values = np.array(draw(st.lists(st.lists(st.floats(-0.5, 0.5, allow_subnormal=False),
                                             min_size=t, max_size=t), min_size=n, max_size=n)))
    for i in range(n):
        first = draw(st.integers(0, t - 2))
        last = draw(st.integers(first + 1, t - 1))
        values[i, :first] = np.nan
        values[i, last + 1:] = np.nan
        for k in draw(st.lists(st.integers(first + 1, max(first + 1, last - 1)), max_size=3)):
            if k < last:
                values[i, k] = np.nan
        observed = values[i][~np.isnan(values[i])]
        if observed.size < 2 or np.all(observed == observed[0]):
            values[i, first], values[i, last] = 0.25, -0.25
    dates = pd.bdate_range("2015-06-01", periods=t)
    return ReturnsPanel.from_values(values, dates, [f"S{i}" for i in range(n)])


@FAST
@given(panel=panels())
def test_csv_and_frame_round_trip(tmp_path: Path, panel: ReturnsPanel) -> None:
    assert ReturnsPanel.from_frame(panel.to_frame()) == panel
    path = tmp_path / "round.csv"
    panel.to_frame().to_csv(path, float_format="%.17g")
    back = load_returns(path)
    assert back == panel
    assert back.first.tolist() == panel.first.tolist()
    assert back.last.tolist() == panel.last.tolist()
    assert back.interior_missing().sum() == panel.interior_missing().sum()
