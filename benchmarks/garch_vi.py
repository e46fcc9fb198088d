"""Benchmark: VI for the skewed-t GARCH(1,1) against arch's MLE, NumPyro SVI and NUTS.

The paper's simulation design (SVI-GARCH paper, 3.2-3.3): skewed-t innovations, omega 0.1,
alpha 0.2, beta 0.75, nu 4, xi 0.8. One series is simulated (seed 0, T = 5000); T = 1000 uses
its first 1000 points, everywhere. Four sections, each printed as a table:

1. speed: our VI cold and warm, arch's t-GARCH MLE, NumPyro's AutoMultivariateNormal SVI to
   our ELBO, and NUTS (1 chain, 1000 + 1000), as seconds and ratios measured in this run.
2. accuracy, T = 1000 and 5000: overlap accuracy per parameter (spec 2.12) of VI variants
   against a long NUTS reference (2 chains x (1000 warm-up + 10000 draws)); a second NUTS
   run with another seed gives the metric's noise floor.
2b. the paper's application: S&P 500 log returns (percent) 2015-2018 from arch's bundled
   data, VI against NUTS (2 chains x (1000 + 5000)), next to the paper's quoted accuracies.
3. sequential: UVB and Seq-SVB updates (spec 2.10; Tables 3, 5, 6 scaled down) to T_N = 1000:
   time per update against a full refit on the same data, and accuracy after c updates.

    python benchmarks/garch_vi.py            # full run (about 9-10 min, 2 cores)
    python benchmarks/garch_vi.py --quick    # smoke run (about 2-3 min)

Writes results/garch_vi.json (all figures and machine info) and results/garch_vi.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import numpyro
from arch.univariate import arch_model
from bench_common import Table, fmt, log  # noqa: F401
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoMultivariateNormal

import bayesvol as bv
from bayesvol.api import as_panel
from bayesvol.inference.sequential import sequential_schedule
from bayesvol.models.garch import GarchModel
from bayesvol.results import series_data
from bayesvol.simulate import simulate_garch
from bayesvol.updating import run_sequential

TRUTH = {"omega": 0.1, "alpha": 0.2, "beta": 0.75, "nu": 4.0, "xi": 0.8}
PARAMS = tuple(TRUTH)
T_N = 1000  # sequential design: final length (paper's first setting)
FULL = {"lengths": (1000, 5000), "repeats": 5, "nuts_timing": (1000, 1000),
        "ref": (2, 1000, 10000), "noise_floor": True, "mvn_max_steps": 20000,
        "starts": (500, 700, 900), "updates": (1, 5, 10), "acc_seeds": (0, 1, 2, 3, 4)}
QUICK = {"lengths": (1000,), "repeats": 2, "nuts_timing": (300, 300),
         "ref": (1, 500, 1500), "noise_floor": False, "mvn_max_steps": 4000,
         "starts": (900,), "updates": (2,), "acc_seeds": (0, 1)}
# VI configurations of the accuracy section (each fitted with every seed in acc_seeds)
ACCURATE = {"num_draws": 10000, "psis_draws": 10000}
MIDDLE = {"num_draws": 5000, "psis_draws": 5000}
VI_VARIANTS = {
    "VI full-rank + PSIS, 10000 draws": ACCURATE,
    "VI full-rank + PSIS, 5000 draws": MIDDLE,
    "VI full-rank, defaults (PSIS, 1000 draws)": {},
    "VI full-rank Gaussian q alone (psis=False), 10000 draws": {"num_draws": 10000,
                                                                "psis": False},
    "VI full-rank + PSIS, 10000 draws, paper links (logit psi1, softplus nu)": {
        **ACCURATE, "psi1_map": "logit", "nu_map": "softplus"},
}
GOAL_ROW = "VI full-rank + PSIS, 10000 draws"
DEFAULT_ROW = "VI full-rank, defaults (PSIS, 1000 draws)"
def fit_vi(df, seed: int = 0, **kw):
    return bv.fit(df, dist="skewt", method="vi", seed=seed, **kw)


def fit_nuts(df, seed: int, chains: int, warmup: int, draws: int):
    return bv.fit(df, dist="skewt", method="nuts", seed=seed, num_chains=chains,
                  num_warmup=warmup, num_samples=draws)


def accuracy(fit, ref) -> dict[str, float]:
    tab = bv.accuracy_table(fit.flat_draws(), ref.flat_draws())
    return {k: float(tab.loc[k, "accuracy"]) for k in PARAMS}


# ------------------------------------------------------------------------ 1. speed
def arch_seconds(y: np.ndarray, repeats: int) -> float:
    arch_model(y, mean="Zero", vol="GARCH", dist="t").fit(disp="off")  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        arch_model(y, mean="Zero", vol="GARCH", dist="t").fit(disp="off")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def automvn(df, target: float, max_steps: int, chunk: int = 500) -> dict:
    """NumPyro AutoMultivariateNormal SVI (Adam 0.01, 16 particles) on our log-joint.

    svi.run is jitted per chunk of steps; a warm-up chunk compiles it (excluded, reported),
    then a fresh run goes chunk by chunk until the 50-step moving average of -loss reaches
    target (our ELBO - 1) or max_steps. Time to target = run time * step / steps run.
    """
    model = GarchModel(dist="skewt")
    data = jax.tree_util.tree_map(lambda x: x[0], series_data(as_panel(df)))
    svi = SVI(model.numpyro_model, AutoMultivariateNormal(model.numpyro_model),
              numpyro.optim.Adam(0.01), Trace_ELBO(num_particles=16))
    run = jax.jit(lambda state, key: svi.run(key, chunk, data, progress_bar=False,
                                             init_state=state))
    t0 = time.perf_counter()
    jax.block_until_ready(run(svi.init(jax.random.PRNGKey(1), data), jax.random.PRNGKey(1)))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, losses, step = svi.init(jax.random.PRNGKey(0), data), [], None
    while len(losses) < max_steps and step is None:
        res = run(state, jax.random.PRNGKey(len(losses)))
        state = res.state
        losses.extend(np.asarray(res.losses).tolist())
        ma = np.convolve(-np.asarray(losses), np.ones(50) / 50, mode="valid")
        hit = np.flatnonzero(ma >= target)
        step = int(hit[0]) + 50 if hit.size else None
    total = time.perf_counter() - t0
    n = len(losses)
    return {"compile_s": compile_s, "run_s": total, "steps_run": n, "steps_to_target": step,
            "seconds_to_target": total * step / n if step else None,
            "final_elbo_ma50": float(-np.mean(losses[-50:])), "target": target}


def section_speed(series, cfg) -> tuple[dict, Table]:
    out = {}
    for T in cfg["lengths"]:
        df = series.iloc[:T]
        log(f"speed T={T}: VI cold")
        cold = fit_vi(df, seed=0)
        warm = [fit_vi(df, seed=s) for s in range(1, cfg["repeats"] + 1)]
        r = {"vi_cold_s": cold.runtime["total"],
             "vi_warm_s": statistics.median(f.runtime["total"] for f in warm),
             "vi_warm_all_s": [f.runtime["total"] for f in warm],
             "vi_iterations": [f.diagnostics["iterations"] for f in warm],
             "vi_converged": all(f.diagnostics["converged"] for f in [cold, *warm]),
             "vi_elbo": float(cold.elbo[0]), "_fit": cold,
             "pareto_k": cold.diagnostics.get("pareto_k", [None])[0]}
        log(f"speed T={T}: VI with psis=False, cold then warm")
        off = [fit_vi(df, seed=s, psis=False) for s in range(cfg["repeats"] + 1)]
        r["vi_nopsis_warm_s"] = statistics.median(f.runtime["total"] for f in off[1:])
        for key, kw in (("vi_accurate_warm_s", ACCURATE), ("vi_middle_warm_s", MIDDLE)):
            log(f"speed T={T}: VI with {kw}, cold then warm")
            fits = [fit_vi(df, seed=s, **kw) for s in range(cfg["repeats"] + 1)]
            r[key] = statistics.median(f.runtime["total"] for f in fits[1:])
        log(f"speed T={T}: arch MLE")
        r["arch_s"] = arch_seconds(df.iloc[:, 0].to_numpy(), cfg["repeats"])
        log(f"speed T={T}: NumPyro AutoMultivariateNormal")
        r["automvn"] = automvn(df, r["vi_elbo"] - 1.0, cfg["mvn_max_steps"])
        w, n = cfg["nuts_timing"]
        log(f"speed T={T}: NUTS 1 chain {w}+{n}, twice")
        nuts = [fit_nuts(df, seed, 1, w, n) for seed in (0, 1)]
        r["nuts_first_s"], r["nuts_s"] = (f.runtime["total"] for f in nuts)
        r["nuts_diagnostics"] = nuts[1].diagnostics
        r["_nuts"] = nuts[1]
        mvn_s = r["automvn"]["seconds_to_target"]
        r["ratios"] = {"vi_warm_over_arch": r["vi_warm_s"] / r["arch_s"],
                       "nuts_over_vi_warm": r["nuts_s"] / r["vi_warm_s"],
                       "automvn_over_vi_warm": mvn_s / r["vi_warm_s"] if mvn_s else None}
        out[T] = r
    rows = [
        ("VI cold: first call at this T (compile incl.) [s]", lambda r: fmt(r["vi_cold_s"])),
        (f"VI warm: median of {cfg['repeats']} seeds [s]", lambda r: fmt(r["vi_warm_s"])),
        ("VI iterations (warm runs)", lambda r: ",".join(map(str, r["vi_iterations"]))),
        ("VI warm, psis=False: median [s]", lambda r: fmt(r["vi_nopsis_warm_s"])),
        ("VI warm, PSIS with 5000 draws: median [s]", lambda r: fmt(r["vi_middle_warm_s"])),
        ("VI warm, PSIS with 10000 draws: median [s]", lambda r: fmt(r["vi_accurate_warm_s"])),
        ("PSIS k-hat (seed-0 VI fit, defaults)", lambda r: fmt(r["pareto_k"], 2)),
        (f"arch MLE, t GARCH: median of {cfg['repeats']} [s]", lambda r: fmt(r["arch_s"])),
        ("AutoMVN SVI to our ELBO - 1 [s]", lambda r: fmt(r["automvn"]["seconds_to_target"])),
        ("AutoMVN steps to target / steps run",
         lambda r: f"{r['automvn']['steps_to_target']} / {r['automvn']['steps_run']}"),
        ("AutoMVN run, compile excl. / its compile [s]",
         lambda r: f"{fmt(r['automvn']['run_s'])} / {fmt(r['automvn']['compile_s'])}"),
        (f"NUTS 1 chain {w}+{n}: repeat call / first call [s]",
         lambda r: f"{fmt(r['nuts_s'])} / {fmt(r['nuts_first_s'])}"),
        ("ratio VI warm / arch MLE", lambda r: fmt(r["ratios"]["vi_warm_over_arch"])),
        ("ratio NUTS / VI warm", lambda r: fmt(r["ratios"]["nuts_over_vi_warm"])),
        ("ratio AutoMVN / VI warm", lambda r: fmt(r["ratios"]["automvn_over_vi_warm"])),
    ]
    table = ("Speed: skewed-t GARCH(1,1), one series", ["", *(f"T={T}" for T in out)],
             [[label, *(f(r) for r in out.values())] for label, f in rows])
    return out, table


# --------------------------------------------------------------------- 2. accuracy
def seeded_rows(df, ref, variants: dict, seeds, label: str) -> tuple[dict, dict]:
    """Accuracy rows of VI variants fitted with every seed: worst per parameter (and median
    for GOAL_ROW), plus per-seed figures for the JSON."""
    acc, info = {}, {}
    for name, kw in variants.items():
        log(f"{label}: {name}, seeds {list(seeds)}")
        fits = [fit_vi(df, seed=s, **kw) for s in seeds]
        per_seed = [accuracy(f, ref) for f in fits]
        acc[f"{name} (worst of {len(seeds)} seeds)"] = {
            k: min(a[k] for a in per_seed) for k in PARAMS}
        if name == GOAL_ROW:
            acc[f"{name} (median of {len(seeds)} seeds)"] = {
                k: statistics.median(a[k] for a in per_seed) for k in PARAMS}
        info[name] = {"per_seed_accuracy": per_seed,
                      "seconds": [f.runtime["total"] for f in fits],
                      "pareto_k": [f.diagnostics["pareto_k"][0] for f in fits],
                      "psis_reliable": [f.diagnostics["psis_reliable"][0] for f in fits],
                      "iterations": [f.diagnostics["iterations"] for f in fits],
                      "elbo": [float(f.elbo[0]) for f in fits]}
    return acc, info


def section_accuracy(series, speed, cfg, lengths) -> tuple[dict, Table, dict]:
    """Overlap accuracy per parameter against the long NUTS reference.

    Each VI variant is fitted with every seed in acc_seeds; its row shows the worst accuracy
    over those seeds per parameter (the goal row also its median). NUTS rows: the 1-chain
    timing run, a second long run (the metric's noise floor with 20000 draws) and that run
    thinned to 1000 draws (the floor with 1000 draws, the default number VI returns).
    """
    out, refs = {}, {}
    chains, w, n = cfg["ref"]
    seeds = cfg["acc_seeds"]
    for T in lengths:
        df = series.iloc[:T]
        log(f"accuracy T={T}: NUTS reference {chains} x ({w}+{n})")
        ref = fit_nuts(df, 100, chains, w, n)
        refs[T] = ref
        acc, info = seeded_rows(df, ref, VI_VARIANTS, seeds, f"accuracy T={T}")
        log(f"accuracy T={T}: VI mean-field, VI paper settings (seed 0)")
        others = {"VI mean-field (seed 0)": fit_vi(df, family="meanfield"),
                  "VI paper settings (reparam, S=5; seed 0)": fit_vi(
                      df, vi=bv.VIOptions.paper(), psi1_map="logit", nu_map="softplus")}
        if T in speed:
            tw, tn = cfg["nuts_timing"]
            others[f"NUTS 1 chain {tw}+{tn} (timing run)"] = speed[T]["_nuts"]
        for name, f in others.items():
            acc[name] = accuracy(f, ref)
            info[name] = {"seconds": f.runtime["total"], "diagnostics": f.diagnostics}
        if cfg["noise_floor"]:
            log(f"accuracy T={T}: second NUTS reference (noise floor)")
            second = fit_nuts(df, 200, chains, w, n)
            acc[f"NUTS {chains} x ({w}+{n}), another seed"] = accuracy(second, ref)
            draws = second.flat_draws()
            step = max(1, len(draws[PARAMS[0]]) // 1000)
            acc["the same, thinned to 1000 draws"] = {
                k: float(bv.accuracy_table({k: draws[k][::step]}, {k: ref.flat_draws()[k]}
                                           ).loc[k, "accuracy"]) for k in PARAMS}
        out[T] = {"accuracy": acc, "fits": info, "reference": {
            "chains": chains, "warmup": w, "draws": n, "seconds": ref.runtime["total"],
            "diagnostics": ref.diagnostics}}
    header = ["T", "method", *PARAMS, "min"]
    body = [[str(T), name, *(fmt(a[k], 4) for k in PARAMS), fmt(min(a.values()), 4)]
            for T, r in out.items() for name, a in r["accuracy"].items()]
    title = f"Accuracy (%) vs NUTS {chains} x ({w}+{n}) (paper Table 1: 82-97%)"
    return out, (title, header, body), refs


# ------------------------------------------------------------- 2b. S&P 500 (paper 5)
SP500_WINDOW = ("2015-01-02", "2018-12-31")  # the paper's ends 2019-01-04; arch's data 2018
PAPER_SP500 = {"paper SVB-CV (quoted, spec 5)": [97.56, 95.86, 97.42, 93.23, 93.44],
               "paper SVB-RT (quoted, spec 5)": [94.06, 98.13, 95.42, 90.49, 92.80]}


def section_sp500(cfg) -> tuple[dict, Table]:
    """The paper's application: skewed-t GARCH on S&P 500 log returns in percent (arch's
    bundled prices), VI variants over seeds against a long NUTS run, next to the paper's
    quoted SVB accuracies (their MCMC reference and window differ slightly)."""
    df = bv.load_bundled("sp500").to_frame().loc[SP500_WINDOW[0]:SP500_WINDOW[1]]
    chains, w, n = cfg["ref"]
    n = n // 2
    log(f"S&P 500: {len(df)} returns; NUTS reference {chains} x ({w}+{n})")
    ref = fit_nuts(df, 100, chains, w, n)
    variants = {k: VI_VARIANTS[k] for k in (GOAL_ROW, DEFAULT_ROW)}
    acc, info = seeded_rows(df, ref, variants, cfg["acc_seeds"], "S&P 500")
    acc.update({k: dict(zip(PARAMS, v, strict=True)) for k, v in PAPER_SP500.items()})
    out = {"n_returns": len(df), "window": SP500_WINDOW, "accuracy": acc, "fits": info,
           "reference": {"chains": chains, "warmup": w, "draws": n,
                         "seconds": ref.runtime["total"], "diagnostics": ref.diagnostics}}
    header = ["method", *PARAMS, "min"]
    body = [[name, *(fmt(a[k], 4) for k in PARAMS), fmt(min(a.values()), 4)]
            for name, a in acc.items()]
    title = (f"Accuracy (%) on S&P 500 log returns {SP500_WINDOW[0]}..{SP500_WINDOW[1]} "
             f"({len(df)} days) vs NUTS {chains} x ({w}+{n}) (paper section 5)")
    return out, (title, header, body)


# ------------------------------------------------------------------- 3. sequential
def sequential_pass(series, cfg, seed: int) -> dict:
    """All schedules once: per (T_n, c), update times of UVB / Seq-SVB, refit times, fits."""
    res = {}
    for t_n in cfg["starts"]:
        for c in cfg["updates"]:
            r = {}
            for method in ("uvb", "seqsvb"):
                fits = run_sequential(series, t_n, c, method=method, T_N=T_N, seed=seed,
                                      dist="skewt")
                r[method] = [f.diagnostics["update_seconds"] for f in fits[1:]]
                r[method + "_iterations"] = [f.diagnostics["iterations"] for f in fits[1:]]
                r["_" + method] = fits[-1]
            r["refit"] = [fit_vi(series.iloc[:hi], seed=seed).runtime["total"]
                          for _, hi in sequential_schedule(t_n, T_N, c)]
            res[(t_n, c)] = r
    return res


def section_sequential(series, ref, svb_acc, cfg) -> tuple[dict, list[Table]]:
    df = series.iloc[:T_N]
    log("sequential: warm-up pass (compiles every block and data length; times discarded)")
    sequential_pass(df, cfg, seed=1000)
    log("sequential: timed pass")
    res = sequential_pass(df, cfg, seed=0)
    methods = {"uvb": "UVB", "seqsvb": "Seq-SVB", "refit": "full refit"}
    out = {"schedules": {}, "median_update_s": {}, "accuracy_mean_over_starts": {}}
    for (t_n, c), r in res.items():
        out["schedules"][f"Tn={t_n},c={c}"] = {
            **{m: r[m] for m in methods}, "uvb_iterations": r["uvb_iterations"],
            "seqsvb_iterations": r["seqsvb_iterations"],
            "accuracy": {m: accuracy(r["_" + m], ref) for m in ("uvb", "seqsvb")}}
    for m in methods:
        per = {t_n: statistics.median(x for (s, _), r in res.items() if s == t_n for x in r[m])
               for t_n in cfg["starts"]}
        per["all"] = statistics.median(x for r in res.values() for x in r[m])
        out["median_update_s"][m] = per
    cols = [*cfg["starts"], "all"]
    rows = [[label, *(fmt(out["median_update_s"][m][k]) for k in cols)]
            for m, label in methods.items()]
    for m in ("uvb", "seqsvb"):
        rows.append([f"speed-up {methods[m]} vs refit",
                     *(fmt(out["median_update_s"]["refit"][k] / out["median_update_s"][m][k])
                       for k in cols)])
    t_time = (f"Sequential: median seconds per update, T_N={T_N}, c in {list(cfg['updates'])} "
              "pooled (paper Table 3)",
              ["", *(f"T_n={k}" if k != "all" else "all T_n" for k in cols)], rows)
    for m in ("uvb", "seqsvb"):
        out["accuracy_mean_over_starts"][m] = {c: {k: float(np.mean(
            [out["schedules"][f"Tn={t_n},c={c}"]["accuracy"][m][k] for t_n in cfg["starts"]]))
            for k in PARAMS} for c in cfg["updates"]}
    header = ["parameter", "batch VI (defaults, median)",
              *(f"{methods[m]} c={c}" for m in ("uvb", "seqsvb")
                                         for c in cfg["updates"])]
    acc = out["accuracy_mean_over_starts"]
    rows = [[k, fmt(svb_acc[k], 4), *(fmt(acc[m][c][k], 4) for m in ("uvb", "seqsvb")
                                      for c in cfg["updates"])] for k in PARAMS]
    t_acc = (f"Sequential: accuracy (%) at T_N={T_N} after c updates, mean over T_n in "
             f"{list(cfg['starts'])} (paper Tables 5-6)", header, rows)
    return out, [t_time, t_acc]


# ------------------------------------------------------------------------- output
def render(table: Table, markdown: bool) -> str:
    title, header, rows = table
    if markdown:
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
                 "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    fmt_row = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([title, line, fmt_row(header), line, *map(fmt_row, rows), line]) + "\n"


def machine_info() -> dict:
    import arch

    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(), "processor": platform.processor(),
            "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)), "loadavg_start": os.getloadavg(),
            "jax": jax.__version__, "jax_backend": jax.default_backend(),
            "numpyro": numpyro.__version__, "arch": arch.__version__,
            "bayesvol": bv.__version__}


def clean(obj):
    """JSON-ready copy: drops '_' keys (fit objects), stringifies keys, numpy -> python,
    NaN / inf -> null."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: T=1000 only, short NUTS, one sequential schedule")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default benchmarks/results; a temp folder if --quick)")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="garch_vi_")) if args.quick
                           else Path(__file__).resolve().parent / "results")
    t_start = time.perf_counter()
    info = machine_info()
    sim = simulate_garch(max(cfg["lengths"]), dist="skewt", seed=0, **TRUTH).to_frame()
    speed, t_speed = section_speed(sim, cfg)
    print(render(t_speed, False), flush=True)
    acc, t_acc, refs = section_accuracy(sim, speed, cfg, cfg["lengths"])
    print(render(t_acc, False), flush=True)
    sp, t_sp = section_sp500(cfg)
    print(render(t_sp, False), flush=True)
    n_seeds = len(cfg["acc_seeds"])
    seq, t_seq = section_sequential(sim, refs[T_N], {
        k: statistics.median(a[k] for a in acc[T_N]["fits"][DEFAULT_ROW]["per_seed_accuracy"])
        for k in PARAMS}, cfg)
    for t in t_seq:
        print(render(t, False), flush=True)
    big = max(cfg["lengths"])
    goals = {
        f"warm VI at T={big} under 1 s": speed[big]["vi_warm_s"] < 1.0,
        **{f"warm VI within 20x of arch MLE at T={T}":
           speed[T]["ratios"]["vi_warm_over_arch"] <= 20 for T in cfg["lengths"]},
        **{f"full-rank VI (+ PSIS, 10000 draws) accuracy >= 95% for every parameter and "
           f"each of {n_seeds} seeds (T={T})":
           min(acc[T]["accuracy"][f"{GOAL_ROW} (worst of {n_seeds} seeds)"].values()) >= 95.0
           for T in acc},
    }
    goals[f"warm VI with 5000 PSIS draws at T={big} under 1 s"] = (
        speed[big]["vi_middle_warm_s"] < 1.0)
    goals[f"full-rank VI (+ PSIS, 5000 draws) accuracy >= 95% for every parameter and each "
          f"of {n_seeds} seeds (T={big})"] = min(acc[big]["accuracy"][
              f"VI full-rank + PSIS, 5000 draws (worst of {n_seeds} seeds)"].values()) >= 95.0
    goal_lines = [f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in goals.items()]
    print("Goals\n" + "\n".join(goal_lines), flush=True)
    info["loadavg_end"] = os.getloadavg()
    info["wall_s"] = time.perf_counter() - t_start
    notes = [
        f"Run {info['date']} on {info['platform']}, {info['cpus_usable']} usable CPU(s) "
        f"(machine shared with other work; compare ratios, not absolute seconds), "
        f"jax {info['jax']} ({info['jax_backend']}), numpyro {info['numpyro']}, "
        f"arch {info['arch']}; whole script {info['wall_s']:.0f} s"
        + (" (--quick)" if args.quick else "") + ".",
        "Data: one skewed-t GARCH series (omega 0.1, alpha 0.2, beta 0.75, nu 4, xi 0.8, "
        "seed 0); T=1000 is its first 1000 points. Timing NUTS uses 1 chain; the accuracy "
        "reference uses the chains listed.",
        f"S&P 500 NUTS reference: R-hat max {sp['reference']['diagnostics']['rhat_max']:.4f}, "
        f"min bulk ESS {sp['reference']['diagnostics']['ess_min']:.0f}, "
        f"{sp['reference']['diagnostics']['divergences']} divergence(s).",
        "NUTS references: " + "; ".join(
            f"T={T}: R-hat max {r['reference']['diagnostics']['rhat_max']:.4f}, min bulk ESS "
            f"{r['reference']['diagnostics']['ess_min']:.0f}, "
            f"{r['reference']['diagnostics']['divergences']} divergence(s), "
            f"{r['reference']['seconds']:.0f} s" for T, r in acc.items()) + ".",
        f"VI variants in the accuracy table are fitted with seeds {list(cfg['acc_seeds'])}; "
        "'worst' is the lowest accuracy over those seeds, per parameter. Accuracy depends on "
        "the number of draws through the density estimate: exact posterior draws thinned to "
        "1000 lose 1-3% (the 'thinned' NUTS row).",
        f"Sequential: T_n in {list(cfg['starts'])} (a subset of the paper's 10 starting "
        f"points), c in {list(cfg['updates'])}; default VIOptions for fits and updates, UVB "
        "with carry='plugin'; times after a warm-up pass (compilation excluded).",
    ]
    print("\n".join(notes), flush=True)
    md = "\n".join(["# garch_vi benchmark", "", *(f"- {n}" for n in notes), "",
                    *(render(t, True) for t in (t_speed, t_acc, t_sp, *t_seq)), "### Goals", "",
                    *(f"- {g}" for g in goal_lines), ""])
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"machine": info, "config": cfg, "quick": args.quick, "truth": TRUTH,
               "speed": speed, "accuracy": acc, "sp500": sp, "sequential": seq, "goals": goals,
               "notes": notes}
    (out_dir / "garch_vi.json").write_text(json.dumps(clean(payload), indent=2) + "\n")
    (out_dir / "garch_vi.md").write_text(md)
    log(f"wrote {out_dir / 'garch_vi.json'} and {out_dir / 'garch_vi.md'}; "
        f"{info['wall_s']:.0f} s in all")


if __name__ == "__main__":
    main()
