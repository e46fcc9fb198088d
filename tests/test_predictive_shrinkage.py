"""Prior / posterior predictive checks and shrinkage of a pooled fit (forecast/predictive.py,
shrinkage.py, plots_pooled.py).

One hier-garch VI fit per module, on a seeded ragged panel of 12 assets with short histories
(observed returns 90 to 600), simulated from the model itself. Its shape is that of the
pooled fits of tests/test_hier_garch.py, tests/test_score.py and the demo test, so the suite
compiles that fit once (the tests share a compilation cache, tests/conftest.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy.stats import rankdata, spearmanr

import bayesvol as bv
from bayesvol.errors import InputError
from bayesvol.forecast.predictive import (
    STATISTICS,
    posterior_predictive,
    ppc_table,
    return_statistics,
)
from bayesvol.plots import save
from bayesvol.plots_pooled import plot_ppc, plot_shrinkage
from bayesvol.shrinkage import SHRINKAGE_PARAMS, population_centre, shrinkage_table
from bayesvol.simulate.hier_garch import simulate_hier_garch

N_REP = 200


@pytest.fixture(scope="module")
def sim():
    return simulate_hier_garch(12, 600, seed=3, min_length=40)


@pytest.fixture(scope="module")
def fit(sim):
    return bv.fit(sim.to_frame(), model="hier-garch", method="vi", seed=0, num_draws=200)


@pytest.fixture(scope="module")
def pp(fit):
    return posterior_predictive(fit, num_draws=N_REP, seed=0)


# ---------------------------------------------------------------------- posterior predictive
def test_replicates_shape_windows_and_seed(fit, pp):
    panel = fit.panel
    n, t = panel.values.shape
    assert pp.returns.shape == pp.sigma2.shape == (n, N_REP, t)
    assert pp.assets == fit.assets and pp.num_draws == N_REP
    observed = np.broadcast_to(panel.mask[:, None, :], pp.returns.shape)
    assert np.all(np.isfinite(pp.returns[observed]))
    assert np.all(np.isnan(pp.returns[~observed]))  # outside windows (and at any gap)
    window = np.zeros_like(panel.mask)
    for i in range(n):
        window[i, panel.first[i]:panel.last[i] + 1] = True
    s2 = pp.sigma2.transpose(1, 0, 2)
    assert np.all(s2[:, window] > 0) and np.all(np.isnan(s2[:, ~window]))
    # deterministic given the seed, and an asset's replicates do not depend on the others
    again = posterior_predictive(fit, num_draws=N_REP, seed=0, assets=["A06"])
    np.testing.assert_array_equal(again.returns[0], pp.returns[5])
    other = fit.posterior_predictive(num_draws=N_REP, seed=1, assets=[5])
    assert not np.allclose(np.nan_to_num(other.returns[0]), np.nan_to_num(pp.returns[5]))


def test_replicated_volatility_matches_observed(fit, pp):
    stats = pp.statistics()
    obs_sd, rep_sd = stats["sd"]
    ratio = np.median(rep_sd, axis=1) / obs_sd
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio
    table = ppc_table(pp)
    assert list(table.index.names) == ["asset", "statistic"]
    assert table.shape == (len(fit.assets) * len(STATISTICS), 5)
    p = table["p_value"].to_numpy()
    assert np.all((p >= 0) & (p <= 1))
    extreme = (p <= 0.01) | (p >= 0.99)
    assert extreme.mean() <= 0.2, table[extreme]  # a well-specified model: few misfits
    for s in ("sd", "kurtosis"):  # observed statistic inside the replicates' range
        sub = table.xs(s, level="statistic")
        assert np.mean((sub.observed >= sub.rep_q05) & (sub.observed <= sub.rep_q95)) >= 0.5
    roll = pp.rolling_volatility("A03", window=20)
    assert {"observed", "q05", "q50", "q95"} <= set(roll.columns)
    live = roll.dropna()
    assert len(live) > 50 and np.all(live.q05 <= live.q95)


def test_return_statistics_known_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 20000))
    s = return_statistics(x)
    np.testing.assert_allclose(s["sd"], 1.0, atol=0.02)
    np.testing.assert_allclose(s["kurtosis"], 3.0, atol=0.15)
    np.testing.assert_allclose(s["acf1_sq"], 0.0, atol=0.03)
    np.testing.assert_allclose(s["q01"], -2.326, atol=0.08)
    # squared-return autocorrelation only over adjacent observed dates
    y = np.array([1.0, 1.0, np.nan, 3.0, 3.0, np.nan, 1.0, 1.0, np.nan, 3.0, 3.0])
    assert return_statistics(y)["acf1_sq"] == pytest.approx(1.0)
    assert return_statistics(y[np.isfinite(y)])["acf1_sq"] == pytest.approx(1.0 / 7.0)
    assert np.isnan(return_statistics(np.array([1.0, np.nan, 3.0]))["acf1_sq"])
    with pytest.raises(InputError, match="statistic"):
        return_statistics(x, statistics=("skew",))


# ------------------------------------------------------------------------- prior predictive
def test_prior_predictive_reproducible_and_finite():
    a = bv.prior_predictive("hier-garch", n_assets=4, T=150, num_draws=40, seed=3)
    b = bv.prior_predictive(model="hier-garch", n_assets=4, T=150, num_draws=40, seed=3)
    c = bv.prior_predictive("hier-garch", n_assets=4, T=150, num_draws=40, seed=4)
    assert a.returns.shape == a.sigma2.shape == (40, 4, 150)
    assert a.z.shape == (40, 4, 5) and a.stationary.shape == (40, 4)
    np.testing.assert_array_equal(a.returns, b.returns)
    np.testing.assert_array_equal(a.g, b.g)
    assert not np.allclose(a.returns, c.returns)
    assert np.all(np.isfinite(a.returns)) and np.all(a.sigma2 > 0)
    p = a.params
    near_unit = p["persistence"] >= 0.999
    assert np.array_equal(a.stationary, ~near_unit & (np.abs(p["phi"]) < 1))
    with np.errstate(divide="ignore"):
        uncond = p["omega"] / (1.0 - p["persistence"])
    np.testing.assert_allclose(a.sigma2[..., 0][~near_unit], uncond[~near_unit], rtol=1e-9)
    np.testing.assert_allclose(a.sigma2[..., 0][near_unit], 1.0)  # exp(log_var_ref = 0)
    assert a.stats.shape == (160, len(STATISTICS))
    summ = a.summary()
    assert list(summ.index) == list(STATISTICS) and "q50" in summ.columns
    with pytest.raises(InputError, match="hierarchical prior"):
        bv.prior_predictive("garch", n_assets=2, T=50, num_draws=2)
    with pytest.raises(InputError, match="num_draws"):
        bv.prior_predictive("hier-garch", num_draws=0)


# ------------------------------------------------------------------------------- shrinkage
def test_shrinkage_table(fit, sim):
    table = fit.shrinkage()
    assert list(table.index) == list(fit.assets)
    np.testing.assert_array_equal(table["n_obs"], sim.last - sim.first + 1)
    for p in SHRINKAGE_PARAMS:
        for q in ("unpooled", "pooled", "sd", "q05", "q95", "population", "shrinkage"):
            assert f"{p}_{q}" in table.columns
        assert np.all(table[f"{p}_q05"] <= table[f"{p}_pooled"])
        assert np.all(table[f"{p}_pooled"] <= table[f"{p}_q95"])
        # pooling moves estimates toward the population centre on the whole
        assert 0.0 < np.nanmedian(table[f"{p}_shrinkage"]) < 1.5, p
    names = fit.model.global_names
    loc = {c: fit.g[..., names.index(f"{c}_loc")] for c in fit.model.unconstrained_names}
    centre = population_centre(fit)
    assert centre["persistence"] == pytest.approx(float(np.mean(1 - np.exp(-np.exp(
        loc["cloglog_persistence"])))))
    assert centre["nu"] == pytest.approx(float(np.mean(2 + np.exp(loc["log_nu_excess"]))))
    assert centre["omega"] == pytest.approx(float(np.mean(np.exp(loc["log_omega"]))))
    assert centre["phi"] == pytest.approx(float(np.mean(loc["phi"])))
    # shorter histories are shrunk more: |pooled - unpooled| ranks, averaged over parameters
    params = ("persistence", "alpha_share", "log_omega", "nu", "phi")
    t2 = shrinkage_table(fit, params=params)
    ranks = np.mean([rankdata((t2[f"{p}_pooled"] - t2[f"{p}_unpooled"]).abs())
                     for p in params], axis=0)
    assert spearmanr(ranks, 1.0 / t2["n_obs"]).statistic > 0.3
    # without unpooled modes (e.g. NUTS) the unpooled columns are NaN; unpooled fits refuse
    no_modes = shrinkage_table(dataclasses.replace(fit, unpooled=None))
    assert no_modes["persistence_unpooled"].isna().all()
    assert no_modes["persistence_shrinkage"].isna().all()
    with pytest.raises(InputError, match="pooled fit"):
        shrinkage_table(dataclasses.replace(fit, g=None))
    with pytest.raises(InputError, match="unknown parameter"):
        shrinkage_table(fit, params=("gamma",))


# ----------------------------------------------------------------------------------- plots
def test_plots_return_figures_and_save(fit, pp, tmp_path):
    fig = plot_shrinkage(fit, table=fit.shrinkage())
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_visible()]) == 4
    out = save(fig, tmp_path / "shrinkage.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = plot_ppc(fit, asset="A06", pp=pp)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "A06" in fig.axes[0].get_title()
    out = save(fig, tmp_path / "ppc.png")
    assert out.stat().st_size > 10_000
    with pytest.raises(ValueError, match="levels"):
        plot_ppc(fit, pp=pp, levels=(0.0, 0.5))
