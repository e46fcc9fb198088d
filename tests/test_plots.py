"""Figures: each returns a Figure with the expected axes and saves a non-empty PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bayesvol import plots  # noqa: E402
from bayesvol.data import ReturnsPanel  # noqa: E402
from bayesvol.forecast.garch_forecast import forecast_fit  # noqa: E402
from bayesvol.models.garch import GarchModel  # noqa: E402
from bayesvol.results import Fit  # noqa: E402
from bayesvol.simulate import simulate_garch  # noqa: E402

TRUE = {"omega": 0.05, "alpha": 0.10, "beta": 0.85}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def noisy_fit(panel: ReturnsPanel, method: str, seed: int, scale: float = 0.1) -> Fit:
    """A Fit whose draws scatter around the truth in z (stands in for a VI / NUTS fit)."""
    model = GarchModel(dist="normal")
    z0 = np.asarray(model.unconstrain(TRUE))
    rng = np.random.default_rng(seed)
    z = z0 + scale * rng.standard_normal((panel.n_assets, 1, 800, model.dim))
    fit = Fit(model=model, panel=panel, method=method, z=z, seed=seed)
    if method == "vi":
        it = np.arange(150)
        fit.elbo_trace = [-700 - 80 * np.exp(-it / 20) + rng.normal(0, 3, it.size)
                          for _ in range(panel.n_assets)]
    return fit


@pytest.fixture(scope="module")
def panel() -> ReturnsPanel:
    sim = simulate_garch(500, **TRUE, n_assets=2, seed=11)
    return ReturnsPanel.from_values(sim.returns, sim.dates, sim.assets)


@pytest.fixture(scope="module")
def vi_fit(panel) -> Fit:
    return noisy_fit(panel, "vi", seed=1)


@pytest.fixture(scope="module")
def nuts_fit(panel) -> Fit:
    return noisy_fit(panel, "nuts", seed=2, scale=0.12)


def check_png(fig: Figure, path) -> None:
    out = plots.save(fig, path)
    assert out.exists() and out.stat().st_size > 1000
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert not list(out.parent.glob(".*.tmp"))


def test_plot_volatility(vi_fit, tmp_path):
    fig = plots.plot_volatility(vi_fit, asset="A02")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert "A02" in ax.get_title() and "normal" in ax.get_title() and "vi" in ax.get_title()
    assert len(ax.collections) == 1  # the q05-q95 band
    n_lines = len(ax.get_lines())
    fig2 = plots.plot_volatility(vi_fit, asset=0, two_sigma=True, returns="bars")
    assert len(fig2.axes[0].get_lines()) == n_lines + 1  # +-2 sigma replace the return line
    check_png(fig, tmp_path / "sub" / "vol.png")
    with pytest.raises(ValueError, match="returns must be"):
        plots.plot_volatility(vi_fit, returns="dots")


def test_plot_volatility_on_given_axes(vi_fit):
    fig = Figure()
    axes = fig.subplots(1, 2)
    out = plots.plot_volatility(vi_fit, asset=1, ax=axes[1])
    assert out is fig and len(fig.axes) == 2 and axes[1].get_title().startswith("A02")


def test_plot_marginals(vi_fit, nuts_fit, tmp_path):
    fig = plots.plot_marginals(vi_fit, nuts_fit, labels=("VI", "NUTS"), asset=0)
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # omega, alpha, beta
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split(":")[0] for t in titles] == ["omega", "alpha", "beta"]
    accs = [float(t.split("accuracy ")[1].rstrip("%")) for t in titles]
    assert all(50 < a < 100 for a in accs)  # similar, not identical, marginals
    same = plots.plot_marginals(vi_fit, vi_fit)
    assert all(ax.get_title().endswith("100.0%") for ax in same.axes)
    check_png(fig, tmp_path / "marginals.png")


def test_plot_elbo(vi_fit, nuts_fit, tmp_path):
    fig = plots.plot_elbo(vi_fit, asset=1)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    raw, ma = fig.axes[0].get_lines()
    assert len(raw.get_xdata()) == 150 and len(ma.get_xdata()) == 150 - 25 + 1
    np.testing.assert_allclose(ma.get_ydata()[0], np.mean(vi_fit.elbo_trace[1][:25]))
    check_png(fig, tmp_path / "elbo.png")
    with pytest.raises(ValueError, match="no ELBO trace"):
        plots.plot_elbo(nuts_fit)


def test_moving_average():
    x = np.arange(10.0)
    np.testing.assert_allclose(plots.moving_average(x, 3), np.arange(1.0, 9.0))
    np.testing.assert_allclose(plots.moving_average(x[:2], 25), [0.5])


def test_plot_forecast(vi_fit, tmp_path):
    fc = forecast_fit(vi_fit, horizon=8, n_paths=400, seed=0)
    fig = plots.plot_forecast(fc, asset="A01")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "volatility" in fig.axes[0].get_title() and "return" in fig.axes[1].get_title()
    check_png(fig, tmp_path / "forecast.png")
