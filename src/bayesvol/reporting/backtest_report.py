"""Sections of the report of a backtest folder (summary.json, forecasts.parquet,
portfolios.parquet; docs/report.md, docs/backtests.md).

- ``data-summary``: the backtest's settings (models, baselines, window, step, update, levels,
  draws), the forecast period and, per asset, the forecast dates and missing returns;
- ``scores``: per model the mean log score (higher is better), CRPS, QLIKE and squared error
  (lower is better) and the VaR hit rates, the best of each column marked; Diebold-Mariano
  tests of every model against the best on each loss (the per-date mean loss over assets of
  ``portfolio.summary``, tested by ``forecast.comparison.diebold_mariano``), those of
  summary.json (each Bayesian model against each baseline) and the model confidence set of
  summary.json where it was computed;
- ``risk``: per model, asset and level the Kupiec and Christoffersen p-values and the
  Acerbi-Szekely Z2 statistic of summary.json, rejections at 5% marked;
- ``portfolios``: per model and portfolio the measures of summary.json (annualised
  volatility, Sharpe, turnover, max drawdown), the lowest volatility marked;
- ``cumulative-returns``: the cumulative return of each portfolio of each model;
- ``volatility``: one-step predictive volatility of each model against |return|;
- ``verdict``: summary.json's list of the comparisons a Bayesian model loses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .figures import plot_cumulative_returns, plot_forecast_volatility, try_embed
from .fit_report import read_summary
from .html import Cell, Section, bullets, empty, heading, paragraph, table

MAX_VOLATILITY_ASSETS = 3


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    if not path.exists():
        return pd.DataFrame()
    return pd.read_parquet(path)


def data_section(summary: dict, forecasts: pd.DataFrame) -> Section:
    """Settings of the backtest and what its forecasts cover."""
    s = summary.get("settings") or {}
    rows = [["models", ", ".join(s.get("models", [])) or "\u2013"],
            ["baselines", ", ".join(s.get("baselines", [])) or "\u2013"],
            ["assets", len(summary.get("assets", []))],
            ["window (dates per fit)", s.get("window")], ["step (dates between refits)",
                                                           s.get("step")],
            ["windows", "expanding" if s.get("expanding") else "rolling"],
            ["update", s.get("update")],
            ["risk levels", ", ".join(f"{x:g}" for x in s.get("levels", []))],
            ["draws per date", s.get("n_draws")], ["rebalance every (dates)",
                                                    s.get("rebalance")],
            ["first forecast date", summary.get("first_date")],
            ["last forecast date", summary.get("last_date")],
            ["windows merged (model x window)", summary.get("windows_merged")]]
    body = table(["setting", "value"], rows, caption="The backtest")
    if forecasts.empty:
        return Section("data-summary", "Data summary",
                       body + empty("The backtest holds no forecast rows (no window "
                                    "finished): nothing to summarise."))
    first_model = forecasts["model"].iloc[0]
    sub = forecasts[forecasts["model"] == first_model]
    per = []
    for asset, g in sub.groupby("asset", sort=False):
        r = g["return"].to_numpy(float)
        ok = np.isfinite(r)
        per.append([asset, str(pd.Timestamp(g["date"].min()).date()),
                    str(pd.Timestamp(g["date"].max()).date()), int(len(g)), int(ok.sum()),
                    Cell(int((~ok).sum()), "flag" if (~ok).any() else ""),
                    float(np.std(r[ok], ddof=1)) if ok.sum() > 1 else np.nan])
    body += table(["asset", "first forecast", "last forecast", "forecast dates",
                   "observed returns", "missing returns", "sd of returns"], per, scroll=True,
                  caption=f"Forecast period per asset (from {first_model}'s rows)")
    return Section("data-summary", "Data summary", body)


def _best_marked(values: dict[str, float], higher: bool) -> dict[str, Cell]:
    finite = {k: v for k, v in values.items() if v is not None and np.isfinite(v)}
    best = (max if higher else min)(finite, key=finite.get) if finite else None
    return {k: Cell(v, "best" if k == best else "") for k, v in values.items()}


def dm_against_best(forecasts: pd.DataFrame) -> list[list]:
    """Rows (loss, model, best, mean loss difference, DM, p-value, dates) of the
    Diebold-Mariano test of each model against the model with the lowest mean loss, on the
    per-date mean loss over assets (as ``portfolio.summary`` builds it)."""
    from ..forecast.comparison import diebold_mariano
    from ..portfolio.summary import LOSSES, _per_date_loss

    rows = []
    for label, (column, sign) in LOSSES.items():
        losses = _per_date_loss(forecasts, column, sign)
        if losses.shape[1] < 2:
            continue
        best = str(losses.mean().idxmin())
        for model in losses.columns:
            if model == best:
                continue
            try:
                dm = diebold_mariano(losses[model].to_numpy(), losses[best].to_numpy())
            except ValueError:
                continue
            rows.append([label, model, best, dm.mean_difference, dm.statistic,
                         Cell(dm.p_value, "flag" if dm.p_value < 0.05 else ""), dm.dates])
    return rows


def scores_section(summary: dict, forecasts: pd.DataFrame) -> Section:
    """Scores per model, DM tests against the best and against the baselines, the MCS."""
    scores = summary.get("scores") or {}
    if not scores:
        return Section("scores", "Forecast scores",
                       empty("summary.json holds no scores (no forecast was made)."))
    settings = summary.get("settings") or {}
    bayes = set(settings.get("models", []))
    hit_cols = sorted({k for doc in scores.values() for k in doc if k.startswith("hit_rate_")})
    cols = [("mean_log_score", True), ("mean_crps", False), ("mean_qlike", False),
            ("mean_sq_error", False)]
    marked = {c: _best_marked({m: d.get(c) for m, d in scores.items()}, hi) for c, hi in cols}
    rows = []
    for m, doc in scores.items():
        kind = "Bayesian" if m in bayes else "baseline"
        rows.append([m, kind, doc.get("points"), doc.get("dates"),
                     *(marked[c][m] for c, _ in cols), *(doc.get(h) for h in hit_cols)])
    body = table(["model", "kind", "points", "dates", "mean log score", "mean CRPS",
                  "mean QLIKE", "mean squared error",
                  *(h.replace("hit_rate_", "hit rate ") for h in hit_cols)], rows,
                 caption="Mean scores over every (date, asset) forecast (log score: higher is "
                         "better; CRPS, QLIKE, squared error: lower is better; best marked)")
    body += heading("Diebold-Mariano: each model against the best")
    best_rows = dm_against_best(forecasts) if not forecasts.empty else []
    if best_rows:
        body += table(["loss", "model", "best model", "mean loss difference", "DM statistic",
                       "p-value", "dates"], best_rows,
                      caption="Loss differential model - best on the per-date mean loss "
                              "over assets (-log score, CRPS, QLIKE); p < 0.05 marked: "
                              "significantly worse than the best")
    else:
        body += empty("Fewer than two models with ten common forecast dates: no test "
                      "against the best.")
    body += heading("Diebold-Mariano: Bayesian models against the baselines (summary.json)")
    dm = summary.get("diebold_mariano") or []
    if dm:
        body += table(["loss", "model", "baseline", "mean loss difference", "DM statistic",
                       "p-value", "dates", "model loses"],
                      [[r["loss"], r["model"], r["baseline"], r["mean_difference"], r["dm"],
                        r["p_value"], r["dates"],
                        Cell(r["model_loses"], "flag" if r["model_loses"] else "")]
                       for r in dm],
                      caption="Positive mean difference: the Bayesian model has the higher "
                              "loss")
    else:
        body += empty("No Bayesian model was compared with a baseline (one of the two is "
                      "missing, or fewer than ten common dates).")
    body += heading("Model confidence set (log score)")
    mcs = summary.get("model_confidence_set_log_score")
    if mcs:
        body += table(["model", "mean loss (-log score)", "MCS p-value", "in the 90% set"],
                      [[r.get("model"), r.get("mean_loss"), r.get("p_value"),
                        Cell(r.get("in_set"), "" if r.get("in_set") else "flag")]
                       for r in mcs],
                      caption="Hansen-Lunde-Nason model confidence set at size 0.1")
    else:
        body += empty("Not computed: the model confidence set needs three or more models and "
                      "the arch package.")
    return Section("scores", "Forecast scores", body)


def risk_section(summary: dict) -> Section:
    """Kupiec, Christoffersen and Z2 per model, asset and level (summary.json)."""
    risk = summary.get("risk") or {}
    rows = []
    for model, assets in risk.items():
        for asset, levels in assets.items():
            for level, doc in levels.items():
                rate = doc["hits"] / doc["dates"] if doc.get("dates") else np.nan
                rows.append([model, asset, level, doc.get("dates"), doc.get("hits"),
                             doc.get("expected"), rate,
                             *(Cell(doc.get(k), "flag" if doc.get(k) is not None
                                    and doc.get(k) < 0.05 else "")
                               for k in ("p_kupiec", "p_christoffersen")), doc.get("z2")])
    if not rows:
        return Section("risk", "Risk backtests (VaR and ES)",
                       empty("summary.json holds no VaR/ES backtests."))
    body = paragraph("Kupiec: are there as many VaR exceedances as the level says? "
                     "Christoffersen: that, and are they independent? p < 0.05 (marked) "
                     "rejects. Z2 (Acerbi-Szekely): 0 when ES is right, negative when losses "
                     "beyond VaR are larger than forecast (no p-value: the predictive draws "
                     "are not kept).", "note")
    body += table(["model", "asset", "level", "dates", "hits", "expected hits", "hit rate",
                   "p Kupiec", "p Christoffersen", "Z2"], rows, scroll=True,
                  caption="VaR/ES backtests per model, asset and level")
    return Section("risk", "Risk backtests (VaR and ES)", body)


def portfolios_section(summary: dict) -> Section:
    """Realised measures per model and portfolio (summary.json)."""
    ports = summary.get("portfolios") or []
    if not ports:
        return Section("portfolios", "Portfolios",
                       empty("summary.json holds no portfolio measures."))
    frame = pd.DataFrame(ports)
    best = frame.loc[frame.groupby("portfolio")["volatility"].idxmin()].index
    rows = []
    for k, r in frame.iterrows():
        rows.append([r["model"], r["portfolio"], r.get("dates"), r.get("mean_return"),
                     Cell(r["volatility"], "best" if k in best else ""), r.get("sharpe"),
                     r.get("turnover"), r.get("max_drawdown")])
    body = table(["model", "portfolio", "dates", "mean return (annualised)",
                  "realised volatility (annualised)", "Sharpe", "turnover", "max drawdown"],
                 rows, caption="Portfolio measures (252 dates a year; the lowest realised "
                               "volatility of each portfolio marked)")
    return Section("portfolios", "Portfolios", body)


def cumulative_section(portfolios: pd.DataFrame, unit: float = 100.0) -> Section:
    """Cumulative return prod(1 + r / unit) of each portfolio of each model (``unit``: the
    backtest's return_unit, 100 for percent returns)."""
    if portfolios.empty:
        return Section("cumulative-returns", "Cumulative returns",
                       empty("portfolios.parquet holds no rows: no cumulative returns."))
    frame = portfolios.copy()
    frame["return"] = frame["return"] / unit
    caption = (f"Cumulative return prod(1 + r/{unit:g}) of each portfolio, one line per model "
               "(returns treated as simple returns)")
    order = ["gmv", "min-variance", "risk-parity", "equal"]
    body = try_embed(lambda: plot_cumulative_returns(frame, order + sorted(
        set(frame["portfolio"]) - set(order))), caption)
    return Section("cumulative-returns", "Cumulative returns", body)


def volatility_section(forecasts: pd.DataFrame) -> Section:
    """Predictive volatility per model against |return|, first few assets."""
    if forecasts.empty:
        return Section("volatility", "Forecast volatility",
                       empty("No forecast rows: no volatility paths."))
    assets = list(dict.fromkeys(forecasts["asset"]))
    body = ""
    for asset in assets[:MAX_VOLATILITY_ASSETS]:
        body += try_embed(lambda a=asset: plot_forecast_volatility(forecasts, a),
                          f"{asset}: one-step predictive volatility of each model; grey: "
                          "|realised return|")
    if len(assets) > MAX_VOLATILITY_ASSETS:
        body += paragraph(f"First {MAX_VOLATILITY_ASSETS} of {len(assets)} assets shown.",
                          "note")
    return Section("volatility", "Forecast volatility", body)


def verdict_section(summary: dict) -> Section:
    """Where the Bayesian models lose (summary.json's ``verdict``)."""
    verdict = summary.get("verdict") or []
    body = (bullets(verdict, "verdict") if verdict else
            empty("summary.json has no verdict (no Bayesian model in the backtest)."))
    return Section("verdict", "Where our models lose", body)


def backtest_sections(folder: Path) -> tuple[str, str, list[Section]]:
    """(title, subtitle, sections) of the report of the backtest in ``folder``."""
    summary = read_summary(folder)
    forecasts = _read(folder, "forecasts.parquet")
    portfolios = _read(folder, "portfolios.parquet")
    sections = [data_section(summary, forecasts), scores_section(summary, forecasts),
                risk_section(summary), portfolios_section(summary),
                cumulative_section(portfolios, float((summary.get("settings") or {}).get(
                    "return_unit", 100.0))), volatility_section(forecasts),
                verdict_section(summary)]
    models = (summary.get("settings") or {}).get("models", [])
    subtitle = (f"{folder} \u00b7 {summary.get('first_date')} .. {summary.get('last_date')}")
    return f"Backtest report: {', '.join(models) or 'baselines'}", subtitle, sections
