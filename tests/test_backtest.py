"""Rolling backtests (bayesvol.portfolio): schedule, rows and scores, portfolio weights and
metrics, resume after kill -9, Dask equals in-process, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesvol.errors import InputError
from bayesvol.portfolio.metrics import max_drawdown, portfolio_metrics, sharpe_ratio, turnover
from bayesvol.portfolio.weights import equal_weights, gmv_weights
from bayesvol.portfolio.windows import schedule

ASSETS = ("A", "B", "C")
WINDOW, STEP, T = 200, 50, 300
BASELINES = ("ewma", "sample")
FIT_OPTIONS = {"garch": {"max_iter": 300}}
SETTINGS = dict(window=WINDOW, step=STEP, baselines=BASELINES, n_draws=100, rebalance=STEP,
                fit_options=FIT_OPTIONS, levels=(0.01, 0.05), seed=0)


def _simulate(seed: int = 0) -> pd.DataFrame:
    """Correlated GARCH(1,1) returns in percent, T dates x 3 assets."""
    rng = np.random.default_rng(seed)
    corr = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    eps = rng.standard_normal((T, 3)) @ np.linalg.cholesky(corr).T
    s2, out = np.ones(3), np.empty((T, 3))
    for t in range(T):  # the simulator's loop over time (test data only)
        out[t] = np.sqrt(s2) * eps[t]
        s2 = 0.05 + 0.08 * out[t] ** 2 + 0.87 * s2
    return pd.DataFrame(out, index=pd.bdate_range("2020-01-01", periods=T, name="date"),
                        columns=list(ASSETS))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bt-data") / "returns.csv"
    _simulate().to_csv(path)
    return path


@pytest.fixture(scope="module")
def run(data_file, tmp_path_factory):
    import bayesvol as bv

    out = tmp_path_factory.mktemp("bt-run") / "out"
    return bv.backtest(bv.load_returns(data_file), models=["garch"], out=out, **SETTINGS)


def _frames(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    f = pd.read_parquet(folder / "forecasts.parquet").drop(columns="seconds")
    return f, pd.read_parquet(folder / "portfolios.parquet")


# ----------------------------------------------------------------------------- schedule
def test_schedule_rolling_and_expanding() -> None:
    rolling = schedule(300, 200, 50)
    assert [(w.start, w.end, w.stop) for w in rolling] == [(0, 200, 250), (50, 250, 300)]
    ragged = schedule(310, 200, 50, expanding=True)
    assert [(w.start, w.end, w.stop) for w in ragged] == [(0, 200, 250), (0, 250, 300),
                                                          (0, 300, 310)]
    covered = np.concatenate([np.arange(w.end, w.stop) for w in ragged])
    assert np.array_equal(covered, np.arange(200, 310))  # every date once, in order
    with pytest.raises(InputError, match="leaves nothing to forecast"):
        schedule(300, 300, 50)
    with pytest.raises(InputError, match="--step"):
        schedule(300, 200, 0)


# ------------------------------------------------------------------------ rows and scores
def test_backtest_rows_and_finite_scores(run) -> None:
    f = run.forecasts
    assert set(f["model"]) == {"garch", *BASELINES}
    for _, g in f.groupby("model"):
        assert len(g) == (T - WINDOW) * len(ASSETS)  # one row per (date, asset)
        assert g["date"].nunique() == T - WINDOW
        assert not g.duplicated(["date", "asset"]).any()
        for col in ("log_score", "crps", "qlike", "sq_error", "variance", "VaR_1%", "ES_1%"):
            assert np.isfinite(g[col].to_numpy(float)).all(), col
        assert (g["ES_1%"] >= g["VaR_1%"]).all() and (g["VaR_1%"] >= g["VaR_5%"]).all()
        hits = g["hit_5%"].astype(bool) == (g["return"] < -g["VaR_5%"])
        assert hits.all()
    assert (f["date"] > f["fit_end"]).all()
    assert set(f.loc[f["window"] == 1, "fit_end"]) == {pd.Timestamp(_simulate().index[249])}
    doc = json.loads((run.out / "summary.json").read_text())
    assert set(doc["scores"]) == {"garch", *BASELINES} and doc["verdict"]
    assert {r["baseline"] for r in doc["diebold_mariano"]} == set(BASELINES)


def test_gmv_weights_closed_form_and_sample_portfolio(run) -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4))
    cov = a @ a.T + 0.5 * np.eye(4)
    w = gmv_weights(cov)
    inv = np.linalg.inv(cov)
    assert np.isclose(w.sum(), 1.0)
    assert np.allclose(w, inv.sum(axis=1) / inv.sum())
    # the gradient of w' S w on the simplex is constant: S w = lambda 1
    assert np.allclose(cov @ w, (cov @ w)[0])
    # the sample baseline's GMV on the first block is that of the window's sample covariance
    window = _simulate().iloc[:WINDOW]
    want = gmv_weights(window.cov().to_numpy())
    p = run.portfolios
    first = p[(p["model"] == "sample") & (p["portfolio"] == "gmv")].iloc[0]
    got = first[[f"w[{a}]" for a in ASSETS]].to_numpy(float)
    assert np.isclose(got.sum(), 1.0) and np.allclose(got, want)
    for (_, name), g in p.groupby(["model", "portfolio"]):
        wsum = g[[f"w[{a}]" for a in ASSETS]].sum(axis=1)
        assert np.allclose(wsum, 1.0), name
    assert np.allclose(equal_weights(3), 1 / 3)


def test_metrics_by_hand() -> None:
    r = np.array([0.01, -0.02, 0.03, -0.01])
    m = portfolio_metrics(r, np.ones((4, 2)) / 2, periods_per_year=4)
    assert np.isclose(m["volatility"], np.std(r, ddof=1) * 2)
    assert np.isclose(sharpe_ratio(r, 4), np.mean(r) / np.std(r, ddof=1) * 2)
    wealth = np.cumprod(1 + r)  # 1.01, 0.9898, 1.019494, 1.0093
    assert np.isclose(max_drawdown(r), 1 - 0.9898 / 1.01)
    assert np.isclose(m["max_drawdown"], 1 - wealth[1] / wealth[0])
    w = np.array([[0.5, 0.5], [0.7, 0.3], [0.7, 0.3], [0.2, 0.8]])
    assert np.isclose(turnover(w), (0.4 + 0.0 + 1.0) / 3)


# ----------------------------------------------------------------------------- resume
def _cli(data_file: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "bayesvol", "backtest", str(data_file), "--model", "garch",
            "--window", str(WINDOW), "--step", str(STEP), "--baselines", ",".join(BASELINES),
            "--draws", "100", "--rebalance", str(STEP), "--max-iter", "300", "--out",
            str(out), "--no-progress"]


def test_kill_9_then_resume_recomputes_nothing_finished(run, data_file, tmp_path) -> None:
    out = tmp_path / "bt"
    proc = subprocess.Popen(_cli(data_file, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while not list(out.glob("tasks/*/w*.forecasts.parquet")):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no task file appeared"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.glob("tasks/*/w*.parquet")}
    assert finished and not (out / "summary.json").exists()
    done = subprocess.run(_cli(data_file, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # not recomputed
    assert not list(out.rglob("*.tmp"))
    f, p = _frames(out)
    f0, p0 = _frames(run.out)
    pd.testing.assert_frame_equal(f, f0)
    pd.testing.assert_frame_equal(p, p0)


def test_dask_local_cluster_equals_in_process(run, data_file, tmp_path) -> None:
    pytest.importorskip("dask.distributed")
    import bayesvol as bv

    res = bv.backtest(bv.load_returns(data_file), models=["garch"], out=tmp_path / "dask",
                      workers=1, processes=False, **SETTINGS)
    assert not res.failed
    f, p = _frames(res.out)
    f0, p0 = _frames(run.out)
    pd.testing.assert_frame_equal(f, f0)
    pd.testing.assert_frame_equal(p, p0)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("extra, message", [
    (["--model", "nosuch"], "unknown model 'nosuch'"),
    (["--model", "garch", "--window", "400"], "leaves nothing to forecast"),
])
def test_bad_input_exits_2_with_one_line(data_file, tmp_path, capsys, extra, message) -> None:
    from bayesvol.cli import main

    args = ["backtest", str(data_file), "--window", "200", "--out", str(tmp_path / "x"),
            *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not (tmp_path / "x").exists()


def test_a_folder_with_other_settings_is_not_overwritten(run, data_file, capsys) -> None:
    from bayesvol.cli import main

    before = (run.out / "run.json").read_text()
    args = ["backtest", str(data_file), "--model", "garch", "--window", "150", "--out",
            str(run.out), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0]
    assert (run.out / "run.json").read_text() == before


def test_max_drawdown_of_percent_returns_uses_the_unit() -> None:
    """Returns in percent (bayesvol's convention): wealth is prod(1 + r / 100)."""
    r = np.array([1.0, -2.0, 3.0, -1.0])
    assert np.isclose(max_drawdown(r, unit=100.0), max_drawdown(r / 100.0))
    assert np.isclose(portfolio_metrics(r, np.ones((4, 1)), unit=100.0)["max_drawdown"],
                      1 - 0.9898 / 1.01)
    with pytest.raises(ValueError, match="unit"):
        max_drawdown(r, unit=0.0)
