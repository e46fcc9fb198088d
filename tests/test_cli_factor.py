"""``bayesvol fit --model dfsv|fsv``: the factor SV models through the API and the CLI."""

from __future__ import annotations

import json

import numpy as np

from bayesvol.cli import main
from bayesvol.dfsv_fit import DfsvFit


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
    assert main([*bad, "--model", "dfsv", "--dist", "t"]) == 2
    assert "Gaussian innovations only" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # forecast and score of a factor fit: a clear input error, not a traceback
    assert main(["forecast", str(out), "--horizon", "3", "--out", str(tmp_path / "f.csv")]) == 2
    assert "factor SV (dfsv/fsv) fit" in capsys.readouterr().err
