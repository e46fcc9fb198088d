"""`bayesvol simulate` (bayesvol.cli.simulate): files, determinism, exit codes."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

import bayesvol  # noqa: F401  (float64)
from bayesvol.cli import main
from bayesvol.simulate import simulate_model

CASES = [
    ("garch", ["--dist", "skewt", "--T", "300"], 1),
    ("hier-garch", ["--assets", "6", "--T", "300"], 6),
    ("dfsv", ["--assets", "5", "--factors", "2", "--T", "300"], 5),
    ("fsv", ["--assets", "4", "--factors", "1", "--T", "300"], 4),
]


def run(capsys, *args):
    code = main(["simulate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model, options, n_assets", CASES, ids=[c[0] for c in CASES])
def test_writes_csv_and_truth_deterministically(tmp_path, capsys, model, options, n_assets):
    paths = {}
    for run_id, seed in (("a", 3), ("b", 3), ("c", 4)):
        csv, js = tmp_path / f"{run_id}.csv", tmp_path / f"{run_id}.json"
        code, out, err = run(capsys, model, *options, "--seed", seed, "--out", csv, "--truth", js)
        assert code == 0, err
        assert err == "" and out.count("\n") == 1 and out.startswith(f"wrote {csv}")
        paths[run_id] = (csv, js)
    (a_csv, a_js), (b_csv, b_js), (c_csv, _) = paths["a"], paths["b"], paths["c"]
    assert a_csv.read_bytes() == b_csv.read_bytes() and a_js.read_bytes() == b_js.read_bytes()
    assert a_csv.read_bytes() != c_csv.read_bytes()
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for v in paths.values() for p in v)

    frame = pd.read_csv(a_csv, index_col="date", parse_dates=True)
    assert frame.shape == (300, n_assets) and frame.columns[0] == "A01"
    assert frame.index[0] == pd.Timestamp("2000-01-03") and frame.index.day_of_week.max() <= 4
    truth = json.loads(a_js.read_text())
    assert truth["model"] == model and truth["seed"] == 3 and truth["assets"] == list(frame.columns)
    # the file holds the simulator's numbers exactly (full precision round trip)
    n_factors = 2 if model == "dfsv" else 1 if model == "fsv" else None
    sim = simulate_model(model, n_assets=n_assets, T=300, n_factors=n_factors,
                         dist="skewt" if model == "garch" else None, seed=3)
    assert np.array_equal(frame.to_numpy().T, sim.returns, equal_nan=True)


def test_defaults(tmp_path, capsys):
    code, out, _ = run(capsys, "garch", "--out", tmp_path / "g.csv")
    assert code == 0 and "1 asset x 1000 days" in out
    frame = pd.read_csv(tmp_path / "g.csv")
    assert list(frame.columns) == ["date", "A01"] and len(frame) == 1000
    assert sorted(os.listdir(tmp_path)) == ["g.csv"]


def test_ragged_panel_has_empty_cells_outside_windows(tmp_path, capsys):
    csv, js = tmp_path / "h.csv", tmp_path / "h.json"
    assert run(capsys, "hier-garch", "--assets", "9", "--T", "200", "--out", csv,
               "--truth", js)[0] == 0
    truth = json.loads(js.read_text())
    observed = pd.read_csv(csv, index_col="date").notna().to_numpy().T
    t = np.arange(200)
    want = (t >= np.array(truth["first"])[:, None]) & (t <= np.array(truth["last"])[:, None])
    assert np.array_equal(observed, want) and not want.all()


def test_round_trip_through_the_data_layer_and_check(tmp_path, capsys):
    from bayesvol.data import load_returns

    csv = tmp_path / "h.csv"
    assert run(capsys, "hier-garch", "--assets", "9", "--T", "200", "--seed", "2",
               "--out", csv)[0] == 0
    sim = simulate_model("hier-garch", n_assets=9, T=200, seed=2)
    panel = load_returns(csv)
    assert panel.assets == sim.assets and panel.dates.equals(sim.dates)
    assert np.array_equal(panel.values, sim.returns, equal_nan=True)
    assert np.array_equal(panel.first, sim.first) and np.array_equal(panel.last, sim.last)
    code = main(["check", str(csv)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "assets: 9" in out


@pytest.mark.parametrize("args, message", [
    (["arma", "--out", "{d}/x.csv"], "cannot simulate model 'arma'"),
    (["garch", "--T", "0", "--out", "{d}/x.csv"], "--T must be >= 1"),
    (["garch", "--assets", "-2", "--out", "{d}/x.csv"], "--assets must be >= 1"),
    (["garch", "--seed", "-1", "--out", "{d}/x.csv"], "--seed must be >= 0"),
    (["garch", "--T", "abc", "--out", "{d}/x.csv"], "--T"),
    (["garch"], "--out"),
    (["garch", "--dist", "cauchy", "--out", "{d}/x.csv"], "unknown distribution 'cauchy'"),
    (["garch", "--factors", "2", "--out", "{d}/x.csv"], "factors"),
    (["hier-garch", "--dist", "skewt", "--out", "{d}/x.csv"], "t innovations only"),
    (["dfsv", "--assets", "2", "--factors", "3", "--out", "{d}/x.csv"], "3 factors"),
    (["garch", "--out", "{d}/missing/x.csv"], "does not exist"),
    (["garch", "--out", "{d}"], "is a folder"),
    (["garch", "--out", "{d}/x.csv", "--truth", "{d}/x.csv"], "same file"),
    (["garch", "--assets", "100000", "--T", "100000", "--out", "{d}/x.csv"], "too large"),
])
def test_bad_arguments_exit_2_with_one_error_line(tmp_path, capsys, args, message):
    code, out, err = run(capsys, *(a.format(d=tmp_path) for a in args))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err and out == ""
    assert os.listdir(tmp_path) == []
