"""`bayesvol check FILE`: report on a good file (exit 0), one-line error on bad ones (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bayesvol.cli import main
from bayesvol.data import MIN_OBS_TO_FIT

DATES = [str(d.date()) for d in pd.bdate_range("2023-01-02", periods=40)]  # to 2023-02-24


def _value(t: int, j: int) -> str:
    """A small return that varies with the date index ``t`` and the column ``j``."""
    return f"{0.002 * ((7 * t + 3 * j) % 11 - 5):.3f}"


def _table(columns: dict[str, set[int]], dates: list[str] = DATES) -> str:
    """Wide CSV: one column per name, observed on the date indices given, empty elsewhere."""
    lines = [",".join(["date", *columns])]
    for t, date in enumerate(dates):
        cells = [_value(t, j) if t in obs else "" for j, obs in enumerate(columns.values())]
        lines.append(",".join([date, *cells]))
    return "\n".join(lines) + "\n"


# AAA: 39 observations, one interior gap; BBB: 38, listed on the 3rd date; CCC: 38, delisted
GOOD = _table({"AAA": set(range(40)) - {3}, "BBB": set(range(2, 40)), "CCC": set(range(38))})


def argv(*args: str) -> list[str]:
    """Command line of ``bayesvol check ARGS``."""
    return ["check", *args]


def _write(tmp_path: Path, text: str, name: str = "returns.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_reports_good_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write(tmp_path, GOOD)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv(str(path))) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert "assets: 3" in lines
    assert "dates: 2023-01-02 to 2023-02-24 (40 dates)" in lines
    assert "frequency: business daily" in lines
    assert "observations: 115" in lines
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in
            (["AAA"], ["BBB"], ["CCC"])}
    assert rows["AAA"] == ["AAA", "2023-01-02", "2023-02-24", "39", "0", "0", "1"]
    assert rows["BBB"] == ["BBB", "2023-01-04", "2023-02-24", "38", "2", "0", "0"]
    assert rows["CCC"] == ["CCC", "2023-01-02", "2023-02-22", "38", "0", "2", "0"]
    assert lines[-1] == "gaps: not yet listed 2, delisted 2, interior missing 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # wrote nothing


def test_check_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    prices = "\n".join(["date,X", *(f"{d},{100 + t % 7}" for t, d in enumerate(DATES))])
    assert main(argv(str(_write(tmp_path, prices + "\n", "p.csv")), "--prices")) == 0
    out = capsys.readouterr().out
    assert "dates: 2023-01-03 to 2023-02-24 (39 dates)" in out
    good = _write(tmp_path, GOOD)
    assert main(argv(str(good), "--min-obs", "39")) == 2  # explicit minimum: a rejection
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "column 'BBB': only 38 observations" in err
    assert main(argv(str(good), "--scale", "100")) == 0
    capsys.readouterr()


def test_check_rejects_file_too_short_to_fit(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    path = _write(tmp_path, "date,X\n2023-01-02,0.01\n2023-01-03,-0.02\n2023-01-04,0.005\n")
    assert main(argv(str(path))) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"error: {path}: no asset has enough observations to fit (the most is 3); "
                   f"fitting needs at least {MIN_OBS_TO_FIT} per asset\n")


def test_check_warns_about_each_short_asset(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    text = _table({"LONG": set(range(40)), "SHORT": set(range(28, 40)), "TINY": {38, 39},
                   "OK": set(range(10, 40))})
    assert main(argv(str(_write(tmp_path, text)))) == 0
    out, err = capsys.readouterr()
    assert "assets: 4" in out.splitlines()
    assert err.splitlines() == [
        "warning: asset 'SHORT' has 12 observations; fitting needs at least 30",
        "warning: asset 'TINY' has 2 observations; fitting needs at least 30",
    ]


@pytest.mark.parametrize(("cell", "expect"), [
    ("1e308", "return 1e+308 is too large: its square overflows float64"),
    ("-2e154", "return -2e+154 is too large"),
    ("1e6", "return 1e+06 is absurd against the rest of the column"),
])
def test_check_rejects_absurd_value(tmp_path: Path, capsys: pytest.CaptureFixture,
                                    cell: str, expect: str) -> None:
    lines = GOOD.splitlines()
    date, *cells = lines[17].split(",")  # the 17th date is on line 18
    lines[17] = ",".join([date, cells[0], cell, cells[2]])
    path = _write(tmp_path, "\n".join(lines) + "\n")
    assert main(argv(str(path))) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"error: {path}: column 'BBB', row 18: {expect}")


def test_check_accepts_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = GOOD.splitlines()
    lines[17] = lines[17].split(",")[0] + ",-0.2,-0.25,-0.18"  # a crash day for all three
    assert main(argv(str(_write(tmp_path, "\n".join(lines) + "\n")))) == 0
    out, err = capsys.readouterr()
    assert "observations: 115" in out.splitlines() and err == ""


BAD = {
    "fields.csv": "date,A,B\n2023-01-02,0.1,0.2\n2023-01-03,0.1\n",
    "text.csv": "date,A,B\n2023-01-02,0.1,0.2\n2023-01-03,abc,0.3\n2023-01-04,0.2,0.1\n",
    "dupname.csv": "date,A,A\n2023-01-02,0.1,0.2\n2023-01-03,0.2,0.3\n",
    "unsorted.csv": "date,A\n2023-01-03,0.1\n2023-01-02,0.2\n2023-01-04,0.3\n",
    "empty.csv": "",
    "prices.csv": "date,A\n2023-01-02,100\n2023-01-03,101\n2023-01-04,102\n",
    "nodate.csv": "x,A\n0.1,0.2\n0.3,0.4\n",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_check_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    path = _write(tmp_path, BAD[name], name)
    assert main(argv(str(path))) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.endswith("\n")
    assert err.startswith("error: ") and name in err
    assert "Traceback" not in err


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(argv(str(tmp_path / "absent.csv"))) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "absent.csv: file does not exist" in err


def test_check_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert main(argv("--min-obs", "x", "f.csv")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1
