"""Step 9 of ``bayesvol demo``: score-driven (GAS) models and Bayesian model comparison.

9. the Beta-Gen-t-EGARCH (docs/beta-t-egarch.md) fitted by VI to the series of step 1, its
   news-impact curve against GARCH's, and the two models compared by their marginal
   likelihoods (warp-3 bridge sampling on the VI fits' PSIS-resampled draws; the table says
   that VI draws make the estimate approximate); written to DIR/gas;
   then the multivariate Student-t GAS covariance model (docs/models/gas-t-cov.md, scalar
   variant) on a simulated 3-asset panel by MAP (mode + Laplace draws), its correlation path
   against the truth (DIR/gas/cov), and the credit-intensity model
   (docs/models/credit-intensity.md) on simulated rating histories by MAP, its loadings
   against the truth (DIR/gas/credit).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.table import Table

from .app import console


def background_fits(out: Path, panel, seed: int = 0) -> tuple:
    """The fits of step 9: the Beta-Gen-t-EGARCH (VI) of ``panel``, and the GAS-t covariance
    and credit-intensity fits, written to ``out``. Returns (egarch fit, its seconds, lines to
    print). ``bayesvol demo`` runs this in a background thread while steps 6-8 run
    (compilation releases the GIL, so the two cores share the work)."""
    from ..api import fit

    t0 = time.perf_counter()
    egarch = fit(panel, model="beta-t-egarch", seed=seed)
    t_fit = time.perf_counter() - t0
    return egarch, t_fit, [gas_cov_demo(out / "cov", seed), credit_demo(out / "credit", seed)]


def gas_demo(out: Path, panel, garch_fit, seed: int = 0, fits=None) -> None:
    """Step 9 (module docstring): ``panel`` is step 1's series, ``garch_fit`` its VI fit;
    ``fits``: the result of :func:`background_fits` if it already ran (else it runs here)."""
    from ..comparison import compare
    from ..plots import save
    from ..plots_gas import plot_news_impact

    out.mkdir(parents=True, exist_ok=True)
    if fits is None:
        with console.status("9. fitting the Beta-Gen-t-EGARCH, GAS-t covariance and "
                            "credit-intensity models (first runs compile)"):
            fits = background_fits(out, panel, seed)
    egarch, t_fit, system_lines = fits
    summ = egarch.summary()
    console.print(f"[bold]9. score-driven[/bold]: Beta-Gen-t-EGARCH (VI) on the series of "
                  f"step 1: {t_fit:.1f} s (compilation included; fitted while steps 6-8 ran); "
                  f"posterior means "
                  + ", ".join(f"{name} {summ['mean'].iloc[i]:.3f}"
                              for i, name in enumerate(summ.index)))
    egarch.save(out / "fit")
    save(plot_news_impact(egarch), out / "news_impact.png")
    with console.status("9. comparing GARCH and Beta-Gen-t-EGARCH by bridge sampling"):
        table = compare({"garch-skewt": garch_fit, "beta-gen-t-egarch": egarch}, seed=seed,
                        repetitions=1)
    rich = Table(title="Model comparison: log marginal likelihood (warp-3 bridge sampling)")
    for col in ("model", "log p(y)", "error", "2 log BF vs best", "evidence", "BIC"):
        rich.add_column(col, justify="right")
    for name, row in table.iterrows():
        rich.add_row(str(name), f"{row['log_ml']:.2f}", f"{row['error']:.3f}",
                     f"{row['two_log_bf']:.2f}", str(row["evidence"]), f"{row['bic']:.1f}")
    console.print(rich)
    table.to_csv(out / "comparison.csv")
    console.print("   from VI draws (PSIS-resampled) the evidence is approximate, a few "
                  "hundredths low on a small GARCH; fit with --method nuts for exact draws "
                  "(docs/model-comparison.md)")
    console.print(f"   wrote {out}/: fit/, news_impact.png, comparison.csv")
    for line in system_lines:
        console.print(line)


def gas_cov_demo(out: Path, seed: int = 0, T: int = 500) -> str:
    """The GAS-t covariance model on a simulated 3-asset panel (module docstring)."""
    import numpy as np

    from ..api import fit
    from ..simulate import write_returns_csv
    from ..simulate.gas_t_cov import simulate_gas_t_cov

    out.mkdir(parents=True, exist_ok=True)
    sim = simulate_gas_t_cov(T, n_assets=3, seed=seed)
    write_returns_csv(sim.to_frame(), out / "panel.csv")
    t0 = time.perf_counter()
    res = fit(sim.to_frame(), model="gas-t-cov", variant="scalar", method="map", seed=seed,
              num_draws=200)
    t_fit = time.perf_counter() - t0
    corr = res.correlation(num_draws=50).values[:, 0, 1]
    s = sim.sigma
    true = s[:, 0, 1] / np.sqrt(s[:, 0, 0] * s[:, 1, 1])
    m = res.summary()["mean"]
    res.save(out / "fit")
    return (f"   GAS-t covariance (scalar variant, MAP) on a simulated 3-asset panel: "
            f"{t_fit:.1f} s (compilation included); a_phi {m['a_phi']:.3f}, b_phi "
            f"{m['b_phi']:.3f}, nu_bar {m['nu_bar']:.3f} (truth 0.04, 0.96, 0.10); "
            f"correlation of assets 1 and 2: mean absolute error "
            f"{np.mean(np.abs(corr - true)):.3f} over {T} days; wrote {out}/")


def credit_demo(out: Path, seed: int = 0, n_events: int = 400) -> str:
    """The credit-intensity model on simulated rating histories (module docstring)."""
    from ..api import fit
    from ..atomic import atomic_write
    from ..models.credit_intensity import CreditIntensityModel
    from ..simulate.credit_intensity import simulate_credit_intensity

    out.mkdir(parents=True, exist_ok=True)
    model = CreditIntensityModel.from_options(factors=1)
    sim = simulate_credit_intensity(model, n_events=n_events, seed=seed)
    hist = sim.rating_histories()
    csv = out / "ratings.csv"
    atomic_write(csv, lambda p: hist.to_csv(p, index=False))
    t0 = time.perf_counter()
    res = fit(csv, model="credit-intensity", factors=1, method="map", seed=seed)
    t_fit = time.perf_counter() - t0
    m = res.summary()["mean"]
    truth = sim.truth["params"]
    res.save(out / "fit")
    return (f"   credit intensity (one factor, Inv scaling, MAP) on simulated rating "
            f"histories of {hist['firm'].nunique()} firms ({csv}): {t_fit:.1f} s; "
            + ", ".join(f"{k} {m[k]:.2f} (truth {truth[k]:.2f})"
                        for k in ("a_1", "b_1", "C_1_1", "C_3_1")) + f"; wrote {out}/")
