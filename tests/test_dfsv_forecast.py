"""Forecasts, GMV portfolio and one-step scores of a factor SV fit (forecast/factor_forecast.py).

One short VI fit (N = 4, K = 1, 200 dates of ``simulate_dfsv``, 150 iterations, 100 draws)
is shared; the next 56 simulated dates are the new data to score. Checked:

- the analytic h-step predictive covariance against the sample covariance of simulated
  predictive draws (Monte Carlo tolerance), and its approach, as h grows, to the stationary
  covariance of the posterior draws (and roughly to the plug-in of the posterior means);
- GMV weights: sum 1, minimise w' Sigma w against perturbed weights, the predictive draws of
  the portfolio return have variance w' Sigma w;
- the forecast object (GARCH's ``Forecast`` interface) and reproducibility;
- scores: with (numerically) zero vol-of-vol the RBPF scores equal the exact Gaussian
  predictive densities of the Kalman filter run over old + new data (joint and per asset,
  mixed over two parameter draws, original scale with the Jacobian of the scale); data from
  the true model score higher under the fitted model than under a model without factors (with
  the right variances); bad input is refused.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from factor_checks import assert_cov_matches_draws
from scipy.special import logsumexp

import bayesvol  # noqa: F401  (float64)
from bayesvol.dfsv_fit import DfsvFit, fit_dfsv
from bayesvol.errors import InputError
from bayesvol.filtering import factor_kalman_filter
from bayesvol.models.dfsv import DfsvModel
from bayesvol.simulate.dfsv import simulate_dfsv

N, K, T_FIT, T_NEW = 4, 1, 200, 56
JOINT = "__joint__"


@pytest.fixture(scope="module")
def fitted():
    sim = simulate_dfsv(N, K, T_FIT + T_NEW, idio="ar1", seed=4, Q_h=0.3**2)
    df = sim.to_frame()
    old, new = df.iloc[:T_FIT], df.iloc[T_FIT:].copy()
    new.iloc[3, 1] = np.nan                                   # a missing new return
    fit = fit_dfsv(old, n_factors=K, seed=0, max_iter=150, num_draws=100)
    return sim, old, new, fit


def _plugin_fit(fit: DfsvFit, thetas: list[np.ndarray]) -> DfsvFit:
    """A fit of the same model as ``fit`` (so its compiled programs are reused) whose
    'posterior' cycles through ``thetas`` (scaled data, as ``fit``); with ``_theta``'s
    vol-of-vols e^-30 every log-variance is constant."""
    model = fit.model
    D = fit.theta_draws.shape[0]
    draws = np.stack([thetas[i % len(thetas)] for i in range(D)])
    M, T = model.n_paths, len(fit.times)
    params = {k: np.zeros_like(v) for k, v in fit.params.items()}    # the same family
    params.update(theta_loc=draws[0], theta_logd=np.full(model.dim, -30.0),
                  path_loc=np.zeros((M, T)), path_logd=np.zeros((M, T)),
                  path_c=np.zeros((M, T - 1)))
    return DfsvFit(model=model, options=fit.options, params=params, theta_draws=draws,
                   scale=fit.scale, asset_mean=fit.asset_mean, assets=fit.assets,
                   times=fit.times, seed=0, elbo=float("nan"), elbo_trace=np.zeros(0),
                   iterations=0, converged=True, returns=fit.returns)


def _theta(lam, sigma2, phi_f=0.3, phi_h=0.9) -> np.ndarray:
    """theta of the fitted model (idio ar1) with constant log-variances: factor 0 and
    idiosyncratic log sigma2 (vol-of-vols e^-30, phi_id = 0)."""
    model = DfsvModel(N, K, idio="ar1", factor_ar=True)
    tiny = math.exp(-30.0)
    return model.unconstrain({"Lambda": np.asarray(lam, float).reshape(N, K),
                              "phi_f": [phi_f], "phi_h": [phi_h], "sigma_h": [tiny],
                              "mu_id": np.log(np.asarray(sigma2, float)), "phi_id": np.zeros(N),
                              "sigma_id": np.full(N, tiny)})


# ---------------------------------------------------------------- covariance forecasts
def test_forecast_covariance_matches_predictive_draws(fitted):
    _, _, _, fit = fitted
    cov = fit.forecast_covariance(3)
    assert cov.dims == ("step", "asset", "asset2") and cov.shape == (3, N, N)
    assert list(cov["asset"].values) == fit.assets
    c = cov.values
    assert np.allclose(c, np.swapaxes(c, 1, 2)) and np.all(np.linalg.eigvalsh(c) > 0)
    mean, _ = fit.forecast_moments(3)
    n = 20000
    draws = fit.predictive_draws(3, n_paths=n, seed=1)
    assert draws.shape == (n, 3, N)
    assert_cov_matches_draws(c, draws, (0, 2))
    for s in (0, 2):
        sd = np.sqrt(np.diag(c[s]))
        np.testing.assert_array_less(np.abs(draws[:, s].mean(0) - mean[s]), 5 * sd / np.sqrt(n))


def test_long_horizon_approaches_stationary_covariance(fitted):
    _, _, _, fit = fitted
    cov = fit.forecast_covariance(400).values
    nat = fit.natural_draws()                                   # original scale
    lam, phi_f = nat["Lambda"], nat["phi_f"]
    e_h = np.exp(nat["sigma_h"] ** 2 / (2 * (1 - nat["phi_h"] ** 2))) / (1 - phi_f**2)
    e_id = np.exp(nat["mu_id"] + nat["sigma_id"] ** 2 / (2 * (1 - nat["phi_id"] ** 2)))
    stat = np.einsum("dik,dk,djk->dij", lam, e_h, lam) + np.stack([np.diag(e) for e in e_id])
    target = stat.mean(0)
    dist = np.linalg.norm(cov - target, axis=(1, 2)) / np.linalg.norm(target)
    assert dist[-1] < 1e-4 and dist[-1] < 1e-3 * dist[0], dist[[0, 9, 99, 399]]
    # the plug-in of the posterior means is close (Jensen gaps only)
    mean = {k: v.mean(0) for k, v in nat.items()}
    lam_m = mean["Lambda"]
    plug = (lam_m * (np.exp(mean["sigma_h"] ** 2 / (2 * (1 - mean["phi_h"] ** 2)))
                     / (1 - mean["phi_f"] ** 2))) @ lam_m.T + np.diag(
        np.exp(mean["mu_id"] + mean["sigma_id"] ** 2 / (2 * (1 - mean["phi_id"] ** 2))))
    assert np.linalg.norm(cov[-1] - plug) / np.linalg.norm(plug) < 0.15


def test_gmv_weights_minimise_variance(fitted):
    _, _, _, fit = fitted
    g = fit.gmv_weights(n_paths=8000, seed=2)
    w = g.weights.to_numpy()
    assert list(g.weights.index) == fit.assets and abs(w.sum() - 1.0) < 1e-12
    sigma = fit.forecast_covariance(1).values[0]
    np.testing.assert_allclose(g.covariance.to_numpy(), sigma, rtol=1e-12)
    var = w @ sigma @ w
    assert abs(g.variance - var) < 1e-12 * var
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = rng.normal(scale=0.05, size=N)
        d -= d.mean()                                          # keep the budget sum(w) = 1
        assert (w + d) @ sigma @ (w + d) > var
    eq = np.full(N, 1.0 / N)
    assert eq @ sigma @ eq > var
    # the simulated portfolio returns have the predicted variance (MC, 8000 draws)
    assert abs(g.sd**2 / var - 1.0) < 0.1
    assert set(g.risk.index) == {"VaR_1%", "ES_1%", "VaR_5%", "ES_5%"}
    assert g.risk["ES_1%"] >= g.risk["VaR_1%"] > g.risk["VaR_5%"] > 0
    json.dumps(g.to_dict())


def test_forecast_object_like_garch(fitted):
    _, _, _, fit = fitted
    fc = fit.forecast(horizon=3, n_paths=2000, seed=0)
    assert list(fc.risk.columns) == ["VaR_1%", "ES_1%", "VaR_5%", "ES_5%", "VaR_1%_h",
                                     "ES_1%_h", "VaR_5%_h", "ES_5%_h"]
    assert list(fc.risk.index) == fit.assets and np.all(fc.risk.to_numpy() > 0)
    assert isinstance(fc.dates, pd.DatetimeIndex) and fc.dates[0] > fit.times[-1]
    frame = fc.to_frame()
    assert list(frame.columns) == ["asset", "step", "date", "quantity", "value"]
    assert {"volatility_mean", "return_q05", "VaR_1%", "cov_A02", "gmv_weight"} <= set(
        frame["quantity"])
    doc = json.loads(json.dumps(fc.to_dict()))
    assert doc["model"] == "dfsv" and np.asarray(doc["covariance"]).shape == (3, N, N)
    np.testing.assert_allclose(fc.covariance.values, fit.forecast_covariance(3).values)
    vol = fc.volatility["A01"]
    assert np.all(vol["q05"] < vol["q50"]) and np.all(vol["q50"] < vol["q95"])
    again = fit.forecast(horizon=3, n_paths=2000, seed=0)
    np.testing.assert_array_equal(again.return_draws, fc.return_draws)
    assert fc.return_draws.shape == (N, 2000, 3)
    with pytest.raises(InputError):
        fit.forecast(horizon=0)
    with pytest.raises(InputError):
        fit.forecast(levels=(0.7,))


# ---------------------------------------------------------------- scores
def test_constant_vol_score_equals_exact_gaussian(fitted):
    _, old, new, fit = fitted
    lam_a, lam_b = [0.8, 0.5, 0.9, 0.6], [0.6, 0.7, 0.4, 0.9]
    s2_a, s2_b = [0.4, 0.5, 0.3, 0.6], [0.5, 0.3, 0.4, 0.5]
    thetas = [_theta(lam_a, s2_a), _theta(lam_b, s2_b, phi_f=-0.2)]
    plug = _plugin_fit(fit, thetas)
    sub = new[["A01", "A02", "A04"]]                            # a subset of the assets
    sc = plug.score(sub, max_draws=100, seed=3)
    assert sc.assets == ("A01", "A02", "A04", JOINT)
    # exact: the Kalman filter over old + new (scaled, demeaned), per draw
    y = np.concatenate([old.to_numpy(), new.to_numpy()])
    y[T_FIT:, 2] = np.nan                                       # A03 not scored
    mask = np.isfinite(y)
    ys = (y - fit.asset_mean) / fit.scale
    joint, marg = [], []
    for lam, s2, phi in ((lam_a, s2_a, 0.3), (lam_b, s2_b, -0.2)):
        L = np.asarray(lam)[:, None]
        T = len(y)
        kf = factor_kalman_filter(ys, mask, L, np.array([[phi]]), np.zeros((T, 1)),
                                  np.tile(np.log(s2), (T, 1)), None,
                                  np.array([[1.0 / (1.0 - phi**2)]]))
        joint.append(np.asarray(kf.loglik_t)[T_FIT:])
        mu = np.asarray(kf.pred_means)[T_FIT:] @ L.T
        v = np.einsum("ik,tkl,il->ti", L, np.asarray(kf.pred_covs)[T_FIT:], L) + np.asarray(s2)
        marg.append(-0.5 * (np.log(2 * np.pi * v) + (ys[T_FIT:] - mu) ** 2 / v))
    n_obs = mask[T_FIT:].sum(1)
    want_joint = logsumexp(np.stack(joint), axis=0) - np.log(2) - n_obs * np.log(fit.scale)
    want_marg = logsumexp(np.stack(marg), axis=0) - np.log(2) - np.log(fit.scale)
    np.testing.assert_allclose(sc.joint.to_numpy(), want_joint, rtol=1e-8)
    got = sc.marginal
    for a in ("A01", "A02", "A04"):
        i = fit.assets.index(a)
        ok = mask[T_FIT:, i]
        assert np.all(np.isnan(got[a].to_numpy()[~ok]))
        np.testing.assert_allclose(got[a].to_numpy()[ok], want_marg[ok, i], rtol=1e-8)
    frame = sc.to_frame()
    assert list(frame.columns) == ["date", "asset", "log_score"]
    assert len(frame) == int(mask[T_FIT:][:, [0, 1, 3]].sum()) + T_NEW


def test_true_model_scores_higher_than_a_model_without_factors(fitted):
    _, old, new, fit = fitted
    sc = fit.score(new, max_draws=100, seed=0)
    # the wrong model: no factors (Lambda ~ 0), each asset with its sample variance
    var = np.nanvar((old.to_numpy() - fit.asset_mean) / fit.scale, axis=0)
    wrong = _plugin_fit(fit, [_theta(np.full(N, 1e-12), var)])
    sw = wrong.score(new, max_draws=100, seed=0)
    s_true, s_wrong = sc.joint.sum(), sw.joint.sum()
    assert s_true > s_wrong + 5.0, (s_true, s_wrong)     # measured: 15.5 nats over 56 dates
    sums = sc.sums()
    assert list(sums.index) == [*fit.assets, JOINT]
    assert int(sums.loc["A02", "n_points"]) == T_NEW - 1       # the missing new return
    assert np.all(np.isfinite(sc.log_score[:, 4]))
    # same seed, same numbers; the particle filter's ESS is reported
    again = fit.score(new, max_draws=100, seed=0)
    np.testing.assert_array_equal(again.log_score, sc.log_score)
    assert sc.ess.shape == (100, T_NEW) and np.all(sc.ess > 1.0)


def test_score_refuses_bad_input(fitted):
    _, old, new, fit = fitted
    with pytest.raises(InputError, match="not in the fit"):
        fit.score(new.rename(columns={"A01": "ZZZ"}))
    with pytest.raises(InputError, match="strictly after"):
        fit.score(old.iloc[-5:])
    with pytest.raises(InputError, match="dates"):
        fit.score(new.to_numpy())
    with pytest.raises(InputError):
        fit.score(new, max_draws=0)


def test_save_load_keeps_returns_and_forecasts(fitted, tmp_path):
    _, old, _, fit = fitted
    fit.save(tmp_path / "fit.nc")
    back = DfsvFit.load(tmp_path / "fit.nc")
    np.testing.assert_array_equal(back.returns, old.to_numpy())
    np.testing.assert_allclose(back.forecast_covariance(2).values,
                               fit.forecast_covariance(2).values, rtol=1e-12)
    back.returns = None
    with pytest.raises(InputError, match="without its returns"):
        back.forecast_covariance(2)
