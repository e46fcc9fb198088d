"""Figures of score-driven (GAS) volatility fits (matplotlib; no pyplot state, as plots.py).

- :func:`news_impact`: the news-impact curve of a ``beta-t-egarch`` fit as numbers, the
  update of the log scale caused by a standardised shock eps = (y_t - mu) e^{-f_t},

      f_{t+1} - (omega + B f_t) = A I^{-a} nabla(eps),
      nabla(eps) = (etabar + 1) |eps|^v / (1 + etabar |eps|^v) - 1,

  per posterior draw (Harvey 2013, ch. 4; Harvey & Lange 2017), summarised by its median
  and a pointwise band;
- :func:`plot_news_impact`: that curve with the band, and for reference the quadratic
  response A (eps^2 - 1) of a Gaussian score (the GARCH-type update of the log variance,
  unbounded in the shock) at the posterior median of A;
- :func:`plot_var_posterior`: histogram of the posterior of the one-step-ahead VaR
  (models.beta_t_egarch.one_step_var, Beta quantiles).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .plots import _asset_name, _figure_and_axes

_BAND_COLOR = "tab:blue"


def _check_gas_fit(fit) -> None:
    if not callable(getattr(fit.model, "news_impact", None)):
        raise ValueError(f"model '{getattr(fit.model, 'name', type(fit.model).__name__)}' has "
                         "no news-impact curve (fit a score-driven model, e.g. beta-t-egarch)")


def news_impact(fit, asset: int | str = 0, eps: np.ndarray | None = None,
                quantiles: tuple[float, float] = (0.05, 0.95), max_draws: int = 1000
                ) -> pd.DataFrame:
    """The news-impact curve (module docstring) of one asset of a score-driven fit.

    eps: the standardised shocks (default 241 points on [-6, 6]). Returns a frame indexed
    by eps with columns median, the two band quantiles (e.g. q05, q95) and ``quadratic``
    (A_med (eps^2 - 1), A_med the posterior median of A). Raises ValueError for a model
    without a news-impact curve or quantiles outside (0, 1).
    """
    import jax
    import jax.numpy as jnp

    _check_gas_fit(fit)
    lo, hi = (float(q) for q in quantiles)
    if not 0.0 < lo < hi < 1.0:
        raise ValueError(f"quantiles must satisfy 0 < low < high < 1, got {quantiles!r}")
    grid = np.linspace(-6.0, 6.0, 241) if eps is None else np.asarray(eps, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError("eps must be a non-empty 1-d array of finite shocks")
    i, _ = _asset_name(tuple(fit.assets), asset)
    model = fit.model
    z = np.asarray(fit.z[i]).reshape(-1, model.dim)
    if z.shape[0] > max_draws:
        z = z[np.random.default_rng(fit.seed).choice(z.shape[0], max_draws, replace=False)]
    x = jnp.asarray(grid)
    curves = np.asarray(jax.jit(jax.vmap(lambda zz: model.news_impact(model.constrain(zz), x)))
                        (jnp.asarray(z)))
    a_med = float(np.median(np.asarray(fit.draws()["A"][i])))
    band = np.quantile(curves, [lo, hi], axis=0)
    return pd.DataFrame({"median": np.median(curves, axis=0),
                         f"q{round(lo * 100):02d}": band[0], f"q{round(hi * 100):02d}": band[1],
                         "quadratic": a_med * (grid**2 - 1.0)},
                        index=pd.Index(grid, name="eps"))


def plot_news_impact(fit, asset: int | str = 0, eps: np.ndarray | None = None,
                     quantiles: tuple[float, float] = (0.05, 0.95), reference: bool = True,
                     ax: Axes | None = None) -> Figure:
    """News-impact curve of one asset: posterior median and pointwise band of the update of
    the log scale against the standardised shock, with the Gaussian-score quadratic for
    reference (``reference=False`` drops it). See :func:`news_impact`."""
    _, name = _asset_name(tuple(fit.assets), asset)
    curve = news_impact(fit, asset, eps, quantiles)
    fig, ax = _figure_and_axes(ax, (7, 4))
    x = curve.index.to_numpy()
    lo, hi = curve.columns[1], curve.columns[2]
    ax.fill_between(x, curve[lo], curve[hi], color=_BAND_COLOR, alpha=0.3, lw=0,
                    label=f"{lo}-{hi}")
    ax.plot(x, curve["median"], color=_BAND_COLOR, lw=1.5, label="posterior median")
    if reference:
        top = 1.5 * float(np.max(np.abs(curve[hi])))
        quad = np.where(np.abs(curve["quadratic"]) <= top, curve["quadratic"], np.nan)
        ax.plot(x, quad, color="tab:red", lw=1.0, ls="--",
                label="Gaussian score A (eps^2 - 1)")
    ax.axhline(0.0, color="0.3", lw=0.4)
    ax.set_xlabel("standardised shock eps = (y - mu) exp(-f)")
    ax.set_ylabel("update of the log scale f")
    ax.set_title(f"{name}: news impact, {fit.model.name} {fit.model.dist}, {fit.method}")
    ax.legend(fontsize="small", frameon=False)
    return fig


def plot_var_posterior(fit, level: float = 0.01, asset: int | str = 0,
                       ax: Axes | None = None) -> Figure:
    """Histogram of the posterior of the one-step-ahead VaR at ``level`` (a positive loss)
    of a beta-t-egarch fit (models.beta_t_egarch.one_step_var)."""
    from .models.beta_t_egarch import one_step_var

    _, name = _asset_name(tuple(fit.assets), asset)
    draws = one_step_var(fit, level, asset)
    fig, ax = _figure_and_axes(ax, (7, 4))
    ax.hist(draws, bins=50, density=True, color=_BAND_COLOR, alpha=0.6)
    ax.axvline(float(np.median(draws)), color="k", lw=1.0, label="median")
    ax.set_xlabel(f"one-step VaR {100 * level:g}% (loss)")
    ax.set_yticks([])
    ax.set_title(f"{name}: posterior of the one-step VaR, {fit.method}")
    ax.legend(fontsize="small", frameon=False)
    return fig
