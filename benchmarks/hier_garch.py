"""Benchmark: pooled AR(1)-GARCH(1,1)-t (hier-garch): speed, value of pooling, VI vs NUTS.

Three sections, each printed as a table (run a subset with ``--only``):

1. speed: seconds to a converged joint VI fit, cold (first call of a fresh process, compile
   included) and warm (median of 3 more seeds), with CPU seconds and the peak resident memory
   of the process, at N x T = 10 x 500, 100 x 2000 (full batch) and 2000 x 2500 (full batch
   with the gradient assembled by asset chunks, and minibatch). Each size runs in its own
   subprocess, so its peak memory is its own.
   Next to each: the seed's Pyro model (benchmarks/baselines/seed000_pyro.py, AutoNormal guide)
   timed per SVI step at the same N x T, and how many of its steps our whole fit is worth.
2. pooling: one-step log predictive scores on a 250-day holdout of hier-garch (VI) against
   independent AR(1) GARCH-t fits (ours by VI, and arch's MLE), for assets with short
   histories (100-250 days) and long ones (1500 days): skfolio's 20 S&P 500 stocks, and a
   simulated panel with known truth (where the parameter RMSE of the short assets is shown too).
3. accuracy: overlap accuracy (percent) of joint VI against NUTS (2 chains x (1000 + 1000)) on
   a 10 x 500 simulated ragged panel, per parameter: the families structured / block /
   meanfield, the structured family from the older EM start, and its own q(g) from either
   start; and minibatch VI against full-batch VI on a 200 x 500 panel (differences of
   posterior means in units of the full-batch posterior sd), next to a second full-batch seed
   as the tolerance.

    python benchmarks/hier_garch.py                          # full run (long: see README)
    python benchmarks/hier_garch.py --quick                  # smoke run; writes to a temp folder
    python benchmarks/hier_garch.py --only pooling,accuracy  # a subset (merged into the JSON)
    python benchmarks/hier_garch.py --only speed --search    # + other minibatch settings
    python benchmarks/hier_garch.py --render                 # rewrite the .md from the JSON

Needs the ``bench`` extra (arch, skfolio). The Pyro baseline is optional: it runs with the
interpreter in BAYESVOL_PYRO_PYTHON (default /work/pyro-venv/bin/python) on the file in
BAYESVOL_SEED000 (default benchmarks/baselines/seed000_pyro.py) and is reported "not run" when
either is missing. Writes results/hier_garch.json (every figure and machine info) and
results/hier_garch.md (tables, goals, a README snippet). Nothing here is hard-coded: every
figure is measured by this script in this run (or, with --only, kept from the previous run's
JSON for the sections not rerun, with their own date).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import Table, fmt, log, render  # noqa: E402

HERE = Path(__file__).resolve().parent
SECTIONS = ("speed", "pooling", "accuracy")
PER_ASSET = ("omega", "persistence", "alpha_share", "nu", "phi")
PYRO_PYTHON = os.environ.get("BAYESVOL_PYRO_PYTHON", "/work/pyro-venv/bin/python")
SEED000 = os.environ.get("BAYESVOL_SEED000", str(HERE / "baselines" / "seed000_pyro.py"))

FULL = {
    # (label, N, T, VI options, warm repeats, Pyro steps timed after one warm-up step)
    "speed": [
        ("10x500 full batch", 10, 500, {}, 3, 5),
        ("100x2000 full batch", 100, 2000, {}, 3, 3),
        # full batch: the step's gradient is assembled by asset chunks (memory of one chunk)
        ("2000x2500 full batch (chunked gradient)", 2000, 2500, {}, 0, 2),
        ("2000x2500 minibatch B=100", 2000, 2500, {"batch_size": 100}, 0, 2),
    ],
    # other minibatch settings at 2000 x 2500, tried with --search (each up to speed_timeout_s)
    "speed_search": [
        ("2000x2500 minibatch B=200", 2000, 2500, {"batch_size": 200}, 0, 0),
        ("2000x2500 minibatch B=100, eval every 50 steps", 2000, 2500,
         {"batch_size": 100, "eval_every": 50}, 0, 0),
    ],
    "speed_timeout_s": 1800,
    "pool": {"window": 1500, "holdout": 250, "n_short": 8, "short": (100, 250),
             "sim": (20, 1750)},
    "nuts": (2, 1000, 1000),  # chains, warm-up, draws
    "acc_panel": (10, 500),
    # (column label, VI options): the families with the defaults (globals "auto": the Laplace
    # marginal for a Gaussian population), the older EM start, then the structured family's own
    # q(g) (globals="vi") from either start
    "families": (("structured", {}), ("block", {"family": "block"}),
                 ("meanfield", {"family": "meanfield"}),
                 ("structured, global_start=em", {"global_start": "em"}),
                 ("structured, globals=vi", {"globals": "vi"}),
                 ("structured, globals=vi, global_start=em",
                  {"globals": "vi", "global_start": "em"})),
    "mb_panel": (200, 500),
    "mb_batches": (50, 20),
}
QUICK = {
    "speed": [
        ("10x500 full batch", 10, 500, {}, 1, 1),
        ("40x300 minibatch B=10", 40, 300, {"batch_size": 10}, 0, 0),
    ],
    "speed_search": [("40x300 minibatch B=20", 40, 300, {"batch_size": 20}, 0, 0)],
    "speed_timeout_s": 900,
    "pool": {"window": 500, "holdout": 60, "n_short": 4, "short": (60, 120), "sim": (8, 560)},
    "nuts": (1, 150, 150),
    "acc_panel": (4, 300),
    "families": (("structured", {}), ("meanfield", {"family": "meanfield"}),
                 ("structured, globals=vi, global_start=em",
                  {"globals": "vi", "global_start": "em"})),
    "mb_panel": (30, 300),
    "mb_batches": (10,),
}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# ------------------------------------------------------------------------ 1. speed
def speed_worker(spec: dict) -> dict:
    """One size in a fresh process: simulate, cold fit (seed 0), warm fits (seeds 1..k)."""
    import bayesvol as bv
    from bayesvol.simulate.hier_garch import simulate_hier_garch

    t0 = time.perf_counter()
    df = simulate_hier_garch(spec["n"], spec["T"], seed=0).to_frame()
    out = {"simulate_s": time.perf_counter() - t0, "rss_after_simulate_mb": peak_rss_mb(),
           "fits": []}
    for seed in range(spec["warm"] + 1):
        c0 = cpu_seconds()
        f = bv.fit(df, model="hier-garch", method="vi", seed=seed, **spec["opts"])
        trace = np.asarray(f.elbo_trace[0], dtype=float)
        out["fits"].append({
            "seed": seed, "seconds": f.runtime["total"], "cpu_s": cpu_seconds() - c0,
            "iterations": int(f.diagnostics["iterations"]),
            "converged": bool(f.diagnostics["converged"]),
            "minibatch": bool(f.diagnostics.get("minibatch", False)),
            "elbo": float(f.elbo[0]), "trace_tail": trace[-5:].tolist(),
            "n_evaluations": int(trace.size) if f.diagnostics.get("minibatch") else None})
        del f
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def proc_peak_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a running process from /proc (Linux), else None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def run_speed_size(spec: dict, timeout: int) -> dict:
    """The worker in a fresh process with an empty compilation cache of its own, so its first
    fit is cold (compiled from scratch, whatever earlier runs left in the user's cache); if
    it runs past ``timeout``, it is killed and the result says so, with its peak memory so
    far (polled from /proc where available)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", json.dumps(spec)]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.TemporaryDirectory(prefix="hier_garch_cache_") as cache:
        env = dict(os.environ, BAYESVOL_CACHE_DIR=cache)
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        peak = None
        while p.poll() is None and time.perf_counter() - t0 < timeout:
            peak = proc_peak_mb(p.pid) or peak
            time.sleep(2.0)
        if p.poll() is None:
            p.kill()
            p.wait()
            return {"error": f"timed out after {timeout} s (no converged fit within the limit;"
                             f" peak RSS so far {fmt(peak, 4)} MB)",
                    "wall_s": time.perf_counter() - t0, "peak_rss_so_far_mb": peak}
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        return {"error": f"worker exit {p.returncode}: {stderr.strip()[-800:]}",
                "wall_s": time.perf_counter() - t0}
    return json.loads(lines[-1][len("RESULT "):])


def pyro_step(n: int, T: int, steps: int, timeout: int = 1800) -> dict:
    """Seconds (wall and CPU) per SVI step of the seed's Pyro model, or why it did not run."""
    if steps <= 0:
        return {"status": "not run (not requested at this size)"}
    if not (Path(PYRO_PYTHON).exists() and Path(SEED000).exists()):
        return {"status": f"not run (set BAYESVOL_PYRO_PYTHON / BAYESVOL_SEED000; looked for "
                          f"{PYRO_PYTHON} and {SEED000})"}
    t0 = time.perf_counter()
    try:
        p = subprocess.run([PYRO_PYTHON, SEED000, str(n), str(T), str(steps)],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"not run (timed out after {timeout} s)"}
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("seed-pyro")]
    if p.returncode != 0 or not line:
        return {"status": f"failed (exit {p.returncode}): {p.stderr.strip()[-300:]}"}
    fields = dict(kv.split("=") for kv in line[-1].split()[1:])
    return {"status": "measured", "steps": steps, "s_per_step": float(fields["s/step"]),
            "cpu_s_per_step": float(fields.get("cpu_s/step", "nan")),
            "process_wall_s": time.perf_counter() - t0}


def section_speed(cfg) -> tuple[dict, Table]:
    out = {}
    sizes = cfg.get("_sizes")
    for label, n, T, opts, warm, steps in cfg["speed"] + cfg.get("_search", []):
        if sizes and not any(s in label for s in sizes):
            if label in cfg.get("_previous_speed", {}):  # keep the last run of this size
                prev = cfg["_previous_speed"][label]
                out[label] = {**prev, "measured": prev.get("measured",
                                                            cfg.get("_previous_speed_date"))}
            continue
        log(f"speed {label}: fresh process, cold fit + {warm} warm")
        r = run_speed_size({"n": n, "T": T, "opts": opts, "warm": warm},
                           cfg["speed_timeout_s"])
        r.update({"n": n, "T": T, "opts": opts})
        if "fits" in r:
            fits = r["fits"]
            r["cold_s"], r["cold_cpu_s"] = fits[0]["seconds"], fits[0]["cpu_s"]
            w = fits[1:]
            r["warm_s"] = statistics.median(f["seconds"] for f in w) if w else None
            r["warm_cpu_s"] = statistics.median(f["cpu_s"] for f in w) if w else None
            r["converged"] = all(f["converged"] for f in fits)
            r["iterations"] = [f["iterations"] for f in fits]
            r["elbo"] = fits[0]["elbo"]
        log(f"speed {label}: seed's Pyro model, {steps} step(s)")
        r["pyro"] = pyro_step(n, T, steps)
        ours = r.get("warm_s") or r.get("cold_s")
        ours_cpu = r.get("warm_cpu_s") or r.get("cold_cpu_s")
        py = r["pyro"]
        r["ratio_wall"] = ours / py["s_per_step"] if ours and "s_per_step" in py else None
        r["ratio_cpu"] = (ours_cpu / py["cpu_s_per_step"]
                          if ours_cpu and "cpu_s_per_step" in py else None)
        r["ratio_basis"] = "warm" if r.get("warm_s") else "cold"
        out[label] = r
        log(f"speed {label}: {json.dumps(clean(r))[:400]}")
    header = ["N x T, VI options", "cold [s]", "warm [s] (median)", "CPU [s] (warm, else cold)",
              "iterations (cold, warm...)", "converged", "ELBO (cold fit)", "peak RSS [MB]",
              "Pyro seed [s/step] wall / CPU", "our fit / Pyro step: wall, CPU"]
    rows = []
    for name, r in out.items():
        label = speed_label(name, r)
        if "error" in r:
            rows.append([label, f"error: {r['error'][:120]}", *["n/a"] * 6,
                         pyro_cell(r["pyro"]), "n/a"])
            continue
        rows.append([label, fmt(r["cold_s"]), fmt(r["warm_s"]),
                     fmt(r["warm_cpu_s"] or r["cold_cpu_s"]),
                     ",".join(map(str, r["iterations"])), fmt(r["converged"]),
                     fmt(r["elbo"], 7), fmt(r["peak_rss_mb"], 4), pyro_cell(r["pyro"]),
                     f"{fmt(r['ratio_wall'])}, {fmt(r['ratio_cpu'])} ({r['ratio_basis']})"
                     if r["ratio_wall"] else "n/a"])
    return out, ("Speed: joint VI to convergence (each size in a fresh process)", header, rows)


def speed_label(name: str, r: dict) -> str:
    """A size's row label; one kept from an earlier run (--sizes) says when it was measured."""
    return f"{name} (measured {r['measured'][:16].replace('T', ' ')})" if r.get("measured") \
        else name


def pyro_cell(py: dict) -> str:
    if py.get("status") != "measured":
        return py.get("status", "n/a")
    return f"{fmt(py['s_per_step'])} / {fmt(py['cpu_s_per_step'])} ({py['steps']} steps)"


# --------------------------------------------------------------------- 2. pooling
def short_cut(train, n_short: int, lo: int, hi: int, seed: int = 0):
    """Cut n_short randomly chosen assets to their last L days before the split (L evenly
    spaced in [lo, hi]); NaN earlier. Returns the cut frame and {asset: L}."""
    rng = np.random.default_rng(seed)
    assets = sorted(rng.choice(np.asarray(train.columns), n_short, replace=False).tolist())
    lengths = np.linspace(lo, hi, n_short).round().astype(int)
    cut = train.copy()
    for a, L in zip(assets, lengths, strict=True):
        cut.iloc[: len(cut) - L, cut.columns.get_loc(a)] = np.nan
    return cut, dict(zip(assets, lengths.tolist(), strict=True))


def arch_fit_score(train_col, test_col) -> dict:
    """arch's AR(1) GARCH(1,1)-t MLE on the asset's training returns; the holdout's one-step
    log scores at those fixed parameters, filtered forward through the holdout.

    The scores come from ``arch_model(train + holdout).fix(mle)`` (the fit's recursion; the
    filter is causal, so holdout terms use only earlier returns), with the per-observation
    densities of arch's StudentsT (``individual=True``). fix() takes its variance backcast from
    the residuals at the MLE where fit() took it from its starting values, so the training
    part's log-likelihood differs from the fit's by a little (``train_ll_check``, stored).
    """
    from arch.univariate import arch_model

    y = train_col.dropna().to_numpy()
    res = arch_model(y, mean="AR", lags=1, vol="GARCH", dist="t").fit(disp="off")
    full = np.concatenate([y, test_col.to_numpy()])
    am = arch_model(full, mean="AR", lags=1, vol="GARCH", dist="t")
    fx = am.fix(res.params.to_numpy())
    resid, s2 = np.asarray(fx.resid), np.asarray(fx.conditional_volatility) ** 2
    ok = np.isfinite(resid) & np.isfinite(s2)
    ll = np.full(full.size, np.nan)
    ll[ok] = am.distribution.loglikelihood([res.params["nu"]], resid[ok], s2[ok],
                                           individual=True)
    p = res.params
    alpha, beta = float(p["alpha[1]"]), float(p["beta[1]"])
    return {"scores": ll[len(y):], "train_ll_check": float(np.nansum(ll[:len(y)])
                                                           - res.loglikelihood),
            "params": {"omega": float(p["omega"]), "persistence": alpha + beta,
                       "alpha_share": alpha / (alpha + beta) if alpha + beta > 0 else np.nan,
                       "nu": float(p["nu"]), "phi": float(p["y[1]"]), "const": float(p["Const"])},
            "convergence_flag": int(res.convergence_flag)}


def natural_draws(fit) -> dict[str, np.ndarray]:
    """Per-asset draws [N, chains, draws] of PER_ASSET; persistence and alpha_share derived
    from alpha and beta where the model does not report them (the independent garch)."""
    d = dict(fit.draws())
    if "persistence" not in d:
        d["persistence"] = d["alpha"] + d["beta"]
    if "alpha_share" not in d:
        d["alpha_share"] = d["alpha"] / d["persistence"]
    return d


def posterior_means(fit) -> dict[str, np.ndarray]:
    d = natural_draws(fit)
    return {k: d[k].reshape(d[k].shape[0], -1).mean(axis=1) for k in PER_ASSET}


def pooling_case(train, test, short: dict, label: str, truth=None) -> dict:
    """Fit the three methods to ``train``, score ``test``; per-asset sums and group sums."""
    import bayesvol as bv

    assets = list(train.columns)
    res = {"methods": {}, "short": short, "n_train_days": len(train), "n_holdout": len(test)}
    log(f"pooling {label}: hier-garch VI")
    hier = bv.fit(train, model="hier-garch", method="vi", seed=0)
    log(f"pooling {label}: independent AR(1) GARCH-t VI")
    ind = bv.fit(train, model="garch", dist="t", ar=True, method="vi", seed=0)
    per_asset, params, info = {}, {}, {}
    for name, f in (("hier-garch VI", hier), ("independent GARCH-t AR(1) VI (ours)", ind)):
        log(f"pooling {label}: scoring {name}")
        sc = f.score(test)
        s = sc.groupby("asset")["log_score"].sum()
        per_asset[name] = {a: float(s.get(a, np.nan)) for a in assets}
        params[name] = {k: v.tolist() for k, v in posterior_means(f).items()}
        info[name] = {"seconds": f.runtime["total"],
                      "converged": bool(f.diagnostics["converged"]),
                      "iterations": int(f.diagnostics["iterations"]),
                      "n_scored": int(len(sc))}
    log(f"pooling {label}: arch MLE per asset")
    arch_name = "independent GARCH-t AR(1) MLE (arch)"
    t0 = time.perf_counter()
    a_res = {a: arch_fit_score(train[a], test[a]) for a in assets}
    per_asset[arch_name] = {a: float(np.nansum(r["scores"])) for a, r in a_res.items()}
    params[arch_name] = {k: [a_res[a]["params"][k] for a in assets] for k in PER_ASSET}
    info[arch_name] = {"seconds": time.perf_counter() - t0,
                       "convergence_flags": [a_res[a]["convergence_flag"] for a in assets],
                       "max_abs_train_loglik_check": max(abs(r["train_ll_check"])
                                                         for r in a_res.values())}
    if truth is not None:
        per_asset["oracle (true parameters and variance path)"] = truth["oracle"]
    long_ = [a for a in assets if a not in short]
    for name, pa in per_asset.items():
        res["methods"][name] = {
            "per_asset": pa, "short_sum": float(sum(pa[a] for a in short)),
            "long_sum": float(sum(pa[a] for a in long_)), **info.get(name, {})}
    res["n_short"], res["n_long"] = len(short), len(long_)
    if truth is not None:
        idx = {a: i for i, a in enumerate(assets)}
        rmse = {}
        for name, pm in params.items():
            rmse[name] = {}
            for grp, members in (("short", list(short)), ("long", long_)):
                ii = [idx[a] for a in members]
                rmse[name][grp] = {k: float(np.sqrt(np.nanmean(
                    (np.asarray(pm[k])[ii] - truth["params"][k][ii]) ** 2))) for k in PER_ASSET}
        res["rmse"] = rmse
    res["posterior_means"] = params
    return res


def oracle_scores(sim, split: int) -> dict:
    """Holdout log scores under the truth: unit-variance t of e_t / sigma_t with the
    simulated conditional variance path."""
    from scipy.stats import t as student_t

    out = {}
    for i, a in enumerate(sim.assets):
        nu, phi = sim.params["nu"][i], sim.params["phi"][i]
        y, s2 = sim.returns[i], sim.sigma2[i]
        e = y[split:] - phi * y[split - 1:-1]
        k = np.sqrt(nu / (nu - 2.0))
        out[a] = float(np.sum(student_t.logpdf(e * k / np.sqrt(s2[split:]), nu)
                              + np.log(k) - 0.5 * np.log(s2[split:])))
    return out


def section_pooling(cfg) -> tuple[dict, list[Table]]:
    from skfolio.datasets import load_sp500_dataset

    from bayesvol.simulate.hier_garch import simulate_hier_garch

    pc = cfg["pool"]
    W, H = pc["window"], pc["holdout"]
    prices = load_sp500_dataset()
    rets = (100.0 * np.log(prices).diff()).iloc[1:]
    win = rets.iloc[-(W + H):]
    train, test = win.iloc[:W], win.iloc[W:]
    train, short = short_cut(train, pc["n_short"], *pc["short"])
    out = {"sp500": pooling_case(train, test, short, "S&P 500")}
    out["sp500"]["window"] = [str(win.index[0].date()), str(train.index[-1].date()),
                              str(test.index[-1].date())]
    n, T = pc["sim"]
    sim = simulate_hier_garch(n, T, seed=0, ragged=False)
    df = sim.to_frame()
    split = T - H
    s_train, s_test = df.iloc[:split], df.iloc[split:]
    s_train, s_short = short_cut(s_train, pc["n_short"], *pc["short"])
    truth = {"params": {k: np.asarray(sim.params[k]) for k in PER_ASSET},
             "oracle": oracle_scores(sim, split)}
    out["simulated"] = pooling_case(s_train, s_test, s_short, "simulated", truth)
    out["simulated"]["truth_params"] = {k: v.tolist() for k, v in truth["params"].items()}
    tables = []
    for key, title in (("sp500", f"skfolio S&P 500, 20 stocks, {W} training days "
                                 f"({out['sp500']['window'][0]}..{out['sp500']['window'][1]}),"
                                 f" holdout {H} days to {out['sp500']['window'][2]}"),
                       ("simulated", f"simulated hier-garch panel {n} x {T} (seed 0), "
                                     f"{split} training days, holdout {H}")):
        r = out[key]
        base = r["methods"]["hier-garch VI"]
        rows = []
        for name, m in r["methods"].items():
            rows.append([name, fmt(m["short_sum"], 6), fmt(m["short_sum"] / r["n_short"], 4),
                         fmt(m["long_sum"], 6), fmt(m["long_sum"] / r["n_long"], 4),
                         fmt((base["short_sum"] - m["short_sum"]) / r["n_short"], 3),
                         fmt((base["long_sum"] - m["long_sum"]) / r["n_long"], 3)])
        header = ["method", f"sum, {r['n_short']} short assets", "per short asset",
                  f"sum, {r['n_long']} long assets", "per long asset",
                  "hier minus this, per short asset", "hier minus this, per long asset"]
        tables.append((f"Pooling: holdout one-step log score, {title}; short histories "
                       f"{pc['short'][0]}-{pc['short'][1]} days", header, rows))
    rm = out["simulated"]["rmse"]
    header = ["method", *(f"{k} (short)" for k in PER_ASSET), *(f"{k} (long)" for k in PER_ASSET)]
    rows = [[name, *(fmt(v["short"][k]) for k in PER_ASSET), *(fmt(v["long"][k])
                                                                for k in PER_ASSET)]
            for name, v in rm.items()]
    tables.append(("Pooling: RMSE of the point estimate (posterior mean; MLE for arch) vs the "
                   "truth, simulated panel", header, rows))
    return out, tables


# -------------------------------------------------------------------- 3. accuracy
def section_accuracy(cfg) -> tuple[dict, list[Table]]:
    import bayesvol as bv
    from bayesvol.simulate.hier_garch import simulate_hier_garch

    n, T = cfg["acc_panel"]
    df = simulate_hier_garch(n, T, seed=0).to_frame()
    chains, warm, draws = cfg["nuts"]
    log(f"accuracy: NUTS {chains} x ({warm}+{draws}) on {n} x {T}")
    nuts = bv.fit(df, model="hier-garch", method="nuts", seed=0, num_chains=chains,
                  num_warmup=warm, num_samples=draws)
    ref_local, ref_glob = nuts.draws(), nuts.global_draws()
    out = {"panel": [n, T], "nuts": {"chains": chains, "warmup": warm, "draws": draws,
                                     "seconds": nuts.runtime["total"],
                                     "diagnostics": nuts.diagnostics}, "vi": {}}
    for fam, kw in cfg["families"]:
        log(f"accuracy: VI {fam}")
        f = bv.fit(df, model="hier-garch", method="vi", seed=0, **kw)
        loc, glob = f.draws(), f.global_draws()
        per = {k: [bv.overlap_accuracy(loc[k][i].ravel(), ref_local[k][i].ravel())
                   for i in range(n)] for k in PER_ASSET}
        gacc = {k: bv.overlap_accuracy(glob[k].ravel(), ref_glob[k].ravel()) for k in glob}
        # where the marginals differ: posterior mean shift in NUTS sd units and sd ratio
        shift = {k: (np.abs(loc[k].reshape(n, -1).mean(1) - ref_local[k].reshape(n, -1).mean(1))
                     / ref_local[k].reshape(n, -1).std(1)).tolist() for k in PER_ASSET}
        sd_ratio = {k: (loc[k].reshape(n, -1).std(1) / ref_local[k].reshape(n, -1).std(1)
                        ).tolist() for k in PER_ASSET}
        gmom = {k: {"vi_mean": float(glob[k].mean()), "vi_sd": float(glob[k].std()),
                    "nuts_mean": float(ref_glob[k].mean()), "nuts_sd": float(ref_glob[k].std())}
                for k in glob}
        out["vi"][fam] = {"per_asset": per, "globals": gacc, "mean_shift_nuts_sd": shift,
                          "sd_ratio_vi_nuts": sd_ratio, "global_moments": gmom,
                          "seconds": f.runtime["total"],
                          "iterations": int(f.diagnostics["iterations"]),
                          "converged": bool(f.diagnostics["converged"]),
                          "elbo": float(f.elbo[0])}
    fams = list(out["vi"])
    rows = []
    for k in PER_ASSET:
        rows.append([f"{k} (per asset: min / median of {n})",
                     *(f"{fmt(min(out['vi'][f]['per_asset'][k]), 3)} / "
                       f"{fmt(statistics.median(out['vi'][f]['per_asset'][k]), 3)}"
                       for f in fams)])
    gnames = list(out["vi"][fams[0]]["globals"])
    corr = [g for g in gnames if g.startswith("corr[")]
    for g in gnames:
        if g not in corr:
            rows.append([g, *(fmt(out["vi"][f]["globals"][g], 3) for f in fams)])
    if corr:
        rows.append([f"correlations ({len(corr)}): min / median",
                     *(f"{fmt(min(out['vi'][f]['globals'][g] for g in corr), 3)} / "
                       f"{fmt(statistics.median(out['vi'][f]['globals'][g] for g in corr), 3)}"
                       for f in fams)])
    if "mean_shift_nuts_sd" in out["vi"][fams[0]]:
        rows.append(["per asset: median |mean shift| / NUTS sd, over all 5 parameters",
                     *(fmt(float(np.median(np.concatenate(
                         [out["vi"][f]["mean_shift_nuts_sd"][k] for k in PER_ASSET]))))
                       for f in fams)])
        rows.append(["per asset: median sd ratio VI / NUTS, over all 5 parameters",
                     *(fmt(float(np.median(np.concatenate(
                         [out["vi"][f]["sd_ratio_vi_nuts"][k] for k in PER_ASSET]))))
                       for f in fams)])
    rows.append(["globals (not correlations): sd ratio VI / NUTS, min / median",
                 *(f"{fmt(min(r))} / {fmt(statistics.median(r))}" for r in (
                     [m["vi_sd"] / m["nuts_sd"] for g, m in out["vi"][f]["global_moments"].items()
                      if not g.startswith("corr[")] for f in fams))])
    rows.append(["VI seconds / iterations / converged",
                 *(f"{fmt(out['vi'][f]['seconds'])} / {out['vi'][f]['iterations']} / "
                   f"{fmt(out['vi'][f]['converged'])}" for f in fams)])
    d = nuts.diagnostics
    t_acc = (f"Accuracy (%) of joint VI vs NUTS {chains} x ({warm}+{draws}) on a simulated "
             f"ragged {n} x {T} panel (NUTS: {nuts.runtime['total']:.0f} s, R-hat max "
             f"{d['rhat_max']:.3f}, min ESS {d['ess_min']:.0f}, {d['divergences']} "
             f"divergences)", ["parameter", *fams], rows)

    n2, T2 = cfg["mb_panel"]
    df2 = simulate_hier_garch(n2, T2, seed=1).to_frame()
    mb: dict = {"panel": [n2, T2]}
    t_mb = []
    # "auto": g from the start's Laplace marginal (identical for both fits by construction, so
    # only the blocks are compared); "vi": g from q(g) itself, so minibatch's own q(g) is
    # compared with the full batch's
    for gmode in ("auto", "vi"):
        res, table = minibatch_case(df2, n2, T2, cfg["mb_batches"], gmode)
        mb[gmode] = res
        t_mb.append(table)
    out["minibatch_vs_full"] = mb
    return out, [t_acc, *t_mb]


def mean_differences(fit, ref, n: int) -> dict:
    """|posterior mean of ``fit`` - that of ``ref``| / ``ref``'s posterior sd: per asset (max and
    median over the assets, per parameter) and per global; and the globals' sd ratio."""
    d, g = fit.draws(), fit.global_draws()
    rd, rg = ref.draws(), ref.global_draws()
    z = {k: np.abs(d[k].reshape(n, -1).mean(1) - rd[k].reshape(n, -1).mean(1))
         / rd[k].reshape(n, -1).std(1, ddof=1) for k in PER_ASSET}
    return {"per_asset_max": {k: float(v.max()) for k, v in z.items()},
            "per_asset_median": {k: float(np.median(v)) for k, v in z.items()},
            "globals": {k: float(abs(g[k].mean() - rg[k].mean()) / rg[k].std(ddof=1))
                        for k in rg},
            "globals_sd_ratio": {k: float(g[k].std(ddof=1) / rg[k].std(ddof=1)) for k in rg},
            "seconds": fit.runtime["total"], "iterations": int(fit.diagnostics["iterations"]),
            "converged": bool(fit.diagnostics["converged"]), "elbo": float(fit.elbo[0])}


SEED_COLUMN = "full batch, seed 1"  # the tolerance: full batch's own seed-to-seed difference
MB_TOLERANCE = 1.5  # goal: minibatch's differences at most this times the seed-to-seed ones


def within_seed_spread(v: dict, tol: dict) -> bool:
    """Goal of a minibatch fit: over the five per-asset parameters, its largest median and its
    largest max difference from full batch are at most MB_TOLERANCE times those of a second
    full-batch seed (``tol``); the same for the largest global difference, where q(g) is fitted
    (both zero where the globals come from the start's Laplace marginal)."""
    def worst(x, key):
        return max(x[key].values()) if x[key] else 0.0

    keys = ["per_asset_max", "per_asset_median", "globals"]
    return all(worst(v, k) <= MB_TOLERANCE * worst(tol, k) + 1e-9 for k in keys)


def minibatch_case(df2, n2: int, T2: int, batches, gmode: str) -> tuple[dict, Table]:
    """Minibatch VI (each batch size) against full-batch VI (seed 0) on one panel, all with
    ``globals=gmode``: |difference of posterior means| / full-batch posterior sd; a second
    full-batch seed, compared the same way, is the tolerance (the ELBO is flat along some
    directions, so full batch itself stops at places that differ by seed: docs/inference.md,
    "How well determined is q(g)?")."""
    import bayesvol as bv

    log(f"accuracy: full-batch VI on {n2} x {T2} (globals={gmode})")
    full = bv.fit(df2, model="hier-garch", method="vi", seed=0, globals=gmode)
    mb = {"globals_mode": gmode,
          "full": {"seconds": full.runtime["total"],
                   "iterations": int(full.diagnostics["iterations"]),
                   "converged": bool(full.diagnostics["converged"]),
                   "elbo": float(full.elbo[0])}, "minibatch": {}}
    log(f"accuracy: full-batch VI, seed 1 (the tolerance), globals={gmode}")
    mb["full_seed1"] = mean_differences(
        bv.fit(df2, model="hier-garch", method="vi", seed=1, globals=gmode), full, n2)
    for B in batches:
        log(f"accuracy: minibatch VI B={B} on {n2} x {T2} (globals={gmode})")
        f = bv.fit(df2, model="hier-garch", method="vi", seed=0, batch_size=B, globals=gmode)
        mb["minibatch"][B] = mean_differences(f, full, n2)
        mb["minibatch"][B]["within_seed_spread"] = within_seed_spread(mb["minibatch"][B],
                                                                      mb["full_seed1"])
    cols = {SEED_COLUMN: mb["full_seed1"], **{f"B={b}": v for b, v in mb["minibatch"].items()}}
    rows = [[f"{k} (max / median over {n2} assets)",
             *(f"{fmt(v['per_asset_max'][k])} / {fmt(v['per_asset_median'][k])}"
               for v in cols.values())] for k in PER_ASSET]
    groups = {"locations (*_loc)": lambda k: k.endswith("_loc"),
              "scales (*_scale)": lambda k: k.endswith("_scale"),
              "medians (persistence, alpha share)": lambda k: k.endswith("_median"),
              "correlations": lambda k: k.startswith("corr["),
              "other globals": lambda k: not (k.endswith(("_loc", "_scale", "_median"))
                                              or k.startswith("corr["))}
    gkeys = list(mb["full_seed1"]["globals"])
    for gname, pred in groups.items():
        keys = [k for k in gkeys if pred(k)]
        if keys:
            rows.append([f"globals: {gname}, max over {len(keys)}",
                         *(fmt(max(v["globals"][k] for k in keys)) for v in cols.values())])
    rows.append(["globals: sd ratio this / full, min-max",
                 *(f"{fmt(min(v['globals_sd_ratio'].values()))}-"
                   f"{fmt(max(v['globals_sd_ratio'].values()))}" for v in cols.values())])
    rows.append(["seconds / iterations / converged / ELBO",
                 *(f"{fmt(v['seconds'])} / {v['iterations']} / {fmt(v['converged'])} / "
                   f"{fmt(v['elbo'], 7)}" for v in cols.values())])
    rows.append([f"within {MB_TOLERANCE} x the seed-to-seed differences (largest median, "
                 "largest max, largest global)", "(tolerance)",
                 *(fmt(v["within_seed_spread"]) for v in mb["minibatch"].values())])
    fb = mb["full"]
    source = ("the start's Laplace marginal (the same in both fits)" if gmode == "auto"
              else "each fit's own q(g)")
    t_mb = (f"Minibatch vs full-batch VI (seed 0) on a simulated {n2} x {T2} panel, "
            f"globals={gmode} (g drawn from {source}): |difference of posterior means| / "
            f"full-batch posterior sd; the first column, a second full-batch seed, is the "
            f"tolerance (full batch seed 0: {fmt(fb['seconds'])} s, {fb['iterations']} "
            f"iterations, ELBO {fmt(fb['elbo'], 7)})", ["parameter", *cols], rows)
    return mb, t_mb


# ------------------------------------------------------------------------- output


def machine_info() -> dict:
    import arch
    import jax
    import numpyro

    import bayesvol as bv

    try:
        import skfolio
        skv = skfolio.__version__
    except ImportError:  # pragma: no cover
        skv = None
    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(), "processor": platform.processor(),
            "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)), "loadavg_start": os.getloadavg(),
            "jax": jax.__version__, "jax_backend": jax.default_backend(),
            "numpyro": numpyro.__version__, "arch": arch.__version__, "skfolio": skv,
            "bayesvol": bv.__version__, "pyro_python": PYRO_PYTHON, "seed000": SEED000}


def clean(obj):
    """JSON-ready copy: stringifies keys, numpy -> python, NaN / inf -> null."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def goals_of(results: dict) -> dict[str, bool | None]:
    g: dict[str, bool | None] = {}
    sp = results.get("speed", {}).get("results")
    if sp:
        mid = [r for r in sp.values() if (r["n"], r["T"]) == (100, 2000)]
        if mid:
            r = mid[0]
            g["100 x 2000 converged in under 10 s warm (absolute, this machine)"] = (
                None if "error" in r or r.get("warm_s") is None
                else bool(r["converged"] and r["warm_s"] < 10.0))
            # the issue's own reading of 10 s: at most ~6 steps of the seed's Pyro SVI, measured
            # in the same script (CPU seconds: the machine is shared, wall time is inflated)
            g["100 x 2000 converged warm in at most 6 seed Pyro steps (CPU, same script)"] = (
                None if "error" in r or r.get("ratio_cpu") is None
                else bool(r["converged"] and r["ratio_cpu"] <= 6.0))
        big = [r for r in sp.values() if (r["n"], r["T"]) == (2000, 2500)]
        if big:
            ok = [r for r in big if "error" not in r and r["converged"]]
            best = min(ok, key=lambda r: r["cold_s"]) if ok else None
            g["2000 x 2500 converged in under 10 min (cold, best batch setting) in under 8 GB"] = (
                bool(best and best["cold_s"] < 600 and best["peak_rss_mb"] < 8192))
    po = results.get("pooling", {}).get("results")
    if po:
        for key, name in (("sp500", "S&P 500"), ("simulated", "simulated")):
            m = po[key]["methods"]
            h = m["hier-garch VI"]
            others = [k for k in m if k.startswith("independent")]
            g[f"{name}: hier-garch beats both independent fits on the short-history group"] = (
                all(h["short_sum"] > m[k]["short_sum"] for k in others))
            g[f"{name}: hier-garch no worse than -1 per asset on the long group (vs both)"] = (
                all((h["long_sum"] - m[k]["long_sum"]) / po[key]["n_long"] > -1.0
                    for k in others))
    mbf = results.get("accuracy", {}).get("results", {}).get("minibatch_vs_full", {})
    for gmode in ("auto", "vi"):
        for b, v in mbf.get(gmode, {}).get("minibatch", {}).items():
            if "within_seed_spread" in v:
                g[f"minibatch B={b} reaches full batch (globals={gmode}) within {MB_TOLERANCE} x "
                  "two full-batch seeds' differences"] = bool(v["within_seed_spread"])
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run on small panels")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default benchmarks/results; a temp folder if --quick)")
    ap.add_argument("--search", action="store_true",
                    help="speed: also try the other minibatch settings at the largest size")
    ap.add_argument("--speed-timeout", type=int, default=None,
                    help="seconds allowed per speed size (default 1800; 900 with --quick)")
    ap.add_argument("--sizes", default=None,
                    help="speed: rerun only the sizes whose label contains one of these "
                         "comma-separated strings (e.g. 2000x2500); the others keep their "
                         "last results")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite the Markdown (and goals) from the existing JSON")
    ap.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._worker:
        print("RESULT " + json.dumps(clean(speed_worker(json.loads(args._worker)))), flush=True)
        return
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}: choose from {SECTIONS}")
    cfg = dict(QUICK if args.quick else FULL)
    if args.search:
        cfg["_search"] = cfg["speed_search"]
    if args.speed_timeout:
        cfg["speed_timeout_s"] = args.speed_timeout
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="hier_garch_")) if args.quick
                           else HERE / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.sizes:
        cfg["_sizes"] = [s.strip() for s in args.sizes.split(",") if s.strip()]
        prev = out_dir / "hier_garch.json"
        if prev.exists():
            sec = json.loads(prev.read_text()).get("sections", {}).get("speed", {})
            cfg["_previous_speed"] = sec.get("results", {})
            cfg["_previous_speed_date"] = sec.get("date")
    if args.render:
        payload = json.loads((out_dir / "hier_garch.json").read_text())
        args.quick = payload["quick"]
        info = payload["machine"]
        write(out_dir, info, payload["config"], args, {},
              time.perf_counter() - info["wall_s"], final=True)
        return
    t_start = time.perf_counter()
    info = machine_info()
    results: dict = {}  # the sections run by this process; others are read back at each write
    runners = {"speed": section_speed, "pooling": section_pooling,
               "accuracy": section_accuracy}
    for name in SECTIONS:
        if name not in only:
            continue
        t0 = time.perf_counter()
        res, tables = runners[name](cfg)
        tables = tables if isinstance(tables, list) else [tables]
        for t in tables:
            print(render(t, False), flush=True)
        results[name] = {"results": res, "tables": tables, "date": info["date"],
                         "loadavg": [info["loadavg_start"], os.getloadavg()],
                         "seconds": time.perf_counter() - t0}
        write(out_dir, info, cfg, args, results, t_start)  # after each section
    write(out_dir, info, cfg, args, results, t_start, final=True)


def write(out_dir: Path, info: dict, cfg: dict, args, results: dict, t_start: float,
          final: bool = False) -> None:
    json_path = out_dir / "hier_garch.json"
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    kept = previous.get("sections", {}) if previous.get("quick") == args.quick else {}
    results = {k: results[k] if k in results else kept[k] for k in SECTIONS
               if k in results or k in kept}
    goals = goals_of(results)
    goal_lines = [f"{'n/a ' if ok is None else ('PASS' if ok else 'FAIL')}  {name}"
                  for name, ok in goals.items()]
    info = {**info, "loadavg_now": os.getloadavg(), "wall_s": time.perf_counter() - t_start}
    notes = [
        f"Run {info['date']} on {info['platform']}, {info['cpus_usable']} usable CPU(s), load "
        f"average at start {info['loadavg_start'][0]:.1f} (machine shared with other work: "
        f"wall seconds are inflated by contention; CPU seconds and same-run ratios are the "
        f"comparable figures), jax {info['jax']} ({info['jax_backend']}), numpyro "
        f"{info['numpyro']}, arch {info['arch']}, skfolio {info['skfolio']}"
        + (" (--quick)" if args.quick else "") + ".",
        "Sections and their run dates: " + "; ".join(
            f"{k} {v['date']} ({v['seconds']:.0f} s, load {v['loadavg'][0][0]:.1f} -> "
            f"{v['loadavg'][1][0]:.1f})" for k, v in results.items()) + ".",
        "Speed: each N x T runs in a fresh Python process (simulate_hier_garch(N, T, seed=0), "
        "ragged); 'cold' is its first bv.fit (compilation included; from an empty "
        "compilation cache of its own since 2026-12-01 06:20), 'warm' the median of the "
        "next seeds; CPU seconds are the process's user + system time during the fit (all "
        "threads); peak RSS is the process's ru_maxrss (simulated data included). The Pyro "
        "baseline is the seed's model with an AutoNormal guide, Adam(0.01), one untimed "
        "warm-up step, then the mean of the timed steps, torch on 1 thread; 'our fit / Pyro "
        "step' is how many of its SVI steps our whole converged fit costs (measured, never "
        "extrapolated).",
        "Pooling: log returns x 100 of skfolio's S&P 500 prices; 'short' assets are set to NaN "
        "before their last L training days (L evenly spaced, assets drawn with "
        "numpy default_rng(0)). Ours: bv.fit(...).score(holdout) (posterior predictive, "
        "draws fixed, filter run on through the holdout). arch: MLE on each asset's training "
        "returns (AR(1) mean with constant), holdout scored by arch_model(train + "
        "holdout).fix(mle) and StudentsT.loglikelihood(individual=True), i.e. fixed parameters"
        " filtered forward. Oracle: the simulated conditional variances and true parameters.",
        "Accuracy: overlap accuracy (bv.overlap_accuracy, KDE) per asset and per global in "
        "natural units; minibatch rows use the same simulated panel and seed as the full batch.",
    ]
    md = ["# hier_garch benchmark", "", *(f"- {n}" for n in notes), ""]
    for name in SECTIONS:
        if name in results:
            md += [render(tuple(t), True) for t in results[name]["tables"]]
    md += ["### Goals", "", *(f"- {g}" for g in goal_lines), "",
           "### README snippet", "", *readme_snippet(results, goals), ""]
    config = {k: v for k, v in cfg.items()
              if k not in ("_previous_speed", "_previous_speed_date")}
    payload = {"machine": info, "config": config, "quick": args.quick, "sections": results,
               "goals": goals, "notes": notes}
    (out_dir / "hier_garch.json").write_text(json.dumps(clean(payload), indent=2) + "\n")
    (out_dir / "hier_garch.md").write_text("\n".join(md))
    if final:
        print("Goals\n" + "\n".join(goal_lines), flush=True)
        log(f"wrote {out_dir / 'hier_garch.json'} and {out_dir / 'hier_garch.md'}; "
            f"{info['wall_s']:.0f} s in all")


def readme_snippet(results: dict, goals: dict) -> list[str]:
    lines = ["| benchmark | figure | goal |", "|---|---|---|"]
    sp = results.get("speed", {}).get("results", {})
    for name, r in sp.items():
        label = speed_label(name, r)
        if "error" in r:
            lines.append(f"| speed {label} | {r['error'][:80]} | |")
            continue
        w = f"warm {fmt(r['warm_s'])} s, " if r.get("warm_s") else ""
        py = (f"; = {fmt(r['ratio_wall'])} steps of the seed's Pyro SVI (CPU: "
              f"{fmt(r['ratio_cpu'])})" if r.get("ratio_wall") else "")
        lines.append(f"| speed {label} | {w}cold {fmt(r['cold_s'])} s, "
                     f"{fmt(r['peak_rss_mb'], 4)} MB, converged {fmt(r['converged'])}{py} | |")
    po = results.get("pooling", {}).get("results", {})
    for key, name in (("sp500", "S&P 500"), ("simulated", "simulated")):
        if key in po:
            m, r = po[key]["methods"], po[key]
            h = m["hier-garch VI"]
            for k in m:
                if k.startswith("independent"):
                    lines.append(
                        f"| pooling {name}: hier minus {k} | short "
                        f"{fmt((h['short_sum'] - m[k]['short_sum']) / r['n_short'])} / asset, "
                        f"long {fmt((h['long_sum'] - m[k]['long_sum']) / r['n_long'])} / asset"
                        " | > 0 short, > -1 long |")
    ac = results.get("accuracy", {}).get("results", {})
    for fam, v in ac.get("vi", {}).items():
        lo = min(min(x) for x in v["per_asset"].values())
        glo = min(v["globals"].values())
        lines.append(f"| VI {fam} vs NUTS | per-asset min {fmt(lo)}%, globals min "
                     f"{fmt(glo)}% | |")
    mbf = ac.get("minibatch_vs_full", {})
    for gmode in ("auto", "vi"):
        seeds = mbf.get(gmode, {}).get("full_seed1")
        if seeds:
            lines.append(f"| full batch seed 1 vs seed 0 (the tolerance), globals={gmode} | max "
                         f"abs. difference of means {fmt(max(seeds['per_asset_max'].values()))}"
                         f" sd (per asset), {fmt(max(seeds['globals'].values()))} sd (globals)"
                         " | |")
        for b, v in mbf.get(gmode, {}).get("minibatch", {}).items():
            lines.append(f"| minibatch B={b} vs full batch, globals={gmode} | max abs. "
                         f"difference of means {fmt(max(v['per_asset_max'].values()))} sd (per "
                         f"asset), {fmt(max(v['globals'].values()))} sd (globals) | |")
    for name, ok in goals.items():
        lines.append(f"| goal | {name} | {'n/a' if ok is None else ('PASS' if ok else 'FAIL')} |")
    return lines


if __name__ == "__main__":
    main()
