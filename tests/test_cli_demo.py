"""``bayesvol demo``, the main job of the README, end to end on a short series (ending
with a backtest and its HTML report)."""

from __future__ import annotations

import json

import pandas as pd

from bayesvol.cli import main


def test_demo_writes_its_outputs_and_vi_agrees_with_nuts(tmp_path, capsys):
    """Exit 0, every promised file, and VI posterior means within 0.5 NUTS sd of NUTS's."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--T", "600", "--num-samples", "400",
                 "--num-warmup", "400", "--seed", "1", "--pooled-assets", "12",
                 "--pooled-T", "600", "--factor-assets", "4", "--factor-T", "300"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "faster than NUTS" in printed
    for name in ("returns.csv", "truth.json", "forecast.csv", "volatility.png",
                 "marginals.png", "elbo.png", "forecast.png"):
        assert (out / name).stat().st_size > 0, name
    vi = json.loads((out / "fit_vi" / "summary.json").read_text())
    nuts = json.loads((out / "fit_nuts" / "summary.json").read_text())
    assert vi["method"] == "vi" and nuts["method"] == "nuts"
    assert set(vi["parameters"]) == {"omega", "alpha", "beta", "nu", "xi"}
    for name, row in nuts["parameters"].items():
        assert abs(vi["parameters"][name]["mean"] - row["mean"]) < 0.5 * row["sd"], name
    for name in ("panel.csv", "truth.json", "shrinkage.csv", "shrinkage.png", "ppc.png",
                 "fit/summary.json", "fit/posterior.nc"):
        assert (out / "pooled" / name).stat().st_size > 0, name
    pooled = json.loads((out / "pooled" / "fit" / "summary.json").read_text())
    assert pooled["model"] == "hier-garch" and "persistence_median" in pooled["parameters"]
    assert len(pd.read_csv(out / "pooled" / "shrinkage.csv")) == 12
    assert "Population" in printed
    for name in ("panel.csv", "factor.png", "fit/summary.json", "fit/posterior.nc"):
        assert (out / "factor" / name).stat().st_size > 0, name
    factor = json.loads((out / "factor" / "fit" / "summary.json").read_text())
    assert factor["model"] == "dfsv" and "lambda[A01,1]" in factor["parameters"]
    assert "Loadings" in printed and "factor log-variance path vs truth" in printed
    forecast = pd.read_csv(out / "forecast.csv")
    assert len(forecast) > 0 and forecast.notna().all().all()
    # step 8: a backtest of garch against EWMA on the factor panel, and two HTML reports
    bt = json.loads((out / "backtest" / "summary.json").read_text())
    assert set(bt["scores"]) == {"garch", "ewma"} and bt["verdict"]
    for page in (out / "backtest" / "report.html", out / "fit_vi" / "report.html"):
        text = page.read_text(encoding="utf-8")
        assert 'id="scores"' in text or 'id="vi-vs-mcmc"' in text, page
        assert "data:image/png;base64," in text and "http://" not in text, page
    assert "8. backtest" in printed
    assert f"backtest report: {out / 'backtest' / 'report.html'}" in printed
