"""The DFSV Laplace filter (filtering/laplace_filter.py): exact Kalman when the log-variances
are constant, close to the unbiased particle filter otherwise, and it tracks the simulated
log-variances."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesvol.errors import InputError
from bayesvol.filtering.factor_kalman import factor_loglik
from bayesvol.filtering.laplace_filter import laplace_filter
from bayesvol.filtering.rbpf import RbpfParams, rbpf_filter
from bayesvol.models.dfsv import DfsvModel
from bayesvol.simulate.dfsv import simulate_dfsv


@pytest.fixture(scope="module")
def case():
    sim = simulate_dfsv(4, 1, 300, idio="ar1", seed=2)
    model = DfsvModel(4, 1, "ar1", factor_ar=True)
    theta = jnp.asarray(model.unconstrain(sim.params))
    return sim, sim.to_frame().to_numpy(), RbpfParams.from_natural(model.constrain(theta))


def test_constant_log_variances_give_the_exact_kalman_likelihood(case):
    _, y, prm = case
    tiny = prm._replace(L_Qh=1e-5 * jnp.eye(1), L_Gh=1e-5 * jnp.eye(1),
                        sigma_id=jnp.full_like(prm.sigma_id, 1e-5))
    T, N = y.shape
    exact = factor_loglik(jnp.asarray(y), None, tiny.Lambda, tiny.Phi_f,
                          jnp.broadcast_to(tiny.mu_h, (T, 1)), jnp.broadcast_to(tiny.mu_id, (T, N)),
                          jnp.zeros(1), jnp.diag(jnp.exp(tiny.mu_h)
                                                 / (1 - jnp.diagonal(tiny.Phi_f) ** 2)))
    res = laplace_filter(tiny, y)
    assert abs(float(res.loglik) - float(exact)) < 1e-4 * abs(float(exact))


def test_close_to_the_particle_filter_and_tracks_the_truth(case):
    """Measured: Laplace -1287.73, particle filter (5000 particles) -1286.9 to -1287.3."""
    sim, y, prm = case
    res = laplace_filter(prm, y)
    pf = np.mean([float(rbpf_filter(jax.random.key(i), prm, y, n_particles=2000).loglik)
                  for i in range(2)])
    assert abs(float(res.loglik) - pf) < 3.0, (float(res.loglik), pf)
    assert float(jnp.max(res.grad_norm)) < 1e-4  # every Newton update reached its mode
    assert np.corrcoef(np.asarray(res.h[:, 0]), sim.h[:, 0])[0, 1] > 0.35
    assert np.all(np.asarray(res.h_sd) > 0) and np.all(np.isfinite(np.asarray(res.f)))


def test_missing_returns_and_bad_input(case):
    _, y, prm = case
    y2 = y.copy()
    y2[10:20, 1] = np.nan
    res = laplace_filter(prm, y2)
    assert np.isfinite(float(res.loglik)) and float(res.loglik) > float(
        laplace_filter(prm, y).loglik)  # fewer observations, higher log density here
    with pytest.raises(InputError, match="N=4"):
        laplace_filter(prm, y[:, :2])
    with pytest.raises(InputError, match="newton_steps"):
        laplace_filter(prm, y, newton_steps=0)
