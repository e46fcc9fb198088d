"""bayesvol: Bayesian volatility modelling of many assets at once, on JAX and NumPyro.

    import bayesvol as bv
    fit = bv.fit(returns_frame, model="garch", dist="skewt", method="vi", seed=0)
    fit.summary(); fit.forecast(horizon=10); fit.save("out/")

The public names are loaded on first use (PEP 562), so ``import bayesvol`` (and the CLI's
``check`` and ``--help``) does not pay for importing JAX.

Compiled programs are kept on disk between sessions, in the user's cache folder
(``bv.cache_dir()``); ``bv.set_cache_dir(path)`` moves them, ``bv.set_cache_dir(None)`` or
``BAYESVOL_CACHE=0`` turns that off (see bayesvol._config).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# importing _config turns float64 and the compilation caches on (bayesvol/_config.py)
from ._config import cache_dir, set_cache_dir

if TYPE_CHECKING:
    from .api import fit
    from .comparison import compare, evidence
    from .data import ReturnsPanel, load_bundled, load_returns
    from .decay import select_decay
    from .forecast.predictive import prior_predictive
    from .inference.accuracy import accuracy_table, overlap_accuracy
    from .inference.evidence.sensitivity import prior_sensitivity
    from .inference.runner import VIOptions
    from .portfolio.backtest import backtest
    from .reporting import report
    from .results import Fit

__version__ = "0.1.0"

_LAZY = {
    "Fit": ".results", "ReturnsPanel": ".data", "VIOptions": ".inference.runner",
    "accuracy_table": ".inference.accuracy", "backtest": ".portfolio.backtest",
    "compare": ".comparison",
    "evidence": ".comparison", "fit": ".api", "load_bundled": ".data",
    "load_returns": ".data", "overlap_accuracy": ".inference.accuracy",
    "prior_predictive": ".forecast.predictive",
    "prior_sensitivity": ".inference.evidence.sensitivity",
    "report": ".reporting", "select_decay": ".decay",
}

__all__ = ["Fit", "ReturnsPanel", "VIOptions", "accuracy_table", "backtest", "cache_dir",
           "compare",
           "evidence", "fit", "load_bundled", "load_returns", "overlap_accuracy",
           "prior_predictive", "prior_sensitivity", "report", "select_decay",
           "set_cache_dir"]


def __getattr__(name: str) -> object:
    """Import the module defining public ``name`` on first access and cache the value."""
    if name not in _LAZY:
        raise AttributeError(f"module 'bayesvol' has no attribute '{name}'")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
