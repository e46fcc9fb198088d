"""The full VAR(1) of the factor log-variances (models/factor_var.py,
``DfsvModel(factor_var=True)``): the stationary parameterisation, its priors and densities
against independent computations, the diagonal model as its special case, and a fit with its
forecasts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from factor_checks import assert_cov_matches_draws
from scipy.linalg import solve_discrete_lyapunov
from scipy.stats import multivariate_normal

from bayesvol.dfsv_fit import DfsvFit, fit_dfsv
from bayesvol.errors import InputError
from bayesvol.models import factor_var as fv
from bayesvol.models.dfsv import DfsvModel, _tanh_beta_logprior
from bayesvol.simulate.dfsv import simulate_dfsv

PHI_H = np.array([[0.95, 0.05], [-0.10, 0.90]])
Q_H = np.array([[0.09, 0.045], [0.045, 0.0625]])


def _raw(K: int, seed: int, big: float = 1.0):
    rng = np.random.default_rng(seed)
    return (jnp.asarray(2.0 + rng.normal(size=K)),
            jnp.asarray(big * rng.normal(size=K * (K - 1))),
            jnp.asarray(-1.0 + 0.3 * rng.normal(size=K)),
            jnp.asarray(rng.normal(size=fv.n_corr(K))))


@pytest.mark.parametrize("K, big", [(2, 1.0), (3, 1.0), (3, 8.0)])
def test_var_parts_are_stationary_and_invert(K, big):
    raw = _raw(K, K, big)
    p = fv.var_parts(*raw)
    assert np.max(np.abs(np.linalg.eigvals(np.asarray(p.Phi)))) < 1.0
    Q = np.asarray(p.L_Q @ p.L_Q.T)
    G = np.asarray(p.L_G @ p.L_G.T)
    np.testing.assert_allclose(G, solve_discrete_lyapunov(np.asarray(p.Phi), Q), atol=1e-8)
    np.testing.assert_allclose(np.asarray(fv.stationary_cov(p.Phi, jnp.asarray(Q))), G,
                               atol=1e-8)
    np.testing.assert_allclose(np.diag(Q), np.exp(2 * np.asarray(raw[2])))   # sigma_h^2
    back = fv.raw_from_var(np.asarray(p.Phi), Q)
    for a, b in zip(back, raw, strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-7)


def test_correlation_prior_is_the_normalised_lkj_density():
    numpyro_dist = pytest.importorskip("numpyro.distributions")
    from numpyro.distributions.transforms import CorrCholeskyTransform

    K, eta = 4, 2.0
    c = jnp.asarray(np.random.default_rng(0).normal(size=fv.n_corr(K)))
    b = jnp.asarray(fv.lkj_partial_beta(K, eta))
    mine = jnp.sum(_tanh_beta_logprior(c, b, b))
    tr = CorrCholeskyTransform()
    L = tr(c)
    np.testing.assert_allclose(np.asarray(fv.corr_cholesky(c, K)), np.asarray(L), atol=1e-12)
    ref = numpyro_dist.LKJCholesky(K, eta).log_prob(L) + tr.log_abs_det_jacobian(c, L)
    assert abs(float(mine) - float(ref)) < 1e-9


def _pair(N=5, K=2):
    diag, var = DfsvModel(N, K), DfsvModel(N, K, factor_var=True)
    theta_d = np.random.default_rng(1).normal(scale=0.5, size=diag.dim)
    theta_v = np.zeros(var.dim)
    for name, s in diag.layout.items():
        theta_v[var.layout[name]] = theta_d[s]
    return diag, var, jnp.asarray(theta_d), jnp.asarray(theta_v)


def test_diagonal_model_is_the_special_case():
    diag, var, td, tv = _pair()
    assert var.dim == diag.dim + 2 + 1
    T = 40
    x = jnp.asarray(np.random.default_rng(2).normal(size=(diag.n_paths, T)))
    for f in ("log_unit_paths_prior",):
        assert abs(float(getattr(diag, f)(td, x)) - float(getattr(var, f)(tv, x))) < 1e-9
    hd, hid_d = diag.scale_paths(td, x)
    hv, hid_v = var.scale_paths(tv, x)
    np.testing.assert_allclose(np.asarray(hv), np.asarray(hd), atol=1e-12)
    assert abs(float(diag.log_states_prior(td, hd, hid_d))
               - float(var.log_states_prior(tv, hv, hid_v))) < 1e-8
    cd, cv = diag.constrain(td), var.constrain(tv)
    for k in ("Phi_h", "Q_h", "Gamma_h_chol", "phi_h", "sigma_h"):
        np.testing.assert_allclose(np.asarray(cv[k]), np.asarray(cd[k]), atol=1e-12)
    # the extra priors: A_12, A_21 ~ N(0, 0.5^2) at 0 and the LKJ(2) correlation at 0
    extra = 2 * (-0.5 * np.log(2 * np.pi * 0.25)) + float(_tanh_beta_logprior(0.0, 2.0, 2.0))
    assert abs(float(var.log_prior(tv)) - float(diag.log_prior(td)) - extra) < 1e-9


def test_states_prior_is_the_stacked_gaussian_of_the_var():
    N, K, T = 3, 2, 6
    model = DfsvModel(N, K, idio="constant", factor_var=True)
    theta = jnp.asarray(np.random.default_rng(3).normal(scale=0.6, size=model.dim))
    p = model.constrain(theta)
    Phi, Q = np.asarray(p["Phi_h"]), np.asarray(p["Q_h"])
    G = solve_discrete_lyapunov(Phi, Q)
    cov = np.zeros((T * K, T * K))
    for s in range(T):
        for t in range(s, T):
            block = np.linalg.matrix_power(Phi, t - s) @ G        # Cov(h_t, h_s)
            cov[t * K:(t + 1) * K, s * K:(s + 1) * K] = block
            cov[s * K:(s + 1) * K, t * K:(t + 1) * K] = block.T
    h = np.random.default_rng(4).normal(size=(T, K))
    ref = multivariate_normal(np.zeros(T * K), cov).logpdf(h.reshape(-1))
    assert abs(float(model.log_states_prior(theta, jnp.asarray(h), None)) - ref) < 1e-8
    # the non-centred density of x = L_Q^{-1} h is the same up to the Jacobian
    x = np.linalg.solve(np.asarray(p["Q_h_chol"]), h.T)
    lx = float(model.log_unit_paths_prior(theta, jnp.asarray(x)))
    jac = T * np.sum(np.log(np.diag(np.asarray(p["Q_h_chol"]))))
    assert abs(lx - jac - ref) < 1e-8


def test_unconstrain_inverts_constrain_and_names():
    model = DfsvModel(4, 3, factor_var=True)
    theta = np.random.default_rng(5).normal(scale=0.5, size=model.dim)
    p = {k: np.asarray(v) for k, v in model.constrain(jnp.asarray(theta)).items()}
    np.testing.assert_allclose(model.unconstrain(p), theta, atol=1e-8)
    names = model.parameter_names()
    assert len(names) == model.dim
    assert "phi_h[1,2]" in names and "corr_h[3,2]" in names and "sigma_h[3]" in names


def test_centred_paths_are_refused():
    sim = simulate_dfsv(4, 2, 60, idio="ar1", seed=0)
    with pytest.raises(InputError, match="noncentred"):
        fit_dfsv(sim.to_frame(), 2, factor_var=True, paths="centred", max_iter=5)


# ---------------------------------------------------------------- a fit and its forecasts
@pytest.fixture(scope="module")
def fitted():
    sim = simulate_dfsv(6, 2, 520, idio="ar1", Phi_h=PHI_H, Q_h=Q_H, mu=np.zeros(2), seed=3)
    df = sim.to_frame()
    fit = fit_dfsv(df.iloc[:500], 2, factor_var=True, seed=0, max_iter=600, num_draws=200)
    return sim, fit, df.iloc[500:]


def test_fit_recovers_the_factor_log_variances(fitted):
    sim, fit, _ = fitted
    assert np.isfinite(fit.elbo)
    lv = fit.log_variances()["factor_mean"].values
    for k in range(2):
        assert np.corrcoef(lv[:, k], sim.h[:500, k])[0, 1] > 0.6
    s = fit.summary()
    assert abs(s.loc["phi_h[1]", "mean"] - PHI_H[0, 0]) < 0.1
    assert abs(s.loc["phi_h[2]", "mean"] - PHI_H[1, 1]) < 0.15
    for name in ("phi_h[1,2]", "phi_h[2,1]", "corr_h[2,1]"):
        assert np.isfinite(s.loc[name, "mean"]) and s.loc[name, "sd"] > 0


def test_var_forecast_moments_match_predictive_draws(fitted):
    _, fit, _ = fitted
    c = fit.forecast_covariance(5).values
    assert_cov_matches_draws(c, fit.predictive_draws(5, n_paths=20000, seed=1), (0, 4))


def test_var_long_horizon_uses_the_stationary_covariance(fitted):
    _, fit, _ = fitted
    cov = fit.forecast_covariance(400).values[-1]
    nat = fit.natural_draws()
    gam = np.stack([solve_discrete_lyapunov(P, Q) for P, Q in zip(nat["Phi_h"], nat["Q_h"],
                                                                    strict=True)])
    e_h = np.exp(0.5 * np.diagonal(gam, axis1=1, axis2=2)) / (1 - nat["phi_f"] ** 2)
    e_id = np.exp(nat["mu_id"] + nat["sigma_id"] ** 2 / (2 * (1 - nat["phi_id"] ** 2)))
    lam = nat["Lambda"]
    stat = np.einsum("dik,dk,djk->dij", lam, e_h, lam) + np.stack([np.diag(e) for e in e_id])
    target = stat.mean(0)
    assert np.linalg.norm(cov - target) / np.linalg.norm(target) < 1e-4


def test_var_fit_scores_and_survives_save_load(fitted, tmp_path):
    _, fit, new = fitted
    scores = fit.score(new, max_draws=20, n_particles=50)
    assert np.all(np.isfinite(scores.log_score))
    fit.save(tmp_path / "fit.nc")
    back = DfsvFit.load(tmp_path / "fit.nc")
    assert back.model == fit.model and back.model.factor_var
    np.testing.assert_allclose(back.summary().values, fit.summary().values)


def test_jit_gradient_of_var_joint_is_finite():
    model = DfsvModel(4, 2, factor_var=True)
    sim = simulate_dfsv(4, 2, 50, idio="ar1", Phi_h=PHI_H, Q_h=Q_H, mu=np.zeros(2), seed=1)
    y = jnp.asarray(sim.to_frame().to_numpy())
    theta = jnp.zeros(model.dim)
    x = jnp.zeros((model.n_paths, 50))
    g = jax.jit(jax.grad(model.log_joint_noncentred, argnums=(0, 1)))(theta, x, y, None)
    assert all(bool(jnp.all(jnp.isfinite(a))) for a in g)
