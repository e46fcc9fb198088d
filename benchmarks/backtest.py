"""Benchmark: rolling backtests of GARCH-t, hierarchical GARCH and factor SV with baselines.

    python benchmarks/backtest.py            # full run (tens of minutes on 2 cores)
    python benchmarks/backtest.py --quick    # smoke run on a small panel, into a temp folder
    python benchmarks/backtest.py --render   # only rewrite the Markdown from the JSON

Sections (each configuration is one ``bayesvol.backtest`` call into its own fresh folder):

1. simulated: a 20-asset x 1500-day panel from the dynamic factor SV simulator (K = 2), the
   first 1250 days as the first window and 250 one-day-ahead forecast dates, refits (or
   updates) every 25 dates. Models garch (Student-t), hier-garch and dfsv (K = 2), baselines
   EWMA (0.94), the sample covariance and arch's GARCH(1,1)-t MLE. Configurations:
   sequential (``fit.update`` where the model has it) in-process, with an empty compilation
   cache and then again with the cache that run left (warm); refit in-process and refit on a
   2-worker Dask LocalCluster, each with an empty cache. Goal: the sequential backtest of all
   three models in under 5 minutes (2 cores), judged on the warm run (the cold run's figure
   is shown next to it: what a user's first backtest of this size costs).
2. sp500: the same on skfolio's 20 S&P 500 stocks (log returns x 100, the last 1500 days),
   sequential only, with an empty cache.

Every configuration runs in a fresh Python process with its own compilation-cache folder
(``BAYESVOL_CACHE_DIR``), so no configuration inherits another's compiled programs and the
order of the runs does not favour any of them (an earlier version ran them in one process:
the first configuration paid for all the compilation).

Figures: wall and CPU seconds of each configuration (CPU of this process; Dask workers'
CPU is not counted), mean log score / CRPS / QLIKE per model, the VaR backtests (hits against
expected, Kupiec and Christoffersen p-values) and the portfolio measures, and the verdict
list of where the Bayesian models lose. Everything printed comes from the run; nothing is
hard-coded. The machine is shared: compare configurations within one run.
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
    Table,
    fmt,
    goal_rows,
    log,
    machine_info,
    md_table,
    standard_args,
    update_readme_block,
)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("garch", "hier-garch", "dfsv")
BASELINES = ("ewma", "sample", "arch-garch")
FULL = {"assets": 20, "days": 1500, "horizon": 250, "step": 25, "factors": 2, "draws": 200}
QUICK = {"assets": 5, "days": 360, "horizon": 40, "step": 20, "factors": 1, "draws": 100}
GOAL_S = 300.0


def fit_options(cfg: dict) -> dict:
    return {"garch": {"dist": "t"}, "dfsv": {"factors": cfg["factors"]}}


def simulated_panel(cfg: dict):
    from bayesvol.simulate import simulate_dfsv

    return simulate_dfsv(cfg["assets"], cfg["factors"], cfg["days"], seed=11).to_frame()


def sp500_panel(cfg: dict):
    import pandas as pd
    from skfolio.datasets import load_sp500_dataset

    prices = load_sp500_dataset()
    rets = (100.0 * np.log(prices).diff()).iloc[1:].iloc[-cfg["days"]:]
    return pd.DataFrame(rets.iloc[:, :cfg["assets"]])


def run_config(panel, cfg: dict, update: str, workers: int | None, out: Path) -> dict:
    """One backtest configuration in this process (the child of ``section``)."""
    import bayesvol as bv

    window = cfg["days"] - cfg["horizon"]
    c0, t0 = time.process_time(), time.perf_counter()
    res = bv.backtest(panel, models=MODELS, window=window, step=cfg["step"], out=out,
                      update=update, baselines=BASELINES, n_draws=cfg["draws"], seed=0,
                      fit_options=fit_options(cfg), workers=workers, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = res.summary
    return {"update": update, "workers": workers, "wall_s": wall, "cpu_s": cpu,
            "failed_windows": len(res.failed), "windows_merged": s.get("windows_merged"),
            "scores": s.get("scores", {}), "risk": s.get("risk", {}),
            "portfolios": s.get("portfolios", []), "verdict": s.get("verdict", []),
            "diebold_mariano": s.get("diebold_mariano", []),
            "mcs": s.get("model_confidence_set_log_score")}


def _child(args: list[str]) -> None:
    """``--child NAME UPDATE WORKERS QUICK OUT RESULT``: run one configuration, write JSON."""
    name, update, workers, quick, out, result = args
    cfg = QUICK if quick == "1" else FULL
    panel = simulated_panel(cfg) if name == "simulated" else sp500_panel(cfg)
    r = run_config(panel, cfg, update, int(workers) or None, Path(out))
    Path(result).write_text(json.dumps(r, default=str))


def run_child(name: str, cfg: dict, update: str, workers: int | None, out: Path,
              cache: Path) -> dict:
    """run_config in a fresh process whose compilation caches live in ``cache``."""
    import subprocess

    result = out.with_suffix(".json")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "BAYESVOL_"))}
    env["BAYESVOL_CACHE_DIR"] = str(cache)
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", name, update,
            str(workers or 0), "1" if cfg is QUICK else "0", str(out), str(result)]
    done = subprocess.run(argv, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{name} {update} {workers}: the child process failed")
    return json.loads(result.read_text())


def section(name: str, panel, cfg: dict, configs: list[tuple[str, int | None, str]],
            root: Path) -> dict:
    """Run each (update, workers, cache) configuration in its own process; cache "empty" is a
    new folder, "warm" the folder of the previous configuration (module docstring)."""
    out = {"panel": {"assets": int(panel.shape[1]), "days": int(panel.shape[0])},
           "settings": {**cfg, "models": MODELS, "baselines": BASELINES}, "runs": {}}
    cache = None
    for i, (update, workers, state) in enumerate(configs):
        label = f"{update}, " + (f"Dask LocalCluster {workers} workers" if workers
                                 else "in-process") + f", {state} cache"
        if state == "empty" or cache is None:
            cache = root / f"cache-{name}-{i}"
        log(f"{name}: {label}")
        load0 = os.getloadavg()[0]
        r = run_child(name, cfg, update, workers, root / f"{name}-{i}-{update}-{workers or 0}",
                      cache)
        r["cache"] = state
        r["load"] = [load0, os.getloadavg()[0]]
        out["runs"][label] = r
        log(f"{name}: {label}: {r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} CPU s, "
            f"{r['failed_windows']} failed windows")
    return out


# ------------------------------------------------------------------------------ output
def tables(name: str, sec: dict) -> list[Table]:
    p = sec["panel"]
    runs = sec["runs"]
    t_time = (f"{name}: {p['assets']} assets x {p['days']} days, "
              f"{sec['settings']['horizon']} forecast dates, refit/update every "
              f"{sec['settings']['step']}",
              ["configuration", "wall [s]", "CPU [s] (this process)", "load", "failed windows"],
              [[k, fmt(r["wall_s"]), fmt(r["cpu_s"]), "-".join(fmt(x, 2) for x in r["load"]),
                str(r["failed_windows"])] for k, r in runs.items()])
    out = [t_time]
    label, r = next(iter(runs.items()))
    for k, rr in runs.items():  # report the scores of the sequential run where there is one
        if k.startswith("sequential"):
            label, r = k, rr
            break
    out.append((f"{name} ({label}): mean scores per (date, asset)",
                ["model", "log score (higher better)", "CRPS", "QLIKE", "windows fitted by"],
                [[m, fmt(s["mean_log_score"], 4), fmt(s["mean_crps"], 4),
                  fmt(s["mean_qlike"], 4), ", ".join(f"{a}: {b}" for a, b in s["fits"].items())]
                 for m, s in r["scores"].items()]))
    risk_rows = []
    for m, per_asset in r["risk"].items():
        by_level: dict[str, list[dict]] = {}
        for levels in per_asset.values():
            for lv, doc in levels.items():
                by_level.setdefault(lv, []).append(doc)
        for lv, docs in by_level.items():
            risk_rows.append([m, lv, fmt(sum(d["hits"] for d in docs)),
                              fmt(float(sum(d["expected"] for d in docs))),
                              f"{sum(d['p_kupiec'] < 0.05 for d in docs)} / {len(docs)}",
                              f"{sum(d['p_christoffersen'] < 0.05 for d in docs)} / {len(docs)}"])
    out.append((f"{name} ({label}): VaR backtests, summed over assets",
                ["model", "level", "hits", "expected", "assets Kupiec p < 0.05",
                 "assets Christoffersen p < 0.05"], risk_rows))
    dm = [q for q in r["diebold_mariano"] if q["loss"] == "log score"]
    out.append((f"{name} ({label}): Diebold-Mariano on the per-date mean log score, "
                f"model against baseline (difference > 0: the model is better)",
                ["model", "baseline", "mean difference", "DM", "p-value"],
                [[q["model"], q["baseline"], fmt(-q["mean_difference"], 3), fmt(-q["dm"]),
                  fmt(q["p_value"])] for q in dm]))
    out.append((f"{name} ({label}): portfolios",
                ["model", "portfolio", "realised vol (ann.)", "Sharpe", "turnover",
                 "max drawdown"],
                [[q["model"], q["portfolio"], fmt(q.get("volatility")),
                  fmt(q.get("sharpe")), fmt(q.get("turnover")), fmt(q.get("max_drawdown"))]
                 for q in r["portfolios"]]))
    out.append((f"{name} ({label}): where the Bayesian models lose", ["verdict"],
                [[v] for v in r["verdict"]] or [["none"]]))
    return out


def goals(results: dict) -> dict[str, bool | None]:
    g: dict[str, bool | None] = {}
    runs = results.get("simulated", {}).get("runs", {})
    seq = [r for k, r in runs.items() if k.startswith("sequential")]
    seq = [r for r in seq if r.get("cache") == "warm"] or seq
    key = ("simulated: sequential backtest of garch, hier-garch and dfsv under 5 min (2 cores,"
           " warm compilation cache)")
    g[key] = (seq[0]["wall_s"] < GOAL_S and seq[0]["failed_windows"] == 0) if seq else None
    return g


def write(out_dir: Path, info: dict, results: dict, quick: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"info": info, "quick": quick, "results": results, "goals": goals(results)}
    (out_dir / "backtest.json").write_text(json.dumps(doc, indent=1, default=str))
    render(out_dir)


def render(out_dir: Path) -> None:
    doc = json.loads((out_dir / "backtest.json").read_text())
    info, results, gl = doc["info"], doc["results"], doc["goals"]
    lines = ["# backtest benchmark", "",
             f"- Run {info['date']} on {info['platform']}, {info['cpus_usable']} usable CPU(s), "
             f"load average at start {fmt(info['loadavg_start'][0], 2)} (a shared machine: "
             f"wall seconds include contention), jax {info['jax']}, bayesvol "
             f"{info['bayesvol']}{', QUICK smoke run' if doc['quick'] else ''}.",
             *([f"- Note: {info['note']}."] if info.get("note") else []), ""]
    for name, sec in results.items():
        for t in tables(name, sec):
            lines += md_table(*t)
    lines += ["### Goals", ""]
    lines += [f"- {'PASS' if ok else 'FAIL' if ok is False else 'n/a '}  {k}"
              for k, ok in gl.items()]
    snippet = readme_lines(results, gl)
    lines += ["", "### README snippet", "", *snippet, ""]
    (out_dir / "backtest.md").write_text("\n".join(lines))
    if not doc["quick"]:
        update_readme_block(ROOT / "README.md", "backtest", snippet)


def readme_lines(results: dict, gl: dict) -> list[str]:
    rows = ["| benchmark | figure | goal |", "|---|---|---|"]
    for name, sec in results.items():
        for k, r in sec["runs"].items():
            best = max(r["scores"].items(), key=lambda kv: kv[1]["mean_log_score"],
                       default=(None, None))[0]
            rows.append(f"| backtest {name}, {k} | {fmt(r['wall_s'])} s wall, "
                        f"{r['failed_windows']} failed windows; best mean log score: {best} | |")
    rows += goal_rows(gl)
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    args, out_dir = standard_args(__doc__, "backtest", "simulated,sp500",
                                  "smoke run on a small panel")
    if args.render:
        render(out_dir)
        return
    cfg = QUICK if args.quick else FULL
    info = machine_info()
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="bv-backtest-runs-"))
    results = {}
    if "simulated" in only:
        panel = simulated_panel(cfg)
        results["simulated"] = section(
            "simulated", panel, cfg,
            [("sequential", None, "empty"), ("sequential", None, "warm"),
             ("refit", None, "empty"), ("refit", 2, "empty")], work)
    if "sp500" in only:
        results["sp500"] = section("sp500", sp500_panel(cfg), cfg,
                                   [("sequential", None, "empty")], work)
    write(out_dir, info, results, args.quick)
    log(f"wrote {out_dir / 'backtest.json'} and {out_dir / 'backtest.md'}")


if __name__ == "__main__":
    main()
