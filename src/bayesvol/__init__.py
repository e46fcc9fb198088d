"""bayesvol: Bayesian volatility modelling of many assets at once, on JAX and NumPyro.

    import bayesvol as bv
    fit = bv.fit(returns_frame, model="garch", dist="skewt", method="vi", seed=0)
    fit.summary(); fit.forecast(horizon=10); fit.save("out/")
"""

from . import _config  # noqa: F401  (float64 on by default)
from .api import fit
from .data import ReturnsPanel, load_bundled, load_returns
from .inference.accuracy import accuracy_table, overlap_accuracy
from .inference.runner import VIOptions
from .results import Fit

__version__ = "0.1.0"

__all__ = ["Fit", "ReturnsPanel", "VIOptions", "accuracy_table", "fit", "load_bundled",
           "load_returns", "overlap_accuracy"]
