"""Benchmark: score-driven models, the sampler toolbox and bridge sampling.

    python benchmarks/gas.py            # full run (about 20 min on 2 cores)
    python benchmarks/gas.py --quick    # smoke run (short chains), into a temp folder
    python benchmarks/gas.py --render   # only rewrite the Markdown from the JSON

Sections:

1. samplers: Beta-Gen-t-EGARCH with a constant mean (v free) on T = 1263 days of daily S&P
   500 index point changes from 2012-04-16 to 2017-04-21 in arch's bundled data (the
   thesis's window; its Table 1 used point changes, not percent returns), and (section
   ``simulated``, not in the default run: it doubles the time) on a series of the same
   length simulated from the thesis's HMC posterior means (omega 0.266,
   A 0.100, B 0.890, mu 1.186, eta_bar 0.060, v 1.498). Per series: the MLE (seconds, warm:
   the second call), NUTS (NumPyro, started at the mode; seconds of a second run of the same
   compiled sampler) with its defaults (2 chains, diagonal mass matrix) and with a dense mass
   matrix (``sampler_options={"dense_mass": True}`` in ``bv.fit``), static HMC with the
   thesis's warm-up, AdMit-style independence MH and griddy Gibbs (sampling seconds,
   compilation excluded). For each: minimum ESS and ESS per second over the parameters,
   maximum R-hat, the acceptance rate, posterior means, and the largest
   |mean - NUTS mean| / NUTS sd. Goal: NUTS above 2,000 ESS/s (minimum over parameters,
   warm, 2 cores).
2. bridge: GARCH(1,1)-t and Beta-Gen-t-EGARCH, both with a constant mean, on the percent
   log returns of the same window, from NUTS draws (2 x 5000): warp-3 bridge sampling with
   10 repetitions (log p(y), the sd of the 10 estimates, the stated error, seconds) and the
   Bayes factor with its Kass-Raftery category.

3. hier: the hierarchical GAS-t covariance model (RC-GAS-t, ``--variant hier``, non-centred,
   115 parameters) on 10 assets x 757 days simulated from values like the thesis's Table 10
   (a_D 0.06, b_D 0.98, a_phi ~ N(0.015, 0.003^2), b_phi 0.985, nu_bar 0.1): NUTS with 4
   chains, wall time from the call (compilation included), max R-hat, min ESS, and the cost
   of one log-density gradient. Goal: 4 chains x 1000 draws with R-hat < 1.01 in under 10
   minutes (the thesis: 30 hours for 20,000 draws). The default run does far fewer
   iterations (``"hier": (chains, warm-up, draws)`` in FULL below: 2 x (10 + 10), because a
   NUTS iteration costs seconds to minutes at about 0.1 s per gradient); the goal line is FAIL
   when that shorter run alone exceeds 10 minutes (a longer run cannot be faster), PASS
   only for a run of the full size that meets it. The NUTS run is stopped after 15 minutes
   (``HIER_LIMIT_S``), and the row then says so.
   The section's results are merged into the existing JSON (``--only hier``).

4. r_bridgesampling: our bridge and warp-3 estimators against R's bridgesampling package
   (Gronau et al.; Debian's r-cran-bridgesampling, run through Rscript when installed) on
   the same posterior draws and the same log density: a Bayesian linear regression with
   known noise variance (n = 200, d = 4, beta ~ N(0, 2^2 I)), whose evidence is known in
   closed form, 2 x 5000 exact posterior draws, 10 repetitions each.

Everything printed is computed in the run. The machine is shared: compare rows of one run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    fmt,
    goal_rows,
    log,
    machine_info,
    md_table,
    standard_args,
    update_readme_block,
)

ROOT = Path(__file__).resolve().parents[1]
THESIS = {"omega": 0.266, "A": 0.100, "B": 0.890, "mu": 1.186, "eta_bar": 0.060, "v": 1.498}
# the thesis's Table 1 (HMC column, 40,000 draws): ESS/s 463-927; AdMit 85-99; griddy 2-12
THESIS_ESS_S = {"hmc": (463, 927), "admit": (85, 99), "griddy": (2.2, 11.6)}
WINDOW = ("2012-04-13", "2017-04-21")  # one day before the first change
FULL = {"nuts": (500, 1500), "nuts_dense": (500, 1500), "hmc": (500, 3000),
        "admit": (500, 3000), "griddy": (100, 500), "bridge_draws": (500, 2000),
        "repetitions": 10, "hier": (2, 10, 10)}
QUICK = {"nuts": (300, 1000), "nuts_dense": (300, 1000), "hmc": (300, 1000),
         "admit": (300, 1000), "griddy": (100, 300), "bridge_draws": (300, 1000),
         "repetitions": 3, "hier": (2, 5, 5)}
GOAL_NUTS_ESS_S = 2000.0
GOAL_HIER_S = 600.0
HIER_LIMIT_S = 900.0  # the hier section's NUTS run is stopped after this (goal 600 s)
MODEL_OPTIONS = {"mean": True, "priors": {"mu_scale": 10.0}}  # mu ~ N(0, 10^2): flat-ish


def sp500(kind: str):
    """Daily S&P 500 point changes ('points') or percent log returns ('percent')."""
    import pandas as pd
    from arch.data import sp500 as data

    close = data.load()["Adj Close"].loc[WINDOW[0]:WINDOW[1]]
    y = close.diff() if kind == "points" else 100 * np.log(close).diff()
    return pd.DataFrame({"SP500": y.dropna()})


def simulated(n: int):
    from bayesvol.simulate.beta_t_egarch import simulate_beta_t_egarch

    return simulate_beta_t_egarch(n, **THESIS, seed=2017).to_frame()


def nuts_warm(model, panel, key_seed: int, warmup: int, draws: int, chains: int = 2,
              dense: bool = False, method: str = "sequential") -> dict:
    """NUTS on the model's log density (the settings of bv.fit's NUTS), second run timed."""
    import jax
    from numpyro.infer import MCMC, NUTS

    from bayesvol.api import as_panel
    from bayesvol.inference.mcmc.diagnostics import summarize
    from bayesvol.inference.runner import run_mode

    data = model.prepare(as_panel(panel))
    mode = run_mode(model, data)
    data_i = jax.tree_util.tree_map(lambda x: x[0], data)
    z0 = np.tile(np.asarray(mode.z[0]), (chains, 1))
    kernel = NUTS(potential_fn=lambda z: -model.log_joint(z, data_i), dense_mass=dense)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=method, progress_bar=False)
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(key_seed), init_params=z0)
    jax.block_until_ready(mcmc.get_samples())
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(key_seed + 1), init_params=z0)
    z = np.asarray(mcmc.get_samples(group_by_chain=True))
    warm = time.perf_counter() - t0
    moved = np.any(np.diff(z, axis=1) != 0, axis=-1).mean(axis=1)
    diag = summarize(z, moved, warm)
    return {"z": z, "first_s": first, "seconds": warm, "diag": diag, "chains": chains,
            "how": f"{method}, {'dense' if dense else 'diagonal'} mass"}


def natural(model, z: np.ndarray) -> dict[str, np.ndarray]:
    """Natural-scale draws {name: [chains * draws]} of unconstrained draws [chains, draws, d]."""
    import jax

    flat = z.reshape(-1, z.shape[-1])
    p = jax.vmap(model.constrain)(flat)
    return {k: np.asarray(v) for k, v in p.items() if k in model.param_names}


def sampler_section(name: str, panel, cfg: dict) -> dict:
    import bayesvol as bv
    from bayesvol.api import build_model

    model = build_model("beta-t-egarch", **MODEL_OPTIONS)
    out: dict = {"T": int(panel.shape[0]), "methods": {}}
    for _ in range(2):  # the second call is warm
        t0 = time.perf_counter()
        mle = bv.fit(panel, model="beta-t-egarch", method="mle", **MODEL_OPTIONS)
        mle_s = time.perf_counter() - t0
    mle_point = natural(model, np.asarray(mle.point)[None])
    out["mle"] = {"seconds": mle_s, "point": {k: float(v[0]) for k, v in mle_point.items()}}
    log(f"{name}: MLE {mle_s:.2f} s warm")
    warmup, draws = cfg["nuts"]
    nuts = nuts_warm(model, panel, 1, warmup, draws)
    ref = natural(model, nuts["z"])
    out["methods"]["nuts"] = row(nuts["diag"], ref, ref, nuts["seconds"], nuts["first_s"],
                                 (warmup, draws), nuts["how"], nuts["chains"])
    log(f"{name}: NUTS {nuts['seconds']:.1f} s warm (first {nuts['first_s']:.1f} s), "
        f"min ESS/s {nuts['diag']['ess_per_s_min']:.0f}")
    warmup, draws = cfg["nuts_dense"]
    tuned = nuts_warm(model, panel, 11, warmup, draws, dense=True)
    out["methods"]["nuts dense"] = row(tuned["diag"], natural(model, tuned["z"]), ref,
                                       tuned["seconds"], tuned["first_s"], (warmup, draws),
                                       tuned["how"], tuned["chains"])
    log(f"{name}: NUTS dense {tuned['seconds']:.1f} s warm, min ESS/s "
        f"{tuned['diag']['ess_per_s_min']:.0f}")
    for method in ("hmc", "admit", "griddy"):
        warmup, draws = cfg[method]
        fit = bv.fit(panel, model="beta-t-egarch", method=method, num_warmup=warmup,
                     num_samples=draws, num_chains=2, seed=3, **MODEL_OPTIONS)
        diag = fit.diagnostics["per_asset"][0]
        nat = natural(model, np.asarray(fit.z)[0])
        out["methods"][method] = row(diag, nat, ref, diag["sampling_seconds"],
                                     fit.runtime.get("compile"), (warmup, draws), "vmapped", 2)
        log(f"{name}: {method} {diag['sampling_seconds']:.1f} s, min ESS/s "
            f"{diag['ess_per_s_min']:.1f}, max |dmean|/sd "
            f"{out['methods'][method]['max_abs_mean_diff_sd']:.2f}")
    return out


def row(diag: dict, nat: dict, ref: dict, seconds: float, other_s, counts, how: str,
        chains: int) -> dict:
    dev = {k: float(abs(np.mean(nat[k]) - np.mean(ref[k])) / np.std(ref[k])) for k in ref}
    return {"seconds": float(seconds), "other_s": None if other_s is None else float(other_s),
            "warmup": int(counts[0]), "draws_per_chain": int(counts[1]), "chains": int(chains),
            "how": how, "ess_min": float(diag["ess_min"]),
            "ess_per_s_min": float(diag["ess_per_s_min"]),
            "rhat_max": diag.get("rhat_max"), "acceptance": float(diag["acceptance_rate"]),
            "means": {k: float(np.mean(v)) for k, v in nat.items()},
            "sds": {k: float(np.std(v)) for k, v in nat.items()},
            "max_abs_mean_diff_sd": max(dev.values())}


def bridge_section(cfg: dict) -> dict:
    import bayesvol as bv

    panel = sp500("percent")
    warmup, draws = cfg["bridge_draws"]
    out: dict = {"T": int(panel.shape[0]), "models": {}}
    fits = {}
    for label, model, opts in (("garch-t", "garch", {"dist": "t", "mean": True}),
                               ("beta-gen-t-egarch", "beta-t-egarch", MODEL_OPTIONS)):
        fit = bv.fit(panel, model=model, method="nuts", num_warmup=warmup, num_samples=draws,
                     num_chains=2, seed=5, **opts)
        t0 = time.perf_counter()
        ev = bv.evidence(fit, method="warp3", repetitions=cfg["repetitions"], seed=7)
        seconds = time.perf_counter() - t0
        est = np.asarray(ev.details[0].estimates, dtype=float)
        fits[label] = fit
        out["models"][label] = {"log_ml": ev.log_ml, "error": ev.error,
                                "sd_repetitions": float(np.std(est, ddof=1)),
                                "repetitions": int(est.size), "seconds": seconds,
                                "converged": ev.converged, "rhat_max":
                                fit.diagnostics.get("rhat_max")}
        log(f"bridge {label}: log p(y) {ev.log_ml:.3f} +- {ev.error:.3f} "
            f"(sd over {est.size} = {np.std(est, ddof=1):.4f}), {seconds:.1f} s")
    table = bv.compare(fits, repetitions=cfg["repetitions"], seed=7)
    out["comparison"] = [{"label": str(k), **json.loads(r.to_json())}
                         for k, r in table.iterrows()]
    return out


def hier_panel():
    """The 10-asset RC-GAS-t panel of section 3 (deterministic)."""
    from bayesvol.simulate import simulate_gas_t_cov

    k, T = 10, 757
    m = k * (k - 1) // 2
    a_phi = np.clip(np.random.default_rng(3).normal(0.015, 0.003, m), 0.005, None)
    return simulate_gas_t_cov(T, n_assets=k, a_D=0.06, b_D=0.98, a_phi=a_phi, b_phi=0.985,
                              nu_bar=0.1, seed=5).to_frame()


def _hier_nuts(chains: int, warmup: int, draws: int, queue) -> None:
    """Child process of :func:`hier_section`: the NUTS fit, its diagnostics to ``queue``."""
    import bayesvol as bv

    fit = bv.fit(hier_panel(), model="gas-t-cov", variant="hier", method="nuts",
                 num_warmup=warmup, num_samples=draws, num_chains=chains, seed=11)
    queue.put({k: fit.diagnostics.get(k) for k in ("rhat_max", "ess_min", "divergences")})


def hier_section(cfg: dict) -> dict:
    """RC-GAS-t on 10 simulated assets (module docstring, section 3). The NUTS fit runs in a
    child process stopped after ``HIER_LIMIT_S``: past 10 minutes the goal has failed, and
    the section still records how long it ran."""
    import multiprocessing as mp

    import jax

    from bayesvol.api import as_panel, build_model

    chains, warmup, draws = cfg["hier"]
    frame = hier_panel()
    model = build_model("gas-t-cov", variant="hier").bind(as_panel(frame))
    data = jax.tree_util.tree_map(lambda x: x[0], model.prepare(as_panel(frame)))
    vg = jax.jit(jax.value_and_grad(lambda z: model.log_joint(z, data)))
    z0 = model.initial_z(data)
    jax.block_until_ready(vg(z0))
    t0 = time.perf_counter()
    for i in range(20):
        out = vg(z0 + 1e-6 * i)
    jax.block_until_ready(out)
    grad_ms = (time.perf_counter() - t0) / 20 * 1e3
    log(f"hier GAS-t: d = {model.dim}, value and gradient {grad_ms:.1f} ms")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_hier_nuts, args=(chains, warmup, draws, queue))
    t0 = time.perf_counter()
    child.start()
    try:
        diag = queue.get(timeout=HIER_LIMIT_S)
        finished = True
    except Exception:  # queue.Empty: the time limit passed
        diag, finished = {}, False
    seconds = time.perf_counter() - t0
    if child.is_alive():
        child.terminate()
    child.join()
    log(f"hier GAS-t: NUTS {chains} x ({warmup} + {draws}) "
        f"{'finished' if finished else 'stopped unfinished'} after {seconds:.0f} s, max "
        f"R-hat {diag.get('rhat_max')}, min ESS {diag.get('ess_min')}")
    return {"k": frame.shape[1], "T": frame.shape[0], "dim": int(model.dim), "chains": chains,
            "warmup": warmup, "draws": draws, "seconds": seconds, "finished": finished,
            "grad_ms": grad_ms, "rhat_max": diag.get("rhat_max"),
            "ess_min": diag.get("ess_min"), "divergences": diag.get("divergences")}


R_SCRIPT = r"""
suppressMessages(library(bridgesampling))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); X <- as.matrix(read.csv(args[2])); y <- X[, 1]; X <- X[, -1]
tau <- as.numeric(args[3]); reps <- as.integer(args[4])
samples <- as.matrix(d)
lp <- function(pars, data) {
  b <- pars[paste0("b", seq_len(ncol(data$X)))]
  r <- data$y - data$X %*% b
  sum(dnorm(r, 0, 1, log = TRUE)) + sum(dnorm(b, 0, data$tau, log = TRUE))
}
lb <- setNames(rep(-Inf, ncol(samples)), colnames(samples)); ub <- -lb
out <- c()
for (m in c("normal", "warp3")) {
  t0 <- proc.time()[["elapsed"]]
  fit <- bridge_sampler(samples = samples, log_posterior = lp,
                        data = list(y = y, X = X, tau = tau), lb = lb, ub = ub,
                        method = m, repetitions = reps, silent = TRUE)
  out <- c(out, sprintf("%s %.10f %.10f %.4f", m, mean(fit$logml), sd(fit$logml),
                        proc.time()[["elapsed"]] - t0))
}
writeLines(out)
"""


def regression_problem(n: int = 200, d: int = 4, tau: float = 2.0, seed: int = 11):
    """y = X beta + e, e ~ N(0, 1), beta ~ N(0, tau^2 I): exact posterior and evidence."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.normal(0, 1, d) + rng.standard_normal(n)
    prec = X.T @ X + np.eye(d) / tau**2
    cov = np.linalg.inv(prec)
    mean = cov @ X.T @ y
    marg = np.eye(n) + tau**2 * X @ X.T
    sign, logdet = np.linalg.slogdet(marg)
    exact = -0.5 * (n * np.log(2 * np.pi) + logdet + y @ np.linalg.solve(marg, y))
    draws = rng.multivariate_normal(mean, cov, size=(2, 5000))
    return X, y, tau, draws, float(exact)


def r_section(cfg: dict) -> dict:
    import shutil
    import subprocess

    import jax
    import jax.numpy as jnp

    from bayesvol.inference.evidence.bridge import bridge_batch

    X, y, tau, draws, exact = regression_problem()
    reps = cfg["repetitions"]
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    @jax.jit
    def kernel(b):  # [M, d] -> [M]
        r = yj[None, :] - b @ Xj.T
        ll = -0.5 * jnp.sum(r**2, axis=1) - 0.5 * len(y) * jnp.log(2 * jnp.pi)
        return ll + jnp.sum(jax.scipy.stats.norm.logpdf(b, 0.0, tau), axis=1)

    def log_kernel(points):  # [1, M, d] -> [1, M]
        return np.asarray(kernel(jnp.asarray(points)[0]))[None]

    out: dict = {"exact": exact, "n": int(len(y)), "d": int(X.shape[1]), "ours": {},
                 "R": None}
    for method in ("bridge", "warp3"):
        t0 = time.perf_counter()
        res = bridge_batch(log_kernel, draws[None], method=method, repetitions=reps, seed=3)[0]
        out["ours"][method] = {"log_ml": res.log_ml, "sd": float(np.std(res.estimates, ddof=1)),
                               "error": res.error, "seconds": time.perf_counter() - t0}
    rscript = shutil.which("Rscript")
    if rscript is None:
        out["R_note"] = "Rscript not found (apt-get install r-cran-bridgesampling)"
        return out
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        import pandas as pd

        pd.DataFrame(draws.reshape(-1, draws.shape[-1]),
                     columns=[f"b{i + 1}" for i in range(X.shape[1])]).to_csv(
            tmp / "draws.csv", index=False)
        pd.DataFrame(np.column_stack([y, X])).to_csv(tmp / "xy.csv", index=False)
        (tmp / "bs.R").write_text(R_SCRIPT)
        proc = subprocess.run([rscript, str(tmp / "bs.R"), str(tmp / "draws.csv"),
                               str(tmp / "xy.csv"), str(tau), str(reps)],
                              capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        out["R_note"] = f"Rscript failed: {proc.stderr.strip()[-300:]}"
        return out
    out["R"] = {}
    for line in proc.stdout.split("\n"):
        parts = line.split()
        if len(parts) == 4:
            name = "bridge" if parts[0] == "normal" else parts[0]
            out["R"][name] = {"log_ml": float(parts[1]), "sd": float(parts[2]),
                              "seconds": float(parts[3])}
    log("R bridgesampling vs ours: " + ", ".join(
        f"{m} ours {out['ours'][m]['log_ml']:.4f} R {out['R'][m]['log_ml']:.4f}"
        for m in out["R"]) + f", exact {exact:.4f}")
    return out


# ------------------------------------------------------------------------------- output
def tables(results: dict) -> list:
    out = []
    for name, sec in results.get("samplers", {}).items():
        rows = [["MLE", fmt(sec["mle"]["seconds"]), "", "", "", "", "", ""]]
        for m, r in sec["methods"].items():
            counts = f"{r['chains']} x ({r['warmup']} + {r['draws_per_chain']})"
            rows.append([f"{m} ({r['how']})", fmt(r["seconds"]), counts, fmt(r["ess_min"]),
                         fmt(r["ess_per_s_min"]), fmt(r["rhat_max"]), fmt(r["acceptance"]),
                         fmt(r["max_abs_mean_diff_sd"], 2)])
        out.append((f"Beta-Gen-t-EGARCH samplers, {name} (T = {sec['T']})",
                    ["method", "seconds (warm)", "chains x (warm-up + draws)", "min ESS",
                     "min ESS/s", "max R-hat", "acceptance", "max abs mean diff / NUTS sd"],
                    rows))
        params = list(sec["methods"]["nuts"]["means"])
        prow = [[m, *(fmt(r["means"][p]) for p in params)]
                for m, r in sec["methods"].items()]
        prow.append(["MLE", *(fmt(sec["mle"]["point"].get(p)) for p in params)])
        if name == "sp500 points":
            prow.append(["thesis HMC", *(fmt(THESIS.get(p)) for p in params)])
        out.append((f"Posterior means, {name}", ["method", *params], prow))
    if "bridge" in results:
        b = results["bridge"]
        rows = [[k, fmt(r["log_ml"], 7), fmt(r["error"]), fmt(r["sd_repetitions"]),
                 str(r["repetitions"]), fmt(r["seconds"])] for k, r in b["models"].items()]
        out.append((f"Bridge sampling (warp-3), S&P 500 percent returns (T = {b['T']})",
                    ["model", "log p(y)", "stated error", "sd over repetitions",
                     "repetitions", "seconds"], rows))
        rows = [[r["label"], fmt(r["two_log_bf"]), fmt(r["two_log_bf_error"]),
                 str(r["evidence"]), fmt(r["probability"]), fmt(r["bic"], 7)]
                for r in b["comparison"]]
        out.append(("Model comparison (2 log BF against the best)",
                    ["model", "2 log BF", "error", "Kass-Raftery", "probability", "BIC"],
                    rows))
    if "hier" in results:
        h = results["hier"]
        out.append((f"Hierarchical GAS-t (RC-GAS-t, non-centred), {h['k']} simulated assets x "
                    f"{h['T']} days, d = {h['dim']}",
                    ["chains x (warm-up + draws)", "seconds (compilation included)",
                     "max R-hat", "min ESS", "divergences", "ms per log-density gradient"],
                    [[f"{h['chains']} x ({h['warmup']} + {h['draws']})"
                      + ("" if h.get("finished", True) else " (stopped unfinished)"),
                      fmt(h["seconds"]),
                      fmt(h["rhat_max"]), fmt(h["ess_min"]), str(h["divergences"]),
                      fmt(h["grad_ms"])]]))
    if "r_bridgesampling" in results:
        r = results["r_bridgesampling"]
        rows = []
        for m, v in r["ours"].items():
            rv = (r.get("R") or {}).get(m)
            rows.append([m, fmt(r["exact"], 8), fmt(v["log_ml"], 8), fmt(v["sd"]),
                         fmt(rv["log_ml"], 8) if rv else "n/a", fmt(rv["sd"]) if rv else "n/a",
                         fmt(v["seconds"]), fmt(rv["seconds"]) if rv else "n/a"])
        out.append((f"Bridge sampling against R's bridgesampling, same draws and density "
                    f"(linear regression, n = {r['n']}, d = {r['d']})",
                    ["method", "exact log p(y)", "ours", "ours sd", "R", "R sd",
                     "ours seconds", "R seconds"], rows))
    return out


def goals(results: dict) -> dict:
    """Goal lines: True (PASS), False (FAIL) or None (not measured in this results file)."""
    g: dict = {}
    if "samplers" not in results:
        g[f"NUTS min ESS/s > {GOAL_NUTS_ESS_S:.0f}: samplers section not in this run"] = None
    for name, sec in results.get("samplers", {}).items():
        v = max(sec["methods"][m]["ess_per_s_min"] for m in ("nuts", "nuts dense"))
        g[f"NUTS min ESS/s > {GOAL_NUTS_ESS_S:.0f} ({name}, best setting): {v:.0f}"] = (
            v > GOAL_NUTS_ESS_S)
    h = results.get("hier")
    label = "hierarchical GAS-t, 10 assets: 4 x 1000 draws with R-hat < 1.01 in < 10 min"
    if h is None:
        g[f"{label}: section not in this run"] = None
    else:
        state = "" if h.get("finished", True) else ", stopped unfinished"
        ran = (f"{label} (ran {h['chains']} x ({h['warmup']} + {h['draws']}): "
               f"{h['seconds']:.0f} s{state}, R-hat {fmt(h['rhat_max'])})")
        full = h["chains"] >= 4 and h["draws"] >= 1000
        ok = h["seconds"] < GOAL_HIER_S and (h["rhat_max"] or 9.0) < 1.01
        g[ran] = False if h["seconds"] >= GOAL_HIER_S else (ok if full else None)
    return g


def render(out_dir: Path) -> None:
    doc = json.loads((out_dir / "gas.json").read_text())
    results, gl = doc["results"], goals(doc["results"])
    lines = ["# GAS benchmark", "", f"Machine (last run): {doc['machine']}", ""]
    for section, info in (doc.get("machines") or {}).items():
        lines += [f"- section {section}: run {info.get('date')}, load "
                  f"{info.get('loadavg_start')} -> {info.get('loadavg_end')}"]
    lines += [""]
    for t in tables(results):
        lines += md_table(*t)
    lines += ["### Goals", ""]
    lines += [f"- {'n/a ' if ok is None else 'PASS' if ok else 'FAIL'}  {k}"
              for k, ok in gl.items()]
    lines += ["", "Thesis (Table 1, C code, 40,000 draws): ESS/s " + ", ".join(
        f"{k} {a}-{b}" for k, (a, b) in THESIS_ESS_S.items()), ""]
    snippet = readme_lines(results, gl)
    lines += ["### README snippet", "", *snippet, ""]
    (out_dir / "gas.md").write_text("\n".join(lines))
    if not doc["quick"]:
        update_readme_block(ROOT / "README.md", "gas", snippet)


def readme_lines(results: dict, gl: dict) -> list[str]:
    rows = ["| benchmark | figure | goal |", "|---|---|---|"]
    for name, sec in results.get("samplers", {}).items():
        cells = ", ".join(f"{m} {fmt(r['ess_per_s_min'])}" for m, r in sec["methods"].items())
        rows.append(f"| Beta-Gen-t-EGARCH {name}, min ESS/s | {cells}; MLE "
                    f"{fmt(sec['mle']['seconds'])} s | |")
    if "bridge" in results:
        for k, r in results["bridge"]["models"].items():
            rows.append(f"| bridge sampling {k} | log p(y) {fmt(r['log_ml'], 7)}, sd over "
                        f"{r['repetitions']} = {fmt(r['sd_repetitions'])}, "
                        f"{fmt(r['seconds'])} s | |")
    if "hier" in results:
        h = results["hier"]
        state = "" if h.get("finished", True) else ", stopped unfinished"
        rows.append(f"| hierarchical GAS-t, {h['k']} assets, d = {h['dim']}, NUTS "
                    f"{h['chains']} x ({h['warmup']} + {h['draws']}) | {fmt(h['seconds'])} s"
                    f"{state}, "
                    f"max R-hat {fmt(h['rhat_max'])}, {fmt(h['grad_ms'])} ms per gradient | |")
    if "r_bridgesampling" in results:
        r = results["r_bridgesampling"]
        for m, v in r["ours"].items():
            rv = (r.get("R") or {}).get(m)
            rows.append(f"| bridge sampling ({m}) vs R bridgesampling, same draws, exact "
                        f"{fmt(r['exact'], 8)} | ours {fmt(v['log_ml'], 8)}, R "
                        f"{fmt(rv['log_ml'], 8) if rv else 'n/a'} | |")
    rows += goal_rows(gl)
    return rows


def main() -> None:
    args, out_dir = standard_args(__doc__, "gas", "samplers,bridge,hier,r_bridgesampling",
                                  "smoke run (short chains)")
    if args.render:
        render(out_dir)
        return
    cfg = QUICK if args.quick else FULL
    info = machine_info()
    only = set(args.only.split(","))
    results: dict = {}
    t0 = time.perf_counter()
    if "samplers" in only:
        sp = sp500("points")
        results["samplers"] = {"sp500 points": sampler_section("sp500 points", sp, cfg)}
        if "simulated" in only:
            results["samplers"]["simulated"] = sampler_section("simulated", simulated(len(sp)),
                                                               cfg)
    if "bridge" in only:
        results["bridge"] = bridge_section(cfg)
    if "hier" in only:
        results["hier"] = hier_section(cfg)
    if "r_bridgesampling" in only:
        results["r_bridgesampling"] = r_section(cfg)
    info["wall_s"] = time.perf_counter() - t0
    info["loadavg_end"] = os.getloadavg()
    out_dir.mkdir(parents=True, exist_ok=True)
    machines = {section: info for section in results}
    path = out_dir / "gas.json"
    if path.exists() and not args.quick:  # keep the sections this run did not repeat
        old = json.loads(path.read_text())
        if not old.get("quick"):
            old_machines = old.get("machines") or {s: old["machine"] for s in old["results"]}
            machines = {**old_machines, **machines}
            results = {**old["results"], **results}
    path.write_text(json.dumps(
        {"machine": info, "machines": machines, "quick": args.quick, "config": cfg,
         "results": results}, indent=2, default=float))
    render(out_dir)
    print((out_dir / "gas.md").read_text())
    log(f"wrote {out_dir / 'gas.json'} and {out_dir / 'gas.md'}")


if __name__ == "__main__":
    main()
