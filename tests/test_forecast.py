"""Posterior predictive forecasts of GARCH(1,1): closed forms, risk measures, determinism, I/O."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesvol as bv
from bayesvol.data import ReturnsPanel
from bayesvol.forecast.garch_forecast import Forecast, forecast_fit
from bayesvol.models.garch import GarchModel
from bayesvol.results import Fit
from bayesvol.simulate import simulate_garch

T = 500
TRUE = {"omega": 0.05, "alpha": 0.10, "beta": 0.85}
MU = 0.05


def ragged_panel(mu: float = 0.0, dates=None) -> ReturnsPanel:
    """Two assets; the second listed from date 40 and missing one interior observation."""
    sim = simulate_garch(T, **TRUE, mu=mu, n_assets=2, seed=11)
    values = sim.returns.copy()
    values[1, :40] = np.nan
    values[1, 300] = np.nan
    return ReturnsPanel.from_values(values, sim.dates if dates is None else dates, sim.assets)


def degenerate_fit(panel: ReturnsPanel, mean: bool = False) -> Fit:
    """A Fit whose every draw is the true parameter vector."""
    model = GarchModel(dist="normal", mean=mean)
    z0 = np.asarray(model.unconstrain({**TRUE, "mu": MU}))
    z = np.broadcast_to(z0, (panel.n_assets, 2, 5, model.dim)).copy()
    return Fit(model=model, panel=panel, method="mle", z=z)


def hand_next_variance(y: np.ndarray, mu: float = 0.0) -> float:
    """sigma^2_{T+1} by the recursion in numpy, over the asset's window (NaN = missing)."""
    y = y[np.argmax(~np.isnan(y)): len(y) - np.argmax(~np.isnan(y[::-1]))]
    e = y - mu
    obs = ~np.isnan(e)
    s = np.mean(e[obs] ** 2)  # start="sample"
    w, a, b = TRUE["omega"], TRUE["alpha"], TRUE["beta"]
    for t in range(1, len(e) + 1):
        e2 = e[t - 1] ** 2 if obs[t - 1] else s
        s = w + a * e2 + b * s
    return float(s)


@pytest.fixture(scope="module")
def panel() -> ReturnsPanel:
    return ragged_panel()


@pytest.fixture(scope="module")
def big_forecast(panel) -> Forecast:
    return forecast_fit(degenerate_fit(panel), horizon=10, n_paths=20000, seed=1)


@pytest.fixture(scope="module")
def mle_fit(panel) -> Fit:
    return bv.fit(panel, method="mle", seed=0)


def test_next_variance_equals_numpy_recursion(panel, big_forecast):
    for i in range(panel.n_assets):
        want = hand_next_variance(panel.values[i])
        np.testing.assert_allclose(big_forecast.variance_draws[i, :, 0], want, rtol=1e-10)


def test_mean_variance_path_matches_closed_form(panel, big_forecast):
    """E[sigma^2_{T+k}] = s + (alpha+beta)^{k-1} (sigma^2_{T+1} - s), s = omega/(1-alpha-beta)."""
    persistence = TRUE["alpha"] + TRUE["beta"]
    s_bar = TRUE["omega"] / (1 - persistence)
    k = np.arange(1, 11)
    for i in range(panel.n_assets):
        v = big_forecast.variance_draws[i]
        s1 = hand_next_variance(panel.values[i])
        closed = s_bar + persistence ** (k - 1) * (s1 - s_bar)
        se = v.std(0, ddof=1) / np.sqrt(v.shape[0])
        assert np.all(np.abs(v.mean(0) - closed) <= 4 * se + 1e-12), (v.mean(0), closed)
        # E[r^2_{T+k}] = E[sigma^2_{T+k}] too (mu = 0, unit-variance innovations)
        r2 = big_forecast.return_draws[i] ** 2
        assert np.all(np.abs(r2.mean(0) - closed) <= 4 * r2.std(0) / np.sqrt(r2.shape[0]))


def test_forecast_tables_are_consistent(panel, big_forecast):
    fc = big_forecast
    assert isinstance(fc.dates, pd.DatetimeIndex) and len(fc.dates) == 10
    assert fc.dates[0] == pd.Timestamp(panel.dates[-1]) + pd.offsets.BDay(1)
    assert (fc.dates.day_of_week < 5).all()
    for a in panel.assets:
        vol, ret = fc.volatility[a], fc.returns[a]
        assert list(vol.columns) == ["mean", "q05", "q50", "q95"]
        assert list(ret.columns) == ["q01", "q05", "q50", "q95", "q99"]
        assert vol.index.equals(fc.dates) and ret.index.equals(fc.dates)
        assert np.all(np.diff(ret.to_numpy(), axis=1) >= 0)
        assert np.all(np.diff(vol[["q05", "q50", "q95"]].to_numpy(), axis=1) >= 0)
    i = 0
    np.testing.assert_allclose(fc.volatility[panel.assets[i]]["mean"],
                               np.sqrt(fc.variance_draws[i]).mean(0))


def test_var_es_normal_one_step():
    """VaR_a = -(mu + sigma z_a), ES_a = sigma phi(z_a)/a - mu for normal innovations."""
    panel = ragged_panel(mu=MU)
    n = 20000
    fc = forecast_fit(degenerate_fit(panel, mean=True), horizon=3, levels=(0.01, 0.05),
                      n_paths=n, seed=2)
    for i, a in enumerate(panel.assets):
        sigma = np.sqrt(hand_next_variance(panel.values[i], mu=MU))
        for level, lab in ((0.01, "1%"), (0.05, "5%")):
            z = stats.norm.ppf(level)
            var_true = -z * sigma - MU
            es_true = sigma * stats.norm.pdf(z) / level - MU
            # asymptotic standard errors of the sample quantile and of the tail mean
            se_q = sigma * np.sqrt(level * (1 - level) / n) / stats.norm.pdf(z)
            lam = stats.norm.pdf(z) / level
            tail_var = 1 - lam * (lam + z)  # Var(eps | eps <= z)
            se_es = sigma * np.sqrt((tail_var + (1 - level) * (lam + z) ** 2) / (n * level))
            assert abs(fc.risk.loc[a, f"VaR_{lab}"] - var_true) < 4 * se_q
            assert abs(fc.risk.loc[a, f"ES_{lab}"] - es_true) < 4 * se_es
    assert abs(2.326 - (-stats.norm.ppf(0.01))) < 1e-3  # the constants of the spec
    assert abs(2.665 - stats.norm.pdf(stats.norm.ppf(0.01)) / 0.01) < 1e-3
    for lab in ("1%", "5%"):
        for s in ("", "_h"):
            assert (fc.risk[f"ES_{lab}{s}"] >= fc.risk[f"VaR_{lab}{s}"]).all()


def test_real_fit_forecast_determinism_and_risk(mle_fit):
    fc1 = mle_fit.forecast(horizon=5, n_paths=3000, seed=3)
    fc2 = forecast_fit(mle_fit, horizon=5, n_paths=3000, seed=3)
    fc3 = forecast_fit(mle_fit, horizon=5, n_paths=3000, seed=4)
    np.testing.assert_array_equal(fc1.return_draws, fc2.return_draws)
    np.testing.assert_array_equal(fc1.variance_draws, fc2.variance_draws)
    pd.testing.assert_frame_equal(fc1.risk, fc2.risk)
    assert not np.allclose(fc1.return_draws, fc3.return_draws)
    assert not np.allclose(fc1.variance_draws[:, :, 0], fc3.variance_draws[:, :, 0])
    # parameter uncertainty reaches sigma^2_{T+1}: it varies across resampled draws
    assert np.all(fc1.variance_draws[:, :, 0].std(1) > 0)
    assert fc1.return_draws.shape == fc1.variance_draws.shape == (2, 3000, 5)
    assert np.all(np.isfinite(fc1.return_draws)) and np.all(fc1.variance_draws > 0)
    cols = ["VaR_1%", "ES_1%", "VaR_5%", "ES_5%", "VaR_1%_h", "ES_1%_h", "VaR_5%_h", "ES_5%_h"]
    assert list(fc1.risk.columns) == cols
    for lab in ("1%", "5%"):
        for s in ("", "_h"):
            assert (fc1.risk[f"ES_{lab}{s}"] >= fc1.risk[f"VaR_{lab}{s}"]).all()
    assert (fc1.risk["VaR_1%"] > fc1.risk["VaR_5%"]).all()
    assert (fc1.risk["VaR_1%_h"] > fc1.risk["VaR_1%"]).all()  # h-step losses are larger


def test_paths_are_nested_across_horizon_and_n_paths(mle_fit):
    """Path j of asset i uses its own key: a shorter, smaller forecast is a prefix."""
    short = forecast_fit(mle_fit, horizon=4, n_paths=100, seed=9)
    long = forecast_fit(mle_fit, horizon=12, n_paths=300, seed=9)
    np.testing.assert_array_equal(short.return_draws, long.return_draws[:, :100, :4])
    np.testing.assert_array_equal(short.variance_draws, long.variance_draws[:, :100, :4])


def test_to_frame_and_to_dict(panel, mle_fit):
    h, levels = 4, (0.01, 0.025, 0.05)
    fc = forecast_fit(mle_fit, horizon=h, levels=levels, n_paths=500, seed=0)
    frame = fc.to_frame()
    assert list(frame.columns) == ["asset", "step", "date", "quantity", "value"]
    per_asset = h * (4 + 5) + 2 * 2 * len(levels)
    assert len(frame) == panel.n_assets * per_asset
    assert frame["value"].notna().all()
    assert set(frame.loc[frame["quantity"] == "VaR_2.5%_h", "step"]) == {h}
    assert set(frame.loc[frame["quantity"] == "ES_1%", "step"]) == {1}
    d = fc.to_dict()
    text = json.dumps(d)
    back = json.loads(text)
    assert back["horizon"] == h and back["assets"] == list(panel.assets)
    assert len(back["dates"]) == h and back["dates"][0] == fc.dates[0].strftime("%Y-%m-%d")
    assert len(back["volatility"]["A01"]["q95"]) == h
    assert back["risk"]["A02"]["ES_2.5%"] == pytest.approx(fc.risk.loc["A02", "ES_2.5%"])
    assert back["method"] == "mle" and back["dist"] == "normal"


def test_non_daily_panel_uses_integer_steps():
    dates = pd.date_range("1970-01-31", periods=T, freq="ME")
    fc = forecast_fit(degenerate_fit(ragged_panel(dates=dates)), horizon=3, n_paths=200)
    assert list(fc.dates) == [1, 2, 3] and fc.dates.name == "step"
    assert list(fc.volatility["A01"].index) == [1, 2, 3]
    frame = fc.to_frame()
    assert frame["date"].isna().all() and set(frame["step"]) == {1, 2, 3}
    json.dumps(fc.to_dict())


@pytest.mark.parametrize("kwargs, match", [
    ({"horizon": 0}, "horizon must be >= 1"),
    ({"horizon": -2}, "horizon must be >= 1"),
    ({"horizon": 2.5}, "horizon must be an integer"),
    ({"horizon": True}, "horizon must be an integer"),
    ({"levels": (0.5,)}, r"risk level must be in \(0, 0.5\)"),
    ({"levels": (0.0, 0.05)}, r"risk level must be in \(0, 0.5\)"),
    ({"levels": (0.01, 1.2)}, r"risk level must be in \(0, 0.5\)"),
    ({"levels": ()}, "at least one"),
    ({"levels": ("abc",)}, "must be a number"),
    ({"n_paths": 0}, "n_paths must be an integer >= 1"),
])
def test_bad_arguments_raise_value_error(panel, kwargs, match):
    with pytest.raises(ValueError, match=match):
        forecast_fit(degenerate_fit(panel), **kwargs)
