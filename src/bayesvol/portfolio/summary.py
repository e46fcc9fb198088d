"""Merge a backtest's task files and summarise them (DIR/summary.json, docs/backtests.md).

Per model: mean log score (higher is better), mean CRPS, QLIKE and squared variance error
(lower is better) over every (date, asset) forecast; per asset and level the VaR/ES backtests
of ``forecast.risk_tests.risk_backtest`` (Kupiec, Christoffersen, Acerbi-Szekely Z2; no Z2
p-value, the draws are not kept). Between every Bayesian model and every baseline, a
Diebold-Mariano test (``forecast.comparison.diebold_mariano``) of the per-date mean loss over
assets for -log score, CRPS and QLIKE; with three or more models (and arch installed) the
model confidence set of ``forecast.comparison.model_confidence_set`` on -log score. Per
(model, portfolio) the measures of portfolio/metrics.py, and an equal-weight portfolio of
the assets listed on each date. ``verdict`` lists, in plain sentences, every comparison a
Bayesian model loses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data import ReturnsPanel
from ..forecast.comparison import diebold_mariano, model_confidence_set
from ..forecast.garch_forecast import level_label
from ..forecast.risk_tests import risk_backtest
from . import store
from .evaluate import weight_column
from .forecasters import BASELINES
from .metrics import portfolio_metrics

LOSSES = {"log score": ("log_score", -1.0), "CRPS": ("crps", 1.0), "QLIKE": ("qlike", 1.0)}


def _equal_weight(panel: ReturnsPanel, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Equal weight over the assets listed on each date (first <= t <= last)."""
    if len(dates) == 0:
        return pd.DataFrame()
    pos = panel.dates.get_indexer(dates)
    listed = (panel.first[:, None] <= pos[None, :]) & (pos[None, :] <= panel.last[:, None])
    w = listed / np.maximum(listed.sum(axis=0), 1)
    r = np.nan_to_num(panel.values[:, pos])
    frame = pd.DataFrame({"date": dates, "model": "equal-weight", "portfolio": "equal",
                          "window": -1, "rebalanced": True, "return": (w * r).sum(axis=0),
                          "forecast_volatility": np.nan})
    for k, a in enumerate(panel.assets):
        frame[weight_column(a)] = w[k]
    return frame


def _per_date_loss(forecasts: pd.DataFrame, column: str, sign: float) -> pd.DataFrame:
    """dates x models: mean over assets of sign * column."""
    table = forecasts.pivot_table(index="date", columns="model", values=column, aggfunc="mean")
    return sign * table


def _model_scores(forecasts: pd.DataFrame, levels) -> dict:
    out = {}
    for model, g in forecasts.groupby("model", sort=False):
        doc = {"points": int(g["return"].notna().sum()),
               "dates": int(g["date"].nunique()),
               "mean_log_score": float(g["log_score"].mean()),
               "mean_crps": float(g["crps"].mean()), "mean_qlike": float(g["qlike"].mean()),
               "mean_sq_error": float(g["sq_error"].mean()),
               "fits": g.drop_duplicates("window")["fit"].value_counts().to_dict()}
        for lv in levels:
            lab = level_label(lv)
            hits = g[f"hit_{lab}"].dropna().astype(bool)
            doc[f"hit_rate_{lab}"] = float(hits.mean()) if len(hits) else np.nan
        out[model] = doc
    return out


def _risk(forecasts: pd.DataFrame, levels) -> dict:
    out: dict = {}
    for (model, asset), g in forecasts.groupby(["model", "asset"], sort=False):
        g = g.sort_values("date")
        for lv in levels:
            lab = level_label(lv)
            rb = risk_backtest(g["return"].to_numpy(float), g[f"VaR_{lab}"].to_numpy(float),
                               g[f"ES_{lab}"].to_numpy(float), lv)
            out.setdefault(model, {}).setdefault(asset, {})[lab] = {
                "dates": rb.dates, "hits": rb.hits, "expected": rb.expected,
                "p_kupiec": rb.p_uc, "p_christoffersen": rb.p_cc, "z2": rb.z2}
    return out


def _comparisons(forecasts: pd.DataFrame, models, baselines) -> tuple[list, list]:
    rows, verdict = [], []
    for label, (column, sign) in LOSSES.items():
        table = _per_date_loss(forecasts, column, sign)
        for m in models:
            for b in baselines:
                if m not in table or b not in table:
                    continue
                try:
                    dm = diebold_mariano(table[m].to_numpy(), table[b].to_numpy())
                except ValueError:
                    continue
                loses = dm.mean_difference > 0
                rows.append({"loss": label, "model": m, "baseline": b,
                             "mean_difference": dm.mean_difference, "dm": dm.statistic,
                             "p_value": dm.p_value, "dates": dm.dates,
                             "model_loses": bool(loses)})
                if loses:
                    sig = ("significant at 5%" if dm.p_value < 0.05 else "not significant")
                    what = "lower log score" if label == "log score" else f"higher {label}"
                    verdict.append(f"{m} loses to {b} on {label}: {what} on average over "
                                   f"{dm.dates} dates (Diebold-Mariano p = {dm.p_value:.3g}, "
                                   f"{sig})")
    return rows, verdict


def _portfolio_summary(portfolios: pd.DataFrame, ppy: float, models, baselines,
                       unit: float = 100.0) -> tuple[list, list]:
    rows, verdict = [], []
    wcols = [c for c in portfolios.columns if c.startswith("w[")]
    for (model, name), g in portfolios.groupby(["model", "portfolio"], sort=False):
        g = g.sort_values("date")
        rows.append({"model": model, "portfolio": name,
                     **portfolio_metrics(g["return"].to_numpy(float),
                                         g[wcols].to_numpy(float), ppy, unit)})
    table = pd.DataFrame(rows)
    if table.empty:
        return rows, verdict
    for name in table["portfolio"].unique():
        sub = table[table["portfolio"] == name].set_index("model")
        for m in models:
            for b in baselines:
                if m in sub.index and b in sub.index and \
                        sub.loc[m, "volatility"] > sub.loc[b, "volatility"]:
                    verdict.append(f"{m} loses to {b} on the {name} portfolio: realised "
                                   f"volatility {sub.loc[m, 'volatility']:.4g} vs "
                                   f"{sub.loc[b, 'volatility']:.4g} (annualised)")
    return rows, verdict


def merge(out: Path, key: str, panel: ReturnsPanel, settings: dict):
    """Merge the task files of run ``key`` in ``out`` into forecasts.parquet,
    portfolios.parquet and summary.json; a BacktestResult."""
    from .backtest import BacktestResult

    out = Path(out)
    forecasts = store.read_tasks(out, key, "forecasts")
    portfolios = store.read_tasks(out, key, "portfolios")
    levels = settings["levels"]
    models = [m for m in settings["models"] if m not in BASELINES]
    baselines = [b for b in settings["models"] + settings["baselines"] if b in BASELINES]
    if not forecasts.empty:
        forecasts = forecasts.sort_values(["model", "date", "asset"], kind="stable",
                                          ignore_index=True)
        dates = pd.DatetimeIndex(sorted(forecasts["date"].unique()))
        portfolios = pd.concat([portfolios, _equal_weight(panel, dates)], ignore_index=True)
    if not portfolios.empty:
        portfolios = portfolios.sort_values(["model", "portfolio", "date"], kind="stable",
                                            ignore_index=True)
    summary: dict = {"run_key": key, "settings": settings,
                     "assets": list(panel.assets), "windows_merged": 0, "verdict": []}
    if not forecasts.empty:
        summary["windows_merged"] = int(forecasts.drop_duplicates(["model", "window"]).shape[0])
        summary["first_date"] = str(forecasts["date"].min().date())
        summary["last_date"] = str(forecasts["date"].max().date())
        summary["scores"] = _model_scores(forecasts, levels)
        summary["risk"] = _risk(forecasts, levels)
        comp, verdict = _comparisons(forecasts, models, baselines)
        summary["diebold_mariano"] = comp
        summary["verdict"] += verdict
        names = forecasts["model"].unique()
        if len(names) >= 3:
            try:
                mcs = model_confidence_set(_per_date_loss(forecasts, "log_score", -1.0),
                                           reps=500)
                summary["model_confidence_set_log_score"] = mcs.reset_index().to_dict(
                    orient="records")
            except (ImportError, ValueError):
                pass
    if not portfolios.empty:
        rows, verdict = _portfolio_summary(portfolios, settings["periods_per_year"], models,
                                           baselines + ["equal-weight"],
                                           settings.get("return_unit", 100.0))
        summary["portfolios"] = rows
        summary["verdict"] += verdict
    if not summary["verdict"] and models:
        summary["verdict"].append("no comparison lost by a Bayesian model")
    store.write_frame(out / "forecasts.parquet", forecasts, {"key": key})
    store.write_frame(out / "portfolios.parquet", portfolios, {"key": key})
    store.write_json(out / "summary.json", summary)
    return BacktestResult(out, forecasts, portfolios, summary)
