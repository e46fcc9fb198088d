"""Skewed-t GARCH(1,1) on the S&P 500: VI with the PSIS check, forecasts, VaR and ES.

    python examples/garch_sp500.py OUT            # full run: VI, MLE, NUTS, comparison
    python examples/garch_sp500.py OUT --small    # VI and forecasts only (what the test runs)

Data: the daily S&P 500 adjusted closing prices that the ``arch`` package ships in its wheel
(``pip install -e ".[data]"``), turned into log returns in percent by ``bv.load_bundled``.
The window is the one of the paper this GARCH model follows, 2015-01-02 to 2018-12-31. If
arch is not installed, the script says so and uses a simulated skewed-t GARCH series with the
paper's design instead, so it still runs end to end.

Writes into OUT: ``returns.csv`` (the data used), ``fit_vi/`` (summary.json, posterior.nc),
``summary.csv``, ``forecast.csv``, and the plots ``volatility.png``, ``elbo.png`` and
``forecast.png``. The full run adds ``fit_nuts/``, ``accuracy.csv`` and ``marginals.png``, and
prints the MLE and a VI fit under a weaker prior on omega next to the default one.
``BAYESVOL_EXAMPLES_SMALL=1`` in the environment has the same effect as ``--small``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window

import bayesvol as bv  # noqa: E402  (after the backend is chosen)
from bayesvol.errors import InputError  # noqa: E402
from bayesvol.plots import (  # noqa: E402
    plot_elbo,
    plot_forecast,
    plot_marginals,
    plot_volatility,
    save,
)

START, END = "2015-01-02", "2018-12-31"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created if needed)")
    parser.add_argument("--small", action="store_true",
                        default=os.environ.get("BAYESVOL_EXAMPLES_SMALL", "") == "1",
                        help="quick run: VI and forecasts only")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


def load_data(seed: int):
    """S&P 500 log returns in percent from arch's bundled prices, or a simulated stand-in."""
    try:
        panel = bv.load_bundled("sp500")  # same reader and checks as a user's file
    except InputError as err:
        print(f"note: {err}; using a simulated skewed-t GARCH series instead", file=sys.stderr)
        from bayesvol.simulate import simulate_garch

        sim = simulate_garch(1006, dist="skewt", omega=0.1, alpha=0.2, beta=0.75, nu=4.0,
                             xi=0.8, seed=seed)
        return bv.load_returns(sim.to_frame()), "simulated skewed-t GARCH"
    frame = panel.to_frame().loc[START:END]
    return bv.load_returns(frame), f"S&P 500 log returns x 100, {START} to {END}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    panel, label = load_data(args.seed)
    asset = panel.assets[0]
    panel.to_frame().to_csv(out / "returns.csv")
    print(f"data: {label}: {panel.n_obs} returns")

    # Variational inference: full-rank Gaussian from the mode, then the PSIS correction.
    # More proposals and draws make the tails (and a VI-vs-NUTS comparison) more precise.
    draws = {} if args.small else {"num_draws": 10000, "psis_draws": 10000}
    t0 = time.perf_counter()
    vi = bv.fit(panel, model="garch", dist="skewt", method="vi", seed=args.seed, **draws)
    print(f"VI: {time.perf_counter() - t0:.1f} s (first fit compiles), "
          f"{vi.diagnostics['iterations']} iterations, converged {vi.diagnostics['converged']}")
    k_hat, reliable = vi.diagnostics["pareto_k"][0], vi.diagnostics["psis_reliable"][0]
    print(f"PSIS k-hat {k_hat:.2f} ({'reliable' if reliable else 'above the threshold'})")
    summary = vi.summary()
    print(summary.round(4).to_string())
    summary.to_csv(out / "summary.csv")
    vi.save(out / "fit_vi")

    # Posterior predictive forecast: volatility, return quantiles, VaR and ES (positive losses)
    fc = vi.forecast(horizon=10, levels=(0.01, 0.05), seed=args.seed)
    fc.to_frame().to_csv(out / "forecast.csv", index=False)
    print("next-day volatility (posterior predictive mean): "
          f"{fc.volatility[asset]['mean'].iloc[0]:.3f}")
    print(fc.risk.round(3).to_string())
    save(plot_volatility(vi), out / "volatility.png")
    save(plot_elbo(vi), out / "elbo.png")
    save(plot_forecast(fc), out / "forecast.png")

    if not args.small:
        # The reference posterior and the classical estimate on the same data
        mle = bv.fit(panel, dist="skewt", method="mle")
        print("MLE (standard errors by the delta method):")
        print(mle.summary()[["mean", "sd"]].round(4).to_string())
        # The paper's IG(1, 1) prior on omega is informative for a calm index in percent:
        # a weaker one, IG(1, 0.01), lets the data speak (docs: GARCH model, Priors)
        weak = bv.fit(panel, dist="skewt", seed=args.seed, priors={"omega_b": 0.01})
        print("VI under the weaker prior omega ~ IG(1, 0.01):")
        print(weak.summary()[["mean", "sd"]].round(4).to_string())
        t0 = time.perf_counter()
        nuts = bv.fit(panel, dist="skewt", method="nuts", seed=args.seed, num_samples=5000)
        d = nuts.diagnostics
        print(f"NUTS: {time.perf_counter() - t0:.1f} s, R-hat max {d['rhat_max']:.3f}, "
              f"ESS min {d['ess_min']:.0f}, divergences {d['divergences']}")
        nuts.save(out / "fit_nuts")
        accuracy = bv.accuracy_table(vi.flat_draws(), nuts.flat_draws())
        print("overlap accuracy of VI against NUTS (%):")
        print(accuracy.round(1).to_string())
        accuracy.to_csv(out / "accuracy.csv")
        save(plot_marginals(vi, nuts), out / "marginals.png")
    print(f"wrote {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
