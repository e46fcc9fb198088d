"""Scoring rules, VaR/ES backtests and forecast comparison tests (forecast/scoring_rules.py,
forecast/risk_tests.py, forecast/comparison.py) against closed forms and independent
computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesvol.forecast.comparison import diebold_mariano, model_confidence_set
from bayesvol.forecast.risk_tests import (
    acerbi_szekely_z2,
    christoffersen,
    kupiec,
    risk_backtest,
)
from bayesvol.forecast.scoring_rules import crps_draws, energy_score, mse_variance, qlike


def crps_normal(y, mu, s):
    """Closed-form CRPS of N(mu, s^2) (Gneiting & Raftery 2007, eq. 5)."""
    z = (y - mu) / s
    return s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def test_crps_of_draws_is_the_empirical_crps_and_converges_to_the_normal_closed_form():
    rng = np.random.default_rng(0)
    small = rng.normal(size=(3, 50))
    y = np.array([0.3, -2.0, 5.0])
    brute = (np.mean(np.abs(small - y[:, None]), axis=1)
             - 0.5 * np.mean(np.abs(small[:, :, None] - small[:, None, :]), axis=(1, 2)))
    np.testing.assert_allclose(crps_draws(small, y), brute, rtol=1e-12)
    big = rng.normal(1.0, 2.0, size=(3, 40000))
    np.testing.assert_allclose(crps_draws(big, y), crps_normal(y, 1.0, 2.0), atol=0.02)
    with pytest.raises(ValueError, match="at least 2"):
        crps_draws(np.ones((2, 1)), np.zeros(2))


def test_energy_score_ranks_the_true_correlation_first_and_skips_missing_components():
    rng = np.random.default_rng(1)
    true = np.array([[1.0, 0.8], [0.8, 1.0]])
    wrong = np.array([[1.0, -0.8], [-0.8, 1.0]])
    y = rng.multivariate_normal([0, 0], true, size=400)
    d_true = rng.multivariate_normal([0, 0], true, size=(400, 500))
    d_wrong = rng.multivariate_normal([0, 0], wrong, size=(400, 500))
    assert energy_score(d_true, y).mean() < energy_score(d_wrong, y).mean() - 0.02
    # one-dimensional: the energy score estimates the CRPS
    x = rng.normal(size=(200, 4000, 1))
    yy = rng.normal(size=(200, 1))
    np.testing.assert_allclose(energy_score(x, yy).mean(), crps_draws(x[..., 0], yy[:, 0]).mean(),
                               atol=0.01)
    # a missing component: the score of the observed one alone
    y_missing = np.array([[0.5, np.nan]])
    got = energy_score(d_true[:1], y_missing)
    np.testing.assert_allclose(got, energy_score(d_true[:1, :, :1], y_missing[:, :1]))
    assert np.isnan(energy_score(d_true[:1], np.array([[np.nan, np.nan]])))[0]


def test_variance_losses():
    s2 = np.array([0.5, 2.0, 1.0, 0.0])
    np.testing.assert_allclose(qlike(s2[:3], s2[:3]), 0.0, atol=1e-15)
    assert np.all(qlike(s2[:3], 1.3 * s2[:3]) > 0)
    assert np.isnan(qlike(s2, np.ones(4))[3])
    h1, h2 = np.array([0.7, 1.5, 0.9, 1.1]), np.array([1.0, 1.0, 1.0, 0.8])
    keep = s2 > 0
    np.testing.assert_allclose((qlike(s2, h1) - qlike(s2, h2))[keep],
                               (qlike(s2, h1, normalised=False)
                                - qlike(s2, h2, normalised=False))[keep])
    assert np.isfinite(qlike(s2, h1, normalised=False)).all()
    np.testing.assert_allclose(mse_variance(s2, h1), (s2 - h1) ** 2)
    with pytest.raises(ValueError, match="positive"):
        qlike(s2, -h1)


def test_kupiec_equals_the_binomial_likelihood_ratio():
    hits = np.zeros(250, dtype=bool)
    hits[[3, 40, 41, 100, 150, 151, 152, 200]] = True
    lr, p = kupiec(hits, 0.01)
    n, t = 8, 250
    expected = 2 * (stats.binom.logpmf(n, t, n / t) - stats.binom.logpmf(n, t, 0.01))
    np.testing.assert_allclose(lr, expected, rtol=1e-10)
    assert p < 0.01  # 8 hits where 2.5 are expected
    assert kupiec(np.zeros(100, dtype=bool), 0.01)[1] > 0.1  # 0 hits of 1 expected: fine


def test_christoffersen_detects_clustered_hits_and_not_independent_ones():
    rng = np.random.default_rng(2)
    iid = rng.random(1000) < 0.05
    clustered = np.zeros(1000, dtype=bool)
    for start in range(50, 1000, 100):  # the same number of hits in runs of 5
        clustered[start:start + 5] = True
    assert christoffersen(iid, 0.05)["p_ind"] > 0.05
    c = christoffersen(clustered, 0.05)
    assert c["p_ind"] < 1e-6 and c["p_cc"] < 1e-6
    np.testing.assert_allclose(c["lr_cc"], c["lr_ind"] + kupiec(clustered, 0.05)[0])


def test_acerbi_szekely_z2_is_near_zero_when_right_and_rejects_underestimated_risk():
    rng = np.random.default_rng(3)
    t, level = 1000, 0.025
    r = rng.standard_t(5, size=t)
    draws = rng.standard_t(5, size=(t, 2000))
    q = stats.t.ppf(level, 5)
    var_true = np.full(t, -q)
    es_true = np.full(t, (5 + q**2) / (4 * level) * stats.t.pdf(q, 5))  # ES of t(5)
    z, p = acerbi_szekely_z2(r, var_true, es_true, level, draws=draws)
    assert abs(z) < 0.35 and p > 0.05
    z_low, p_low = acerbi_szekely_z2(r, 0.6 * var_true, 0.6 * es_true, level, draws=0.6 * draws)
    assert z_low < -0.5 and p_low < 0.01
    assert np.isnan(acerbi_szekely_z2(r, var_true, es_true, level)[1])
    bt = risk_backtest(r, var_true, es_true, level, draws=draws)
    assert bt.dates == t and bt.expected == pytest.approx(25.0)
    assert bt.p_uc > 0.01 and bt.p_cc > 0.01


def test_diebold_mariano_size_and_power():
    rng = np.random.default_rng(4)
    rejections = 0
    for _ in range(200):
        e = rng.standard_normal((2, 300))
        rejections += diebold_mariano(e[0] ** 2, e[1] ** 2).p_value < 0.05
    assert 0.015 <= rejections / 200 <= 0.10
    e = rng.standard_normal((2, 300))
    res = diebold_mariano(e[0] ** 2, 1.5 * e[1] ** 2)
    assert res.p_value < 0.05 and res.statistic < 0 and res.better == "first"
    same = diebold_mariano(e[0], e[0])
    assert same.p_value == 1.0 and same.better == "neither"
    with pytest.raises(ValueError, match="differ in length"):
        diebold_mariano(e[0], e[1][:10])


def test_model_confidence_set_keeps_the_best_and_drops_a_clearly_worse_model():
    pytest.importorskip("arch")
    rng = np.random.default_rng(5)
    e = rng.standard_normal((3, 500)) ** 2
    losses = pd.DataFrame({"good": e[0], "close": e[1] + 0.01, "bad": e[2] + 0.6})
    out = model_confidence_set(losses, reps=300)
    assert bool(out.loc["good", "in_set"]) and not bool(out.loc["bad", "in_set"])
