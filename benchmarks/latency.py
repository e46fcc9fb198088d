"""Benchmark: the latency a user feels: import, CLI start-up and first-fit compilation.

Every figure is measured in fresh Python processes (the median of several), as a new user meets
it, with the compilation caches in folders of this run (never the user's own):

1. start-up: ``python -c "import bayesvol"``, ``bayesvol --help``, ``bayesvol check`` on a
   small file (40 days, 2 assets).
2. the command line fit: ``bayesvol fit`` of a 3000-day skewed-t GARCH series (garch, skewt,
   VI, defaults), with an empty cache (a new folder per run: JAX's compilation cache and the
   stored programs both empty) and with a warm one (the same folder again).
3. in-process fits: in one fresh process, ``import bayesvol`` and the data first, then the
   first ``bv.fit`` and a second one with another seed; for garch (the same 3000-day series)
   and every other model in the registry at a small size (hier-garch 5 x 300, dfsv and fsv
   K = 1 on 5 x 300, beta-t-egarch 500 days, gas-t-cov 3 x 300, credit-intensity 630 simulated
   rating histories with 500 events). The first process of each model starts with an empty
   cache; the next ones find it warm.
4. the baseline, in the same run: ``import arch`` and arch's GARCH(1,1) skewed-t maximum
   likelihood fit of the same 3000-day series, in a fresh process.

Wall seconds are what the goals name; CPU seconds (user + system of the child process) are
shown next to them because the machine is shared: under contention wall time grows and CPU
time mostly does not. The package source (this checkout's ``src/``, or ``--src``'s) is copied
at the start and the copy is measured (first on PYTHONPATH), so edits made while the
benchmark runs do not change what it measures.

    python benchmarks/latency.py              # full run; writes results/latency.{json,md}
                                              # and the README table
    python benchmarks/latency.py --quick      # one run of each; writes to a temp folder
    python benchmarks/latency.py --src DIR --out DIR2   # measure another source tree (its
                                              # src/ first on PYTHONPATH), e.g. a checkout
                                              # of an older commit, for a before/after

Needs the ``bench`` extra (arch).
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import fmt, log, update_readme_block

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FULL = {"startup_runs": 7, "cold_runs": 3, "warm_runs": 5, "arch_runs": 5, "inproc_warm": 3}
QUICK = {"startup_runs": 1, "cold_runs": 1, "warm_runs": 1, "arch_runs": 1, "inproc_warm": 1}
T_FIT = 3000
SMALL = {"assets": 5, "T": 300}
MODELS = {  # name -> (data file key, bv.fit keywords)
    "garch": ("garch", {"dist": "skewt"}),
    "hier-garch": ("hier", {}),
    "dfsv": ("dfsv", {"factors": 1}),
    "fsv": ("fsv", {"factors": 1}),
    "beta-t-egarch": ("beta", {}),
    "gas-t-cov": ("gascov", {}),
    "credit-intensity": ("credit", {}),
}
SIZES = {"garch": f"{T_FIT} days", "hier-garch": f"{SMALL['assets']} x {SMALL['T']}",
         "dfsv": f"{SMALL['assets']} x {SMALL['T']}, K = 1",
         "fsv": f"{SMALL['assets']} x {SMALL['T']}, K = 1",
         "beta-t-egarch": "500 days", "gas-t-cov": f"3 x {SMALL['T']}",
         "credit-intensity": "630 firms, 500 events"}
GOALS = {"help_s": 0.7, "check_s": 0.7, "import_s": 1.0, "fit_warm_s": 3.0, "fit_cold_s": 10.0,
         "first_over_second": 5.0}


# ----------------------------------------------------------------------------- children
def _child_fits(file: str, model: str, options: str) -> None:
    """In one process: import, load, then two fits (seeds 0 and 1); print JSON timings."""
    t0 = time.perf_counter()
    import bayesvol as bv

    fit = bv.fit  # the public entry point, imported here (not inside the timed fit)
    t1 = time.perf_counter()
    # credit-intensity reads rating histories itself; the others get a loaded panel
    panel = file if model == "credit-intensity" else bv.load_returns(file)
    t2 = time.perf_counter()
    kw = json.loads(options)
    out = {"import_s": t1 - t0, "load_s": t2 - t1}
    for label, seed in (("first", 0), ("second", 1)):
        c = time.process_time()
        t = time.perf_counter()
        fit(panel, model=model, seed=seed, **kw)
        out[f"{label}_s"] = time.perf_counter() - t
        out[f"{label}_cpu_s"] = time.process_time() - c
    print(json.dumps(out))


def _child_arch(file: str) -> None:
    """``import arch`` and arch's GARCH(1,1) skewed-t MLE of the series; print JSON timings."""
    t0 = time.perf_counter()
    from arch import arch_model

    t1 = time.perf_counter()
    import pandas as pd

    y = pd.read_csv(file, index_col=0).iloc[:, 0].to_numpy()
    t2 = time.perf_counter()
    res = arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, dist="skewt").fit(disp="off")
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "fit_s": t3 - t2,
                      "converged": int(res.convergence_flag) == 0}))


# ------------------------------------------------------------------------------ helpers
def child_env(cache: Path | None, src: Path | None) -> dict:
    """The environment of a measured process: no JAX_/BAYESVOL_ settings of ours leak in;
    the caches live in ``cache`` (a folder of this run) or are off; ``src`` (a folder holding
    the package source in ``src/``) goes first on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "BAYESVOL_",
                                                                     "_BAYESVOL"))}
    if cache is None:
        env["BAYESVOL_CACHE"] = "0"
    else:
        env["BAYESVOL_CACHE_DIR"] = str(cache)
    if src is not None:
        env["PYTHONPATH"] = str(src / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(argv: list[str], env: dict, cwd: Path, timeout: float = 1800) -> dict:
    """Run one process; its wall seconds (around the whole process), CPU seconds (user +
    system, from the OS), exit code and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        log(f"  exit {done.returncode}: {' '.join(argv[-6:])}\n{done.stderr[-1500:]}")
    return {"wall_s": wall, "cpu_s": cpu, "rc": done.returncode, "stdout": done.stdout}


def bayesvol_cmd() -> list[str]:
    """The console script of this environment (``python -m bayesvol`` if it is missing)."""
    script = Path(sys.executable).with_name("bayesvol")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bayesvol"]


def median_of(runs: list[dict], key: str = "wall_s") -> float | None:
    values = [r[key] for r in runs if r.get("rc", 0) == 0 and r.get(key) is not None]
    return statistics.median(values) if values else None


def summarise(runs: list[dict]) -> dict:
    """Median wall and CPU seconds of runs, the runs themselves and how many failed."""
    return {"wall_s": median_of(runs), "cpu_s": median_of(runs, "cpu_s"),
            "runs": [{k: v for k, v in r.items() if k != "stdout"} for r in runs],
            "failed": sum(r["rc"] != 0 for r in runs)}


def make_data(folder: Path, scratch_env: dict) -> dict[str, Path]:
    """The measured inputs, simulated by the CLI (seeded): a 3000-day skewed-t GARCH series,
    a small check file, and the small panels of the other models."""
    bv = bayesvol_cmd()
    files = {"garch": folder / "garch3000.csv", "check": folder / "small.csv",
             "hier": folder / "hier.csv", "dfsv": folder / "dfsv.csv",
             "fsv": folder / "fsv.csv", "beta": folder / "beta.csv",
             "gascov": folder / "gascov.csv", "credit": folder / "credit.csv"}
    jobs = [
        ["simulate", "garch", "--T", str(T_FIT), "--dist", "skewt", "--seed", "1", "--out",
         str(files["garch"])],
        ["simulate", "hier-garch", "--assets", str(SMALL["assets"]), "--T", str(SMALL["T"]),
         "--seed", "2", "--out", str(files["hier"])],
        ["simulate", "dfsv", "--assets", str(SMALL["assets"]), "--factors", "1", "--T",
         str(SMALL["T"]), "--seed", "3", "--out", str(files["dfsv"])],
        ["simulate", "fsv", "--assets", str(SMALL["assets"]), "--factors", "1", "--T",
         str(SMALL["T"]), "--seed", "4", "--out", str(files["fsv"])],
        ["simulate", "beta-t-egarch", "--T", "500", "--seed", "5", "--out",
         str(files["beta"])],
        ["simulate", "gas-t-cov", "--assets", "3", "--T", str(SMALL["T"]), "--seed", "6",
         "--out", str(files["gascov"])],
        ["simulate", "credit-intensity", "--seed", "7", "--out", str(files["credit"])],
    ]
    for job in jobs:
        r = run(bv + job, scratch_env, folder)
        if r["rc"] != 0:
            raise SystemExit(f"simulating the data failed: {' '.join(job)}")
    lines = files["garch"].read_text().splitlines()
    header = lines[0].split(",")
    rows = [ln.split(",") for ln in lines[1:41]]
    files["check"].write_text("\n".join([f"{header[0]},A,B"] + [
        f"{r[0]},{r[1]},{float(r[1]) * 0.5}" for r in rows]) + "\n")
    return files


# --------------------------------------------------------------------------- sections
def section_startup(cfg: dict, files: dict, folder: Path, src: Path | None) -> dict:
    env = child_env(folder / "cache-startup", src)
    bv = bayesvol_cmd()
    cases = {"import": [sys.executable, "-c", "import bayesvol"],
             "help": bv + ["--help"],
             "check": bv + ["check", str(files["check"])]}
    out = {}
    for name, argv in cases.items():
        runs = [run(argv, env, folder) for _ in range(cfg["startup_runs"])]
        out[name] = summarise(runs)
        log(f"{name}: median {fmt(out[name]['wall_s'])} s wall, {fmt(out[name]['cpu_s'])} s "
            "CPU")
    return out


def section_cli_fit(cfg: dict, files: dict, folder: Path, src: Path | None) -> dict:
    bv = bayesvol_cmd()
    argv = bv + ["fit", str(files["garch"]), "--model", "garch", "--dist", "skewt", "--method",
                 "vi", "--seed", "0", "--out"]
    cold, warm = [], []
    for i in range(cfg["cold_runs"]):
        cache = folder / f"cache-cli-{i}"
        shutil.rmtree(cache, ignore_errors=True)
        cold.append(run(argv + [str(folder / f"fit-cold-{i}")], child_env(cache, src), folder))
        log(f"bayesvol fit, empty cache, run {i + 1}: {fmt(cold[-1]['wall_s'])} s wall, "
            f"{fmt(cold[-1]['cpu_s'])} s CPU")
    for i in range(cfg["warm_runs"]):
        warm.append(run(argv + [str(folder / f"fit-warm-{i}")],
                        child_env(folder / "cache-cli-0", src), folder))
        log(f"bayesvol fit, warm cache, run {i + 1}: {fmt(warm[-1]['wall_s'])} s wall, "
            f"{fmt(warm[-1]['cpu_s'])} s CPU")
    return {"cold": summarise(cold), "warm": summarise(warm)}


def section_inprocess(cfg: dict, files: dict, folder: Path, src: Path | None) -> dict:
    out = {}
    for model, (data, kw) in MODELS.items():
        cache = folder / f"cache-inproc-{model}"
        shutil.rmtree(cache, ignore_errors=True)
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", "fits",
                str(files[data]), model, json.dumps(kw)]
        procs = []
        for i in range(1 + cfg["inproc_warm"]):
            r = run(argv, child_env(cache, src), folder)
            if r["rc"] == 0:
                r.update(json.loads(r["stdout"].strip().splitlines()[-1]))
            procs.append(r)
            state = "empty" if i == 0 else "warm"
            if r["rc"] == 0:
                log(f"{model}, {state} cache: first fit {fmt(r['first_s'])} s, second "
                    f"{fmt(r['second_s'])} s (process {fmt(r['wall_s'])} s)")
        warm = [p for p in procs[1:] if p["rc"] == 0]
        ratios = [p["first_s"] / p["second_s"] for p in warm]
        out[model] = {
            "options": kw,
            "cold_first_s": procs[0].get("first_s"), "cold_second_s": procs[0].get("second_s"),
            "warm_first_s": median_of(warm, "first_s"),
            "warm_second_s": median_of(warm, "second_s"),
            "warm_first_cpu_s": median_of(warm, "first_cpu_s"),
            "warm_second_cpu_s": median_of(warm, "second_cpu_s"),
            "import_s": median_of(warm, "import_s"),
            "first_over_second": statistics.median(ratios) if ratios else None,
            "processes": [{k: v for k, v in p.items() if k != "stdout"} for p in procs],
        }
    return out


def section_arch(cfg: dict, files: dict, folder: Path) -> dict:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "arch",
            str(files["garch"])]
    procs = []
    for _ in range(cfg["arch_runs"]):
        r = run(argv, child_env(None, None), folder)
        if r["rc"] == 0:
            r.update(json.loads(r["stdout"].strip().splitlines()[-1]))
        procs.append(r)
    out = summarise(procs)
    out["import_s"] = median_of(procs, "import_s")
    out["fit_s"] = median_of(procs, "fit_s")
    out["converged"] = all(p.get("converged", False) for p in procs)
    log(f"arch: process {fmt(out['wall_s'])} s (import {fmt(out['import_s'])} s, fit "
        f"{fmt(out['fit_s'])} s)")
    return out


# ---------------------------------------------------------------------------- results
def goals_of(res: dict) -> dict[str, tuple[str, bool | None]]:
    """Goal id -> (its statement, PASS True / FAIL False / None when not measured)."""
    st, cli, inp = res["startup"], res["cli_fit"], res["inprocess"]

    def below(x, limit):
        return None if x is None else x < limit

    goals = {
        "help": (f"bayesvol --help under {GOALS['help_s']} s wall",
                 below(st["help"]["wall_s"], GOALS["help_s"])),
        "check": (f"bayesvol check under {GOALS['check_s']} s wall",
                  below(st["check"]["wall_s"], GOALS["check_s"])),
        "import": (f"import bayesvol under {GOALS['import_s']:g} s",
                   below(st["import"]["wall_s"], GOALS["import_s"])),
        "fit_warm": (f"bayesvol fit ({T_FIT} days) with a warm cache under "
                     f"{GOALS['fit_warm_s']:g} s wall",
                     below(cli["warm"]["wall_s"], GOALS["fit_warm_s"])),
        "fit_cold": (f"bayesvol fit ({T_FIT} days) with an empty cache under "
                     f"{GOALS['fit_cold_s']:g} s wall",
                     below(cli["cold"]["wall_s"], GOALS["fit_cold_s"])),
    }
    for model, r in inp.items():
        ratio = r["first_over_second"]
        goals[model] = (f"{model}: first in-process fit with a warm cache within "
                        f"{GOALS['first_over_second']:g}x of the second",
                        None if ratio is None else ratio <= GOALS["first_over_second"])
    return goals


def table_lines(res: dict, goals: dict) -> list[str]:
    """The Markdown table of every measurement (the README block)."""
    st, cli, inp, ar = res["startup"], res["cli_fit"], res["inprocess"], res["arch"]

    def mark(goal: str) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[goals[goal][1]]

    lines = ["| measurement (fresh processes, median) | wall [s] | CPU [s] | goal |",
             "|---|---|---|---|",
             f"| `python -c \"import bayesvol\"` | {fmt(st['import']['wall_s'])} | "
             f"{fmt(st['import']['cpu_s'])} | < 1 s: {mark('import')} |",
             f"| `bayesvol --help` | {fmt(st['help']['wall_s'])} | {fmt(st['help']['cpu_s'])} "
             f"| < 0.7 s: {mark('help')} |",
             f"| `bayesvol check` (40 days, 2 assets) | {fmt(st['check']['wall_s'])} | "
             f"{fmt(st['check']['cpu_s'])} | < 0.7 s: {mark('check')} |",
             f"| `bayesvol fit` garch skewt VI, {T_FIT} days, empty cache | "
             f"{fmt(cli['cold']['wall_s'])} | {fmt(cli['cold']['cpu_s'])} | < 10 s: "
             f"{mark('fit_cold')} |",
             f"| `bayesvol fit` the same, warm cache | {fmt(cli['warm']['wall_s'])} | "
             f"{fmt(cli['warm']['cpu_s'])} | < 3 s: {mark('fit_warm')} |",
             f"| baseline: `import arch` + arch GARCH(1,1) skew-t MLE, same series (process; "
             f"import {fmt(ar['import_s'])} s, fit {fmt(ar['fit_s'])} s) | {fmt(ar['wall_s'])} "
             f"| {fmt(ar['cpu_s'])} | |",
             f"| ratio `bayesvol fit` warm / arch process | "
             f"{fmt(_ratio(cli['warm']['wall_s'], ar['wall_s']))} | "
             f"{fmt(_ratio(cli['warm']['cpu_s'], ar['cpu_s']))} | |"]
    for model, r in inp.items():
        size = SIZES[model]
        lines.append(
            f"| `bv.fit` {model} ({size}), warm cache: first fit / second fit in a process | "
            f"{fmt(r['warm_first_s'])} / {fmt(r['warm_second_s'])} (x"
            f"{fmt(r['first_over_second'])}) | {fmt(r['warm_first_cpu_s'])} / "
            f"{fmt(r['warm_second_cpu_s'])} | within 5x: {mark(model)} |")
    lines.append("| `bv.fit`, empty cache: first fit in a process (compilation) | " + ", ".join(
        f"{m} {fmt(r['cold_first_s'])}" for m, r in inp.items()) + " | | |")
    return lines


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def machine_info(src: Path | None) -> dict:
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "missing"

    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(), "python": sys.version.split()[0],
            "cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "loadavg_start": os.getloadavg(), "jax": version("jax"),
            "numpyro": version("numpyro"), "arch": version("arch"),
            "source": str(src or ROOT)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *rest = sys.argv[2:]
        (_child_fits if kind == "fits" else _child_arch)(*rest)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one run of each (smoke test)")
    ap.add_argument("--src", type=Path, default=None,
                    help="another source tree to measure (its src/ goes first on PYTHONPATH)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default benchmarks/results; a temp folder with "
                         "--quick or --src)")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    official = not args.quick and args.src is None and args.out is None
    out_dir = args.out or (HERE / "results" if official
                           else Path(tempfile.mkdtemp(prefix="latency_")))
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    info = machine_info(args.src)
    with tempfile.TemporaryDirectory(prefix="bv-latency-") as tmp:
        folder = Path(tmp)
        src = folder / "snapshot"
        shutil.copytree((args.src or ROOT) / "src", src / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        log(f"data and caches in {folder}; measuring a copy of {(args.src or ROOT) / 'src'}")
        files = make_data(folder, child_env(folder / "cache-scratch", src))
        res = {"startup": section_startup(cfg, files, folder, src),
               "arch": section_arch(cfg, files, folder),
               "cli_fit": section_cli_fit(cfg, files, folder, src),
               "inprocess": section_inprocess(cfg, files, folder, src)}
    info["loadavg_end"] = os.getloadavg()
    info["wall_s"] = time.perf_counter() - t_start
    goals = goals_of(res)
    goal_lines = [f"{'n/a ' if ok is None else ('PASS' if ok else 'FAIL')}  {name}"
                  for name, ok in goals.values()]
    notes = [
        f"Run {info['date']} on {info['platform']}, {info['cpus_usable']} usable CPU(s), "
        f"load average {info['loadavg_start'][0]:.1f} at the start and "
        f"{info['loadavg_end'][0]:.1f} at the end (the machine is shared with other work: "
        "wall seconds include waiting for a CPU; CPU seconds are user + system time of the "
        f"measured process); jax {info['jax']}, numpyro {info['numpyro']}, arch {info['arch']}"
        + ("; --quick" if args.quick else "") + f"; whole script {info['wall_s']:.0f} s.",
        f"Medians over {cfg['startup_runs']} processes (start-up), {cfg['cold_runs']} "
        f"(empty cache), {cfg['warm_runs']} (warm cache), {cfg['inproc_warm']} (in-process, "
        f"warm) and {cfg['arch_runs']} (arch). Data simulated by `bayesvol simulate` (seeded).",
        "`bayesvol fit` is `bayesvol fit FILE --model garch --dist skewt --method vi --seed 0 "
        "--out DIR`, the whole process: imports, reading the file, the fit, the printed table "
        "and writing summary.json and posterior.nc.",
        "In-process: the first `bv.fit` of a fresh process (seed 0) after `import bayesvol` "
        "and reading the data (credit-intensity reads its rating histories inside the fit), then "
        "a second (seed 1); every model with its default options (VI).",
    ]
    lines = table_lines(res, goals)
    md = ["# latency benchmark", "", *(f"- {n}" for n in notes), "", *lines, "", "### Goals",
          "", *(f"- {g}" for g in goal_lines), ""]
    payload = {"machine": info, "config": cfg, "quick": args.quick, "results": res,
               "goals": {name: ok for name, ok in goals.values()}, "notes": notes}
    (out_dir / "latency.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out_dir / "latency.md").write_text("\n".join(md))
    print("\n".join(lines), flush=True)
    print("Goals\n" + "\n".join(goal_lines), flush=True)
    if official:
        readme = ROOT / "README.md"
        block = [f"Measured by `benchmarks/latency.py` on {info['date'][:10]}, "
                 f"{info['cpus_usable']} CPU cores shared with other work (load average "
                 f"{info['loadavg_start'][0]:.1f} at the start, {info['loadavg_end'][0]:.1f} "
                 "at the end: wall seconds include waiting for a CPU).", "", *lines, "",
                 *(f"- {g}" for g in goal_lines)]
        if update_readme_block(readme, "latency", block):
            log(f"updated the latency block of {readme}")
    log(f"wrote {out_dir / 'latency.json'} and {out_dir / 'latency.md'}; "
        f"{info['wall_s']:.0f} s in all")


if __name__ == "__main__":
    main()
