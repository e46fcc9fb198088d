"""`bayesvol check FILE`: report on a good file (exit 0), one-line error on bad ones (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayesvol.cli import main

GOOD = """date,AAA,BBB,CCC
2023-01-02,0.011,,-0.004
2023-01-03,-0.020,,0.006
2023-01-04,0.005,0.030,0.001
2023-01-05,,-0.010,-0.009
2023-01-06,0.013,0.002,
2023-01-09,-0.007,0.004,
"""


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
    assert "dates: 2023-01-02 to 2023-01-09 (6 dates)" in lines
    assert "frequency: business daily" in lines
    assert "observations: 13" in lines
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in
            (["AAA"], ["BBB"], ["CCC"])}
    assert rows["AAA"] == ["AAA", "2023-01-02", "2023-01-09", "5", "0", "0", "1"]
    assert rows["BBB"] == ["BBB", "2023-01-04", "2023-01-09", "4", "2", "0", "0"]
    assert rows["CCC"] == ["CCC", "2023-01-02", "2023-01-05", "4", "0", "2", "0"]
    assert lines[-1] == "gaps: not yet listed 2, delisted 2, interior missing 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # wrote nothing


def test_check_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    prices = _write(tmp_path, "date,X\n2023-01-02,100\n2023-01-03,101\n2023-01-04,99\n", "p.csv")
    assert main(argv(str(prices), "--prices")) == 0
    out = capsys.readouterr().out
    assert "dates: 2023-01-03 to 2023-01-04 (2 dates)" in out
    good = _write(tmp_path, GOOD)
    assert main(argv(str(good), "--min-obs", "5")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "column 'BBB': only 4 observations" in err
    assert main(argv(str(good), "--scale", "100")) == 0
    capsys.readouterr()


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
