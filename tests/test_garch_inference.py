"""GARCH inference: recovery of simulated truth, VI against NUTS, failure reporting, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bayesvol as bv
from bayesvol.cli import main
from bayesvol.simulate import simulate_garch

TRUTH = {"omega": 0.1, "alpha": 0.2, "beta": 0.75, "nu": 4.0, "xi": 0.8}
T_SHORT = 1500


def simulated(dist: str, T: int = T_SHORT, seed: int = 7):
    keep = {k: v for k, v in TRUTH.items() if k in ("omega", "alpha", "beta")
            or (k == "nu" and dist != "normal") or (k == "xi" and dist == "skewt")}
    return simulate_garch(T, dist=dist, seed=seed, **keep).to_frame(), keep


@pytest.mark.parametrize("dist", ["normal", "t", "skewt"])
def test_vi_recovers_truth(dist):
    """Each true value within 3 posterior sd of the posterior mean (a 90% interval would miss
    about one of these 12 checks by chance alone)."""
    frame, truth = simulated(dist)
    fit = bv.fit(frame, dist=dist, method="vi", seed=0)
    assert fit.diagnostics["converged"]
    s = fit.summary()
    for name, value in truth.items():
        assert abs(s.loc[name, "mean"] - value) < 3 * s.loc[name, "sd"], (name, s.loc[name])


def test_posterior_shrinks_with_more_data():
    short, _ = simulated("normal", T=500, seed=3)
    long, _ = simulated("normal", T=4000, seed=3)
    s_short = bv.fit(short, method="vi").summary()
    s_long = bv.fit(long, method="vi").summary()
    for name in ("omega", "alpha", "beta"):
        assert s_long.loc[name, "sd"] < 0.6 * s_short.loc[name, "sd"], name
        err_long = abs(s_long.loc[name, "mean"] - TRUTH[name])
        assert err_long < 3 * s_long.loc[name, "sd"], name


@pytest.mark.slow  # about 1.5 min; the demo test checks VI against NUTS on a GARCH too
def test_vi_matches_nuts_on_a_short_series():
    """Full-rank VI against NUTS on the same model: the issue's goal, overlap accuracy of at
    least 95% for every parameter, with 10000 PSIS-resampled VI draws against 2 x 5000 NUTS
    draws. Both sides need many draws: the kernel-density estimate inside the metric costs
    exact posterior draws 3-4% at 1000 draws. Measured margin for this series: VI seeds 0-3
    scored 96.2-98.4% (benchmarks/garch_vi.py checks the same on its own series)."""
    frame, _ = simulated("t", T=1000, seed=11)
    vi = bv.fit(frame, dist="t", method="vi", seed=1, num_draws=10000, psis_draws=10000)
    assert vi.diagnostics["psis_resampled"] == [True]
    nuts = bv.fit(frame, dist="t", method="nuts", seed=2, num_warmup=500, num_samples=5000)
    assert nuts.diagnostics["divergences"] == 0
    assert nuts.diagnostics["rhat_max"] < 1.01
    acc = bv.accuracy_table(vi.flat_draws(), nuts.flat_draws())["accuracy"]
    assert (acc >= 95.0).all(), acc.to_dict()
    mf = bv.fit(frame, dist="t", method="vi", seed=1, family="meanfield", num_draws=10000,
                psis=False)
    acc_mf = bv.accuracy_table(mf.flat_draws(), nuts.flat_draws())["accuracy"]
    assert acc_mf.mean() < acc.mean() - 5  # the paper's finding: mean-field is less accurate


def test_panel_fit_is_per_asset_and_matches_single_fits():
    frame, _ = simulated("normal", T=800, seed=5)
    other, _ = simulated("normal", T=800, seed=6)
    panel = frame.assign(A02=other["A01"].to_numpy())
    both = bv.fit(panel, method="mle").summary()
    one = bv.fit(frame, method="mle").summary()
    assert "omega[A01]" in both.index and "omega[A02]" in both.index
    assert both.loc["omega[A01]", "mean"] == pytest.approx(one.loc["omega", "mean"], rel=1e-6)


def test_non_finite_data_likelihood_is_reported():
    from bayesvol.errors import InputError, NumericalError

    frame, _ = simulated("normal", T=300, seed=1)
    frame.iloc[5, 0] = 1e200  # finite input, but squared it overflows the recursion
    with pytest.raises(InputError, match="row"):  # a data frame is validated as a file is
        bv.fit(frame, method="mle")
    panel = bv.ReturnsPanel.from_values(frame.to_numpy().T, frame.index, list(frame.columns))
    with pytest.raises(NumericalError):  # a panel built directly reaches the likelihood
        bv.fit(panel, method="mle")


def test_cli_simulate_check_fit_round_trip(tmp_path, capsys):
    csv = tmp_path / "r.csv"
    assert main(["simulate", "garch", "--T", "600", "--dist", "t", "--seed", "3",
                 "--out", str(csv), "--truth", str(tmp_path / "truth.json")]) == 0
    assert main(["check", str(csv)]) == 0
    out = tmp_path / "fit"
    assert main(["fit", str(csv), "--model", "garch", "--dist", "t", "--method", "vi",
                 "--seed", "1", "--out", str(out), "--num-draws", "700",
                 "--psis-draws", "1500"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "vi" and summary["dist"] == "t"
    assert summary["options"]["num_draws"] == 700 and summary["options"]["psis_draws"] == 1500
    assert 0.0 < summary["diagnostics"]["pareto_k_max"] < 1.0
    assert isinstance(summary["diagnostics"]["psis_reliable"], bool)
    assert set(summary["parameters"]) == {"omega", "alpha", "beta", "nu"}
    assert summary["diagnostics"]["converged"] is True
    loaded = bv.Fit.load(out)
    assert loaded.z.shape[-2:] == (700, 4)
    assert loaded.model.psi1_map == "cloglog"
    assert loaded.summary().round(12).equals(
        bv.Fit.load(out).summary().round(12))
    assert abs(summary["parameters"]["nu"]["mean"] - loaded.summary().loc["nu", "mean"]) < 1e-12
    # the paper preset runs without PSIS: its summary says so (None), and the CLI does not
    # print the k-hat note (it used to format a missing k-hat and crash after writing)
    paper = tmp_path / "paper"
    assert main(["fit", str(csv), "--dist", "t", "--vi-preset", "paper", "--out",
                 str(paper)]) == 0
    diag = json.loads((paper / "summary.json").read_text())["diagnostics"]
    assert diag["psis_reliable"] is None and diag["pareto_k_max"] is None
    capsys.readouterr()
    assert main(["fit", str(csv), "--dist", "cauchy", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "cauchy" in err[0]
    assert not (tmp_path / "x").exists()


def test_same_seed_same_numbers_different_seed_different_draws():
    frame, _ = simulated("normal", T=600, seed=2)
    a = bv.fit(frame, method="vi", seed=4)
    b = bv.fit(frame, method="vi", seed=4)
    c = bv.fit(frame, method="vi", seed=5)
    np.testing.assert_array_equal(a.z, b.z)
    assert not np.array_equal(a.z, c.z)
