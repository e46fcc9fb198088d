"""Figures of fits and forecasts (matplotlib; no pyplot state, safe under the Agg backend).

Every function returns a ``matplotlib.figure.Figure`` and never calls ``plt.show``;
:func:`save` writes one to PNG. Figures are built with ``Figure()`` directly, so nothing is
registered with pyplot (no open-figure leak in loops) and no display is needed.

- :func:`plot_volatility`: returns with the posterior band of sigma_t (q05-q95, mean line)
- :func:`plot_marginals`: per-parameter marginals of two fits with their overlap accuracy
  100 (1 - 1/2 integral |q - p|) (inference.accuracy)
- :func:`plot_elbo`: ELBO per iteration with its moving average
  MA_t = (1/w) sum_{j=t-w+1..t} ELBO_j
- :func:`plot_forecast`: fan charts of predictive volatility and return quantiles
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from .atomic import atomic_write
from .inference.accuracy import overlap_accuracy

_RETURN_COLOR = "0.55"
_BAND_COLOR = "tab:blue"
_COLORS = ("tab:blue", "tab:orange")


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _asset_name(assets: tuple[str, ...], asset: int | str) -> tuple[int, str]:
    if isinstance(asset, str):
        if asset not in assets:
            raise KeyError(f"no asset '{asset}': {', '.join(assets)}")
        return assets.index(asset), asset
    i = int(asset)
    if not -len(assets) <= i < len(assets):
        raise IndexError(f"asset index {i} out of range for {len(assets)} assets")
    return i % len(assets), assets[i]


def _title(fit, name: str) -> str:
    label = getattr(fit.model, "label", fit.model.name)
    return f"{name}: {label}-{fit.model.dist}, {fit.method}"


def plot_volatility(fit, asset: int | str = 0, ax: Axes | None = None, two_sigma: bool = False,
                    returns: str = "line") -> Figure:
    """Returns of one asset with the posterior of its conditional volatility sigma_t.

    The band is the pointwise q05-q95 of sigma_t across posterior draws, the line its mean
    (from ``fit.volatility()``). ``returns``: "line" (thin, light), "bars" or "none".
    ``two_sigma`` adds the envelope +-2 E[sigma_t], which about 95% of returns should fall in
    under normal innovations.
    """
    if returns not in ("line", "bars", "none"):
        raise ValueError(f"returns must be 'line', 'bars' or 'none', got {returns!r}")
    i, name = _asset_name(tuple(fit.assets), asset)
    vol = fit.volatility()[name]
    fig, ax = _figure_and_axes(ax, (10, 4))
    dates = vol.index
    y = fit.panel.values[i]
    if returns == "line":
        ax.plot(dates, y, color=_RETURN_COLOR, lw=0.5, alpha=0.7, label="returns")
    elif returns == "bars":
        ax.vlines(dates, 0.0, np.nan_to_num(y), color=_RETURN_COLOR, lw=0.6, alpha=0.7,
                  label="returns")
    ax.fill_between(dates, vol["q05"], vol["q95"], color=_BAND_COLOR, alpha=0.3, lw=0,
                    label="sigma_t 90% band")
    ax.plot(dates, vol["mean"], color=_BAND_COLOR, lw=1.0, label="posterior mean sigma_t")
    if two_sigma:
        ax.plot(dates, 2 * vol["mean"], color="tab:red", lw=0.7, ls="--", label="+-2 sigma_t")
        ax.plot(dates, -2 * vol["mean"], color="tab:red", lw=0.7, ls="--")
    ax.axhline(0.0, color="0.3", lw=0.4)
    ax.set_title(_title(fit, name))
    ax.set_ylabel("return / volatility")
    ax.legend(loc="upper left", fontsize="small", ncols=4, framealpha=0.8)
    return fig


def _density(ax: Axes, x: np.ndarray, color: str, label: str) -> None:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return
    if x.size < 2 or np.ptp(x) == 0:
        ax.axvline(x[0], color=color, lw=1.5, label=label)
        return
    ax.hist(x, bins=40, density=True, color=color, alpha=0.3)
    try:
        kde = gaussian_kde(x)
    except np.linalg.LinAlgError:
        return
    pad = 3 * np.sqrt(kde.covariance[0, 0])
    grid = np.linspace(x.min() - pad, x.max() + pad, 256)
    ax.plot(grid, kde(grid), color=color, lw=1.5, label=label)


def plot_marginals(fit_a, fit_b, labels: tuple[str, str] = ("VI", "NUTS"), asset: int | str = 0
                   ) -> Figure:
    """One panel per natural parameter: histogram + KDE of both fits' draws of one asset.

    Each title gives the overlap accuracy of fit_a against fit_b,
    100 (1 - 1/2 integral |q(x) - p(x)| dx) (%), with q from fit_a and p from fit_b.
    """
    ia, name = _asset_name(tuple(fit_a.assets), asset)
    ib, _ = _asset_name(tuple(fit_b.assets), name if isinstance(asset, str) else asset)
    da, db = fit_a.flat_draws(ia), fit_b.flat_draws(ib)
    params = [p for p in fit_a.model.param_names if p in da and p in db]
    if not params:
        raise ValueError("the two fits share no parameter to compare")
    ncols = min(3, len(params))
    nrows = -(-len(params) // ncols)
    fig = Figure(figsize=(4 * ncols, 3 * nrows), layout="constrained")
    for k, p in enumerate(params):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        _density(ax, da[p], _COLORS[0], labels[0])
        _density(ax, db[p], _COLORS[1], labels[1])
        try:
            acc = f"accuracy {overlap_accuracy(da[p], db[p]):.1f}%"
        except (ValueError, np.linalg.LinAlgError):
            acc = "accuracy n/a"
        ax.set_title(f"{p}: {acc}", fontsize="medium")
        ax.set_yticks([])
        if k == 0:
            ax.legend(fontsize="small", frameon=False)
    fig.suptitle(f"{name}: {labels[0]} ({fit_a.method}) vs {labels[1]} ({fit_b.method}), "
                 f"GARCH(1,1)-{fit_a.model.dist}")
    return fig


def moving_average(x: np.ndarray, window: int = 25) -> np.ndarray:
    """Trailing mean over ``window`` points, (1/w) sum_{j=t-w+1..t} x_j, for t >= w - 1."""
    x = np.asarray(x, dtype=float)
    w = max(1, min(int(window), x.size))
    c = np.cumsum(np.concatenate([[0.0], x]))
    return (c[w:] - c[:-w]) / w


def plot_elbo(fit, asset: int | str = 0, window: int = 25, ax: Axes | None = None) -> Figure:
    """ELBO estimate per VI iteration (``fit.elbo_trace[asset]``) and its moving average."""
    if not fit.elbo_trace:
        raise ValueError(f"this fit (method '{fit.method}') has no ELBO trace; "
                         "fit with method='vi'")
    i, name = _asset_name(tuple(fit.assets), asset)
    trace = np.asarray(fit.elbo_trace[i], dtype=float)
    if trace.size == 0:
        raise ValueError(f"the ELBO trace of asset '{name}' is empty")
    fig, ax = _figure_and_axes(ax, (7, 4))
    it = np.arange(1, trace.size + 1)
    ax.plot(it, trace, color="0.6", lw=0.7, label="ELBO")
    ma = moving_average(trace, window)
    ax.plot(it[trace.size - ma.size:], ma, color="tab:blue", lw=1.5,
            label=f"{min(window, trace.size)}-iteration moving average")
    ax.set_xlabel("iteration")
    ax.set_ylabel("ELBO")
    ax.set_title(_title(fit, name))
    ax.legend(fontsize="small", frameon=False)
    return fig


def plot_forecast(forecast, asset: int | str = 0) -> Figure:
    """Fan charts over the horizon: sigma_{T+k} (q05-q95, median, mean) and r_{T+k}
    (q01-q99 and q05-q95 bands, median), from a :class:`~bayesvol.forecast.garch_forecast.Forecast`.
    """
    _, name = _asset_name(tuple(forecast.assets), asset)
    vol, ret = forecast.volatility[name], forecast.returns[name]
    x = vol.index
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_v, ax_r = fig.subplots(1, 2)
    ax_v.fill_between(x, vol["q05"], vol["q95"], color=_BAND_COLOR, alpha=0.3, lw=0,
                      label="q05-q95")
    ax_v.plot(x, vol["q50"], color=_BAND_COLOR, lw=1.2, label="median")
    ax_v.plot(x, vol["mean"], color="k", lw=1.0, ls="--", label="mean")
    ax_v.set_title(f"{name}: volatility sigma_(T+k)")
    ax_r.fill_between(x, ret["q01"], ret["q99"], color="tab:orange", alpha=0.2, lw=0,
                      label="q01-q99")
    ax_r.fill_between(x, ret["q05"], ret["q95"], color="tab:orange", alpha=0.4, lw=0,
                      label="q05-q95")
    ax_r.plot(x, ret["q50"], color="tab:orange", lw=1.2, label="median")
    ax_r.axhline(0.0, color="0.3", lw=0.4)
    ax_r.set_title(f"{name}: return r_(T+k)")
    for ax in (ax_v, ax_r):
        ax.set_xlabel(x.name or "step")
        ax.legend(fontsize="small", frameon=False)
        ax.tick_params(axis="x", labelrotation=30)
    return fig


def save(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG to ``path`` (parents created; temporary name, then renamed)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(target, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
