"""Student-t errors of the DFSV model (``errors="t"``): the mixing prior and its standardised
form, the inverse-gamma variational factor, the particle filter's Student-t likelihood, the
simulator's mixing variables, padding, and a small fit with its forecasts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from factor_checks import assert_cov_matches_draws
from scipy.stats import invgamma
from scipy.stats import t as student_t

from bayesvol.dfsv_fit import DfsvFit, fit_dfsv
from bayesvol.errors import InputError
from bayesvol.filtering.rbpf import RbpfParams, rbpf_filter
from bayesvol.inference.dfsv import family as fam
from bayesvol.inference.dfsv.sequential import PaddedDfsvModel, pad_params, truncate_params
from bayesvol.models.dfsv import DfsvModel
from bayesvol.models.student_mixing import log_w_moments
from bayesvol.simulate.dfsv import simulate_dfsv


def _theta(model: DfsvModel, nu_f, nu_id, seed=0) -> jnp.ndarray:
    th = np.random.default_rng(seed).normal(scale=0.3, size=model.dim)
    th[model.layout["nu_f"]] = np.log(nu_f)
    th[model.layout["nu_id"]] = np.log(nu_id)
    return jnp.asarray(th)


def test_mixing_priors_are_the_inverse_gamma_law():
    model = DfsvModel(2, 1, errors="t")
    nu = np.array([5.0, 7.0, 30.0])
    theta = _theta(model, nu[:1], nu[1:])
    rng = np.random.default_rng(1)
    u = rng.normal(scale=0.5, size=(3, 6))
    ref = np.sum(invgamma.logpdf(np.exp(u), nu[:, None] / 2, scale=nu[:, None] / 2) + u)
    assert abs(float(model.log_mixing_prior_u(theta, jnp.asarray(u))) - ref) < 1e-9
    # the standardised coordinates: u = m + s e with the prior mean and sd of log W
    m, s = (np.asarray(v) for v in log_w_moments(nu[:, None] / 2))
    e = (u - m) / s
    got = float(model.log_mixing_prior(theta, jnp.asarray(e)))
    assert abs(got - (ref + 6 * np.sum(np.log(s)))) < 1e-9
    W = invgamma.rvs(nu[0] / 2, scale=nu[0] / 2, size=200_000, random_state=2)
    assert abs(np.log(W).mean() - m[0, 0]) < 0.01 and abs(np.log(W).std() - s[0, 0]) < 0.01


def test_inverse_gamma_factor_density_entropy_and_prior_at_zero_excess():
    R, T = 3, 4
    nu = jnp.asarray([4.0, 9.0, 25.0])
    rng = np.random.default_rng(3)
    params = {"mix_la": jnp.asarray(rng.normal(size=(R, T))),
              "mix_lb": jnp.asarray(rng.normal(size=(R, T)))}
    a, b = (np.asarray(v) for v in fam.mix_shape_rate(params, nu))
    u = np.asarray(fam.mix_sample(params, nu, jax.random.key(0)))
    ref = np.sum(invgamma.logpdf(np.exp(u), a, scale=b) + u)
    assert abs(float(fam.mix_log_density(params, nu, jnp.asarray(u))) - ref) < 1e-9
    # entropy of log W: minus the mean log density over many draws
    draws = jax.vmap(lambda k: fam.mix_sample(params, nu, k))(
        jax.random.split(jax.random.key(1), 20_000))
    mc = -np.mean(np.asarray(jax.vmap(lambda x: fam.mix_log_density(params, nu, x))(draws)))
    assert abs(float(fam.mix_entropy(params, nu)) - mc) < 0.05
    # excess shape and rate ~ 0: q(W | v) is the prior IG(v/2, v/2)
    prior = {"mix_la": jnp.full((R, T), -30.0), "mix_lb": jnp.full((R, T), -30.0)}
    model = DfsvModel(2, 1, errors="t")
    theta = _theta(model, nu[:1], nu[1:])
    lq = fam.mix_log_density(prior, nu, jnp.asarray(u))
    assert abs(float(lq) - float(model.log_mixing_prior_u(theta, jnp.asarray(u)))) < 1e-9


def test_particle_filter_gives_the_student_t_likelihood():
    """One asset, a negligible factor and constant variances: r_t is sigma times a Student t."""
    v, sigma2, T = 4.0, 0.5, 100
    y = np.sqrt(sigma2) * student_t.rvs(v, size=(T, 1), random_state=4)
    prm = RbpfParams.diagonal(Lambda=jnp.full((1, 1), 1e-4), Phi_f=jnp.zeros((1, 1)),
                              mu_h=jnp.zeros(1), phi_h=jnp.zeros(1), sigma_h=jnp.full(1, 1e-8),
                              mu_id=jnp.log(jnp.full(1, sigma2)), phi_id=jnp.zeros(1),
                              sigma_id=jnp.full(1, 1e-8), nu_f=jnp.full(1, v),
                              nu_id=jnp.full(1, v))
    exact = np.sum(student_t.logpdf(y[:, 0], v, scale=np.sqrt(sigma2)))
    est = [float(rbpf_filter(jax.random.key(s), prm, y, n_particles=4000).loglik)
           for s in range(3)]
    assert abs(np.mean(est) - exact) < 0.3, (est, exact)
    gauss = RbpfParams(*prm[:-2], jnp.zeros(0), jnp.zeros(0))
    ll_gauss = float(rbpf_filter(jax.random.key(0), gauss, y, n_particles=10).loglik)
    assert abs(ll_gauss - exact) > 1.0   # the mixing matters at this size


def test_simulator_mixing_leaves_the_gaussian_draws_alone():
    base = simulate_dfsv(4, 1, 3000, idio="ar1", seed=7)
    t = simulate_dfsv(4, 1, 3000, idio="ar1", seed=7, nu_f=6.0, nu_id=[5.0, 6.0, 8.0, 30.0])
    np.testing.assert_array_equal(t.h, base.h)
    np.testing.assert_array_equal(t.h_id, base.h_id)
    W = np.asarray(t.truth["W_id"])
    assert W.shape == (3000, 4)
    np.testing.assert_allclose(np.median(W, axis=0),
                               invgamma.median([2.5, 3, 4, 15], scale=[2.5, 3, 4, 15]),
                               rtol=0.06)
    assert np.array_equal(t.params["nu_f"], [6.0])
    with pytest.raises(InputError, match="both"):
        simulate_dfsv(4, 1, 10, nu_f=5.0)


def test_padding_adds_nothing_to_the_student_t_integrand():
    model = DfsvModel(3, 1, errors="t")
    T, cap = 30, 40
    sim = simulate_dfsv(3, 1, T, idio="ar1", seed=2, nu_f=5.0, nu_id=5.0)
    y = sim.to_frame().to_numpy()
    mask = np.ones_like(y, bool)
    rng = np.random.default_rng(5)
    params = {"theta_loc": np.zeros(model.dim), "theta_logd": np.full(model.dim, -2.0),
              "path_loc": rng.normal(size=(model.n_logvar, T)),
              "path_logd": np.zeros((model.n_logvar, T)),
              "path_c": np.zeros((model.n_logvar, T - 1)),
              "mix_la": rng.normal(size=(model.n_mix, T)),
              "mix_lb": rng.normal(size=(model.n_mix, T))}
    params["theta_loc"][model.layout["nu_f"]] = np.log(5.0)
    params["theta_loc"][model.layout["nu_id"]] = np.log(5.0)
    padded = pad_params(params, cap)
    np.testing.assert_array_equal(truncate_params(padded, T)["mix_la"], params["mix_la"])
    theta = jnp.asarray(params["theta_loc"])
    nu = model.degrees_of_freedom(theta)
    jp = {k: jnp.asarray(v) for k, v in padded.items()}
    u_pad = fam.mix_sample(jp, nu, jax.random.key(3))
    x_pad = jnp.asarray(np.concatenate([params["path_loc"],
                                        rng.normal(size=(model.n_logvar, cap - T))], axis=1))
    y_pad = np.zeros((cap, 3))
    y_pad[:T] = y
    m_pad = np.zeros((cap, 3), bool)
    m_pad[:T] = mask
    pm = PaddedDfsvModel.of(model)
    jt = {k: jnp.asarray(v) for k, v in params.items()}
    got = (pm.log_joint_mixed(theta, x_pad, u_pad, jnp.asarray(y_pad), jnp.asarray(m_pad))
           - fam.log_density(jp, theta, x_pad) - fam.mix_log_density(jp, nu, u_pad))
    x, u = x_pad[:, :T], u_pad[:, :T]
    want = (model.log_joint_mixed(theta, x, u, jnp.asarray(y), jnp.asarray(mask))
            - fam.log_density(jt, theta, x) - fam.mix_log_density(jt, nu, u))
    assert abs(float(got) - float(want)) < 1e-8


# ---------------------------------------------------------------- a fit and its forecasts
@pytest.fixture(scope="module")
def fitted():
    sim = simulate_dfsv(4, 1, 320, idio="ar1", seed=11, nu_f=6.0, nu_id=6.0)
    df = sim.to_frame()
    fit = fit_dfsv(df.iloc[:300], 1, errors="t", seed=0, max_iter=400, num_draws=200)
    return fit, df.iloc[300:]


def test_student_fit_reports_degrees_of_freedom(fitted):
    fit, _ = fitted
    assert np.isfinite(fit.elbo) and fit.model.errors == "t"
    s = fit.summary()
    for name in ("nu_f[1]", "nu_id[A01]", "nu_id[A04]"):
        assert s.loc[name, "mean"] > 2.0 and s.loc[name, "sd"] > 0.1
    assert np.all(np.isfinite(fit.covariance().values))


def test_student_forecast_moments_match_predictive_draws(fitted):
    fit, _ = fitted
    c = fit.forecast_covariance(3).values
    # Student-t draws: a kurtotic sample covariance, so twice the Gaussian case's allowance
    assert_cov_matches_draws(c, fit.predictive_draws(3, n_paths=40000, seed=1), (0, 2), 4.0)


def test_student_fit_scores_and_survives_save_load(fitted, tmp_path):
    fit, new = fitted
    sc = fit.score(new, max_draws=20, n_particles=50)
    assert np.all(np.isfinite(sc.log_score))
    fit.save(tmp_path / "t.nc")
    back = DfsvFit.load(tmp_path / "t.nc")
    assert back.model == fit.model
    np.testing.assert_allclose(back.params["mix_lb"], fit.params["mix_lb"])
    np.testing.assert_allclose(back.summary().values, fit.summary().values)


def test_bad_errors_option_and_laplace_filter_refuse():
    with pytest.raises(InputError, match="errors"):
        DfsvModel(3, 1, errors="cauchy")
    from bayesvol.filtering.laplace_filter import laplace_filter

    model = DfsvModel(2, 1, errors="t")
    prm = RbpfParams.from_natural(model.constrain(_theta(model, [5.0], [5.0, 5.0])))
    with pytest.raises(InputError, match="Student-t"):
        laplace_filter(prm, np.zeros((5, 2)))


@pytest.mark.slow
def test_vi_recovers_the_factor_degrees_of_freedom_under_a_weak_prior():
    """N = 6, T = 600, v = 5 everywhere (about a minute). Under the paper's prior (mean 25,
    sd 5.6) the data barely move v, for VI and NUTS alike; under Gamma(2, scale 10) the
    factor's v, seen through six assets, is recovered."""
    from bayesvol.models.dfsv import DfsvPriors

    sim = simulate_dfsv(6, 1, 600, idio="ar1", seed=5, nu_f=5.0, nu_id=5.0)
    fit = fit_dfsv(sim.to_frame(), 1, errors="t", seed=1,
                   priors=DfsvPriors(nu_shape=2.0, nu_scale=10.0))
    s = fit.summary()
    m, sd = s.loc["nu_f[1]", "mean"], s.loc["nu_f[1]", "sd"]
    assert abs(m - 5.0) < 2.5 * sd and m < 10.0, (m, sd)


def test_dist_t_selects_student_errors_through_the_api(monkeypatch):
    """``bv.fit(..., model="dfsv", dist="t")`` (and ``--dist t``) passes errors="t"; another
    dist is an input error. The fit itself is replaced: only the mapping is under test."""
    import bayesvol as bv
    import bayesvol.dfsv_fit as dfsv_fit

    seen = {}
    monkeypatch.setattr(dfsv_fit, "fit_dfsv", lambda frame, **kw: seen.update(kw) or "fit")
    frame = simulate_dfsv(3, 1, 40, seed=0).to_frame()
    assert bv.fit(frame, model="dfsv", dist="t", factors=1) == "fit"
    assert seen["errors"] == "t" and seen["n_factors"] == 1
    with pytest.raises(InputError, match="Student-t"):
        bv.fit(frame, model="fsv", dist="skewt")
