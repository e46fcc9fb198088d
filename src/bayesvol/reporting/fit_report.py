"""Sections of the report of a fit folder (summary.json + posterior.nc; docs/report.md).

- ``data-summary``: the fitted panel: assets, dates, observations and gaps (not yet listed,
  delisted, interior missing) per asset, with the mean, sd and range of the returns;
- ``posterior``: the fit (model, method, runtime), the parameters of summary.json (mean, sd,
  5/50/95% quantiles) and the diagnostics, doubtful values marked;
- ``volatility``: GARCH-type fits: returns with the posterior band (q05-q95) and mean of
  sigma_t per asset (``plots.plot_volatility``), the shrinkage plot of a pooled fit, the
  news-impact curve of a score-driven fit; factor SV fits: factor log-variance bands and a
  pair's correlation path (``plots_factor.plot_factor_fit``), the idiosyncratic
  log-variance bands and per-asset volatility, and the correlation paths of a few pairs;
- ``vi-vs-mcmc``: with a reference fit (``--reference``), overlaid marginals and a table of
  the differences of means in reference sd units and of the sd ratios; without one, a line
  saying so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .figures import embed, plot_log_variance_bands, plot_overlay_marginals, try_embed
from .html import Cell, Section, empty, heading, paragraph, table

MAX_ASSET_FIGURES = 6   # volatility figures per report (the rest are listed by name)
MAX_PARAMETER_ROWS = 400
MAX_MARGINALS = 12
DIFF_FLAG_SD = 0.5      # |mean difference| above this many reference sds is marked


def read_summary(folder: Path) -> dict:
    """summary.json of a fit or backtest folder ({} if missing or unreadable)."""
    try:
        doc = json.loads((Path(folder) / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


class _Cached:
    """A fit whose ``volatility()`` is computed once (``plot_volatility`` asks for every
    asset's paths each time it draws one)."""

    def __init__(self, fit: Any) -> None:
        self._fit = fit
        self._vol: dict | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fit, name)

    def volatility(self, *args: Any, **kwargs: Any) -> dict:
        if args or kwargs:
            return self._fit.volatility(*args, **kwargs)
        if self._vol is None:
            self._vol = self._fit.volatility()
        return self._vol


def _panel_of(fit: Any):
    """The returns panel of a fit (a factor SV fit stores its returns as [T, N]), or None."""
    if hasattr(fit, "panel"):
        return fit.panel
    if getattr(fit, "returns", None) is None:
        return None
    import pandas as pd

    from ..data import ReturnsPanel

    return ReturnsPanel.from_values(np.asarray(fit.returns, float).T,
                                    pd.DatetimeIndex(fit.times), list(fit.assets))


def data_section(panel: Any) -> Section:
    """Data summary of a returns panel: totals and one row per asset."""
    if panel is None:
        return Section("data-summary", "Data summary",
                       empty("This fit does not store the returns it was fitted to (a factor "
                             "SV fit saved by an older version): no data summary."))
    s = panel.summary()
    top = table(["quantity", "value"],
                [["assets", s["n_assets"]], ["dates", s["n_times"]],
                 ["first date", s.get("start")], ["last date", s.get("end")],
                 ["frequency", s.get("frequency")], ["observed returns", s["n_obs"]],
                 ["not yet listed (leading gaps)", s["totals"]["not_yet_listed"]],
                 ["delisted (trailing gaps)", s["totals"]["delisted"]],
                 ["interior missing", s["totals"]["interior_missing"]],
                 ["source", s.get("source") or "\u2013"]], caption="The fitted panel")
    rows = []
    for i, (name, p) in enumerate(s["per_asset"].items()):
        y = np.asarray(panel.values[i], float)
        y = y[np.isfinite(y)]
        stats = ([float(y.mean()), float(y.std(ddof=1)) if y.size > 1 else np.nan,
                  float(y.min()), float(y.max())] if y.size else [np.nan] * 4)
        rows.append([name, p["first"], p["last"], p["observations"], p["not_yet_listed"],
                     p["delisted"], Cell(p["interior_missing"],
                                         "flag" if p["interior_missing"] else ""), *stats])
    per_asset = table(["asset", "first", "last", "observations", "not yet listed", "delisted",
                       "interior missing", "mean", "sd", "min", "max"], rows,
                      caption="Per asset (gaps in dates)", scroll=True)
    return Section("data-summary", "Data summary", top + per_asset)


def _diagnostic_flag(key: str, value: Any) -> str:
    if value is None:
        return ""
    bad = {"converged": value is False, "psis_reliable": value is False}
    try:
        x = float(value)
        bad.update({"rhat_max": x > 1.01, "divergences": x > 0, "pareto_k_max": x > 0.7})
    except (TypeError, ValueError):
        pass
    return "flag" if bad.get(key, False) else ""


def posterior_section(summary: dict, fit: Any) -> Section:
    """The fit, its parameters (summary.json) and its diagnostics."""
    info = [["model", summary.get("model")], ["innovations", summary.get("dist")],
            ["method", summary.get("method", getattr(fit, "method", None))],
            ["assets", len(summary.get("assets", []))]]
    labels = {"n_factors": "factors", "idio": "idiosyncratic log-variances",
              "n_obs": "observed returns", "elbo": "ELBO (sum over assets)", "seed": "seed"}
    for key, label in labels.items():
        if key in summary:
            info.append([label, summary[key]])
    for key, value in (summary.get("runtime_s") or {}).items():
        info.append([f"runtime {key} (s)", value])
    body = table(["", "value"], [r for r in info if r[1] is not None], caption="The fit")
    params = summary.get("parameters") or {}
    if params:
        cols = [c for c in ("mean", "sd", "q05", "q50", "q95")
                if any(c in row for row in params.values())]
        rows = [[name, *(row.get(c) for c in cols)]
                for name, row in list(params.items())[:MAX_PARAMETER_ROWS]]
        body += table(["parameter", *cols], rows, scroll=True,
                      caption="Posterior of the parameters (natural scale; q05/q50/q95 are "
                              "the 5/50/95% quantiles)")
        if len(params) > MAX_PARAMETER_ROWS:
            body += paragraph(f"The first {MAX_PARAMETER_ROWS} of {len(params)} parameters; "
                              "summary.json holds them all.", "note")
    else:
        body += empty("summary.json lists no parameters.")
    diag = {k: v for k, v in (summary.get("diagnostics") or {}).items()
            if not isinstance(v, (dict, list))}
    if diag:
        body += table(["diagnostic", "value"],
                      [[k, Cell(v, _diagnostic_flag(k, v))] for k, v in diag.items()],
                      caption="Diagnostics (marked: not converged, R-hat above 1.01, "
                              "divergences, PSIS k-hat above 0.7)")
    else:
        body += empty("summary.json holds no diagnostics.")
    trace = getattr(fit, "elbo_trace", None)
    if hasattr(fit, "panel") and trace:
        from ..plots import plot_elbo

        body += try_embed(lambda: plot_elbo(fit), "ELBO per iteration (first asset's "
                          "optimisation) with its moving average")
    return Section("posterior", "Posterior", body)


def _garch_volatility(fit: Any) -> str:
    from ..plots import plot_volatility

    cached = _Cached(fit)
    assets = list(fit.assets)
    body = ""
    for name in assets[:MAX_ASSET_FIGURES]:
        body += try_embed(lambda name=name: plot_volatility(cached, name),
                          f"{name}: returns with the posterior mean and 90% band (q05-q95) "
                          "of the conditional volatility sigma_t")
    if len(assets) > MAX_ASSET_FIGURES:
        body += paragraph(f"Volatility of the first {MAX_ASSET_FIGURES} of {len(assets)} "
                          "assets shown; not shown: "
                          + ", ".join(assets[MAX_ASSET_FIGURES:]), "note")
    if getattr(fit, "pooled", False):
        from ..plots_pooled import plot_shrinkage

        body += heading("Shrinkage towards the population")
        body += try_embed(lambda: plot_shrinkage(fit),
                          "Each asset's unpooled estimate (hollow) and pooled posterior mean "
                          "(filled, 90% interval) against its history length; dashed: the "
                          "population centre")
    if callable(getattr(fit.model, "news_impact", None)):
        from ..plots_gas import plot_news_impact

        body += heading("News-impact curve")
        body += try_embed(lambda: plot_news_impact(fit),
                          "Update of the log scale against the standardised shock: posterior "
                          "median and band, with the Gaussian-score quadratic for reference")
    return body


def _factor_volatility(fit: Any) -> str:
    from ..plots_factor import plot_factor_fit

    body = try_embed(lambda: plot_factor_fit(fit) if len(fit.assets) > 1 else
                     _single_asset(), "Factor log-variance paths (posterior mean, +/- 2 sd) "
                     "and the posterior mean correlation of the first two assets")
    try:
        cov = fit.covariance()
        lv = fit.log_variances()
    except Exception as exc:
        return body + empty(f"Covariance paths not computed: {' '.join(str(exc).split())}")
    n = min(len(fit.assets), MAX_ASSET_FIGURES)
    times = np.asarray(cov["time"].values)
    c = np.asarray(cov.values)
    vol = np.sqrt(np.diagonal(c, axis1=1, axis2=2))
    body += heading("Idiosyncratic log-variances and volatility")
    body += embed(plot_log_variance_bands(times, np.asarray(lv["idio_mean"].values)[:, :n],
                                          np.asarray(lv["idio_sd"].values)[:, :n],
                                          vol[:, :n], list(fit.assets)[:n]),
                  "Top: idiosyncratic log-variance, posterior mean +/- 2 sd; bottom: the "
                  "model's volatility sqrt(Cov_t[i,i]) (posterior mean covariance)")
    if len(fit.assets) > 1:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3.6), layout="constrained")
        ax = fig.add_subplot()
        names = list(fit.assets)
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)][:6]
        for i, j in pairs:
            r = c[:, i, j] / np.sqrt(c[:, i, i] * c[:, j, j])
            ax.plot(times, r, lw=0.9, label=f"{names[i]} / {names[j]}")
        ax.set_ylabel("correlation")
        ax.legend(fontsize="small", frameon=False, ncols=3)
        body += embed(fig, "Conditional correlation paths of the posterior mean covariance "
                      "(first pairs of assets)")
    return body


def _single_asset():
    raise ValueError("a single asset has no correlation to show")


def volatility_section(fit: Any, factor: bool) -> Section:
    """Volatility (GARCH-type) or covariance and log-variance (factor SV) paths with bands."""
    title = "Covariance and log-variance paths" if factor else "Volatility paths"
    body = _factor_volatility(fit) if factor else _garch_volatility(fit)
    return Section("volatility", title, body)


def named_draws(fit: Any) -> dict[str, np.ndarray]:
    """Draws of every parameter under its summary.json name, chains pooled."""
    if hasattr(fit, "theta") and hasattr(fit, "input"):  # a SystemFit
        from .system_report import system_named_draws

        return system_named_draws(fit)
    if hasattr(fit, "panel"):
        out = {k: np.asarray(v).reshape(-1) for k, v in fit.global_draws().items()}
        for name, arr in fit.draws().items():
            for i in range(len(fit.assets)):
                out[fit.label(name, i)] = np.asarray(arr[i]).reshape(-1)
        return out
    nat = fit.natural_draws()
    rows, cols = fit.model.loading_positions()
    blocks = [nat["Lambda"][:, rows, cols]] + [nat[k] for k in list(fit.model.layout)[1:]]
    x = np.concatenate(blocks, axis=1)
    names = fit.model.parameter_names(fit.assets)
    return {n: x[:, k] for k, n in enumerate(names)}


def comparison_section(summary: dict, fit: Any, reference: Path | None) -> Section:
    """This fit against a reference fit (typically VI against NUTS): marginals and a table."""
    sid, title = "vi-vs-mcmc", "VI against MCMC"
    if reference is None:
        return Section(sid, title, empty(
            "No reference fit was given, so there is nothing to compare with. To compare this "
            "fit with another of the same model and data (e.g. VI against NUTS), run "
            "'bayesvol report FITDIR --reference OTHERDIR'."))
    from ..results import load_fit

    ref_summary = read_summary(reference)
    ref = load_fit(reference)
    a, b = summary.get("parameters") or {}, ref_summary.get("parameters") or {}
    shared = [k for k in a if k in b]
    la = f"{summary.get('method', getattr(fit, 'method', '?'))} (this fit)"
    lb = f"{ref_summary.get('method', getattr(ref, 'method', '?'))} (reference)"
    if summary.get("model") != ref_summary.get("model") or not shared:
        return Section(sid, title, empty(
            f"The reference {reference} is a {ref_summary.get('model')} fit sharing "
            f"{len(shared)} parameters with this {summary.get('model')} fit: no comparison."))
    rows = []
    for k in shared:
        ma, sa, mb, sb = (a[k].get("mean"), a[k].get("sd"), b[k].get("mean"), b[k].get("sd"))
        ok = None not in (ma, sa, mb, sb) and sb and sb > 0
        diff = (ma - mb) / sb if ok else np.nan
        ratio = sa / sb if ok else np.nan
        rows.append([k, ma, sa, mb, sb, Cell(diff, "flag" if abs(diff) > DIFF_FLAG_SD else ""),
                     ratio])
    body = paragraph(f"Reference: {reference} ({lb}). Difference of means in reference "
                     f"standard deviations, (mean - mean_ref) / sd_ref, marked above "
                     f"{DIFF_FLAG_SD}; sd ratio sd / sd_ref (below 1: this fit is "
                     "overconfident).", "note")
    body += table(["parameter", f"mean, {la}", f"sd, {la}", f"mean, {lb}", f"sd, {lb}",
                   "(mean - mean_ref) / sd_ref", "sd / sd_ref"], rows, scroll=True,
                  caption="Posterior means and sds against the reference")
    labels = (la, lb)
    if hasattr(fit, "global_draws") and hasattr(ref, "global_draws"):
        from ..plots import plot_marginals

        common = [x for x in fit.assets if x in ref.assets]
        for name in common[:3]:
            body += try_embed(lambda name=name: plot_marginals(fit, ref, labels, name),
                              f"{name}: marginals of both fits (histogram and density; title: "
                              "overlap accuracy in %)")
        if not common:
            body += empty("The two fits share no asset: no marginals drawn.")
    else:
        try:
            da, db = named_draws(fit), named_draws(ref)
            names = [k for k in shared if k in da and k in db][:MAX_MARGINALS]
            body += embed(plot_overlay_marginals(da, db, names, labels),
                          f"Marginals of both fits (first {len(names)} shared parameters)")
        except Exception as exc:
            body += empty(f"Marginals not drawn: {' '.join(str(exc).split())}")
    return Section(sid, title, body)


def fit_sections(folder: Path, reference: Path | None = None) -> tuple[str, str, list[Section]]:
    """(title, subtitle, sections) of the report of the fit in ``folder``."""
    from ..results import fit_kind, load_fit

    summary = read_summary(folder)
    factor = fit_kind(folder) == "factor"
    fit = load_fit(folder)
    model = summary.get("model") or getattr(getattr(fit, "model", None), "name", "?")
    if hasattr(fit, "theta") and hasattr(fit, "input"):  # a SystemFit
        from .system_report import system_data_section, system_paths_section

        first = [system_data_section(fit), posterior_section(summary, fit),
                 system_paths_section(fit)]
    else:
        first = [data_section(_panel_of(fit)), posterior_section(summary, fit),
                 volatility_section(fit, factor)]
    sections = first + [comparison_section(summary, fit, reference)]
    method = summary.get("method", getattr(fit, "method", ""))
    return f"Fit report: {model}", f"{folder} \u00b7 method {method}", sections
