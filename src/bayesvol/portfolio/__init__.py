"""Rolling backtests of volatility models and the portfolios built from their forecasts.

``bayesvol.backtest(data, models=[...], window=W, step=S, out=DIR)`` (portfolio/backtest.py)
fits every model on rolling or expanding windows, forecasts one step ahead for each date until
the next refit, scores the forecasts, builds portfolios from the forecast covariances and
writes the results to Parquet (see docs/backtests.md). Nothing heavy is imported here.
"""
