"""One test per input error of load_returns: InputError, one line, naming file/column/row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesvol.data import ReturnsPanel, load_returns
from bayesvol.errors import InputError

GOOD_ROWS = ["2023-01-02,0.01,-0.02", "2023-01-03,-0.01,0.03", "2023-01-04,0.02,0.01",
             "2023-01-05,0.00,-0.01", "2023-01-06,0.01,0.02"]


def _file(tmp_path: Path, text: str, name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _message(source: object, **kwargs: object) -> str:
    with pytest.raises(InputError) as info:
        load_returns(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    if isinstance(source, Path):
        assert message.startswith(f"{source}: ")
    return message


def _wide(tmp_path: Path, rows: list[str], header: str = "date,A,B") -> Path:
    return _file(tmp_path, "\n".join([header, *rows]) + "\n")


def test_missing_file(tmp_path: Path) -> None:
    assert _message(tmp_path / "nope.csv").endswith("nope.csv: file does not exist")


def test_directory_is_not_readable(tmp_path: Path) -> None:
    folder = tmp_path / "d.csv"
    folder.mkdir()
    assert "is a directory" in _message(folder)


def test_unsupported_extension(tmp_path: Path) -> None:
    assert "unsupported file type '.xlsx'" in _message(_file(tmp_path, "x", "r.xlsx"))


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    assert _message(_file(tmp_path, "")).endswith("empty file")
    assert _message(_file(tmp_path, "\n  \n")).endswith("empty file")
    assert _message(_file(tmp_path, "date,A,B\n\n")).endswith("no data rows after the header")


def test_binary_and_bad_parquet(tmp_path: Path) -> None:
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"PAR1\x00\x01\x02")
    assert "binary content" in _message(binary)
    assert "cannot read Parquet file" in _message(_file(tmp_path, "not parquet", "b.parquet"))


def test_no_date_column(tmp_path: Path) -> None:
    path = _wide(tmp_path, ["0.01,0.02,0.03", "0.02,0.01,-0.01"], header="X,A,B")
    msg = _message(path)
    assert "column 'X', row 2: no date column" in msg and "'0.01'" in msg


def test_unparseable_date(tmp_path: Path) -> None:
    rows = GOOD_ROWS.copy()
    rows[3] = "2023-13-45,0.1,0.2"
    assert "column 'date', row 5: unparseable date '2023-13-45'" in _message(_wide(tmp_path, rows))


def test_missing_date(tmp_path: Path) -> None:
    rows = GOOD_ROWS.copy()
    rows[1] = ",0.1,0.2"
    assert "column 'date', row 3: missing date" in _message(_wide(tmp_path, rows))


def test_duplicated_dates(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, "2023-01-04,0.1,0.2"]
    msg = _message(_wide(tmp_path, rows))
    assert "column 'date', row 7: duplicated date 2023-01-04 (also on row 4)" in msg


def test_unsorted_dates(tmp_path: Path) -> None:
    rows = GOOD_ROWS.copy()
    rows[2], rows[3] = rows[3], rows[2]
    msg = _message(_wide(tmp_path, rows))
    assert "column 'date', row 5: dates out of order: 2023-01-04 comes after 2023-01-05" in msg


def test_duplicated_asset_names(tmp_path: Path) -> None:
    path = _wide(tmp_path, ["2023-01-02,0.1,0.2,0.3", "2023-01-03,0.2,0.1,-0.1"],
                 header="date,A,B,A")
    assert "column 'A': duplicated asset name (columns 2 and 4)" in _message(path)


def test_empty_asset_name(tmp_path: Path) -> None:
    path = _wide(tmp_path, GOOD_ROWS, header="date,A,")
    assert "column 3 has no asset name" in _message(path)


def test_wrong_number_of_fields(tmp_path: Path) -> None:
    rows = GOOD_ROWS.copy()
    rows[2] = "2023-01-04,0.1,0.2,0.3"
    msg = _message(_wide(tmp_path, rows))
    assert "row 4: expected 3 fields as in the header (row 1), found 4" in msg
    rows[2] = "2023-01-04,0.1"
    assert "row 4: expected 3 fields" in _message(_wide(tmp_path, rows))


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    text = "date,A,B\n\n2023-01-02,0.1,0.2\n\n2023-01-03,x,0.2\n"
    assert "column 'A', row 5: non-numeric value 'x'" in _message(_file(tmp_path, text))


def test_non_numeric_cell(tmp_path: Path) -> None:
    rows = GOOD_ROWS.copy()
    rows[4] = "2023-01-06,0.1,1.2%"
    assert "column 'B', row 6: non-numeric value '1.2%'" in _message(_wide(tmp_path, rows))


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e400"])
def test_infinite_values(tmp_path: Path, cell: str) -> None:
    rows = GOOD_ROWS.copy()
    rows[1] = f"2023-01-03,{cell},0.2"
    assert "column 'A', row 3: infinite value" in _message(_wide(tmp_path, rows))


def test_constant_series(tmp_path: Path) -> None:
    rows = [r.rsplit(",", 1)[0] + ",0" for r in GOOD_ROWS]
    msg = _message(_wide(tmp_path, rows))
    assert "column 'B': constant series: all 5 observed returns equal 0" in msg


def test_constant_prices(tmp_path: Path) -> None:
    rows = [f"2023-01-0{d},{100 + d},50" for d in range(2, 7)]
    assert "column 'B': constant series" in _message(_wide(tmp_path, rows), prices=True)


def test_min_obs(tmp_path: Path) -> None:
    rows = GOOD_ROWS.copy()
    rows[0] = "2023-01-02,,0.1"
    msg = _message(_wide(tmp_path, rows), min_obs=5)
    assert "column 'A': only 4 observations, fewer than min_obs=5" in msg
    assert load_returns(_wide(tmp_path, rows), min_obs=4).n_obs == 9


def test_asset_without_observations(tmp_path: Path) -> None:
    rows = [r.rsplit(",", 1)[0] + "," for r in GOOD_ROWS]
    assert "column 'B': no observations: every cell is empty" in _message(_wide(tmp_path, rows))


def test_single_price_gives_no_returns(tmp_path: Path) -> None:
    rows = [f"2023-01-0{d},{100 + d},{'' if d != 4 else 50}" for d in range(2, 7)]
    msg = _message(_wide(tmp_path, rows), prices=True)
    assert "column 'B': no returns" in msg


def test_values_look_like_prices(tmp_path: Path) -> None:
    rows = [f"2023-01-0{d},{100 + d * 0.7:.2f},0.01" for d in range(2, 7)]
    msg = _message(_wide(tmp_path, rows))
    assert "column 'A': values look like prices" in msg and "--prices" in msg
    assert load_returns(_wide(tmp_path, rows[:2] + ["2023-01-04,101,0.02"]),
                        prices=True).n_assets == 2


@pytest.mark.parametrize("price", ["0", "-3.5"])
def test_non_positive_price(tmp_path: Path, price: str) -> None:
    rows = [f"2023-01-0{d},{100 + d},{50 + d}" for d in range(2, 7)]
    rows[3] = f"2023-01-05,{price},55"
    msg = _message(_wide(tmp_path, rows), prices=True)
    assert "column 'A', row 5: non-positive price" in msg


def test_mixed_frequencies(tmp_path: Path) -> None:
    daily = pd.bdate_range("2023-01-02", periods=10)
    monthly = pd.date_range(daily[-1] + pd.offsets.MonthEnd(1), periods=5, freq="ME")
    rows = [f"{d:%Y-%m-%d},{0.01 * (-1) ** k},{0.02 * (k % 3 - 1)}"
            for k, d in enumerate(daily.append(monthly))]
    msg = _message(_wide(tmp_path, rows))
    assert "row 12: mixed frequencies: dates are daily before this row and monthly" in msg


def test_irregular_dates(tmp_path: Path) -> None:
    gaps = [1, 30, 7, 90, 1, 365, 7, 30, 1, 90, 7, 365, 30]
    dates = pd.Timestamp("2000-01-03") + pd.to_timedelta(np.cumsum([0, *gaps]), unit="D")
    rows = [f"{d:%Y-%m-%d},{0.01 * (-1) ** k},{0.02 * (k % 3 - 1)}" for k, d in enumerate(dates)]
    msg = _message(_wide(tmp_path, rows))
    assert "row 4: irregular dates" in msg  # the 30-day gap ending on line 4 breaks 'daily'


def test_occasional_long_gap_is_fine(tmp_path: Path) -> None:
    dates = pd.bdate_range("2001-08-27", periods=30).delete([11, 12, 13, 14])  # a closure
    rows = [f"{d:%Y-%m-%d},{0.01 * (-1) ** k},{0.02 * (k % 3 - 1)}" for k, d in enumerate(dates)]
    assert load_returns(_wide(tmp_path, rows)).n_times == 26


def test_long_duplicated_pair(tmp_path: Path) -> None:
    text = ("date,asset,value\n2023-01-02,A,0.1\n2023-01-03,A,-0.1\n2023-01-02,B,0.2\n"
            "2023-01-03,A,0.3\n")
    msg = _message(_file(tmp_path, text))
    assert "row 5: duplicated (date, asset) pair (2023-01-03, A); first on row 3" in msg


def test_long_missing_asset_and_bad_value(tmp_path: Path) -> None:
    text = "date,ticker,close\n2023-01-02,A,0.1\n2023-01-03,,-0.1\n"
    assert "column 'ticker', row 3: missing asset name" in _message(_file(tmp_path, text))
    text = "date,ticker,close\n2023-01-02,A,0.1\n2023-01-03,A,?\n"
    assert "column 'close', row 3: non-numeric value '?'" in _message(_file(tmp_path, text))


def test_long_layout_forced_on_wrong_table(tmp_path: Path) -> None:
    path = _file(tmp_path, "date,A,B,C\n2023-01-02,1,2,3\n", "w.csv")
    assert "long layout needs exactly the columns" in _message(path, layout="long")


def test_bad_options(tmp_path: Path) -> None:
    path = _wide(tmp_path, GOOD_ROWS)
    assert "scale must be a positive finite number" in _message(path, scale=0)
    assert "min_obs must be a non-negative integer" in _message(path, min_obs=2.5)
    assert "layout must be one of" in _message(path, layout="tall")
    assert "no column named 'when'" in _message(path, date_column="when")


def test_dataframe_errors_use_data_row_numbers() -> None:
    frame = pd.DataFrame({"A": [0.1, "oops", 0.2]},
                         index=pd.DatetimeIndex(["2023-01-02", "2023-01-03", "2023-01-04"]))
    msg = _message(frame)
    assert msg == "<DataFrame>: column 'A', row 2: non-numeric value 'oops'"
    dup = pd.DataFrame([[0.1, 0.2], [0.3, 0.1]], columns=["A", "A"],
                       index=pd.DatetimeIndex(["2023-01-02", "2023-01-03"]))
    assert "duplicated asset name" in _message(dup)
    with pytest.raises(InputError, match="no observations"):
        ReturnsPanel.from_frame(pd.DataFrame({"A": [np.nan, np.nan]},
                                             index=pd.DatetimeIndex(["2023-01-02", "2023-01-03"])))
    assert "expected a file path or a pandas DataFrame" in _message(42)


# -- magnitudes: a square that overflows, or a value absurd against its column -------------

DATES40 = [f"{d:%Y-%m-%d}" for d in pd.bdate_range("2023-01-02", periods=40)]


def _rows(a: list[float]) -> list[str]:
    """40 wide rows: column A holds ``a``, column B returns of about 0.5%."""
    return [f"{d},{a[t]!r},{0.004 * (t % 5 - 2)}" for t, d in enumerate(DATES40)]


def _returns(a: list[float] | None = None) -> list[str]:
    """40 rows of wide returns of typical size 1%; column A replaced by ``a`` if given."""
    return _rows(a or [0.01 * ((7 * t) % 11 - 5) / 5 for t in range(40)])


def _with(cell: float, t: int = 10, base: list[float] | None = None) -> list[str]:
    a = base or [0.01 * ((7 * k) % 11 - 5) / 5 for k in range(40)]
    return _returns(a[:t] + [cell] + a[t + 1:])


@pytest.mark.parametrize("cell", [1e308, -1e200, 2e154])
def test_return_whose_square_overflows(tmp_path: Path, cell: float) -> None:
    msg = _message(_wide(tmp_path, _with(cell)))
    assert f"column 'A', row 12: return {cell:g} is too large: its square overflows" in msg


def test_square_overflow_after_scaling(tmp_path: Path) -> None:
    msg = _message(_wide(tmp_path, _with(1e153)), scale=100)
    assert "row 12: return 1e+155 after scaling by 100 is too large" in msg


def test_absurd_value_against_its_column(tmp_path: Path) -> None:
    msg = _message(_wide(tmp_path, _with(1e6, t=25)))
    assert "column 'A', row 27: return 1e+06 is absurd against the rest of the column" in msg


@pytest.mark.parametrize("cell", [-0.2, 0.35, -0.9])
def test_crashes_and_spikes_are_accepted(tmp_path: Path, cell: float) -> None:
    path = _wide(tmp_path, _with(cell))
    assert load_returns(path).values[0, 10] == cell
    assert load_returns(path, scale=100).values[0, 10] == pytest.approx(100 * cell)


def test_mostly_zero_returns_use_the_moves_for_scale(tmp_path: Path) -> None:
    quiet = [0.0] * 40
    quiet[5], quiet[20], quiet[30] = 0.01, -0.02, 0.015  # an illiquid asset: MAD is 0
    assert load_returns(_wide(tmp_path, _returns(quiet))).n_obs == 80
    assert "absurd" in _message(_wide(tmp_path, _with(1e6, t=10, base=quiet)))


def test_nearly_constant_column_needs_a_gap_above_ten(tmp_path: Path) -> None:
    fund = [1e-4 + 1e-10 * (t % 3) for t in range(40)]  # money-market fund: sd ~ 1e-10
    assert load_returns(_wide(tmp_path, _with(0.05, base=fund))).n_obs == 80
    assert "absurd" in _message(_wide(tmp_path, _with(20.0, base=fund)))


def test_absurd_return_from_prices(tmp_path: Path) -> None:
    prices = [100 * (1 + 0.01 * ((7 * t) % 11 - 5) / 5) for t in range(40)]
    prices[15] = 1e9  # a corrupt price after 101: a return of 1e9 / 101 - 1 into it

    def _price_rows(a: list[float]) -> list[str]:
        return [f"{d},{a[t]!r},{50 + t % 3}" for t, d in enumerate(DATES40)]

    msg = _message(_wide(tmp_path, _price_rows(prices)), prices=True, log=False)
    assert ("column 'A', row 17: simple return 9.90099e+06 (from the prices of this date and "
            "the one before) is absurd") in msg
    prices[15] = 1e300
    msg = _message(_wide(tmp_path, _price_rows(prices)), prices=True, log=False)
    assert "row 17: simple return 9.90099e+297 (from the" in msg and "too large" in msg


def test_absurd_value_in_long_file_names_its_own_row(tmp_path: Path) -> None:
    lines = ["date,asset,value"]
    for t, d in enumerate(DATES40):
        lines += [f"{d},A,{0.01 * (t % 5 - 2)}", f"{d},B,{0.02 * (t % 3 - 1)}"]
    lines[2 * 12 + 2] = f"{DATES40[12]},B,1e7"  # B's value on the 13th date: line 27
    msg = _message(_file(tmp_path, "\n".join(lines) + "\n"))
    assert "column 'B', row 27: return 1e+07 is absurd" in msg


def test_absurd_value_in_dataframe() -> None:
    frame = pd.DataFrame({"A": [0.01 * (-1) ** t * (t % 4) for t in range(40)]},
                         index=pd.bdate_range("2023-01-02", periods=40))
    frame.iloc[7, 0] = -3e7
    assert _message(frame).startswith("<DataFrame>: column 'A', row 8: return -3e+07 is absurd")


def test_real_index_returns_pass_the_magnitude_rules() -> None:
    pytest.importorskip("arch")
    from bayesvol.data import load_bundled

    for name in ("sp500", "nasdaq"):  # 2000-2019 daily, with 2008 and the dot-com crash
        assert load_bundled(name, scale=1.0).n_obs > 5000
