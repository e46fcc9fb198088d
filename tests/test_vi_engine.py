"""The VI engine on targets with a known answer, and its failure reporting."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.stats import multivariate_normal

from bayesvol.inference.mode import find_mode
from bayesvol.inference.vi.estimators import get_estimator
from bayesvol.inference.vi.families import draw, get_family
from bayesvol.inference.vi.loop import StopRule, run_vi
from bayesvol.inference.vi.optim import get_optimizer, tran_adaptive

MEAN = jnp.array([1.0, -2.0, 0.5])
COV = jnp.array([[1.0, 0.6, -0.2], [0.6, 2.0, 0.3], [-0.2, 0.3, 0.5]])
PREC = jnp.linalg.inv(COV)


def gaussian_log_joint(z):
    d = z - MEAN
    return -0.5 * d @ PREC @ d


@pytest.mark.parametrize("name", ["meanfield", "fullrank", "precision"])
def test_family_log_q_entropy_and_draws(name):
    fam = get_family(name)
    params = fam.init(MEAN, COV if name != "meanfield" else jnp.diag(jnp.diag(COV)))
    loc, cov = fam.mean_cov(params)
    z = draw(fam, params, jax.random.PRNGKey(0), 200_000)
    np.testing.assert_allclose(np.mean(z, 0), loc, atol=0.02)
    np.testing.assert_allclose(np.cov(np.asarray(z).T), cov, atol=0.03)
    ref = multivariate_normal(np.asarray(loc), np.asarray(cov))
    np.testing.assert_allclose(fam.log_q(params, z[:5]), ref.logpdf(np.asarray(z[:5])),
                               rtol=1e-10)
    assert float(fam.entropy(params)) == pytest.approx(ref.entropy(), rel=1e-10)


@pytest.mark.parametrize(
    "family,estimator,optimizer,lr,tol",
    [("fullrank", "reparam", "adam", 0.02, 0.05),
     ("precision", "score", "tran", 0.02, 0.15)],
)
def test_vi_recovers_gaussian_target_from_a_poor_start(family, estimator, optimizer, lr, tol):
    """Full-rank VI on a Gaussian target must find its exact mean and covariance."""
    fam = get_family(family)
    est = get_estimator(estimator, fam, gaussian_log_joint, 20)
    params0 = fam.init(jnp.zeros(3), jnp.eye(3))
    stop = StopRule(window=50, patience=400, max_iter=4000)
    out = jax.jit(lambda p, k: run_vi(est, get_optimizer(optimizer, lr), p, k, stop))(
        params0, jax.random.PRNGKey(3))
    loc, cov = fam.mean_cov(out.params)
    assert not bool(out.failed)
    np.testing.assert_allclose(loc, MEAN, atol=tol)
    np.testing.assert_allclose(cov, COV, atol=3 * tol)


def test_mean_field_underestimates_marginal_variance():
    """The known mean-field result: q's variances are 1 / diag(precision), not diag(cov)."""
    fam = get_family("meanfield")
    est = get_estimator("reparam", fam, gaussian_log_joint, 20)
    out = run_vi(est, optax.adam(0.02), fam.init(jnp.zeros(3), jnp.eye(3)),
                 jax.random.PRNGKey(0), StopRule(50, 400, 4000))
    _, cov = fam.mean_cov(out.params)
    np.testing.assert_allclose(jnp.diag(cov), 1.0 / jnp.diag(PREC), rtol=0.1)


def test_nan_log_joint_is_reported_not_returned():
    fam = get_family("fullrank")
    est = get_estimator("reparam", fam, lambda z: jnp.nan * jnp.sum(z), 4)
    out = run_vi(est, optax.adam(0.01), fam.init(jnp.zeros(2), jnp.eye(2)),
                 jax.random.PRNGKey(0), StopRule(10, 20, 500, max_bad=5))
    assert bool(out.failed)
    assert int(out.iterations) == 5
    np.testing.assert_array_equal(out.params["loc"], jnp.zeros(2))  # no update was taken


def test_tran_schedule_matches_paper_rule():
    """First step: m = g, v = g^2, so the update is -eta0 * sign(g); after tau it decays."""
    opt = tran_adaptive(eta0=0.02, tau=3)
    state = opt.init(jnp.zeros(2))
    g = jnp.array([4.0, -0.5])
    upd, state = opt.update(g, state)
    np.testing.assert_allclose(upd, -0.02 * jnp.sign(g))
    for _ in range(5):
        upd, state = opt.update(g, state)
    np.testing.assert_allclose(upd, -0.02 * 3 / 5 * jnp.sign(g), rtol=1e-12)


def test_newton_mode_and_laplace_covariance_on_a_gaussian():
    res = find_mode(gaussian_log_joint, jnp.array([5.0, 5.0, 5.0]))
    assert bool(res.ok)
    np.testing.assert_allclose(res.z, MEAN, atol=1e-8)
    np.testing.assert_allclose(res.cov, COV, atol=1e-8)


def test_psis_corrects_a_slightly_wrong_q_and_flags_a_bad_one():
    """q = N(0, 1.2^2) for p = N(0.3, 1): PSIS resampling moves the draws to p's moments and
    k-hat is small (reliable). q = N(0, 0.3^2) is far too narrow (theoretical k = 1 - 0.09):
    flagged unreliable, and its resample still moves the spread towards p's. Mostly
    non-finite log-weights return q's draws unchanged."""
    from scipy.stats import norm

    from bayesvol.inference.vi.psis import psis_resample, reliable_k

    assert reliable_k(1000) == pytest.approx(2 / 3) and reliable_k(10000) == 0.7
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 1.2, size=(20000, 1))
    lw = norm(0.3, 1.0).logpdf(z[:, 0]) - norm(0.0, 1.2).logpdf(z[:, 0])
    res = psis_resample(z, lw, seed=1, n_out=5000)
    assert res.resampled and res.reliable and res.k_hat < 0.5 and res.ess > 10000
    assert res.draws.shape == (5000, 1)
    assert np.mean(res.draws) == pytest.approx(0.3, abs=0.04)
    assert np.std(res.draws) == pytest.approx(1.0, abs=0.04)
    narrow = rng.normal(0.0, 0.3, size=(4000, 1))
    lw = norm(0.0, 1.0).logpdf(narrow[:, 0]) - norm(0.0, 0.3).logpdf(narrow[:, 0])
    res = psis_resample(narrow, lw, seed=1)
    assert not res.reliable and res.k_hat > 0.7
    if res.resampled:
        assert np.std(res.draws) > 1.2 * np.std(narrow)
    else:
        np.testing.assert_array_equal(res.draws, narrow)
    lw_bad = np.where(np.arange(4000) % 10 == 0, np.nan, 0.0)
    res = psis_resample(narrow, lw_bad, seed=1, n_out=100)
    assert not res.resampled and not res.reliable
    np.testing.assert_array_equal(res.draws, narrow[:100])
