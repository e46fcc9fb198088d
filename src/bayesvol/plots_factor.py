"""Figures of factor SV fits (dfsv, fsv): log-variance paths and time-varying correlation.

Like :mod:`bayesvol.plots`, each function builds a ``matplotlib.figure.Figure`` directly and
returns it; write it with :func:`bayesvol.plots.save`.

- :func:`plot_factor_fit`: top, each factor's log-variance path, posterior mean with a
  +/- 2 sd band (``fit.log_variances()``); bottom, the posterior mean correlation of one pair
  of assets over time (``fit.correlation()``). Optional true paths (a simulation's ``h`` and
  ``cov``) are drawn dashed for comparison.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def plot_factor_fit(fit, pair: tuple[int, int] = (0, 1), true_h: np.ndarray | None = None,
                    true_cov: np.ndarray | None = None) -> Figure:
    """Factor log-variances and one pair's correlation (module docstring).

    ``true_h`` [T, K] and ``true_cov`` [T, N, N] are the simulation's paths, if known.
    """
    lv = fit.log_variances()
    corr = fit.correlation()
    times = np.asarray(lv["time"].values)
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    mean, sd = lv["factor_mean"].values, lv["factor_sd"].values
    for k in range(mean.shape[1]):
        line, = ax1.plot(times, mean[:, k], lw=1, label=f"factor {k + 1}: posterior mean")
        ax1.fill_between(times, mean[:, k] - 2 * sd[:, k], mean[:, k] + 2 * sd[:, k],
                         color=line.get_color(), alpha=0.2, lw=0)
        if true_h is not None:
            ax1.plot(times, np.asarray(true_h)[:, k], ls="--", lw=0.8, color="k",
                     label="truth" if k == 0 else None)
    ax1.set_ylabel("factor log-variance h_t")
    ax1.legend(loc="upper right", fontsize=8)
    i, j = pair
    names = [str(a) for a in corr["asset"].values]
    ax2.plot(times, corr.values[:, i, j], lw=1, label="posterior mean")
    if true_cov is not None:
        c = np.asarray(true_cov)
        ax2.plot(times, c[:, i, j] / np.sqrt(c[:, i, i] * c[:, j, j]), ls="--", lw=0.8,
                 color="k", label="truth")
    ax2.set_ylabel(f"correlation {names[i]} / {names[j]}")
    ax2.legend(loc="lower right", fontsize=8)
    fig.suptitle("Factor stochastic volatility: log-variances and conditional correlation")
    return fig
