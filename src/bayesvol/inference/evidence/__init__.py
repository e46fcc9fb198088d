"""Bayesian model comparison: marginal likelihoods by bridge sampling (iterative optimal
bridge and warp-3), Laplace and importance-sampling checks, Bayes factors with the Kass &
Raftery categories, BIC, and a prior-sensitivity driver. docs/model-comparison.md has the
equations and how to read the errors.
"""

from __future__ import annotations

from .approximations import ApproxResult, importance_sampling, laplace_approximation
from .bayes_factor import (
    KASS_RAFTERY,
    kass_raftery,
    log_bayes_factor,
    model_probabilities,
    two_log_bayes_factor,
    two_log_bf_error,
)
from .bic import bic, delta_bic
from .bridge import BridgeResult, bridge_sampling
from .fit_evidence import Evidence, evidence, fit_bic
from .sensitivity import SensitivityTable, prior_sensitivity

__all__ = ["KASS_RAFTERY", "ApproxResult", "BridgeResult", "Evidence", "SensitivityTable", "bic",
           "bridge_sampling", "delta_bic", "evidence", "fit_bic", "importance_sampling",
           "kass_raftery", "laplace_approximation", "log_bayes_factor", "model_probabilities",
           "prior_sensitivity", "two_log_bayes_factor", "two_log_bf_error"]
