"""Every worked example in examples/ runs at small size and writes what it promises.

Each script runs in its own process, as a user would run it (``python examples/X.py OUT
--small``). The hierarchical GARCH example needs skfolio's bundled stock prices (the bench
extra) and is skipped without it. The GARCH example uses arch's bundled S&P 500 prices when
arch is installed and a simulated series otherwise, so it always runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(name: str, out: Path) -> str:
    """Run examples/NAME --small into OUT; return its standard output."""
    env = {**os.environ, "BAYESVOL_EXAMPLES_SMALL": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), str(out), "--small"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def assert_files(out: Path, names) -> None:
    for name in names:
        assert (out / name).stat().st_size > 0, name


def test_garch_sp500(tmp_path):
    printed = run_example("garch_sp500.py", tmp_path)
    assert_files(tmp_path, ("returns.csv", "summary.csv", "forecast.csv", "volatility.png",
                            "elbo.png", "forecast.png", "fit_vi/summary.json",
                            "fit_vi/posterior.nc"))
    summary = pd.read_csv(tmp_path / "summary.csv", index_col=0)
    assert list(summary.index) == ["omega", "alpha", "beta", "nu", "xi"]
    assert (summary["mean"]["alpha"] + summary["mean"]["beta"]) < 1
    fit = json.loads((tmp_path / "fit_vi" / "summary.json").read_text())
    assert fit["dist"] == "skewt" and fit["method"] == "vi"
    forecast = pd.read_csv(tmp_path / "forecast.csv")
    var = forecast[forecast["quantity"] == "VaR_1%"]["value"]
    es = forecast[forecast["quantity"] == "ES_1%"]["value"]
    assert len(var) == 1 and 0 < var.iloc[0] <= es.iloc[0]
    assert "PSIS k-hat" in printed
    if importlib.util.find_spec("arch") is not None:
        assert "S&P 500" in printed and fit["n_obs"] == 1006


@pytest.mark.slow  # about 2 min cold; the pooled model's CLI and API are tested elsewhere
@pytest.mark.skipif(importlib.util.find_spec("skfolio") is None,
                    reason="needs skfolio's bundled prices (pip install -e '.[bench]')")
def test_hier_garch_skfolio(tmp_path):
    printed = run_example("hier_garch_skfolio.py", tmp_path)
    assert_files(tmp_path, ("train.csv", "holdout.csv", "fit/summary.json",
                            "fit/posterior.nc", "population.csv", "shrinkage.csv",
                            "scores.csv", "shrinkage.png"))
    fit = json.loads((tmp_path / "fit" / "summary.json").read_text())
    assert fit["model"] == "hier-garch" and len(fit["assets"]) == 6
    shrink = pd.read_csv(tmp_path / "shrinkage.csv", index_col=0)
    assert shrink["n_obs"].min() < 100 < shrink["n_obs"].max()  # the panel is ragged
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns) == ["date", "asset", "log_score"]
    assert len(scores) == 6 * 50 and scores["log_score"].notna().all()
    assert "short histories" in printed


def test_factor_sv(tmp_path):
    printed = run_example("factor_sv.py", tmp_path)
    assert_files(tmp_path, ("returns.csv", "truth.json", "fit.nc", "summary.csv",
                            "loadings.csv", "factor.png", "volatility.png",
                            "correlation.png"))
    loadings = pd.read_csv(tmp_path / "loadings.csv", header=[0, 1], index_col=0)
    fitted = loadings["posterior mean"].to_numpy()[:, 0]
    true = loadings["truth"].to_numpy()[:, 0]
    assert abs(fitted - true).max() < 0.3  # one factor, 5 assets, 300 days
    assert "mean Frobenius error" in printed


def test_backtest_report(tmp_path):
    printed = run_example("backtest_report.py", tmp_path)
    assert_files(tmp_path, ("returns.csv", "bt/forecasts.parquet", "bt/portfolios.parquet",
                            "bt/summary.json", "bt/report.html"))
    returns = pd.read_csv(tmp_path / "returns.csv", index_col=0)
    assert returns.shape == (600, 2)
    forecasts = pd.read_parquet(tmp_path / "bt" / "forecasts.parquet")
    # every date after the first 400-date window is forecast once per model and asset
    assert set(forecasts["model"]) == {"garch", "ewma", "sample"}
    counts = forecasts.groupby("model").size()
    assert (counts == 200 * 2).all(), counts
    assert forecasts["log_score"].notna().all()
    summary = json.loads((tmp_path / "bt" / "summary.json").read_text())
    assert set(summary["scores"]) == {"garch", "ewma", "sample"}
    page = (tmp_path / "bt" / "report.html").read_text()
    assert 'id="scores"' in page and "<img" in page
    assert "mean log score" in printed and "report:" in printed
