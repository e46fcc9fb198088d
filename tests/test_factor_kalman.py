"""Exact factor Kalman filter, RTS smoother and FFBS (bayesvol.filtering.factor_kalman).

Every check is against the dense Gaussian computation: stack f_0, f_1..f_T and r_1..r_T
(with the missing returns dropped), build their joint mean and covariance from the model with
numpy, and compare the likelihood with scipy's multivariate normal log density and the
smoother/FFBS moments with the dense Gaussian conditional.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.stats import multivariate_normal

import bayesvol  # noqa: F401  (float64)
from bayesvol.errors import InputError
from bayesvol.filtering import (
    factor_ffbs,
    factor_kalman_filter,
    factor_kalman_smoother,
    factor_loglik,
)

T, N, K = 6, 4, 2
PHI = np.array([[0.6, 0.25], [-0.3, 0.5]])  # non-diagonal, stable
M0 = np.array([0.4, -0.7])
P0 = np.array([[0.8, 0.3], [0.3, 0.5]])


def make_problem(seed: int = 0, *, missing: bool = False, p0: bool = False,
                 tight: bool = False) -> dict:
    """A small DFSV problem given h and h_id; y simulated from the model."""
    rng = np.random.default_rng(seed)
    Lambda = rng.normal(size=(N, K))
    h = rng.normal(-0.5, 0.5, size=(T, K))
    h_id = rng.normal(-7.0 if tight else -1.0, 0.4, size=(T, N))
    m0 = M0 if p0 else np.zeros(K)
    P0_ = P0 if p0 else np.zeros((K, K))
    f = rng.multivariate_normal(m0, P0_) if p0 else np.zeros(K)
    y = np.empty((T, N))
    for t in range(T):
        f = PHI @ f + np.exp(0.5 * h[t]) * rng.normal(size=K)
        y[t] = Lambda @ f + np.exp(0.5 * h_id[t]) * rng.normal(size=N)
    mask = np.ones((T, N), dtype=bool)
    if missing:
        mask = rng.uniform(size=(T, N)) > 0.3
        mask[2] = False                                  # an all-missing date
        mask[4] = True
        y = np.where(mask, y, np.nan)
    # m0/P0 passed as arrays even when zero (the defaults) so all cases share one compilation
    return dict(y=y, mask=mask, Lambda=Lambda, Phi_f=PHI, h=h, h_id=h_id, m0=m0, P0=P0_)


def dense(pr: dict) -> dict:
    """Joint moments of (f_0..f_T, r_1..r_T[obs]); loglik and conditional law of f given r."""
    Lambda, Phi, h, h_id, mask = pr["Lambda"], pr["Phi_f"], pr["h"], pr["h_id"], pr["mask"]
    T, N = mask.shape
    m0, P0_ = pr["m0"], pr["P0"]
    # x = (f_0, nu_1..nu_T) -> f_{0:T} = Mf x
    nx = (T + 1) * K
    Mf = np.zeros((nx, nx))
    powers = [np.linalg.matrix_power(Phi, k) for k in range(T + 1)]
    for t in range(T + 1):
        for s in range(t + 1):
            Mf[t * K:(t + 1) * K, s * K:(s + 1) * K] = powers[t - s]
    mean_x = np.concatenate([m0, np.zeros(T * K)])
    cov_x = np.zeros((nx, nx))
    cov_x[:K, :K] = P0_
    cov_x[K:, K:] = np.diag(np.exp(h.ravel()))
    mean_f, cov_f = Mf @ mean_x, Mf @ cov_x @ Mf.T
    H = np.zeros((T * N, nx))
    for t in range(T):
        H[t * N:(t + 1) * N, (t + 1) * K:(t + 2) * K] = Lambda
    mean_r = H @ mean_f
    cov_r = H @ cov_f @ H.T + np.diag(np.exp(h_id.ravel()))
    cov_fr = cov_f @ H.T
    obs = mask.ravel()
    r_o = pr["y"].ravel()[obs]
    S_oo = cov_r[np.ix_(obs, obs)]
    C = cov_fr[:, obs]
    loglik = multivariate_normal(mean_r[obs], S_oo).logpdf(r_o)
    post_mean = mean_f + C @ np.linalg.solve(S_oo, r_o - mean_r[obs])
    post_cov = cov_f - C @ np.linalg.solve(S_oo, C.T)
    return dict(loglik=loglik, mean=post_mean.reshape(T + 1, K), cov=post_cov)


def run_filter(pr: dict):
    return factor_kalman_filter(pr["y"], pr["mask"], pr["Lambda"], pr["Phi_f"], pr["h"],
                                pr["h_id"], pr["m0"], pr["P0"])


CASES = {
    "full": dict(),
    "missing": dict(missing=True),
    "full_p0": dict(p0=True),
    "missing_p0": dict(missing=True, p0=True),
    "tight_missing_p0": dict(missing=True, p0=True, tight=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loglik_matches_dense_mvn(case):
    pr = make_problem(1, **CASES[case])
    res = run_filter(pr)
    want = dense(pr)["loglik"]
    np.testing.assert_allclose(float(res.loglik), want, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(float(jnp.sum(res.loglik_t)), want, rtol=1e-10, atol=1e-9)
    # the convenience function returns the same number
    ll = factor_loglik(pr["y"], pr["mask"], pr["Lambda"], pr["Phi_f"], pr["h"], pr["h_id"],
                       pr["m0"], pr["P0"])
    np.testing.assert_allclose(float(ll), want, rtol=1e-10, atol=1e-9)
    # prefix sums are the dense log density of r_{1:t} (chain rule of the predictive terms)
    t_cut = 3
    sub = dict(pr, y=pr["y"][:t_cut], mask=pr["mask"][:t_cut], h=pr["h"][:t_cut],
               h_id=pr["h_id"][:t_cut])
    want_sub = dense(sub)["loglik"]
    np.testing.assert_allclose(float(jnp.sum(res.loglik_t[:t_cut])), want_sub, rtol=1e-10)


@pytest.mark.parametrize("case", ["full", "missing_p0", "tight_missing_p0"])
def test_smoother_matches_dense_conditional(case):
    pr = make_problem(2, **CASES[case])
    res = run_filter(pr)
    sm = jax.jit(factor_kalman_smoother)(res, pr["Phi_f"], pr["h"])
    d = dense(pr)
    cov = d["cov"]
    scale = np.max(np.abs(cov))
    np.testing.assert_allclose(np.asarray(sm.means), d["mean"][1:], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(np.asarray(sm.mean0), d["mean"][0], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(np.asarray(sm.cov0), cov[:K, :K], atol=1e-10 * scale)
    for t in range(1, T + 1):
        blk = slice(t * K, (t + 1) * K)
        prev = slice((t - 1) * K, t * K)
        np.testing.assert_allclose(np.asarray(sm.covs[t - 1]), cov[blk, blk],
                                   atol=1e-10 * scale)
        np.testing.assert_allclose(np.asarray(sm.cross_covs[t - 1]), cov[blk, prev],
                                   atol=1e-10 * scale)
    # the filtered law at the last date is the smoothed one
    np.testing.assert_allclose(np.asarray(res.filt_means[-1]), d["mean"][-1], rtol=1e-8,
                               atol=1e-9)
    # filtered covariances are symmetric PSD, square roots consistent
    Pf = np.asarray(res.filt_covs)
    R = np.asarray(res.filt_sqrt)
    np.testing.assert_array_equal(Pf, np.swapaxes(Pf, 1, 2))
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), Pf, atol=1e-12 * np.max(np.abs(Pf)))
    assert np.all(np.linalg.eigvalsh(Pf) > 0)


def test_all_missing_date_is_a_pure_prediction():
    pr = make_problem(3, missing=True, p0=True)
    assert not pr["mask"][2].any() and np.isnan(pr["y"][2]).all()
    res = run_filter(pr)
    assert float(res.loglik_t[2]) == 0.0
    np.testing.assert_allclose(np.asarray(res.filt_means[2]), np.asarray(res.pred_means[2]),
                               rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.asarray(res.filt_covs[2]), np.asarray(res.pred_covs[2]),
                               rtol=1e-14, atol=1e-15)
    # the next prediction propagates the unchanged moments
    np.testing.assert_allclose(np.asarray(res.pred_means[3]), PHI @ np.asarray(res.pred_means[2]),
                               rtol=1e-13)
    want = PHI @ np.asarray(res.pred_covs[2]) @ PHI.T + np.diag(np.exp(pr["h"][3]))
    np.testing.assert_allclose(np.asarray(res.pred_covs[3]), want, rtol=1e-13)
    # and the value at that date (y is NaN there) does not matter
    pr2 = dict(pr, y=np.where(pr["mask"], pr["y"], 123.0))
    np.testing.assert_allclose(float(run_filter(pr2).loglik), float(res.loglik), rtol=1e-14)
    np.testing.assert_allclose(float(res.loglik), dense(pr)["loglik"], rtol=1e-10)
    # a panel where only the first date is observed: the rest is pure prediction
    pr3 = dict(pr, mask=np.zeros((T, N), dtype=bool), y=np.nan_to_num(pr["y"], nan=0.3))
    pr3["mask"][0] = True
    res3 = run_filter(pr3)
    np.testing.assert_array_equal(np.asarray(res3.loglik_t[1:]), 0.0)
    np.testing.assert_allclose(float(res3.loglik), dense(pr3)["loglik"], rtol=1e-10)


ffbs_many = jax.jit(jax.vmap(factor_ffbs, in_axes=(0, None, None, None)))


@pytest.mark.parametrize("case", ["missing_p0", "full"])
def test_ffbs_draws_match_dense_conditional(case):
    pr = make_problem(4, **CASES[case])
    res = run_filter(pr)
    n = 8000
    keys = jax.random.split(jax.random.PRNGKey(11), n)
    draws = ffbs_many(keys, res, pr["Phi_f"], pr["h"])
    assert draws.shape == (n, T, K)
    x = np.asarray(draws).reshape(n, T * K)
    d = dense(pr)
    mu = d["mean"][1:].ravel()
    Sigma = d["cov"][K:, K:]                              # joint over f_1..f_T
    sd = np.sqrt(np.diag(Sigma))
    z_mean = (x.mean(0) - mu) / (sd / np.sqrt(n))
    assert np.max(np.abs(z_mean)) < 4.5, z_mean
    # whole joint covariance (including across dates), entrywise standardised
    S_hat = np.cov(x, rowvar=False)
    se = np.sqrt((np.outer(sd**2, sd**2) + Sigma**2) / n)
    z_cov = (S_hat - Sigma) / se
    assert np.max(np.abs(z_cov)) < 5.0, np.max(np.abs(z_cov))
    # different keys give different draws, the same key the same draw
    one = factor_ffbs(keys[0], res, pr["Phi_f"], pr["h"])
    np.testing.assert_allclose(np.asarray(one), np.asarray(draws[0]), rtol=1e-12)


def test_loglik_gradients_match_finite_differences():
    """jax.grad of factor_loglik in Lambda, Phi_f, h and h_id against central differences
    (y holds NaN at the missing entries)."""
    pr = make_problem(5, missing=True, p0=True)
    y, mask = pr["y"], pr["mask"]
    assert np.isnan(y).any()
    names = ("Lambda", "Phi_f", "h", "h_id")

    def ll(Lambda, Phi_f, h, h_id):
        return factor_loglik(y, mask, Lambda, Phi_f, h, h_id, pr["m0"], pr["P0"])

    args = [jnp.asarray(pr[k]) for k in names]
    grads = jax.jit(jax.grad(ll, argnums=(0, 1, 2, 3)))(*args)
    eps = 1e-5
    for i, (name, g) in enumerate(zip(names, grads, strict=True)):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)), name
        fd = np.zeros(g.shape)
        for idx in np.ndindex(g.shape):   # the filter is jitted: these calls hit its cache
            up = [a.at[idx].add(eps) if j == i else a for j, a in enumerate(args)]
            dn = [a.at[idx].add(-eps) if j == i else a for j, a in enumerate(args)]
            fd[idx] = (float(ll(*up)) - float(ll(*dn))) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7, err_msg=name)
    # a missing return has no influence on the likelihood (and NaN there does not leak)
    g_hid = np.asarray(grads[3])
    np.testing.assert_array_equal(g_hid[~mask], 0.0)
    assert np.all(g_hid[mask] != 0.0)


@pytest.mark.slow
def test_smoother_and_ffbs_gradients_match_finite_differences():
    """Reverse-mode derivatives of functionals of the smoother and of an FFBS draw (fixed key)
    against central differences (slow: compiling these gradients takes ~10 s on CPU)."""
    pr = make_problem(6, missing=True, p0=True)
    key = jax.random.PRNGKey(3)
    w = jnp.asarray(np.random.default_rng(0).normal(size=(T, K)))
    theta0, unravel = ravel_pytree(
        {k: jnp.asarray(pr[k]) for k in ("Lambda", "Phi_f", "h", "h_id")})

    def outputs(theta):
        p = unravel(theta)
        res = factor_kalman_filter(pr["y"], pr["mask"], p["Lambda"], p["Phi_f"], p["h"],
                                   p["h_id"], pr["m0"], pr["P0"])
        sm = factor_kalman_smoother(res, p["Phi_f"], p["h"])
        draw = factor_ffbs(key, res, p["Phi_f"], p["h"])
        return jnp.stack([jnp.sum(w * sm.means) + jnp.sum(sm.covs) + jnp.sum(sm.cross_covs),
                          jnp.sum(w * draw)])

    jac = np.asarray(jax.jit(jax.jacrev(outputs))(theta0))          # [2, P]
    eps = 1e-5
    basis = eps * jnp.eye(theta0.size)
    vals = np.asarray(jax.jit(jax.vmap(outputs))(
        jnp.concatenate([theta0 + basis, theta0 - basis])))
    fd = ((vals[: theta0.size] - vals[theta0.size:]) / (2 * eps)).T
    for row, name in enumerate(("smoother", "ffbs")):
        np.testing.assert_allclose(jac[row], fd[row], rtol=1e-6, atol=1e-7, err_msg=name)


def test_vmap_over_log_variance_draws():
    pr = make_problem(7, missing=True)
    rng = np.random.default_rng(1)
    hs = pr["h"] + 0.3 * rng.normal(size=(3, T, K))
    hids = pr["h_id"] + 0.3 * rng.normal(size=(3, T, N))
    batched = jax.jit(jax.vmap(factor_loglik, in_axes=(None, None, None, None, 0, 0)))(
        pr["y"], pr["mask"], pr["Lambda"], pr["Phi_f"], hs, hids)
    assert batched.shape == (3,)
    for b in range(3):
        one = dense(dict(pr, h=hs[b], h_id=hids[b]))["loglik"]
        np.testing.assert_allclose(float(batched[b]), one, rtol=1e-10)


def test_defaults_and_shape_errors():
    """mask=None means all observed, m0=None/P0=None mean f_0 = 0 known."""
    pr = make_problem(8)
    a = factor_loglik(pr["y"], None, pr["Lambda"], pr["Phi_f"], pr["h"], pr["h_id"])
    np.testing.assert_allclose(float(a), dense(pr)["loglik"], rtol=1e-10)
    with pytest.raises(InputError, match="h_id"):
        factor_loglik(pr["y"], None, pr["Lambda"], pr["Phi_f"], pr["h"], pr["h_id"][:, :2])
    with pytest.raises(InputError, match="Phi_f"):
        factor_loglik(pr["y"], None, pr["Lambda"], np.eye(3), pr["h"], pr["h_id"])
