"""Benchmark: sequential updating of the factor SV model (seq-VA) against batch refits, and
the choice of K by ELBO and CLAPL.

After Gunawan, Kohn & Nott, "Variational approximation of factor stochastic volatility
models" (Section 3.5: sequential updating; Section 4: CLAPL). One simulated panel
(``simulate_dfsv(20, 2, 600, idio="ar1", seed=0)``: 20 assets, two factors) serves both
sections; every fit uses the default VI options.

1. speed: a padded batch fit on the first 500 dates, then updates (``DfsvFit.update``) with
   blocks of j = 5 and j = 20 new dates up to 600, with sequential_dfsv's update settings
   (``default_update_options``: a third of the step, patience 100) and with the batch fit's
   own settings. Each update is timed (wall and CPU seconds
   of this process) and split into the updates that ran a program already compiled (same
   capacity bucket) and the first update of a new bucket (compilation included). Against it,
   batch refits from scratch on the first T dates for a few T: ``fit_dfsv`` (plain, cold: its
   first call at that T, compilation included; warm: a second call at that T with another
   seed) and ``fit_dfsv_padded`` (the padded program the updates use, already compiled).
   Agreement: the last update's posterior means of the loadings and covariance path against
   a plain batch fit on all 600 dates, next to two batch fits with different seeds (VI noise).
2. selection: ``select_factors`` for K = 1, 2, 3 (t0 = 500, blocks of 10 to 600): the ELBO of
   the final (full-data) fit, CLAPL over dates 501-600, and the K each picks (truth: 2).

    python benchmarks/dfsv_sequential.py            # full run (about 15-25 min on 2 cores)
    python benchmarks/dfsv_sequential.py --quick    # smoke run; writes to a temp folder
    python benchmarks/dfsv_sequential.py --only speed

Writes results/dfsv_sequential.json (every figure and machine info) and
results/dfsv_sequential.md (tables and a README line). Every figure is measured in this run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import Table, fmt, log, render  # noqa: E402

HERE = Path(__file__).resolve().parent
SECTIONS = ("speed", "selection")

# update settings per row: "batch" = the fit's own options (step 0.03, patience 200);
# "sequential" = default_update_options (step 0.01, patience 100), sequential_dfsv's default
FULL = {"panel": (20, 2, 600), "t0": 500,
        "blocks": ((5, "sequential"), (20, "sequential"), (5, "batch"), (20, "batch")),
        "refit_at": (520, 560, 600), "ks": (1, 2, 3), "select_every": 10, "max_draws": 200,
        "n_particles": 100}
QUICK = {"panel": (6, 2, 240), "t0": 200,
         "blocks": ((5, "sequential"), (20, "sequential"), (5, "batch")),
         "refit_at": (220, 240), "ks": (1, 2), "select_every": 20, "max_draws": 50,
         "n_particles": 50}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, *args, **kwargs):
    """(result, wall seconds, CPU seconds of this process)."""
    w0, c0 = time.perf_counter(), cpu_seconds()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, cpu_seconds() - c0


def panel(cfg):
    from bayesvol.simulate.dfsv import simulate_dfsv

    N, K, T = cfg["panel"]
    return simulate_dfsv(N, K, T, idio="ar1", seed=0).to_frame()


def agreement(fit, ref, times) -> dict:
    """max and median |difference of loading means| / ref sd; max |covariance difference| /
    max |ref covariance| at ``times``; ELBO difference."""
    lam, ref_lam = fit.loadings().to_numpy(), ref.loadings().to_numpy()
    sd = ref.loadings("sd").to_numpy()
    free = sd > 0
    z = np.abs(lam - ref_lam)[free] / sd[free]
    cov, ref_cov = (f.covariance(times=times).to_numpy() for f in (fit, ref))
    return {"lambda_max_sd": float(z.max()), "lambda_median_sd": float(np.median(z)),
            "cov_rel": float(np.max(np.abs(cov - ref_cov)) / np.max(np.abs(ref_cov))),
            "elbo_diff": float(fit.elbo - ref.elbo)}


# ------------------------------------------------------------------------ 1. speed
def section_speed(cfg) -> tuple[dict, list[Table]]:
    from bayesvol.dfsv_fit import fit_dfsv
    from bayesvol.dfsv_sequential import default_update_options, fit_dfsv_padded

    df = panel(cfg)
    N, K, T = cfg["panel"]
    t0 = cfg["t0"]
    out: dict = {"runs": {}, "refits": {}}
    compiled: set = set()       # (capacity, update settings) already run in this process
    last_fits = {}
    for j, kind in cfg["blocks"]:
        label = f"{j}, {kind}"
        log(f"speed: padded batch fit on {t0} dates, then updates of {j} to {T} ({kind})")
        fit, wall, cpu = timed(fit_dfsv_padded, df.iloc[:t0], K, seed=0)
        cap = fit.diagnostics["capacity"]
        first = {"seconds": wall, "cpu_s": cpu, "iterations": fit.iterations,
                 "converged": fit.converged, "capacity": cap,
                 "compiled": (cap, "batch") not in compiled}
        compiled.add((cap, "batch"))
        upd = default_update_options(fit.options) if kind == "sequential" else {}
        steps = []
        for lo in range(t0, T, j):
            block = df.iloc[lo:min(lo + j, T)]
            fit, wall, cpu = timed(fit.update, block, **upd)
            cap = fit.diagnostics["capacity"]
            steps.append({"n_dates": lo + len(block), "seconds": wall, "cpu_s": cpu,
                          "iterations": fit.iterations, "converged": fit.converged,
                          "elbo": fit.elbo, "capacity": cap,
                          "compiled": (cap, kind) not in compiled})
            compiled.add((cap, kind))
        warm = [s for s in steps if not s["compiled"]]
        cold = [s for s in steps if s["compiled"]]
        out["runs"][label] = {
            "j": j, "settings": kind, "update_options": upd, "initial": first,
            "updates": steps,
            "warm_median_s": statistics.median(s["seconds"] for s in warm) if warm else None,
            "warm_median_cpu_s": (statistics.median(s["cpu_s"] for s in warm)
                                  if warm else None),
            "new_bucket_s": [s["seconds"] for s in cold],
            "iterations_median": statistics.median(s["iterations"] for s in steps),
            "iterations_max": max(s["iterations"] for s in steps),
            "converged": all(s["converged"] for s in steps),
            "pass_s": sum(s["seconds"] for s in steps),
            "pass_cpu_s": sum(s["cpu_s"] for s in steps)}
        last_fits[label] = fit
        log(f"speed j={label}: {json.dumps(clean(out['runs'][label]))[:300]}")
    for t in cfg["refit_at"]:
        log(f"speed: batch refits on {t} dates")
        r = {}
        f, r["plain_cold_s"], r["plain_cold_cpu_s"] = timed(fit_dfsv, df.iloc[:t], K, seed=0)
        r["plain_iterations"] = f.iterations
        f1, r["plain_warm_s"], r["plain_warm_cpu_s"] = timed(fit_dfsv, df.iloc[:t], K, seed=1)
        r["plain_warm_iterations"] = f1.iterations
        r["plain_elbo"], r["plain_warm_elbo"] = f.elbo, f1.elbo
        fp, r["padded_s"], r["padded_cpu_s"] = timed(fit_dfsv_padded, df.iloc[:t], K, seed=0)
        r["padded_iterations"] = fp.iterations
        r["padded_compiled"] = (fp.diagnostics["capacity"], "batch") not in compiled
        compiled.add((fp.diagnostics["capacity"], "batch"))
        out["refits"][t] = r
        if t == T:
            # the batch fit with the updates' smaller step (the updates' ELBO is higher)
            step = default_update_options(f.options)["learning_rate"]
            fs, r["plain_small_step_s"], _ = timed(fit_dfsv, df.iloc[:t], K, seed=0,
                                                   learning_rate=step)
            r["plain_small_step_iterations"] = fs.iterations
            times = df.index[[t0 // 2, t0 + (T - t0) // 2, T - 1]]
            f2 = fit_dfsv(df.iloc[:t], K, seed=2)
            fits = {**{f"updates j={k}": v for k, v in last_fits.items()},
                    "batch, seed 1": f1, "batch, seed 2": f2, "padded batch": fp,
                    f"batch, step {fmt(step)} ({fs.iterations} iterations)": fs}
            out["agreement"] = {k: agreement(v, f, times) for k, v in fits.items()}
            out["agreement_small_step"] = {k: agreement(v, fs, times)
                                           for k, v in fits.items() if v is not fs}
        log(f"speed refit T={t}: {json.dumps(clean(r))}")
    ref = out["refits"]
    out["refit_mean"] = {
        k: statistics.mean(r[k] for r in ref.values())
        for k in ("plain_cold_s", "plain_cold_cpu_s", "plain_warm_s", "plain_warm_cpu_s",
                  "padded_s", "padded_cpu_s")}
    out["refit_mean"]["plain_iterations_median"] = statistics.median(
        r["plain_warm_iterations"] for r in ref.values())
    return out, speed_tables(out, cfg)


def speed_tables(out: dict, cfg: dict) -> list[Table]:
    N, K, T = cfg["panel"]
    t0 = cfg["t0"]
    m = out["refit_mean"]
    cold, warm, padded = m["plain_cold_s"], m["plain_warm_s"], m["padded_s"]
    header = ["block j, update settings", "updates", "update [s] median, same bucket (CPU)",
              "first update in a new bucket [s]", "iterations median / max", "converged",
              "whole pass [s]", "batch refit [s]: plain cold / warm / padded",
              "refit iterations (median)", "refit warm / update: wall, CPU",
              "refit cold / update: wall, CPU"]
    rows = []
    for label, r in out["runs"].items():
        u, uc = r["warm_median_s"], r["warm_median_cpu_s"]
        rows.append([label, str(len(r["updates"])), f"{fmt(u)} ({fmt(uc)})",
                     ", ".join(fmt(s) for s in r["new_bucket_s"]) or "none",
                     f"{fmt(r['iterations_median'])} / {r['iterations_max']}",
                     fmt(r["converged"]), fmt(r["pass_s"]),
                     f"{fmt(cold)} / {fmt(warm)} / {fmt(padded)}",
                     fmt(m["plain_iterations_median"]),
                     f"{fmt(warm / u)}, {fmt(m['plain_warm_cpu_s'] / uc)}" if u else "n/a",
                     f"{fmt(cold / u)}, {fmt(m['plain_cold_cpu_s'] / uc)}" if u else "n/a"])
    title = (f"Sequential update vs batch refit: simulated {N} x {T} panel, K = {K}, batch fit "
             f"on {t0} dates then blocks of j to {T} (refits: mean over T = "
             f"{', '.join(map(str, cfg['refit_at']))})")
    t_speed = (title, header, rows)
    small = out.get("agreement_small_step", {})
    a_rows = []
    for k, a in out.get("agreement", {}).items():
        b = small.get(k)
        a_rows.append([k, f"{fmt(a['lambda_max_sd'])} / {fmt(a['lambda_median_sd'])}",
                       fmt(a["cov_rel"]), fmt(a["elbo_diff"]),
                       f"{fmt(b['lambda_max_sd'])} / {fmt(b['lambda_median_sd'])}" if b
                       else "", fmt(b["cov_rel"]) if b else "",
                       fmt(b["elbo_diff"]) if b else ""])
    t_agree = (f"Agreement with plain batch fits on all {T} dates (seed 0): the default step "
               f"0.03, and the updates' step 0.01",
               ["fit", "vs step 0.03: loadings max / median |diff| / sd",
                "covariance max |diff| / max |cov|", "ELBO difference",
                "vs step 0.01: loadings max / median |diff| / sd",
                "covariance max |diff| / max |cov|", "ELBO difference"], a_rows)
    return [t_speed, t_agree]


# --------------------------------------------------------------------- 2. selection
def section_selection(cfg) -> tuple[dict, list[Table]]:
    from bayesvol.dfsv_fit import select_factors

    df = panel(cfg)
    N, K_true, T = cfg["panel"]
    log(f"selection: K = {cfg['ks']}, t0 = {cfg['t0']}, blocks of {cfg['select_every']}")
    table = select_factors(df, ks=cfg["ks"], t0=cfg["t0"], every=cfg["select_every"],
                           max_draws=cfg["max_draws"], n_particles=cfg["n_particles"])
    out = {"table": table.reset_index().to_dict(orient="records"),
           "k_elbo": table.attrs["k_elbo"], "k_clapl": table.attrs["k_clapl"],
           "k_true": K_true}
    log(f"selection: {json.dumps(clean(out))[:400]}")
    return out, selection_tables(out, cfg)


def selection_tables(out: dict, cfg: dict) -> list[Table]:
    N, K_true, T = cfg["panel"]
    rows = [[str(r["K"]), fmt(r["elbo"], 7), fmt(r["clapl"], 6), str(r["n_scored"]),
             fmt(r["clapl_per_date"], 4), fmt(r["seconds"]), str(r["iterations"]),
             fmt(r["update_iterations"]), fmt(r["converged"]),
             ", ".join(c for c, b in (("ELBO", r["best_elbo"]), ("CLAPL", r["best_clapl"]))
                       if b) or ""]
            for r in out["table"]]
    title = (f"Choosing K on a simulated {N} x {T} panel with K = {K_true}: ELBO of the "
             f"full-data fit and CLAPL over dates {cfg['t0'] + 1}-{T} (blocks of "
             f"{cfg['select_every']}; {cfg['max_draws']} draws x {cfg['n_particles']} "
             f"particles per score)")
    header = ["K", "ELBO", "CLAPL", "dates scored", "CLAPL / date", "run [s]",
              "batch iterations", "update iterations (median)", "converged", "picked by"]
    return [(title, header, rows)]


# ------------------------------------------------------------------------- output


def machine_info() -> dict:
    import jax
    import numpyro

    import bayesvol as bv

    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(), "processor": platform.processor(),
            "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)), "loadavg_start": os.getloadavg(),
            "jax": jax.__version__, "jax_backend": jax.default_backend(),
            "numpyro": numpyro.__version__, "bayesvol": bv.__version__}


def clean(obj):
    """JSON-ready copy: stringifies keys, numpy -> python, NaN / inf -> null."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    return obj


def readme_line(results: dict) -> list[str]:
    lines = []
    sp = results.get("speed", {}).get("results")
    if sp:
        ref = sp["refit_mean"]
        N, _, T = results["speed"]["config"]["panel"]
        t0 = results["speed"]["config"]["t0"]
        for r in sp["runs"].values():
            if r["settings"] != "sequential":
                continue
            u = r["warm_median_s"]
            lines.append(
                f"| DFSV sequential update, {N} x {t0} -> {T}, blocks of {r['j']} | update "
                f"{fmt(u)} s ({fmt(r['iterations_median'])} iterations, median) vs batch refit "
                f"{fmt(ref['plain_warm_s'])} s warm / {fmt(ref['plain_cold_s'])} s with "
                f"compilation: {fmt(ref['plain_warm_s'] / u) if u else 'n/a'}x / "
                f"{fmt(ref['plain_cold_s'] / u) if u else 'n/a'}x faster | |")
    se = results.get("selection", {}).get("results")
    if se:
        lines.append(f"| DFSV choice of K (simulated K = {se['k_true']}) | ELBO picks "
                     f"{se['k_elbo']}, CLAPL picks {se['k_clapl']} | |")
    return lines


def write(out_dir: Path, info: dict, cfg: dict, quick: bool, results: dict,
          t_start: float) -> None:
    json_path = out_dir / "dfsv_sequential.json"
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    kept = previous.get("sections", {}) if previous.get("quick") == quick else {}
    results = {k: results[k] if k in results else kept[k] for k in SECTIONS
               if k in results or k in kept}
    info = {**info, "loadavg_now": os.getloadavg(), "wall_s": time.perf_counter() - t_start}
    notes = [
        f"Run {info['date']} on {info['platform']}, {info['cpus_usable']} usable CPU(s), load "
        f"average at start {info['loadavg_start'][0]:.1f} (machine shared with other work: "
        f"wall seconds are inflated by contention; CPU seconds and same-run ratios are the "
        f"comparable figures), jax {info['jax']} ({info['jax_backend']})"
        + (" (--quick)" if quick else "") + ".",
        "Sections and their run dates: " + "; ".join(
            f"{k} {v['date']} ({v['seconds']:.0f} s, load {v['loadavg'][0][0]:.1f} -> "
            f"{v['loadavg'][1][0]:.1f})" for k, v in results.items()) + ".",
        "Speed: update = DfsvFit.update (full ELBO over all dates, warm start, time axis padded "
        "to a capacity bucket); 'same bucket' updates reuse a compiled program, the first "
        "update of a new bucket compiles it; the whole pass is the sum over all updates. "
        "Batch refits start from the moment start: plain fit_dfsv cold (its first call at "
        "that number of dates, so compilation included, as a refit at each new length "
        "would be), warm (a second call, another seed), and fit_dfsv_padded on the updates' "
        "compiled program. Batch fits use the default VI options (block family, 1 draw, "
        "step 0.03, window 50, patience 200); updates either the same ('batch' settings) or "
        "sequential_dfsv's default_update_options (step 0.01, patience 100: 'sequential'). "
        + ("The user's persistent compilation cache was used (--cache), so 'cold' may be a "
           "cache load. " if cfg.get("cache") else
           "The compilation cache started empty (a fresh folder), so 'cold' and 'first update "
           "in a new bucket' include compilation; ")
        + "a second update setting reuses the first one's compiled code (same program, other "
        "arguments: a trace, then a cache hit).",
        "Agreement: differences of posterior means in units of the reference's posterior sd "
        "(free loadings), and of the posterior-mean covariance at three dates; the rows 'batch, "
        "another seed' and 'padded batch' show the VI noise between fits of the same data, "
        "the row 'batch, step ...' a batch fit with the updates' smaller step (ELBO "
        "difference > 0: a better fit than the reference).",
        "Selection: bayesvol.dfsv_fit.select_factors (a padded batch fit on t0 dates, then per "
        "block: DfsvFit.score of the block, then DfsvFit.update); CLAPL is the sum of the "
        "joint one-step log predictive scores (Rao-Blackwellised particle filter from the "
        "posterior at the last update), the ELBO that of the final fit on all dates.",
    ]
    md = ["# dfsv_sequential benchmark", "", *(f"- {n}" for n in notes), ""]
    for name in SECTIONS:
        if name in results:
            md += [render(tuple(t), True) for t in results[name]["tables"]]
    md += ["### README line", "", "| benchmark | figure | goal |", "|---|---|---|",
           *readme_line(results), ""]
    payload = {"machine": info, "config": cfg, "quick": quick, "sections": results,
               "notes": notes}
    (out_dir / "dfsv_sequential.json").write_text(json.dumps(clean(payload), indent=2) + "\n")
    (out_dir / "dfsv_sequential.md").write_text("\n".join(md))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run on a small panel")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default benchmarks/results; a temp folder if --quick)")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite the Markdown from the existing JSON")
    ap.add_argument("--cache", action="store_true",
                    help="use the user's compilation cache (default: a fresh, empty one, so "
                         "'cold' and 'first update in a new bucket' include compilation)")
    args = ap.parse_args()
    if not args.cache and not args.render:    # before bayesvol is imported (read at import)
        os.environ["BAYESVOL_CACHE_DIR"] = tempfile.mkdtemp(prefix="dfsv_sequential_cache_")
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}: choose from {SECTIONS}")
    cfg = dict(QUICK if args.quick else FULL)
    cfg["cache"] = bool(args.cache)
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="dfsv_sequential_")) if args.quick
                           else HERE / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.render:
        payload = json.loads((out_dir / "dfsv_sequential.json").read_text())
        builders = {"speed": speed_tables, "selection": selection_tables}
        for name, sec in payload["sections"].items():
            sec["tables"] = builders[name](sec["results"], sec.get("config", payload["config"]))
        info = payload["machine"]
        write(out_dir, info, payload["config"], payload["quick"], payload["sections"],
              time.perf_counter() - info["wall_s"])
        return
    t_start = time.perf_counter()
    info = machine_info()
    results: dict = {}
    runners = {"speed": section_speed, "selection": section_selection}
    for name in SECTIONS:
        if name not in only:
            continue
        t0, load0 = time.perf_counter(), os.getloadavg()
        res, tables = runners[name](cfg)
        for t in tables:
            print(render(t, False), flush=True)
        results[name] = {"results": res, "tables": tables, "config": cfg,
                         "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                         "loadavg": [load0, os.getloadavg()],
                         "seconds": time.perf_counter() - t0}
        write(out_dir, info, cfg, args.quick, results, t_start)
    print("\n".join(readme_line(results)), flush=True)
    log(f"wrote {out_dir / 'dfsv_sequential.json'} and .md")
    if not args.cache:
        shutil.rmtree(os.environ["BAYESVOL_CACHE_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
