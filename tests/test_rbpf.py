"""Rao-Blackwellised particle filter for the DFSV model (bayesvol.filtering.rbpf).

- vol-of-vol 0 (constant volatility): every particle is the same Kalman filter, so the RBPF's
  log-likelihood, per-date increments and per-asset marginal densities equal the exact Kalman
  filter's (``factor_loglik`` and the dense Gaussian marginals) to rounding, with missing
  values; a run continued from the final cloud adds up to the full-sample likelihood;
- stochastic volatility: the mean over seeds of the log-likelihood estimate (P = 100) agrees,
  within Monte Carlo error, with a many-particle run (P = 4000, resampling at every step);
- same key, same numbers; a different key, different numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesvol  # noqa: F401  (float64)
from bayesvol.errors import InputError
from bayesvol.filtering import factor_kalman_filter, factor_loglik
from bayesvol.filtering.rbpf import RbpfParams, rbpf_filter

N, K, T = 3, 2, 30
P = 100


def _params(vol: bool) -> RbpfParams:
    lam = np.array([[1.0, 0.0], [0.6, 0.8], [-0.5, 0.7]])
    return RbpfParams.diagonal(
        Lambda=jnp.asarray(lam), Phi_f=jnp.diag(jnp.array([0.4, -0.2])),
        mu_h=jnp.zeros(K), phi_h=jnp.array([0.95, 0.9]),
        sigma_h=jnp.array([0.4, 0.3]) * vol, mu_id=jnp.log(jnp.array([0.3, 0.5, 0.4])),
        phi_id=jnp.array([0.9, 0.95, 0.8]), sigma_id=jnp.array([0.3, 0.2, 0.25]) * vol)


def _phi_sigma_h(prm: RbpfParams) -> tuple[np.ndarray, np.ndarray]:
    return np.diagonal(np.asarray(prm.Phi_h)), np.diagonal(np.asarray(prm.L_Qh))


def _data(seed: int, length: int) -> np.ndarray:
    """Returns simulated from the model of ``_params(vol=True)``, with one missing return and
    one date with every asset missing."""
    prm = _params(vol=True)
    lam, phi_f = np.asarray(prm.Lambda), np.diag(np.asarray(prm.Phi_f))
    rng = np.random.default_rng(seed)
    phi_h, sigma_h = _phi_sigma_h(prm)
    h = sigma_h / np.sqrt(1 - phi_h**2) * rng.normal(size=K)
    h_id = np.asarray(prm.mu_id) + (np.asarray(prm.sigma_id)
                                    / np.sqrt(1 - np.asarray(prm.phi_id) ** 2)
                                    * rng.normal(size=N))
    f = np.sqrt(np.exp(h) / (1 - phi_f**2)) * rng.normal(size=K)
    y = np.empty((length, N))
    for t in range(length):
        if t:
            h = phi_h * h + sigma_h * rng.normal(size=K)
            h_id = (np.asarray(prm.mu_id) + np.asarray(prm.phi_id) * (h_id - np.asarray(prm.mu_id))
                    + np.asarray(prm.sigma_id) * rng.normal(size=N))
        f = phi_f * f + np.exp(h / 2) * rng.normal(size=K)
        y[t] = lam @ f + np.exp(h_id / 2) * rng.normal(size=N)
    y[4, 1] = np.nan      # one missing return
    y[7, :] = np.nan      # a date with every asset missing
    return y


@pytest.fixture(scope="module")
def const_case():
    prm = _params(vol=False)
    y = _data(0, 2 * T)
    mask = np.isfinite(y)
    h = np.zeros((2 * T, K))
    h_id = np.broadcast_to(np.asarray(prm.mu_id), (2 * T, N))
    phi_f = np.diag(np.asarray(prm.Phi_f))
    P0 = np.diag(1.0 / (1.0 - phi_f**2))       # the model's start: diag(exp(h_1) / (1 - phi^2))
    kf = factor_kalman_filter(y, mask, prm.Lambda, prm.Phi_f, h, h_id, None, P0)
    return prm, y, mask, kf


def test_constant_volatility_matches_kalman(const_case):
    prm, y, mask, kf = const_case
    res = rbpf_filter(jax.random.key(0), prm, y[:T], mask[:T], n_particles=P, marginals=True)
    np.testing.assert_allclose(np.asarray(res.loglik_t), np.asarray(kf.loglik_t[:T]),
                               rtol=1e-10, atol=1e-10)
    assert float(res.loglik_t[7]) == 0.0                      # all missing: no information
    # per-asset marginals: N(y_ti; (Lambda m_pred)_i, (Lambda P_pred Lambda^T + D)_ii)
    lam = np.asarray(prm.Lambda)
    mean = np.asarray(kf.pred_means[:T]) @ lam.T
    var = (np.einsum("ik,tkl,il->ti", lam, np.asarray(kf.pred_covs[:T]), lam)
           + np.exp(np.asarray(prm.mu_id)))
    want = -0.5 * (np.log(2 * np.pi * var) + (y[:T] - mean) ** 2 / var)
    got = np.asarray(res.marginal_t)
    assert np.all(np.isnan(got[~mask[:T]]))
    np.testing.assert_allclose(got[mask[:T]], want[mask[:T]], rtol=1e-10, atol=1e-10)
    # continuing from the final cloud through the next T dates adds up to the exact
    # likelihood of all 2T dates
    more = rbpf_filter(jax.random.key(1), prm, y[T:], mask[T:], state=res.state,
                       marginals=True)
    ll_exact = float(factor_loglik(y, mask, prm.Lambda, prm.Phi_f, np.zeros((2 * T, K)),
                                   np.broadcast_to(np.asarray(prm.mu_id), (2 * T, N)), None,
                                   np.asarray(kf.P0)))
    assert abs(float(res.loglik + more.loglik) - ll_exact) < 1e-8 * abs(ll_exact)


def test_stochastic_volatility_mean_agrees_with_many_particles():
    prm = _params(vol=True)
    y = _data(1, T)
    lls = np.array([float(rbpf_filter(jax.random.key(s), prm, y, n_particles=P,
                                      marginals=True).loglik) for s in range(12)])
    ref = rbpf_filter(jax.random.key(99), prm, y, n_particles=4000, resample="always",
                      marginals=True)
    sd = lls.std(ddof=1)
    assert 0.0 < sd < 2.0                                       # noisy, but not degenerate
    # E[log p^] ~ log p - Var/2 (log-normal error; Pitt, Silva, Giordani & Kohn 2012); the
    # reference's own error is about sd / sqrt(40)
    corrected = lls.mean() + 0.5 * sd**2
    tol = 4.0 * sd / np.sqrt(len(lls)) + 4.0 * sd / np.sqrt(40.0)
    assert abs(corrected - float(ref.loglik)) < tol, (lls, float(ref.loglik))
    assert bool(jnp.all(ref.resampled))
    assert np.all(np.asarray(ref.ess) <= 4000 + 1e-6)


def test_same_key_same_numbers_and_input_errors():
    prm = _params(vol=True)
    y = _data(1, T)
    a = rbpf_filter(jax.random.key(5), prm, y, n_particles=P, marginals=True)
    b = rbpf_filter(jax.random.key(5), prm, y, n_particles=P, marginals=True)
    c = rbpf_filter(jax.random.key(6), prm, y, n_particles=P, marginals=True)
    np.testing.assert_array_equal(np.asarray(a.loglik_t), np.asarray(b.loglik_t))
    np.testing.assert_array_equal(np.asarray(a.state.h), np.asarray(b.state.h))
    assert float(a.loglik) != float(c.loglik)
    with pytest.raises(InputError):
        rbpf_filter(jax.random.key(0), prm, y[:, :2])
    with pytest.raises(InputError):
        rbpf_filter(jax.random.key(0), prm, y, resample="sometimes")
