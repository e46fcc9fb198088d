"""Figures of pooled fits: shrinkage and posterior predictive checks (matplotlib, no pyplot).

Like :mod:`bayesvol.plots`, every function builds a ``matplotlib.figure.Figure`` directly
(nothing registered with pyplot, no display needed) and returns it; write it with
:func:`bayesvol.plots.save`.

- :func:`plot_shrinkage`: per parameter, each asset's unpooled estimate (hollow marker) and
  pooled posterior mean (filled, with its central interval) against its history length, an
  arrow from one to the other and the population centre (bayesvol.shrinkage)
- :func:`plot_ppc`: the observed rolling volatility of one asset against the band of its
  posterior predictive replicates', and the observed 1/5/95/99% return quantiles of every
  asset against their replicated intervals (bayesvol.forecast.predictive)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .plots import _asset_name

_POP_COLOR = "tab:red"
_BAND_COLOR = "tab:blue"
_LEVEL_COLORS = ("tab:red", "tab:orange", "tab:green", "tab:blue")
_LABELS = {"persistence": "persistence alpha + beta",
           "alpha_share": "alpha share alpha / (alpha + beta)",
           "omega": "omega (log scale)", "log_omega": "log omega",
           "nu": "nu (t degrees of freedom)", "phi": "phi (AR(1) coefficient)",
           "alpha": "alpha", "beta": "beta"}


def _spread_ties(x: np.ndarray, factor: float = 0.035) -> np.ndarray:
    """Multiplicative offsets that separate assets with equal history length on a log axis."""
    x = np.asarray(x, dtype=float)
    out = x.copy()
    for v in np.unique(x):
        idx = np.flatnonzero(x == v)
        if idx.size > 1:
            out[idx] = v * (1.0 + factor) ** (np.arange(idx.size) - (idx.size - 1) / 2.0)
    return out


def _model_title(fit) -> str:
    pop = getattr(fit.model, "population", None)
    name = fit.model.name + (f" ({pop} population)" if pop else "")
    return f"{name}, {fit.method}"


def plot_shrinkage(fit, params: Sequence[str] = ("persistence", "alpha_share", "omega", "nu"),
                   table=None, interval: float = 0.9, ncols: int = 2) -> Figure:
    """One panel per parameter: estimates against history length (module docstring).

    x: observed returns per asset (log scale; assets of equal length are spread slightly).
    Hollow marker: unpooled estimate; filled marker and bar: pooled posterior mean and its
    central ``interval``; grey arrow: from unpooled to pooled; dashed line: population
    centre. ``table``: a :func:`~bayesvol.shrinkage.shrinkage_table` to reuse. With at most
    10 assets each has its own colour, named in the figure legend.
    """
    from .shrinkage import shrinkage_table

    params = tuple(params)
    if table is None:
        table = shrinkage_table(fit, params=params, interval=interval)
    missing = [p for p in params if f"{p}_pooled" not in table.columns]
    if missing:
        raise ValueError(f"the table has no column for {', '.join(missing)}")
    n = len(table)
    ncols = max(1, min(int(ncols), len(params)))
    nrows = -(-len(params) // ncols)
    fig = Figure(figsize=(5.6 * ncols, 3.9 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    n_obs = table["n_obs"].to_numpy(dtype=float)
    x = _spread_ties(n_obs)
    per_asset = n <= 10
    colors = ([f"C{k}" for k in range(n)] if per_asset else [_BAND_COLOR] * n)
    dx = 1.0 + 0.012  # unpooled a little left, pooled a little right of x
    pct = round(100 * interval)
    for ax, p in zip(axes, params, strict=False):
        u = table[f"{p}_unpooled"].to_numpy(dtype=float)
        m = table[f"{p}_pooled"].to_numpy(dtype=float)
        lo = table[f"{p}_q05"].to_numpy(dtype=float)
        hi = table[f"{p}_q95"].to_numpy(dtype=float)
        pop = float(table[f"{p}_population"].iloc[0])
        ax.axhline(pop, color=_POP_COLOR, ls="--", lw=1.2, zorder=1)
        for i in range(n):
            xu, xp = x[i] / dx, x[i] * dx
            if np.isfinite(u[i]):
                ax.annotate("", xy=(xp, m[i]), xytext=(xu, u[i]), zorder=2,
                            arrowprops={"arrowstyle": "->", "color": "0.55", "lw": 0.9,
                                        "shrinkA": 3, "shrinkB": 3})
                ax.plot(xu, u[i], "o", mfc="white", mec=colors[i], mew=1.4, ms=6.5, zorder=3)
            ax.errorbar(xp, m[i], yerr=[[max(m[i] - lo[i], 0.0)], [max(hi[i] - m[i], 0.0)]],
                        fmt="o", color=colors[i], ms=6.5, lw=1.2, capsize=2.5, zorder=4)
        ax.set_xscale("log")
        if p == "omega":
            ax.set_yscale("log")
        s = table[f"{p}_shrinkage"].to_numpy(dtype=float)
        s = s[np.isfinite(s)]
        note = f"median shrinkage {np.median(s):.2f}" if s.size else "no unpooled estimates"
        ax.set_title(f"{p}: {note}", fontsize="medium")
        ax.set_ylabel(_LABELS.get(p, p), fontsize="small")
        ax.set_xlabel("observed returns per asset (log scale)", fontsize="small")
        ax.grid(True, which="major", color="0.92", lw=0.6)
        ax.tick_params(labelsize="small")
        _fit_log_ticks(ax, n_obs)
    for ax in axes[len(params):]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="none", marker="o", mfc="white", mec="0.2", ms=6.5,
                      label="unpooled mode"),
               Line2D([], [], ls="-", marker="o", color="0.2", ms=6.5,
                      label=f"pooled mean, {pct}% interval"),
               Line2D([], [], color="0.55", marker=">", ms=4, lw=0.9,
                      label="unpooled -> pooled"),
               Line2D([], [], color=_POP_COLOR, ls="--", lw=1.2, label="population centre")]
    if per_asset:
        handles += [Patch(color=colors[i], label=str(a)) for i, a in enumerate(table.index)]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8),
               fontsize="small", frameon=False)
    fig.suptitle(f"Shrinkage toward the population by history length: {_model_title(fit)}")
    return fig


def _fit_log_ticks(ax, n_obs: np.ndarray) -> None:
    """Plain-number ticks on a log x axis that may span less than a decade."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    lo, hi = float(np.min(n_obs)), float(np.max(n_obs))
    pad = 1.12
    ax.set_xlim(lo / pad, hi * pad)
    if hi / lo < 20:
        nice = np.array([m * 10.0 ** k for k in range(7) for m in (1, 2, 3, 5)])
        ticks = nice[(nice >= lo / pad) & (nice <= hi * pad)]
        if ticks.size < 3:
            ticks = np.unique(np.round(np.geomspace(lo, hi, 3), -1 if hi > 100 else 0))
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(LogLocator(base=10))


def plot_ppc(fit, asset: int | str = 0, num_draws: int = 200, seed: int = 0, window: int = 20,
             pp=None, levels: Sequence[float] = (0.01, 0.05, 0.95, 0.99),
             standardize: bool = True) -> Figure:
    """Posterior predictive checks of a fit (module docstring).

    Top: the observed rolling ``window``-date sd of ``asset`` against the 5-95% and 25-75%
    bands (and median) of the same statistic over the replicates. Bottom: for every asset,
    the observed return quantiles at ``levels`` (black markers) against the 5-95% interval of
    the replicates' quantiles (coloured bars), with ``asset`` shaded; each level's title entry
    counts the assets whose observed quantile falls outside its interval. ``standardize``
    divides each asset's observed and replicated quantiles by its observed sd, so assets of
    different volatility share one scale (the comparison is unchanged). ``pp``: a
    :class:`~bayesvol.forecast.predictive.PosteriorPredictive` of the fit to reuse.
    """
    from .forecast.predictive import posterior_predictive

    if pp is None:
        pp = posterior_predictive(fit, num_draws=num_draws, seed=seed)
    i, name = _asset_name(tuple(pp.assets), asset)
    levels = tuple(float(q) for q in levels)
    if not levels or not all(0.0 < q < 1.0 for q in levels):
        raise ValueError(f"levels must be probabilities in (0, 1), got {levels}")
    roll = pp.rolling_volatility(i, window=window)
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    ax_v, ax_q = fig.subplots(2, 1, height_ratios=(1.1, 1.0))
    d = roll.index
    ax_v.fill_between(d, roll["q05"], roll["q95"], color=_BAND_COLOR, alpha=0.18, lw=0,
                      label="replicates 5-95%")
    ax_v.fill_between(d, roll["q25"], roll["q75"], color=_BAND_COLOR, alpha=0.35, lw=0,
                      label="replicates 25-75%")
    ax_v.plot(d, roll["q50"], color=_BAND_COLOR, lw=1.0, label="replicates median")
    ax_v.plot(d, roll["observed"], color="k", lw=1.2, label="observed")
    live = roll["observed"].notna() | roll["q50"].notna()
    if live.any():
        span = d[live.to_numpy()]
        ax_v.set_xlim(span[0], span[-1])
    ax_v.set_ylabel(f"rolling {window}-date sd")
    ax_v.set_title(f"{name}: rolling {window}-date volatility, observed vs "
                   f"{pp.num_draws} posterior predictive replicates ({_model_title(fit)})",
                   fontsize="medium")
    ax_v.legend(loc="upper left", fontsize="small", ncols=4, framealpha=0.85)
    ax_v.grid(True, color="0.92", lw=0.6)

    n = len(pp.assets)
    names = [f"{100 * q:g}% quantile" for q in levels]
    obs = np.full((n, len(levels)), np.nan)
    rep = np.full((n, len(levels), 2), np.nan)
    for k in range(n):
        cols = np.flatnonzero(np.isfinite(pp.observed[k]))
        if cols.size < 2:
            continue
        o = np.quantile(pp.observed[k, cols], levels)
        r = np.quantile(pp.returns[k][:, cols], levels, axis=1)  # [levels, D]
        scale = float(np.std(pp.observed[k, cols], ddof=1)) if standardize else 1.0
        scale = scale if scale > 0 else 1.0
        obs[k] = o / scale
        rep[k] = np.quantile(r, [0.05, 0.95], axis=1).T / scale
    width = 0.8
    offs = (np.arange(len(levels)) - (len(levels) - 1) / 2.0) * width / len(levels)
    xs = np.arange(n)
    ax_q.axvspan(i - 0.5, i + 0.5, color="0.9", zorder=0)
    ax_q.axhline(0.0, color="0.4", lw=0.5)
    handles = []
    for j, lab in enumerate(names):
        c = _LEVEL_COLORS[j % len(_LEVEL_COLORS)]
        x = xs + offs[j]
        ax_q.vlines(x, rep[:, j, 0], rep[:, j, 1], color=c, lw=4.0, alpha=0.55)
        ax_q.plot(x, obs[:, j], ls="none", marker="D", ms=4.5, mfc="k", mec="k")
        out = int(np.sum((obs[:, j] < rep[:, j, 0]) | (obs[:, j] > rep[:, j, 1])))
        handles.append(Patch(color=c, alpha=0.55,
                             label=f"{lab}: replicates 5-95%\n({out} of {n} observed outside)"))
    handles.append(Line2D([], [], ls="none", marker="D", ms=4.5, color="k",
                          label="observed"))
    ax_q.set_xticks(xs)
    step = max(1, -(-n // 40))
    ax_q.set_xticklabels([a if k % step == 0 else "" for k, a in enumerate(pp.assets)],
                         rotation=45 if n > 12 else 0, ha="right" if n > 12 else "center",
                         fontsize="small")
    ax_q.set_xlim(-0.6, n - 0.4)
    ax_q.set_ylabel("return quantile / observed sd" if standardize else "return quantile")
    ax_q.set_title("Tail quantiles of returns per asset: observed vs posterior predictive",
                   fontsize="medium")
    ax_q.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                frameon=False)
    ax_q.grid(True, axis="y", color="0.92", lw=0.6)
    return fig


__all__ = ["plot_ppc", "plot_shrinkage"]
