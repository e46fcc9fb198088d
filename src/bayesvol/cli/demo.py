"""``bayesvol demo [--out DIR]``: the main job end to end, offline.

1. simulate a skewed-t GARCH(1,1) series with the paper's design (omega 0.1, alpha 0.2,
   beta 0.75, nu 4, xi 0.8), write it as CSV and validate it as a user's file would be;
2. fit it by variational inference (full-rank Gaussian, started at the mode) and by NUTS;
3. print truth, both posteriors and the overlap accuracy of VI against NUTS per parameter;
4. forecast 10 days of volatility with VaR and ES;
5. write the fits (summary.json, posterior.nc) and plots (volatility band, VI vs NUTS
   marginals, ELBO trace, forecast fan) into DIR;
6. pooled: simulate a ragged AR(1)-GARCH(1,1)-t panel (assets listed late, delisted early,
   interior gaps), validate it, fit the hierarchical model by joint VI, print the population
   against the truth and how far the short histories were shrunk, and write the fit, its
   shrinkage table and plot, and a posterior predictive check plot into DIR/pooled;
7. factor SV: simulate a one-factor DFSV panel, fit it by VI with the factors integrated out
   (Kalman filter), print the loadings against the truth and how well the factor's
   log-variance path and a pair's correlation path are recovered, and write the fit and a
   plot into DIR/factor;
8. backtest: a small rolling backtest of garch (VI) against the EWMA baseline on the factor
   SV panel of step 7 (two windows of half the panel each, forecasting its second half),
   written to DIR/backtest, then the HTML reports of that backtest (DIR/backtest/report.html)
   and of the VI fit against NUTS (DIR/fit_vi/report.html; docs/report.md);
9. score-driven models and model comparison (cli/demo_gas.py): the Beta-Gen-t-EGARCH on the
   series of step 1, compared with the GARCH fit by bridge sampling, in DIR/gas.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from .app import app, console

# many VI draws are cheap and keep VI's side of the accuracy comparison free of KDE noise
VI_DRAWS = {"num_draws": 10000, "psis_draws": 10000}


@app.command()
def demo(
    out: Path = typer.Option(Path("bayesvol-demo"), "--out", help="output folder"),
    T: int = typer.Option(1500, "--T", help="length of the simulated series"),
    seed: int = typer.Option(0, "--seed"),
    num_samples: int = typer.Option(600, "--num-samples", help="NUTS draws per chain"),
    num_warmup: int = typer.Option(500, "--num-warmup", help="NUTS warm-up per chain"),
    pooled_assets: int = typer.Option(12, "--pooled-assets",
                                      help="assets of the simulated ragged panel (step 6)"),
    pooled_T: int = typer.Option(600, "--pooled-T", help="dates of the ragged panel"),
    factor_assets: int = typer.Option(6, "--factor-assets",
                                      help="assets of the factor SV panel (step 7)"),
    factor_T: int = typer.Option(500, "--factor-T", help="dates of the factor SV panel"),
) -> None:
    """Simulate, validate, fit by VI and NUTS, compare, forecast and plot (offline)."""
    import matplotlib

    matplotlib.use("Agg")
    from ..api import fit
    from ..data import load_returns
    from ..inference.accuracy import overlap_accuracy
    from ..plots import plot_elbo, plot_forecast, plot_marginals, plot_volatility, save
    from ..simulate import simulate_garch, write_returns_csv, write_truth_json

    if T < 200:
        raise typer.BadParameter("--T must be at least 200")
    out.mkdir(parents=True, exist_ok=True)
    truth = {"omega": 0.1, "alpha": 0.2, "beta": 0.75, "nu": 4.0, "xi": 0.8}
    sim = simulate_garch(T, dist="skewt", seed=seed, **truth)
    csv = out / "returns.csv"
    write_returns_csv(sim.to_frame(), csv)
    write_truth_json(sim.truth, out / "truth.json")
    panel = load_returns(csv)
    s = panel.summary()
    console.print(f"[bold]1. data[/bold]: simulated skewed-t GARCH(1,1), {panel.n_obs} "
                  f"returns {s.get('start', panel.dates[0].date())} .. "
                  f"{s.get('end', panel.dates[-1].date())}, written to {csv} and validated")

    t0 = time.perf_counter()
    with console.status("2. fitting by variational inference (first run compiles)"):
        fit(panel, dist="skewt", method="vi", seed=seed, **VI_DRAWS)
    t_vi_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    vi = fit(panel, dist="skewt", method="vi", seed=seed, **VI_DRAWS)
    t_vi = time.perf_counter() - t0
    console.print(f"[bold]2. VI[/bold]: {t_vi:.2f} s warm ({t_vi_cold:.1f} s with compilation), "
                  f"{vi.diagnostics['iterations']} iterations, ELBO {float(vi.elbo[0]):.1f}, "
                  f"{VI_DRAWS['num_draws']} PSIS-resampled draws")
    t0 = time.perf_counter()
    with console.status(f"3. NUTS: 2 chains x ({num_warmup} warm-up + {num_samples} draws)"):
        nuts = fit(panel, dist="skewt", method="nuts", seed=seed, num_warmup=num_warmup,
                   num_samples=num_samples)
    t_nuts = time.perf_counter() - t0
    d = nuts.diagnostics
    console.print(f"[bold]3. NUTS[/bold]: {t_nuts:.1f} s, R-hat max {d['rhat_max']:.3f}, "
                  f"ESS min {d['ess_min']:.0f}, divergences {d['divergences']}")

    table = Table(title="Posterior: VI against NUTS (overlap accuracy, SVI-GARCH paper 2.12)")
    for col in ("parameter", "truth", "VI mean", "VI sd", "NUTS mean", "NUTS sd", "accuracy %"):
        table.add_column(col, justify="right")
    qv, qn = vi.flat_draws(), nuts.flat_draws()
    for name in vi.model.param_names:
        table.add_row(name, f"{truth[name]:.3f}", f"{qv[name].mean():.4f}",
                      f"{qv[name].std():.4f}", f"{qn[name].mean():.4f}",
                      f"{qn[name].std():.4f}", f"{overlap_accuracy(qv[name], qn[name]):.1f}")
    console.print(table)
    console.print(f"   VI returns {VI_DRAWS['num_draws']} PSIS-resampled draws; the accuracy "
                  f"also carries the density-estimate noise of NUTS's "
                  f"{2 * num_samples} draws (see README, Results)")

    fc = vi.forecast(horizon=10, seed=seed)
    risk = fc.risk.iloc[0]
    console.print(f"[bold]4. forecast[/bold]: next-day volatility "
                  f"{fc.volatility[panel.assets[0]]['mean'].iloc[0]:.3f}; "
                  + ", ".join(f"{k} {v:.3f}" for k, v in risk.items()))

    vi.save(out / "fit_vi")
    nuts.save(out / "fit_nuts")
    fc.to_frame().to_csv(out / "forecast.csv", index=False)
    plots = {"volatility.png": plot_volatility(vi), "marginals.png": plot_marginals(vi, nuts),
             "elbo.png": plot_elbo(vi), "forecast.png": plot_forecast(fc)}
    for name, fig in plots.items():
        save(fig, out / name)
    console.print(f"[bold]5. wrote[/bold] {out}/: returns.csv, truth.json, fit_vi/, fit_nuts/, "
                  f"forecast.csv, {', '.join(plots)}; VI was {t_nuts / t_vi:.0f}x faster "
                  "than NUTS")
    # step 9's fits compile in a background thread while steps 6-8 run
    from concurrent.futures import ThreadPoolExecutor

    from .demo_gas import background_fits, gas_demo

    pool = ThreadPoolExecutor(max_workers=1)
    background = pool.submit(background_fits, out / "gas", panel, seed)
    pooled_demo(out / "pooled", seed=seed, n_assets=pooled_assets, T=pooled_T)
    factor_demo(out / "factor", seed=seed, n_assets=factor_assets, T=factor_T)
    backtest_demo(out, out / "factor" / "panel.csv", seed=seed)
    gas_demo(out / "gas", panel, vi, seed=seed, fits=background.result())
    pool.shutdown()


def pooled_demo(out: Path, seed: int = 0, n_assets: int = 16, T: int = 750) -> None:
    """Step 6: a pooled fit of a simulated ragged panel (module docstring)."""
    import numpy as np

    from ..api import fit
    from ..data import load_returns
    from ..plots import save
    from ..plots_pooled import plot_ppc, plot_shrinkage
    from ..simulate import write_returns_csv, write_truth_json
    from ..simulate.hier_garch import simulate_hier_garch

    out.mkdir(parents=True, exist_ok=True)
    sim = simulate_hier_garch(n_assets, T, seed=seed)
    frame = sim.to_frame()
    rng = np.random.default_rng(seed)
    for i in range(1, n_assets, 3):  # a few interior gaps (missing days) in some assets
        rows = rng.choice(np.arange(sim.first[i] + 5, sim.last[i] - 5), 5, replace=False)
        frame.iloc[rows, i] = np.nan
    csv = out / "panel.csv"
    write_returns_csv(frame, csv)
    write_truth_json(sim.truth, out / "truth.json")
    panel = load_returns(csv)
    n_obs = panel.n_obs_per_asset
    console.print(f"[bold]6. pooled[/bold]: simulated AR(1)-GARCH(1,1)-t panel, {n_assets} "
                  f"assets with {int(n_obs.min())}-{int(n_obs.max())} observations each "
                  f"(listed late, delisted, gaps), written to {csv} and validated")
    t0 = time.perf_counter()
    with console.status("6. fitting the hierarchical model by joint VI (first run compiles)"):
        pooled = fit(panel, model="hier-garch", seed=seed)
    t_fit = time.perf_counter() - t0
    d = pooled.diagnostics
    console.print(f"   joint VI over {n_assets} x 5 + {pooled.g.shape[-1]} parameters: "
                  f"{t_fit:.1f} s (compilation included), {d['iterations']} iterations, "
                  f"converged {d['converged']}")
    summ = pooled.summary()
    table = Table(title="Population (hier-garch, structured VI) against the simulation's truth")
    for col in ("hyperparameter", "truth", "posterior mean", "q05", "q95"):
        table.add_column(col, justify="right")
    truths = {"log_omega_loc": sim.hyper["log_omega_loc"],
              "log_omega_scale": sim.hyper["log_omega_scale"],
              "phi_loc": sim.hyper["phi_loc"], "phi_scale": sim.hyper["phi_scale"],
              "log_nu_excess_loc": sim.hyper["log_nu_excess_loc"],
              "persistence_median": float(np.median(sim.params["persistence"])),
              "alpha_share_median": float(np.median(sim.params["alpha_share"]))}
    for name, value in truths.items():
        row = summ.loc[name]
        table.add_row(name, f"{value:.3f}", f"{row['mean']:.3f}", f"{row['q05']:.3f}",
                      f"{row['q95']:.3f}")
    console.print(table)
    shrink = pooled.shrinkage()
    shrink.to_csv(out / "shrinkage.csv")
    pooled.save(out / "fit")
    save(plot_shrinkage(pooled), out / "shrinkage.png")
    save(plot_ppc(pooled), out / "ppc.png")
    console.print(f"   wrote {out}/: panel.csv, truth.json, fit/, shrinkage.csv, shrinkage.png "
                  "(each asset's estimate against the population, by history length), "
                  "ppc.png (posterior predictive check)")


def factor_demo(out: Path, seed: int = 0, n_assets: int = 6, T: int = 500) -> None:
    """Step 7: a one-factor DFSV fit of a simulated panel (module docstring)."""
    import numpy as np

    from ..api import fit
    from ..data import load_returns
    from ..fit_factor import write_factor_fit
    from ..plots import save
    from ..plots_factor import plot_factor_fit
    from ..simulate import write_returns_csv
    from ..simulate.dfsv import simulate_dfsv

    out.mkdir(parents=True, exist_ok=True)
    sim = simulate_dfsv(n_assets, 1, T, seed=seed)
    csv = out / "panel.csv"
    write_returns_csv(sim.to_frame(), csv)
    panel = load_returns(csv)
    console.print(f"[bold]7. factor SV[/bold]: simulated one-factor DFSV panel, {n_assets} "
                  f"assets x {T} days (stochastic factor and idiosyncratic log-variances), "
                  f"written to {csv} and validated")
    t0 = time.perf_counter()
    with console.status("7. fitting the factor SV model by VI (first run compiles)"):
        res = fit(panel, model="dfsv", factors=1, seed=seed)
    t_fit = time.perf_counter() - t0
    console.print(f"   VI with the factors integrated out by the Kalman filter: {t_fit:.1f} s "
                  f"(compilation included), {res.iterations} iterations, converged "
                  f"{res.converged}")
    lam = res.loadings()
    table = Table(title="Loadings (dfsv, VI) against the simulation's truth")
    for col in ("asset", "truth", "posterior mean"):
        table.add_column(col, justify="right")
    true_lam = np.asarray(sim.params["Lambda"])[:, 0]
    for i, a in enumerate(panel.assets):
        table.add_row(str(a), f"{true_lam[i]:.3f}", f"{float(lam.iloc[i, 0]):.3f}")
    console.print(table)
    h = res.log_variances()["factor_mean"].values[:, 0]
    corr = res.correlation().values[:, 0, 1]
    c = sim.cov
    corr_true = c[:, 0, 1] / np.sqrt(c[:, 0, 0] * c[:, 1, 1])
    console.print(f"   factor log-variance path vs truth: correlation "
                  f"{np.corrcoef(h, sim.h[:, 0])[0, 1]:.2f}; correlation of assets 1 and 2: "
                  f"mean absolute error {np.mean(np.abs(corr - corr_true)):.3f} over {T} days")
    write_factor_fit(res, out / "fit")
    save(plot_factor_fit(res, true_h=sim.h, true_cov=c), out / "factor.png")
    console.print(f"   wrote {out}/: panel.csv, fit/ (summary.json, posterior.nc), factor.png "
                  "(factor log-variance and a pair's correlation against the truth)")


def backtest_demo(out: Path, panel_csv: Path, seed: int = 0) -> None:
    """Step 8: a two-model backtest of the factor SV panel and the reports (module
    docstring)."""
    import shutil

    from ..data import load_returns
    from ..portfolio.backtest import backtest
    from ..reporting import write_report

    panel = load_returns(panel_csv)
    window = panel.n_times // 2
    step = -(-(panel.n_times - window) // 2)  # two refits cover the second half
    folder = out / "backtest"
    if (folder / "run.json").exists():  # a previous demo's backtest (other settings or
        shutil.rmtree(folder)             # data would be refused; anything else is kept)
    t0 = time.perf_counter()
    with console.status("8. backtest: garch (VI) against the EWMA baseline"):
        res = backtest(panel, models=["garch"], window=window, step=step, out=folder,
                       baselines=("ewma",), n_draws=200, rebalance=5, seed=seed,
                       fit_options={"garch": {"max_iter": 500}})
    scores = res.summary.get("scores", {})
    console.print(f"[bold]8. backtest[/bold]: garch (VI, refitted every {step} dates on "
                  f"{window}-date windows) against EWMA on the factor SV panel, "
                  f"{res.summary.get('first_date')} .. {res.summary.get('last_date')}: "
                  f"{time.perf_counter() - t0:.1f} s; mean log score "
                  + ", ".join(f"{m} {d['mean_log_score']:.3f}" for m, d in scores.items()))
    for line in res.summary.get("verdict", []):
        console.print(f"   - {line}")
    report = write_report(folder)
    fit_report = write_report(out / "fit_vi", reference=out / "fit_nuts")
    console.print(f"   wrote {folder}/ (forecasts.parquet, portfolios.parquet, summary.json) "
                  "and two HTML reports (open them in a browser):")
    console.print(f"   backtest report: {report}", soft_wrap=True)
    console.print(f"   VI against NUTS: {fit_report}", soft_wrap=True)
