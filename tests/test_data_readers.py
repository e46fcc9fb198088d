"""load_returns: every input form gives the same panel; prices, scale, gaps, frequencies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesvol.data import ReturnsPanel, infer_frequency, load_returns, prices_to_returns
from bayesvol.errors import InputError

NAN = np.nan
DATES = pd.bdate_range("2023-01-02", periods=6)
# leading gap (B), trailing gap (C), interior gap (A at t=3)
WIDE = pd.DataFrame(
    {
        "A": [0.011, -0.02, 0.005, NAN, 0.013, -0.007],
        "B": [NAN, NAN, 0.03, -0.01, 0.002, 0.004],
        "C": [-0.004, 0.006, 0.001, -0.009, NAN, NAN],
    },
    index=pd.DatetimeIndex(DATES, name="date"),
)


def _long_frame(wide: pd.DataFrame = WIDE) -> pd.DataFrame:
    rows = [(d.strftime("%Y-%m-%d"), a, wide.loc[d, a])
            for a in wide.columns for d in wide.index if not np.isnan(wide.loc[d, a])]
    return pd.DataFrame(rows, columns=["date", "asset", "value"])


def _write_wide_csv(path: Path, wide: pd.DataFrame = WIDE) -> Path:
    lines = ["date," + ",".join(wide.columns)]
    for d, row in wide.iterrows():
        cells = ["" if np.isnan(x) else repr(float(x)) for x in row]
        lines.append(d.strftime("%Y-%m-%d") + "," + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def expected() -> ReturnsPanel:
    return ReturnsPanel.from_values(WIDE.to_numpy().T, DATES, ["A", "B", "C"])


def test_ragged_bounds_and_mask(tmp_path: Path, expected: ReturnsPanel) -> None:
    panel = load_returns(_write_wide_csv(tmp_path / "r.csv"))
    assert panel.first.tolist() == [0, 2, 0]
    assert panel.last.tolist() == [5, 5, 3]
    assert panel.mask.tolist() == [[True, True, True, False, True, True],
                                   [False, False, True, True, True, True],
                                   [True, True, True, True, False, False]]
    assert panel.interior_missing().sum() == 1 and panel.interior_missing()[0, 3]
    assert panel.values[0, 0] == 0.011 and np.isnan(panel.values[1, 0])
    assert panel.source == str(tmp_path / "r.csv")
    assert panel == expected


def test_all_input_forms_agree(tmp_path: Path, expected: ReturnsPanel) -> None:
    long = _long_frame()
    long_csv = tmp_path / "long.csv"
    long.to_csv(long_csv, index=False)
    shuffled = tmp_path / "shuffled.csv"
    long.sample(frac=1.0, random_state=1).to_csv(shuffled, index=False)  # any row order
    WIDE.to_parquet(tmp_path / "wide.parquet")
    long.to_parquet(tmp_path / "long.pq")
    with_column = WIDE.reset_index().rename(columns={"date": "Date"})
    panels = {
        "csv wide": load_returns(_write_wide_csv(tmp_path / "wide.csv")),
        "csv long": load_returns(long_csv),
        "parquet wide": load_returns(tmp_path / "wide.parquet"),
        "parquet long": load_returns(str(tmp_path / "long.pq")),
        "frame wide index": load_returns(WIDE),
        "frame wide column": load_returns(with_column),
        "frame long": load_returns(long),
        "pandas to_csv": load_returns(_to_csv(WIDE, tmp_path / "pd.csv")),
    }
    for name, panel in panels.items():
        assert panel == expected, name
        assert panel.first.tolist() == [0, 2, 0], name
    assert panels["frame long"].source == "<DataFrame>"
    assert load_returns(shuffled).select(["A", "B", "C"]) == expected


def _to_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path)
    return path


def test_long_aliases_and_asset_order(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("Symbol,DATE,Ret\nZZ,2023-01-03,0.1\nAA,2023-01-02,0.2\nZZ,2023-01-02,-0.3\n"
                    "AA,2023-01-03,0.05\n")
    panel = load_returns(path)
    assert panel.assets == ("ZZ", "AA")  # order of first appearance
    assert panel.dates.equals(pd.DatetimeIndex(["2023-01-02", "2023-01-03"]))
    assert panel.values.tolist() == [[-0.3, 0.1], [0.2, 0.05]]


def test_prices_to_log_and_simple_returns(tmp_path: Path) -> None:
    p = np.array([100.0, 101.0, 99.5, 102.25, 103.0])
    q = np.array([NAN, 50.0, 51.0, 49.0, 49.5])  # listed one day later
    path = tmp_path / "p.csv"
    body = "".join(f"{d:%Y-%m-%d},{a},{'' if np.isnan(b) else b}\n"
                   for d, a, b in zip(DATES[:5], p, q, strict=True))
    path.write_text("date,P,Q\n" + body)
    panel = load_returns(path, prices=True)
    assert panel.dates.equals(pd.DatetimeIndex(DATES[1:5]))  # first price gives no return
    np.testing.assert_allclose(panel.values[0], np.diff(np.log(p)), rtol=1e-12)
    np.testing.assert_allclose(panel.values[1, 1:], np.diff(np.log(q[1:])), rtol=1e-12)
    assert np.isnan(panel.values[1, 0]) and panel.first.tolist() == [0, 1]
    simple = load_returns(path, prices=True, log=False, scale=100.0)
    np.testing.assert_allclose(simple.values[0], 100 * (p[1:] / p[:-1] - 1), rtol=1e-13)


def test_missing_price_inside_window_drops_two_returns() -> None:
    prices = np.array([[10.0], [11.0], [NAN], [12.0], [12.5]])
    r = prices_to_returns(prices)
    assert np.isnan(r[[0, 2, 3], 0]).all()
    np.testing.assert_allclose(r[[1, 4], 0], [np.log(1.1), np.log(12.5 / 12.0)])


def test_scale(tmp_path: Path, expected: ReturnsPanel) -> None:
    panel = load_returns(_write_wide_csv(tmp_path / "r.csv"), scale=100)
    np.testing.assert_allclose(panel.values, 100 * expected.values, rtol=1e-15)
    assert np.array_equal(panel.mask, expected.mask)


def test_text_variants(tmp_path: Path) -> None:
    """BOM, CRLF, semicolons, blank lines, quoted header, 'NA' cells, spaces."""
    path = tmp_path / "v.txt"
    text = ('\ufeff"Date"; "X" ;Y\r\n2023-01-02;0.1;NA\r\n\r\n2023-01-03; -0.2 ;0.3\r\n'
            "2023-01-04;0.05;-0.1\r\n;;\r\n")
    path.write_bytes(text.encode("utf-8"))
    panel = load_returns(path)
    assert panel.assets == ("X", "Y")
    assert panel.values.tolist()[0] == [0.1, -0.2, 0.05]
    assert panel.first.tolist() == [0, 1]


def test_date_column_option_and_forced_layouts(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("A,when,B\n0.1,2023-01-02,0.2\n-0.1,2023-01-03,0.3\n0.2,2023-01-04,-0.3\n")
    panel = load_returns(path, date_column="when")
    assert panel.assets == ("A", "B") and panel.values[1].tolist() == [0.2, 0.3, -0.3]
    long = tmp_path / "odd.csv"
    long.write_text("d,name,v\n2023-01-02,A,0.1\n2023-01-03,A,-0.2\n2023-01-02,B,0.3\n")
    assert load_returns(long, layout="long").assets == ("A", "B")
    with pytest.raises(InputError, match=r"column 'd', row 4: duplicated date 2023-01-02 "
                       r"\(also on row 2\)"):
        load_returns(long, layout="wide")


def test_frequencies_inferred() -> None:
    cases = {
        "business daily": pd.bdate_range("2020-01-01", periods=30),
        "daily": pd.date_range("2020-01-01", periods=30, freq="D"),
        "weekly": pd.date_range("2020-01-03", periods=30, freq="W-FRI"),
        "monthly": pd.date_range("2020-01-31", periods=30, freq="ME"),
        "quarterly": pd.date_range("2020-03-31", periods=12, freq="QE"),
        "annual": pd.date_range("2000-12-31", periods=12, freq="YE"),
        "intraday (5min)": pd.date_range("2020-01-02 09:30", periods=40, freq="5min"),
    }
    for name, dates in cases.items():
        assert infer_frequency(dates) == name


def test_intraday_with_overnight_breaks_is_regular(tmp_path: Path) -> None:
    days = pd.bdate_range("2023-01-02", periods=5)
    stamps = [d + pd.Timedelta(hours=9, minutes=30) + k * pd.Timedelta(hours=1)
              for d in days for k in range(7)]
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"A": rng.normal(size=len(stamps))},
                         index=pd.DatetimeIndex(stamps, name="timestamp"))
    panel = load_returns(frame)
    assert panel.n_times == 35
    assert panel.summary()["frequency"] == "intraday (1h)"
    assert panel.summary()["start"] == "2023-01-02 09:30:00"


def test_timezone_aware_dates_become_utc(tmp_path: Path) -> None:
    path = tmp_path / "tz.csv"
    path.write_text("date,A\n2023-01-02T10:00:00+01:00,0.1\n2023-01-03T10:00:00+01:00,-0.2\n"
                    "2023-01-04T10:00:00+01:00,0.3\n")
    panel = load_returns(path)
    assert panel.dates[0] == pd.Timestamp("2023-01-02 09:00")
