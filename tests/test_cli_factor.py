"""``bayesvol fit --model dfsv|fsv``: the factor SV models through the API and the CLI, and
``bayesvol forecast`` / ``bayesvol score`` on the fit folder it writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bayesvol.cli import main
from bayesvol.dfsv_fit import DfsvFit
from bayesvol.simulate.dfsv import fsv_preset


def test_cli_fits_a_factor_model_and_refuses_bad_options(tmp_path, capsys):
    csv = tmp_path / "panel.csv"
    assert main(["simulate", "fsv", "--assets", "4", "--factors", "1", "--T", "250",
                 "--seed", "2", "--out", str(csv), "--truth", str(tmp_path / "t.json")]) == 0
    out = tmp_path / "fit"
    assert main(["fit", str(csv), "--model", "fsv", "--factors", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "fsv" and summary["n_factors"] == 1
    assert "lambda[A01,1]" in summary["parameters"] and "phi_f[1]" not in summary["parameters"]
    fit = DfsvFit.load(out / "posterior.nc")
    cov = fit.covariance()
    assert cov.dims == ("time", "asset", "asset2") and cov.shape == (250, 4, 4)
    c = cov.values
    assert np.allclose(c, np.swapaxes(c, 1, 2)) and np.all(np.linalg.eigvalsh(c) > 0)
    # the loadings of the simulation are recovered in sign and rough size
    truth = json.loads((tmp_path / "t.json").read_text())
    lam_true = np.asarray(truth["params"]["Lambda"], dtype=float)[:, 0]
    lam = fit.loadings().to_numpy()[:, 0]
    assert np.all(np.sign(lam) == np.sign(lam_true))
    assert np.corrcoef(lam, lam_true)[0, 1] > 0.8, (lam, lam_true)
    capsys.readouterr()
    bad = ["fit", str(csv), "--out", str(tmp_path / "x")]
    assert main([*bad, "--model", "dfsv", "--factors", "5"]) == 2
    assert "factors must lie in 1..4" in capsys.readouterr().err
    assert main([*bad, "--model", "dfsv", "--dist", "skewt"]) == 2
    assert "Gaussian or Student-t innovations" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # the full VAR of the factor log-variances through the CLI flag
    var_out = tmp_path / "var"
    assert main(["fit", str(csv), "--model", "fsv", "--factors", "2", "--factor-var",
                 "--out", str(var_out)]) == 0
    var_params = json.loads((var_out / "summary.json").read_text())["parameters"]
    assert {"phi_h[1,2]", "phi_h[2,1]", "corr_h[2,1]"} <= set(var_params)
    assert DfsvFit.load(var_out / "posterior.nc").model.factor_var
    # forecast of the factor fit: CSV (with the covariance and GMV rows) and JSON
    f_csv, f_json = tmp_path / "f.csv", tmp_path / "f.json"
    fc_args = ["forecast", str(out), "--horizon", "3", "--paths", "500"]
    assert main([*fc_args, "--out", str(f_csv)]) == 0
    assert "minimum-variance weights" in capsys.readouterr().out
    frame = pd.read_csv(f_csv)
    assert list(frame.columns) == ["asset", "step", "date", "quantity", "value"]
    assert {"VaR_1%", "ES_5%_h", "volatility_mean", "cov_A04", "gmv_weight"} <= set(
        frame["quantity"])
    assert set(frame["asset"]) == {"A01", "A02", "A03", "A04"}
    gmv = frame[frame["quantity"] == "gmv_weight"]["value"]
    assert abs(gmv.sum() - 1.0) < 1e-9
    assert main([*fc_args, "--out", str(f_json)]) == 0
    doc = json.loads(f_json.read_text())
    assert doc["model"] == "fsv" and np.asarray(doc["covariance"]).shape == (3, 4, 4)
    assert main([*fc_args, "--levels", "0.7", "--out", str(f_csv)]) == 2
    assert "level" in capsys.readouterr().err
    # score returns after the fit's last date: per-asset marginal and joint rows
    old = pd.read_csv(csv, index_col=0, parse_dates=True)
    new = fsv_preset(4, 1, 40, seed=7).to_frame()
    new.index = pd.bdate_range(old.index[-1] + pd.offsets.BDay(1), periods=40,
                               name=old.index.name)
    new.iloc[2, 1] = np.nan
    new_csv, s_csv = tmp_path / "new.csv", tmp_path / "s.csv"
    new.to_csv(new_csv)
    sc_args = ["score", str(out), "--out", str(s_csv), "--max-draws", "100"]
    capsys.readouterr()
    assert main([*sc_args[:2], str(new_csv), *sc_args[2:]]) == 0
    assert "total (joint)" in capsys.readouterr().out
    scores = pd.read_csv(s_csv)
    assert list(scores.columns) == ["date", "asset", "log_score"]
    assert len(scores) == 4 * 40 - 1 + 40 and np.all(np.isfinite(scores["log_score"]))
    assert set(scores["asset"]) == {"A01", "A02", "A03", "A04", "__joint__"}
    # bad input: an asset the fit lacks, dates inside the fit, exit 2 with one error line
    bad_csv = tmp_path / "bad.csv"
    new.rename(columns={"A03": "ZZZ"}).to_csv(bad_csv)
    assert main([*sc_args[:2], str(bad_csv), *sc_args[2:]]) == 2
    assert "'ZZZ' is not in the fit" in capsys.readouterr().err
    old.iloc[-20:].to_csv(bad_csv)
    assert main([*sc_args[:2], str(bad_csv), *sc_args[2:]]) == 2
    assert "strictly after" in capsys.readouterr().err
