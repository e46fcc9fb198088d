"""``bayesvol fit FILE --model M --dist D --method X --seed S --out DIR``.

Loads and validates the returns file, fits, prints the parameter table and writes
DIR/summary.json and DIR/posterior.nc (each under a temporary name, then renamed).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from .app import app, console, fail


def print_summary(fit, title: str) -> None:
    """Rich table of the fit's parameter summary."""
    table = Table(title=title)
    table.add_column("parameter")
    for col in ("mean", "sd", "q05", "q50", "q95"):
        table.add_column(col, justify="right")
    for name, row in fit.summary().iterrows():
        table.add_row(name, *(f"{row[c]:.4g}" for c in ("mean", "sd", "q05", "q50", "q95")))
    console.print(table)


@app.command()
def fit(
    file: Path = typer.Argument(..., help="returns file (CSV or Parquet, wide or long)"),
    model: str = typer.Option("garch", "--model",
                              help="model name: garch, hier-garch, dfsv, fsv, beta-t-egarch, "
                                   "gas-t-cov, credit-intensity (FILE: rating histories "
                                   "firm,date,rating or an event-count file)"),
    dist: str = typer.Option(None, "--dist",
                             help="innovations: normal (garch default), t, skewt; "
                                  "hier-garch: t only; beta-t-egarch: gen-t (v free, "
                                  "default) or t (v = 2)"),
    method: str = typer.Option(
        "vi", "--method",
        help="vi (default); MCMC: nuts, hmc (static HMC), rwmh (adaptive random-walk MH), "
             "admit (independence MH, Student-t mixture), griddy (griddy Gibbs); mle or map "
             "(garch, beta-t-egarch)"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(..., "--out", help="output folder"),
    prices: bool = typer.Option(False, "--prices", help="the file holds prices"),
    scale: float = typer.Option(1.0, "--scale", help="multiply returns (100 for percent)"),
    mean: bool = typer.Option(False, "--mean", help="fit a constant mean mu"),
    family: str = typer.Option(None, "--family",
                               help="VI family. garch: fullrank (default), meanfield, "
                                    "precision; hier-garch: structured (default), block, "
                                    "meanfield, fullrank (dense, small panels)"),
    population: str = typer.Option("mvn", "--population",
                                   help="hier-garch: mvn (LKJ-correlated) or beta pooling"),
    decay: float = typer.Option(1.0, "--decay",
                                help="hier-garch: likelihood decay per day from each asset's "
                                     "last observation (1 = the true posterior)"),
    batch_size: int = typer.Option(None, "--batch-size",
                                   help="hier-garch VI: assets per minibatch step "
                                        "(default: all)"),
    factors: int = typer.Option(1, "--factors", help="dfsv/fsv: number of factors K"),
    idio: str = typer.Option("ar1", "--idio",
                             help="dfsv/fsv: idiosyncratic log-variances ar1 or constant"),
    factor_var: bool = typer.Option(False, "--factor-var",
                                    help="dfsv/fsv: a full VAR(1) (Phi_h, Q_h) for the factor "
                                         "log-variances instead of K independent AR(1)s"),
    estimator: str = typer.Option("reparam", "--estimator",
                                  help="VI gradient: reparam, or score (control variates)"),
    preset: str = typer.Option("fast", "--vi-preset",
                               help="fast (mode start, Adam) or paper (the paper's schedule)"),
    num_draws: int = typer.Option(1000, "--num-draws",
                                  help="VI/MAP: posterior draws returned"),
    psis_draws: int = typer.Option(1000, "--psis-draws",
                                   help="VI: proposals from q weighted by PSIS (>= draws used)"),
    num_warmup: int = typer.Option(1000, "--num-warmup", help="MCMC warm-up per chain"),
    num_samples: int = typer.Option(1000, "--num-samples", help="MCMC draws per chain"),
    num_chains: int = typer.Option(2, "--num-chains", help="MCMC chains"),
    variant: str = typer.Option(None, "--variant",
                                help="gas-t-cov: full (default), scalar (one a_phi, b_phi) or "
                                     "hier (hierarchical prior on the angle dynamics)"),
    scaling: str = typer.Option(None, "--scaling",
                                help="credit-intensity: score scaling I, H or Inv (default)"),
    loadings: str = typer.Option(None, "--loadings",
                                 help="credit-intensity: loading pattern, rows by ';', entries "
                                      "1, 0 or free (overrides --factors)"),
    prior_preset: str = typer.Option(None, "--prior-preset",
                                     help="credit-intensity: prior1 .. prior4 (default "
                                          "prior2, the thesis's main prior)"),
) -> None:
    """Fit a model to a returns file and write summary.json and posterior.nc."""
    import dataclasses
    import sys
    from contextlib import nullcontext

    from ..api import METHODS
    from ..api import fit as fit_api
    from ..data import load_returns
    from ..errors import InputError
    from ..inference.runner import VIOptions
    from ..models.registry import factor_preset, model_class

    def model_class_or_fail(name: str):
        try:
            return model_class(name)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    if method not in METHODS:
        fail(f"unknown method '{method}': choose one of {', '.join(METHODS)}")
    if out.exists() and not out.is_dir():
        fail(f"{out}: --out must be a folder, and a file of that name exists")
    if preset not in ("fast", "paper"):
        raise InputError(f"--vi-preset must be fast or paper, got '{preset}'")
    if num_draws < 2 or psis_draws < 2:
        raise InputError("--num-draws and --psis-draws must be at least 2")
    cls = model_class_or_fail(model)
    if variant is not None and not getattr(cls, "system", False):
        raise InputError(f"--variant applies to gas-t-cov, not {model}")
    own_input = hasattr(cls, "load_input")  # e.g. credit-intensity: not a returns file
    events_opts = {"scaling": scaling, "loadings": loadings, "priors": prior_preset}
    given = [f"--{k.replace('priors', 'prior-preset')}" for k, v in events_opts.items()
             if v is not None]
    if given and not own_input:
        raise InputError(f"{', '.join(given)} apply to credit-intensity, not {model}")
    if own_input:
        if not file.exists():
            raise InputError("file not found", source=str(file))
        data = file
        options = {k: v for k, v in events_opts.items() if v is not None}
        if loadings is None:
            options["factors"] = factors
    else:
        data = load_returns(file, prices=prices, scale=scale)
        options = {"variant": variant} if variant is not None else {}
    if getattr(cls, "system", False):
        vi = (VIOptions.paper(estimator) if preset == "paper"
              else VIOptions(family=family or "fullrank", estimator=estimator))
        vi = dataclasses.replace(vi, num_draws=num_draws, psis_draws=psis_draws)
        _fit_system_model(data, model, dist, method, seed, out, options, vi, num_warmup,
                          num_samples, num_chains)
        return
    panel = data
    if factor_preset(model) is not None:
        _fit_factor_model(panel, model, dist, method, seed, out, factors, idio, family,
                          num_draws, num_warmup, num_samples, num_chains, factor_var)
        return
    if getattr(cls, "joint", False):
        options = {"population": population, "decay": decay, "num_draws": num_draws,
                   "family": family or "structured", "batch_size": batch_size}
    else:
        vi = (VIOptions.paper(estimator) if preset == "paper"
              else VIOptions(family=family or "fullrank", estimator=estimator))
        options = {"mean": mean, "vi": dataclasses.replace(vi, num_draws=num_draws,
                                                           psis_draws=psis_draws)}
    progress = method == "nuts" and sys.stderr.isatty()  # NumPyro draws its own bar
    status = nullcontext() if progress else console.status(
        f"fitting {model} by {method} to {panel.n_assets} asset(s)")
    with status:
        result = fit_api(panel, model=model, dist=dist, method=method, seed=seed,
                         num_warmup=num_warmup, num_samples=num_samples,
                         num_chains=num_chains, progress=progress, **options)
    print_summary(result, f"{model} {result.model.dist} by {method}, {panel.n_obs} "
                          "observations")
    result.save(out)
    diag = result.summary_dict()["diagnostics"]
    console.print(f"runtime {result.runtime['total']:.2f} s; converged: {diag['converged']}; "
                  f"wrote {out / 'summary.json'} and {out / 'posterior.nc'}")
    if diag.get("acceptance_rate") is not None:
        console.print(f"acceptance {diag['acceptance_rate']:.3f}; min ESS "
                      f"{diag['ess_min']:.0f}, min ESS/s {diag['ess_per_s_min']:.1f}; "
                      f"max |Geweke z| {diag['geweke_max_abs'] or float('nan'):.2f}")
    if not diag["converged"]:
        console.print("[yellow]note:[/yellow] the fit did not meet its convergence rule "
                      "(see summary.json diagnostics)")
    if diag["psis_reliable"] is False:
        k_max = diag["pareto_k_max"]
        k_txt = "not finite" if k_max is None else f"up to {k_max:.2f}"
        console.print(f"[yellow]note:[/yellow] PSIS k-hat {k_txt} is "
                      "above its reliability threshold (0.67 at 1000 draws, 0.7 from 2200): the "
                      "draws were reweighted if k-hat < 1; check tails against --method nuts")


def _fit_system_model(data, model, dist, method, seed, out, options, vi, num_warmup,
                      num_samples, num_chains) -> None:
    """``fit --model gas-t-cov|credit-intensity`` (system models, bayesvol.fit_system): fit,
    print the parameter table, write DIR/summary.json and DIR/posterior.nc
    (``SystemFit.save``)."""
    from ..api import fit as fit_api

    with console.status(f"fitting {model} by {method}"):
        result = fit_api(data, model=model, dist=dist, method=method, seed=seed, vi=vi,
                         num_warmup=num_warmup, num_samples=num_samples,
                         num_chains=num_chains, **options)
    variant = getattr(result.model, "variant", None) or getattr(result.model, "scaling", "")
    print_summary(result, f"{model} ({variant}) by {method}, {result.input.n_obs} "
                          f"observations")
    result.save(out)
    diag = result.summary_dict()["diagnostics"]
    extra = (" (covariance paths: bayesvol.results_system.SystemFit.load(...).covariance())"
             if hasattr(result.model, "covariance_paths") else "")
    console.print(f"runtime {result.runtime['total']:.2f} s; converged: {diag['converged']}; "
                  f"wrote {out / 'summary.json'} and {out / 'posterior.nc'}{extra}")


def _fit_factor_model(panel, model, dist, method, seed, out, factors, idio, family, num_draws,
                      num_warmup, num_samples, num_chains, factor_var=False) -> None:
    """``fit --model dfsv|fsv``: fit, print the globals, write DIR (fit_factor.py)."""
    from ..api import fit as fit_api
    from ..fit_factor import write_factor_fit

    options = {"factors": factors, "idio": idio, "num_draws": num_draws}
    if factor_var:
        options["factor_var"] = True
    if family:
        options["family"] = family
    with console.status(f"fitting {model} (K = {factors}) by {method} to {panel.n_assets} "
                        "asset(s)"):
        result = fit_api(panel, model=model, dist=dist, method=method, seed=seed,
                         num_warmup=num_warmup, num_samples=num_samples,
                         num_chains=num_chains, **options)
    print_summary(result, f"{model}, K = {factors}, by {method}, {panel.n_obs} observations")
    write_factor_fit(result, out)
    console.print(f"converged: {result.converged}; wrote {out / 'summary.json'} and "
                  f"{out / 'posterior.nc'} (covariance paths: bayesvol.dfsv_fit.DfsvFit.load"
                  "(...).covariance())")
