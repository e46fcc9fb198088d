"""Dynamic factor stochastic volatility: fit a simulated panel and plot its covariance paths.

    python examples/factor_sv.py OUT            # 10 assets, 2 factors, 1000 days
    python examples/factor_sv.py OUT --small    # 5 assets, 1 factor, 300 days (the test)

A panel is simulated from the DFSV model with known parameters (factor and idiosyncratic
log-variances following AR(1)s, loadings lower triangular with a positive diagonal), so every
estimate can be set against the truth. The model is fitted by VI with the factors integrated
out by the Kalman filter. The plots compare the posterior-mean time-varying covariance with
the true one: each asset's volatility path, one pair's correlation path, the factor
log-variances, and the correlation matrix at two dates.

Writes into OUT: ``returns.csv``, ``truth.json``, ``fit.nc`` (``DfsvFit.load`` reads it),
``summary.csv``, ``loadings.csv``, ``factor.png`` (factor log-variances and a pair's
correlation), ``volatility.png`` (every asset's volatility path) and ``correlation.png``
(correlation matrices, fitted and true). ``BAYESVOL_EXAMPLES_SMALL=1`` in the environment has
the same effect as ``--small``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import bayesvol as bv  # noqa: E402
from bayesvol.plots import save  # noqa: E402
from bayesvol.plots_factor import plot_factor_fit  # noqa: E402
from bayesvol.simulate import simulate_dfsv, write_truth_json  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created if needed)")
    parser.add_argument("--small", action="store_true",
                        default=os.environ.get("BAYESVOL_EXAMPLES_SMALL", "") == "1",
                        help="quick run: 5 assets, 1 factor, 300 days")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


def correlation_of(cov: np.ndarray) -> np.ndarray:
    """Correlation matrices [T, N, N] of covariance matrices [T, N, N]."""
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    return cov / (sd[:, :, None] * sd[:, None, :])


def plot_volatility_paths(times, fitted: np.ndarray, true: np.ndarray, assets) -> Figure:
    """Each asset's conditional volatility sqrt(Cov_t[i, i]): posterior mean and truth."""
    n = len(assets)
    ncols = 2 if n > 1 else 1
    nrows = -(-n // ncols)
    fig = Figure(figsize=(9, 1.9 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True)).ravel()
    for i, (ax, name) in enumerate(zip(axes, assets, strict=False)):
        ax.plot(times, np.sqrt(fitted[:, i, i]), lw=1, label="posterior mean")
        ax.plot(times, np.sqrt(true[:, i, i]), lw=0.8, ls="--", color="k", label="truth")
        ax.set_ylabel(name)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("Conditional volatility of each asset, sqrt of the covariance diagonal")
    return fig


def plot_correlation_matrices(fitted: np.ndarray, true: np.ndarray, dates, assets) -> Figure:
    """Fitted and true correlation matrices at the given dates (rows: fitted, truth)."""
    fig = Figure(figsize=(3.2 * len(dates) + 1.0, 6), layout="constrained")
    axes = fig.subplots(2, len(dates), squeeze=False)
    image = None
    for col, (k, label) in enumerate(dates):
        for row, (mats, what) in enumerate(((fitted, "posterior mean"), (true, "truth"))):
            ax = axes[row, col]
            image = ax.imshow(mats[k], vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_xticks(range(len(assets)), assets, rotation=90, fontsize=7)
            ax.set_yticks(range(len(assets)), assets, fontsize=7)
            ax.set_title(f"{what}, {label}", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.8, label="correlation")
    return fig


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    n_assets, n_factors, T = (5, 1, 300) if args.small else (10, 2, 1000)
    sim = simulate_dfsv(n_assets, n_factors, T, seed=args.seed)
    frame = sim.to_frame()
    frame.to_csv(out / "returns.csv")
    write_truth_json(sim.truth, out / "truth.json")
    print(f"simulated DFSV panel: {n_assets} assets, {n_factors} factor(s), {T} days")

    t0 = time.perf_counter()
    fit = bv.fit(frame, model="dfsv", factors=n_factors, seed=args.seed)  # a DfsvFit
    print(f"VI: {time.perf_counter() - t0:.1f} s (first fit compiles), {fit.iterations} "
          f"iterations, converged {fit.converged}, ELBO {fit.elbo:.1f}")
    fit.save(out / "fit.nc")
    fit.summary().to_csv(out / "summary.csv")

    loadings = fit.loadings()
    true_lambda = pd.DataFrame(np.asarray(sim.params["Lambda"]), index=loadings.index,
                               columns=loadings.columns)
    table = pd.concat({"posterior mean": loadings, "truth": true_lambda}, axis=1)
    table.to_csv(out / "loadings.csv")
    print("loadings (lower triangular, positive diagonal):")
    print(table.round(3).to_string())

    cov = fit.covariance().values  # [T, N, N], posterior mean over joint draws
    true_cov = np.asarray(sim.cov)
    corr, true_corr = fit.correlation().values, correlation_of(true_cov)
    sample_cov = np.cov(frame.to_numpy(), rowvar=False)
    err_fit = np.mean(np.linalg.norm(cov - true_cov, axis=(1, 2)))
    err_const = np.mean(np.linalg.norm(sample_cov[None] - true_cov, axis=(1, 2)))
    print(f"mean Frobenius error of the covariance path: {err_fit:.3f} "
          f"(constant sample covariance: {err_const:.3f})")
    h = fit.log_variances()["factor_mean"].values
    for k in range(n_factors):
        r = np.corrcoef(h[:, k], sim.h[:, k])[0, 1]
        print(f"factor {k + 1} log-variance path: correlation with the truth {r:.2f}")

    times = frame.index
    assets = [str(a) for a in frame.columns]
    save(plot_factor_fit(fit, true_h=sim.h, true_cov=true_cov), out / "factor.png")
    save(plot_volatility_paths(times, cov, true_cov, assets), out / "volatility.png")
    pick = [(0, f"{times[0].date()}"), (T - 1, f"{times[-1].date()}")]
    save(plot_correlation_matrices(corr, true_corr, pick, assets), out / "correlation.png")
    print(f"wrote {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
