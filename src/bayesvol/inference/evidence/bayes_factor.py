"""Bayes factors on the 2 log scale, Kass & Raftery (1995) categories, model probabilities.

The Bayes factor of model 1 against model 0 is BF_{1|0} = p(y | M_1) / p(y | M_0), so

    log BF_{1|0} = log p(y | M_1) - log p(y | M_0),

reported as 2 log BF_{1|0}, the scale of the likelihood-ratio statistic and of Delta BIC.
With independent errors e_1, e_0 (standard deviations of the two log marginal likelihoods),
2 log BF has standard deviation 2 sqrt(e_1^2 + e_0^2).

Kass & Raftery (1995, section 3.2) read 2 log BF_{1|0} (evidence for M_1) as

    0 to 2     not worth more than a bare mention
    2 to 6     positive
    6 to 10    strong
    above 10   very strong

Intervals are closed on the left here: exactly 2 is positive, 6 strong, 10 very strong. A
negative value is evidence for M_0, read on |2 log BF|.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

KASS_RAFTERY = ((0.0, "not worth more than a bare mention"), (2.0, "positive"),
                (6.0, "strong"), (10.0, "very strong"))


def log_bayes_factor(log_ml_1: float, log_ml_0: float) -> float:
    """log BF_{1|0} = log p(y | M_1) - log p(y | M_0)."""
    return float(log_ml_1) - float(log_ml_0)


def two_log_bayes_factor(log_ml_1: float, log_ml_0: float) -> float:
    """2 log BF_{1|0}, the Kass & Raftery scale (positive favours M_1)."""
    return 2.0 * log_bayes_factor(log_ml_1, log_ml_0)


def two_log_bf_error(error_1: float, error_0: float) -> float:
    """Standard deviation of 2 log BF from the two log marginal likelihoods' errors."""
    return 2.0 * math.hypot(float(error_1), float(error_0))


def kass_raftery(two_log_bf: float) -> str:
    """Kass & Raftery (1995) category of the evidence carried by |2 log BF| (module
    docstring); NaN gives ``"undetermined"``."""
    x = abs(float(two_log_bf))
    if math.isnan(x):
        return "undetermined"
    label = KASS_RAFTERY[0][1]
    for lower, name in KASS_RAFTERY:
        if x >= lower:
            label = name
    return label


def model_probabilities(log_mls: Sequence[float], prior: Sequence[float] | None = None
                        ) -> np.ndarray:
    """Posterior model probabilities p(M_k | y) proportional to p(y | M_k) p(M_k) (equal prior
    probabilities unless ``prior``)."""
    lm = np.asarray(log_mls, dtype=float)
    lp = np.zeros_like(lm) if prior is None else np.log(np.asarray(prior, dtype=float))
    a = lm + lp
    a = a - np.max(a)
    w = np.exp(a)
    return w / w.sum()
