"""Figures of ``bayesvol report``, embedded in the page as base64 PNG (docs/report.md).

:func:`embed` turns a matplotlib ``Figure`` into ``<figure><img src="data:image/png;
base64,...">``, so the page needs no other file. The figures themselves are those of
:mod:`bayesvol.plots`, :mod:`bayesvol.plots_pooled` and :mod:`bayesvol.plots_factor`, and
the few built here that the report alone needs:

- :func:`plot_overlay_marginals`: histograms and densities of two fits' draws of named
  parameters (a factor SV fit against its reference);
- :func:`plot_log_variance_bands`: factor SV idiosyncratic log-variances, posterior mean
  with a +/- 2 sd band, and the implied per-asset volatility sqrt(Cov_t[i, i]);
- :func:`plot_cumulative_returns`: a backtest's cumulative portfolio returns
  prod_{s <= t} (1 + r_s), one panel per portfolio, one line per model;
- :func:`plot_forecast_volatility`: a backtest's one-step predictive volatility of each model
  against the absolute realised return of one asset.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.dates import AutoDateLocator
from matplotlib.figure import Figure

from .html import esc

DPI = 80


def png_base64(fig: Figure, dpi: int = DPI) -> str:
    """The figure as PNG, base64-encoded (ASCII)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def embed(fig: Figure, caption: str, alt: str | None = None) -> str:
    """``<figure>`` with the PNG inline as a data URI and an escaped caption."""
    data = png_base64(fig)
    alt_text = esc(alt if alt is not None else caption)
    return (f'<figure><img alt="{alt_text}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def try_embed(build: Callable[[], Figure], caption: str) -> str:
    """:func:`embed` of ``build()``, or a plain statement of why the figure could not be drawn
    (the rest of the page is still written)."""
    try:
        fig = build()
    except Exception as exc:  # a figure that fails must not cost the whole report
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f'<p class="empty">{esc(caption)}: not drawn ({esc(reason)})</p>'
    return embed(fig, caption)


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (4.0, 2.8)) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    return fig, [fig.add_subplot(nrows, ncols, k + 1) for k in range(n)]


def plot_overlay_marginals(draws_a: dict[str, np.ndarray], draws_b: dict[str, np.ndarray],
                           names: Sequence[str], labels: tuple[str, str]) -> Figure:
    """One panel per name: histogram and density of ``draws_a[name]`` and ``draws_b[name]``."""
    from ..plots import _COLORS, _density

    if not names:
        raise ValueError("the two fits share no parameter")
    fig, axes = _grid(len(names))
    for k, (ax, name) in enumerate(zip(axes, names, strict=True)):
        _density(ax, draws_a[name], _COLORS[0], labels[0])
        _density(ax, draws_b[name], _COLORS[1], labels[1])
        ax.set_title(name, fontsize="medium")
        ax.set_yticks([])
        if k == 0:
            ax.legend(fontsize="small", frameon=False)
    return fig


def plot_log_variance_bands(times, idio_mean: np.ndarray, idio_sd: np.ndarray,
                            volatility: np.ndarray, assets: Sequence[str]) -> Figure:
    """Per asset (columns): idiosyncratic log-variance mean +/- 2 sd (top) and the model's
    volatility sqrt(Cov_t[i, i]) (bottom)."""
    n = len(assets)
    fig = Figure(figsize=(min(3.6 * n, 14), 5), layout="constrained")
    axes = fig.subplots(2, n, sharex=True, squeeze=False)
    for i, name in enumerate(assets):
        top, bottom = axes[0][i], axes[1][i]
        m, s = idio_mean[:, i], idio_sd[:, i]
        top.plot(times, m, color="tab:purple", lw=0.9)
        top.fill_between(times, m - 2 * s, m + 2 * s, color="tab:purple", alpha=0.2, lw=0)
        top.set_title(str(name), fontsize="medium")
        bottom.plot(times, volatility[:, i], color="tab:blue", lw=0.9)
        bottom.tick_params(axis="x", labelrotation=30, labelsize="small")
        if np.issubdtype(np.asarray(times).dtype, np.datetime64):
            bottom.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=4))
        if i == 0:
            top.set_ylabel("idiosyncratic log-variance")
            bottom.set_ylabel("volatility sqrt(Cov_t[i,i])")
    return fig


def plot_cumulative_returns(portfolios, order: Sequence[str] | None = None) -> Figure:
    """Cumulative return W_t = prod_{s <= t} (1 + r_s) per model, one panel per portfolio
    (``portfolios``: the rows of a backtest's portfolios.parquet)."""
    names = list(order) if order else list(dict.fromkeys(portfolios["portfolio"]))
    names = [n for n in names if n in set(portfolios["portfolio"])]
    if not names:
        raise ValueError("no portfolio rows")
    fig, axes = _grid(len(names), ncols=2, size=(6.0, 3.4))
    for ax, name in zip(axes, names, strict=True):
        sub = portfolios[portfolios["portfolio"] == name]
        for model, g in sub.groupby("model", sort=False):
            g = g.sort_values("date")
            wealth = np.cumprod(1.0 + np.nan_to_num(g["return"].to_numpy(float)))
            ax.plot(g["date"], wealth, lw=1.0, label=str(model))
        ax.axhline(1.0, color="0.5", lw=0.5)
        ax.set_title(f"portfolio: {name}", fontsize="medium")
        ax.tick_params(axis="x", labelrotation=30, labelsize="small")
        ax.legend(fontsize="small", frameon=False)
    axes[0].set_ylabel("cumulative return (start = 1)")
    return fig


def plot_forecast_volatility(forecasts, asset: str) -> Figure:
    """One asset: each model's one-step predictive volatility and the absolute realised
    return (grey)."""
    sub = forecasts[forecasts["asset"] == asset]
    if sub.empty:
        raise ValueError(f"no forecast of asset {asset}")
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.add_subplot()
    first = sub.drop_duplicates("date").sort_values("date")
    ax.vlines(first["date"], 0.0, np.abs(np.nan_to_num(first["return"].to_numpy(float))),
              color="0.7", lw=0.8, label="|return|")
    for model, g in sub.groupby("model", sort=False):
        g = g.sort_values("date")
        ax.plot(g["date"], g["volatility"], lw=1.0, label=str(model))
    ax.set_ylabel("one-step predictive volatility")
    ax.set_title(f"{asset}: forecast volatility against |return|", fontsize="medium")
    ax.legend(fontsize="small", frameon=False, ncols=4)
    return fig
