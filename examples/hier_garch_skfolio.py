"""Hierarchical AR(1)-GARCH(1,1)-t on a ragged panel of S&P 500 stocks, scored out of sample.

    python examples/hier_garch_skfolio.py OUT            # 20 stocks, 1000 + 250 days
    python examples/hier_garch_skfolio.py OUT --small    # 6 stocks, 300 + 50 days (the test)

Data: the daily prices of 20 S&P 500 stocks that ``skfolio`` ships in its wheel
(``skfolio.datasets.load_sp500_dataset``; ``pip install -e ".[bench]"``), turned into log
returns in percent. The last days are held out. To make the panel ragged the way real panels
are, a third of the stocks lose their early history: each keeps only its last 60 to 250
training days (25 to 100 with ``--small``), as if it had been listed late.

The hierarchical model is fitted by joint VI. The script prints the population and each
asset's shrinkage (short histories are pulled towards the population, long ones hardly
move) and scores the held-out days by their one-step log predictive density. The full run
also fits every stock independently (GARCH-t with an AR(1) mean, the same model without
pooling) and compares the held-out scores of the short-history and the long-history groups.

Writes into OUT: ``train.csv``, ``holdout.csv``, ``fit/`` (summary.json, posterior.nc),
``population.csv``, ``shrinkage.csv``, ``scores.csv``, ``shrinkage.png``; the full run adds
``comparison.csv`` and ``ppc.png``. ``BAYESVOL_EXAMPLES_SMALL=1`` in the environment has the
same effect as ``--small``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayesvol as bv  # noqa: E402
from bayesvol.plots import save  # noqa: E402
from bayesvol.plots_pooled import plot_ppc, plot_shrinkage  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created if needed)")
    parser.add_argument("--small", action="store_true",
                        default=os.environ.get("BAYESVOL_EXAMPLES_SMALL", "") == "1",
                        help="quick run: 6 stocks, 300 training days, no independent fits")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


def ragged_returns(n_stocks: int, n_train: int, n_holdout: int, short: tuple[int, int],
                   seed: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(training returns with some histories cut, held-out returns, the cut stocks)."""
    from skfolio.datasets import load_sp500_dataset

    prices = load_sp500_dataset().iloc[:, :n_stocks]
    returns = 100.0 * np.log(prices).diff().iloc[1:]
    returns = returns.iloc[-(n_train + n_holdout):]
    returns.index = pd.DatetimeIndex(returns.index, name="date")
    train = returns.iloc[:n_train].copy()
    holdout = returns.iloc[n_train:].copy()
    rng = np.random.default_rng(seed)
    cut = rng.choice(n_stocks, size=max(1, n_stocks // 3), replace=False)
    for j in cut:  # listed late: keep only the last `keep` training days
        keep = int(rng.integers(short[0], short[1] + 1))
        train.iloc[: n_train - keep, j] = np.nan
    return train, holdout, [str(train.columns[j]) for j in sorted(cut)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import skfolio  # noqa: F401
    except ImportError:
        print("this example needs skfolio's bundled S&P 500 prices: "
              "pip install -e \".[bench]\"", file=sys.stderr)
        return 2
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.small:
        train, holdout, cut = ragged_returns(6, 300, 50, (25, 100), args.seed)
    else:
        train, holdout, cut = ragged_returns(20, 1000, 250, (60, 250), args.seed)
    train.to_csv(out / "train.csv")
    holdout.to_csv(out / "holdout.csv")
    panel = bv.load_returns(train)  # validated like a file: the cut stocks are "not listed"
    n_obs = dict(zip(panel.assets, panel.n_obs_per_asset.tolist(), strict=True))
    print(f"panel: {panel.n_assets} stocks, {panel.n_times} training days, "
          f"{len(holdout)} held out; short histories: "
          + ", ".join(f"{a} ({n_obs[a]} days)" for a in cut))

    t0 = time.perf_counter()
    fit = bv.fit(panel, model="hier-garch", seed=args.seed)  # structured joint VI
    d = fit.diagnostics
    print(f"joint VI: {time.perf_counter() - t0:.1f} s (first fit compiles), "
          f"{d['iterations']} iterations, converged {d['converged']}")
    fit.save(out / "fit")
    summary = fit.summary()
    population = summary.loc[[name for name in fit.global_draws()]]
    population.to_csv(out / "population.csv")
    print("population (posterior mean and 90% interval):")
    print(population.loc[["persistence_median", "alpha_share_median", "log_omega_loc",
                          "log_omega_scale", "log_nu_excess_loc"],
                         ["mean", "q05", "q95"]].round(3).to_string())

    shrink = fit.shrinkage()
    shrink.to_csv(out / "shrinkage.csv")
    cols = ["n_obs", "persistence_unpooled", "persistence_pooled", "persistence_shrinkage"]
    print("persistence, each stock on its own (unpooled mode) and pooled (posterior mean):")
    print(shrink[cols].round(3).to_string())
    save(plot_shrinkage(fit), out / "shrinkage.png")

    # out of sample: the posterior draws' filters run on through the held-out days (no refit)
    scores = fit.score(holdout)
    scores.to_csv(out / "scores.csv", index=False)
    per_asset = scores.groupby("asset")["log_score"].sum()
    group = pd.Series(np.where(per_asset.index.isin(cut), "short", "long"),
                      index=per_asset.index)
    print("held-out log score per stock, mean by group (higher is better):")
    print(per_asset.groupby(group).mean().round(2).to_string())

    if not args.small:
        independent = bv.fit(panel, model="garch", dist="t", ar=True, seed=args.seed)
        alone = independent.score(holdout).groupby("asset")["log_score"].sum()
        table = pd.DataFrame({"pooled": per_asset, "independent": alone, "group": group})
        table["pooled_minus_independent"] = table["pooled"] - table["independent"]
        table.to_csv(out / "comparison.csv")
        print("pooled minus independent held-out log score, mean per stock by group:")
        print(table.groupby("group")["pooled_minus_independent"].mean().round(2).to_string())
        save(plot_ppc(fit, asset=cut[0]), out / "ppc.png")
    print(f"wrote {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
