"""A rolling backtest of GARCH and factor SV against the baselines, and its HTML report.

    python examples/backtest_report.py OUT            # S&P 500 and NASDAQ, 1000-day windows
    python examples/backtest_report.py OUT --small    # the last 600 days, 2 refits (the test)

Data: daily log returns in percent of the S&P 500 and the NASDAQ composite from the prices
arch ships (``bv.load_bundled``), on the dates both indices have. Without arch a two-asset
panel is simulated from the DFSV model instead, so the script still runs end to end.

Each model is refitted on a moving window and forecasts every date until its next refit one
step ahead, from a fit that has not seen that date. The forecasts are scored against the
returns that followed (log score, VaR coverage and its tests), and the forecast covariances
build global-minimum-variance and equal-risk portfolios. The EWMA (RiskMetrics) and
sample-covariance baselines run on the same windows and dates, and arch's GARCH(1,1) MLE too
when arch is installed.

Writes into OUT: ``returns.csv``; ``bt/`` (``forecasts.parquet``, ``portfolios.parquet``,
``summary.json``, as written by ``bv.backtest``) and ``bt/report.html``, a self-contained page
to open in a browser. It prints the scores and the report's verdict lines.
``BAYESVOL_EXAMPLES_SMALL=1`` in the environment has the same effect as ``--small``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import pandas as pd

import bayesvol as bv


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created if needed)")
    parser.add_argument("--small", action="store_true",
                        default=os.environ.get("BAYESVOL_EXAMPLES_SMALL", "") == "1",
                        help="quick run: the last 600 days, garch only, two refits")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


def index_returns(seed: int) -> tuple[pd.DataFrame, str]:
    """Percent log returns of the S&P 500 and NASDAQ on their common dates (wide frame with
    a date index), or a simulated two-asset factor SV panel without the arch package."""
    if importlib.util.find_spec("arch") is not None:
        frames = [bv.load_bundled(name).to_frame() for name in ("sp500", "nasdaq")]
        joined = pd.concat(frames, axis=1, join="inner").dropna()
        return joined, "S&P 500 and NASDAQ log returns x 100"
    from bayesvol.simulate.dfsv import simulate_dfsv

    frame = simulate_dfsv(2, 1, 2000, seed=seed).to_frame()
    return frame, "simulated factor SV panel (arch is not installed)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    returns, label = index_returns(args.seed)
    if args.small:
        returns = returns.iloc[-600:]
        models, window, step = ["garch"], 400, 100
        baselines = ["ewma", "sample"]
    else:
        models, window, step = ["garch", "dfsv"], 1000, 50
        baselines = ["ewma", "sample"]
        if importlib.util.find_spec("arch") is not None:
            baselines.append("arch-garch")
    returns.to_csv(out / "returns.csv", index_label="date")
    first, last = returns.index[0].date(), returns.index[-1].date()
    print(f"data: {label}, {first} to {last}: {len(returns)} dates x {returns.shape[1]} assets")

    t0 = time.perf_counter()
    res = bv.backtest(out / "returns.csv", models=models, window=window, step=step,
                      out=out / "bt", baselines=baselines, n_draws=200, seed=args.seed,
                      fit_options={"garch": {"dist": "t"}} if "garch" in models else None)
    print(f"backtest: {', '.join(models)} refitted every {step} dates on {window}-date "
          f"windows, against {', '.join(baselines)}: {time.perf_counter() - t0:.1f} s, "
          f"{len(res.forecasts)} forecast rows, {len(res.failed)} failed windows")
    scores = res.summary.get("scores", {})
    table = pd.DataFrame({name: {"mean log score": s.get("mean_log_score")}
                          for name, s in scores.items()}).T
    print(table.round(4).to_string())
    for line in res.summary.get("verdict", []):
        print(f"- {line}")
    page = bv.report(out / "bt")
    print(f"report: {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
