"""Report sections of a system fit (``SystemFit``: one parameter vector for a whole panel or
event history, e.g. ``gas-t-cov`` and ``credit-intensity``; docs/cli.md, ``bayesvol report``).

The data section summarises the model input (a returns panel, or the pooled event table of
rating histories); the paths section draws what the model defines: the conditional
volatilities and correlations of the posterior mean covariance Sigma_t (``covariance``), or
the posterior mean and 90% band of the intensities lambda_t per event type
(``intensity_paths``). Parameter draws are named as in summary.json, so the VI-against-MCMC
comparison of fit_report works unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .figures import try_embed
from .html import Section, empty, table

MAX_PAIRS = 6      # correlation paths drawn
MAX_PATH_DRAWS = 200


def system_data_section(fit: Any) -> Section:
    """The returns panel's summary, or the event table's counts per type."""
    from .fit_report import data_section

    inp = fit.input
    if hasattr(inp, "summary"):
        return data_section(inp)
    counts = inp.counts() if hasattr(inp, "counts") else {}
    top = table(["quantity", "value"],
                [["event times", inp.n_times], ["types", len(inp.types)],
                 ["firms", getattr(inp, "firms", None) or "\u2013"],
                 ["first event", None if inp.dates is None else str(inp.dates[0].date())],
                 ["last event", None if inp.dates is None else str(inp.dates[-1].date())],
                 ["source", inp.source or "\u2013"]], caption="The fitted events")
    rows = [[name, counts.get(name, 0), float(np.mean(np.asarray(inp.K)[:, j]))]
            for j, name in enumerate(inp.types)]
    per_type = table(["type", "events", "mean number at risk"], rows,
                     caption="Per event type")
    return Section("data-summary", "Data summary", top + per_type)


def _covariance_figure(fit: Any):
    from matplotlib.figure import Figure

    cov = fit.covariance(num_draws=MAX_PATH_DRAWS)
    c = np.asarray(cov.values)
    times = np.asarray(cov["time"].values)
    names = list(fit.assets)
    fig = Figure(figsize=(10, 6), layout="constrained")
    ax1, ax2 = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    for i, name in enumerate(names[:MAX_PAIRS]):
        ax1.plot(times, np.sqrt(c[:, i, i]), lw=0.9, label=name)
    ax1.set_ylabel("volatility")
    ax1.legend(fontsize="small", frameon=False, ncols=3)
    k = len(names)
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)][:MAX_PAIRS]
    for i, j in pairs:
        ax2.plot(times, c[:, i, j] / np.sqrt(c[:, i, i] * c[:, j, j]), lw=0.9,
                 label=f"{names[i]} / {names[j]}")
    ax2.set_ylabel("correlation")
    ax2.legend(fontsize="small", frameon=False, ncols=3)
    return fig


def _intensity_figure(fit: Any):
    import jax.numpy as jnp
    from matplotlib.figure import Figure

    _, z = fit._subsample(MAX_PATH_DRAWS)
    data = fit.model.prepare(fit.input)
    unit = type(data)(*(x[0] for x in data))
    lam = np.asarray(fit.model.intensity_paths(jnp.asarray(z), unit))
    n = fit.input.n_times
    lam = lam[:, :n]
    x = fit.input.dates if fit.input.dates is not None else np.asarray(fit.input.time)
    types = list(fit.input.types)
    fig = Figure(figsize=(10, 2.4 * len(types)), layout="constrained")
    for j, name in enumerate(types):
        ax = fig.add_subplot(len(types), 1, j + 1)
        lo, mid, hi = np.quantile(lam[:, :, j], [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(x, lo, hi, alpha=0.3, lw=0)
        ax.plot(x, mid, lw=0.9)
        ax.set_ylabel(f"{name}\nper firm-year")
    return fig


def system_paths_section(fit: Any) -> Section:
    """Covariance paths (gas-t-cov) or intensity paths (credit-intensity) with bands."""
    model = fit.model
    if hasattr(model, "covariance_paths"):
        body = try_embed(lambda: _covariance_figure(fit),
                         "Top: conditional volatility sqrt(Sigma_t[i,i]); bottom: conditional "
                         "correlations of the first pairs (posterior mean covariance over "
                         f"up to {MAX_PATH_DRAWS} draws)")
        return Section("volatility", "Covariance paths", body)
    if hasattr(model, "intensity_paths"):
        body = try_embed(lambda: _intensity_figure(fit),
                         "Intensity of each event type per firm at risk and year: posterior "
                         f"median and 90% band over up to {MAX_PATH_DRAWS} draws")
        return Section("volatility", "Intensity paths", body)
    return Section("volatility", "Paths", empty(f"{model.name} defines no paths to draw."))


def system_named_draws(fit: Any) -> dict[str, np.ndarray]:
    """Draws of every scalar parameter under its summary.json name (chains pooled)."""
    labels = fit._labels()
    out = {}
    for name, arr in fit.natural_draws().items():
        x = np.asarray(arr).reshape(arr.shape[0] * arr.shape[1], -1)
        if np.ndim(arr) == 2:
            out[name] = x[:, 0]
            continue
        lab = labels.get(name) or [str(i + 1) for i in range(x.shape[1])]
        for i in range(x.shape[1]):
            out[f"{name}[{lab[i]}]"] = x[:, i]
    return out

