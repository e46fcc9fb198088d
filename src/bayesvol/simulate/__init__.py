"""Simulators that return the truth, for tests, demos and parameter-recovery checks.

- ``simulate_garch``: GARCH(1,1), normal / t / skewed-t (SVI-GARCH paper 1.1-1.4), garch.py
- ``simulate_hier_garch``: pooled AR(1)-GARCH(1,1)-t panel with ragged histories
  (README hier-GARCH, "sound version"), hier_garch.py
- ``simulate_dfsv`` and ``fsv_preset``: dynamic factor SV (DFSV model) and seed 004's FSV
  (FSV-VB paper 1.1-1.4), dfsv.py
- ``simulate_beta_t_egarch``: Beta-Gen-t-EGARCH / Beta-t-EGARCH score-driven volatility
  (Harvey & Lange 2017), beta_t_egarch.py
- ``simulate_gas_t_cov``: the multivariate Student-t GAS covariance model (Creal, Koopman &
  Lucas 2011), gas_t_cov.py
- ``simulate_model``: any of them by name with the CLI's defaults, registry.py
- ``write_returns_csv`` / ``write_truth_json``: atomic CSV and JSON output, output.py

Every simulator is pure JAX (``lax.scan`` over time, ``vmap`` over assets where assets are
independent), deterministic given an integer seed, and returns numpy arrays, business-day
dates from 2000-01-03, asset names A01, A02, ... and a JSON-ready ``truth`` dict.
"""

from ._common import START_DATE, Simulation, asset_names, business_dates, returns_frame
from .beta_t_egarch import BetaTEgarchSimulation, simulate_beta_t_egarch
from .dfsv import DFSVSimulation, fsv_preset, simulate_dfsv, spectral_radius
from .garch import GarchSimulation, simulate_garch
from .gas_t_cov import GasTCovSimulation, simulate_gas_t_cov
from .hier_garch import DEFAULT_HYPER, HierGarchSimulation, simulate_hier_garch
from .output import write_returns_csv, write_truth_json
from .registry import MODELS, simulate_model

__all__ = [
    "BetaTEgarchSimulation", "DEFAULT_HYPER", "DFSVSimulation", "GarchSimulation",
    "GasTCovSimulation", "simulate_gas_t_cov",
    "HierGarchSimulation", "MODELS", "START_DATE", "Simulation", "asset_names",
    "business_dates", "fsv_preset", "returns_frame", "simulate_beta_t_egarch", "simulate_dfsv",
    "simulate_garch", "simulate_hier_garch", "simulate_model", "spectral_radius",
    "write_returns_csv", "write_truth_json",
]
