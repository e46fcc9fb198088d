"""Dynamic factor SV simulator and the FSV preset (bayesvol.simulate.dfsv; DFSV model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.linalg import solve_discrete_lyapunov

import bayesvol  # noqa: F401  (float64)
from bayesvol.errors import InputError
from bayesvol.simulate import fsv_preset, simulate_dfsv, spectral_radius


def test_shapes_defaults_and_covariance_path():
    sim = simulate_dfsv(6, 2, 300, seed=3)
    assert sim.returns.shape == (6, 300) and sim.factors.shape == sim.h.shape == (300, 2)
    assert sim.h_id.shape == (300, 6) and sim.cov.shape == (300, 6, 6)
    L = sim.params["Lambda"]
    assert np.all(np.triu(L, 1) == 0) and np.all(np.diag(L) > 0)
    loadings = np.abs(L[np.tril_indices(6, 0, 2)])
    assert np.all((loadings >= 0.5) & (loadings <= 1.0))
    assert spectral_radius(sim.params["Phi_f"]) < 1 and spectral_radius(sim.params["Phi_h"]) < 1
    # Cov_t = Lambda diag(exp(h_t)) Lambda^T + diag(exp(h_id_t))
    t = 123
    want = L @ np.diag(np.exp(sim.h[t])) @ L.T + np.diag(np.exp(sim.h_id[t]))
    np.testing.assert_allclose(sim.cov[t], want, rtol=1e-13)
    assert np.all(np.linalg.eigvalsh(sim.cov) > 0)
    # constant idiosyncratic variances by default
    np.testing.assert_array_equal(sim.h_id, np.broadcast_to(np.log(sim.params["sigma2"]),
                                                            (300, 6)))
    assert sim.to_frame().shape == (300, 6)


def test_sample_covariance_matches_the_implied_unconditional_covariance():
    # known Lambda, constant vols (Q_h = 0, h stays at mu), a VAR(1) for the factors
    L = np.array([[1.0, 0.0], [0.6, 0.8], [-0.5, 0.7], [0.9, -0.4]])
    Phi_f = np.array([[0.5, 0.2], [0.0, -0.3]])
    mu = np.log([1.0, 0.5])
    sigma2 = np.array([0.3, 0.2, 0.5, 0.4])
    sim = simulate_dfsv(4, 2, 60_000, Lambda=L, Phi_f=Phi_f, mu=mu, Phi_h=0.5, Q_h=0.0,
                        sigma2=sigma2, seed=5)
    np.testing.assert_array_equal(sim.h, np.broadcast_to(mu, sim.h.shape))
    P = solve_discrete_lyapunov(Phi_f, np.diag(np.exp(mu)))  # stationary Var(f_t)
    implied = L @ P @ L.T + np.diag(sigma2)
    r = sim.returns
    np.testing.assert_allclose(np.cov(r), implied, atol=0.05)
    # lag-1 autocovariance Cov(r_t, r_{t-1}) = Lambda Phi_f P Lambda^T: checks Phi_f's orientation
    lag1 = (r[:, 1:] - r.mean(1, keepdims=True)) @ (r[:, :-1] - r.mean(1, keepdims=True)).T
    np.testing.assert_allclose(lag1 / (r.shape[1] - 1), L @ Phi_f @ P @ L.T, atol=0.05)
    wrong = L @ Phi_f.T @ P @ L.T
    assert np.max(np.abs(lag1 / (r.shape[1] - 1) - wrong)) > 0.15


def test_log_volatility_var_and_idiosyncratic_ar1():
    Phi_h = np.array([[0.9, 0.05], [-0.1, 0.8]])
    Q_h = np.array([[0.04, 0.01], [0.01, 0.02]])
    mu = np.array([0.2, -0.5])
    sim = simulate_dfsv(3, 2, 20_000, Phi_h=Phi_h, Q_h=Q_h, mu=mu, idio="ar1",
                        mu_id=[-1.0, 0.0, 0.5], phi_id=[0.9, 0.5, 0.0], sigma_id=[0.2, 0.3, 0.1],
                        seed=8)
    x = sim.h - mu
    B = np.linalg.lstsq(x[:-1], x[1:], rcond=None)[0].T  # OLS of h_t - mu on h_{t-1} - mu
    np.testing.assert_allclose(B, Phi_h, atol=0.03)
    resid = x[1:] - x[:-1] @ Phi_h.T
    np.testing.assert_allclose(np.cov(resid.T), Q_h, rtol=0.08, atol=1e-3)
    assert sim.h.mean(0) == pytest.approx(mu, abs=0.05)
    hid = sim.h_id
    assert hid.mean(0) == pytest.approx([-1.0, 0.0, 0.5], abs=0.07)
    assert hid.var(0) == pytest.approx(np.array([0.2, 0.3, 0.1]) ** 2
                                       / (1 - np.array([0.9, 0.5, 0.0]) ** 2), rel=0.1)
    rho = [np.corrcoef(hid[1:, i], hid[:-1, i])[0, 1] for i in range(3)]
    assert rho == pytest.approx([0.9, 0.5, 0.0], abs=0.03)
    # returns have the conditional covariance: standardised by Cov_t they are white
    z = np.stack([np.linalg.solve(np.linalg.cholesky(sim.cov[t]),
                                  sim.returns[:, t] - sim.params["Lambda"]
                                  @ sim.params["Phi_f"] @ sim.factors[t - 1])
                  for t in range(1, 2000)])
    np.testing.assert_allclose(np.cov(z.T), np.eye(3), atol=0.1)


@pytest.mark.parametrize("kwargs, message", [
    ({"Phi_f": [[1.0, 0.5], [0.0, 0.5]]}, "Phi_f has spectral radius 1 >= 1"),
    ({"Phi_f": [[0.0, 1.2], [1.2, 0.0]]}, "Phi_f has spectral radius 1.2 >= 1"),
    ({"Phi_h": 1.01}, "Phi_h has spectral radius 1.01"),
    ({"Q_h": [[0.1, 0.2], [0.2, 0.1]]}, "not positive semi-definite"),
    ({"Q_h": [[0.1, 0.05], [0.0, 0.1]]}, "symmetric"),
    ({"Lambda": np.ones((3, 2))}, "Lambda must have shape \\(4, 2\\)"),
    ({"Phi_f": np.eye(3) * 0.5}, "Phi_f must be"),
    ({"mu": [0.0, 0.0, 0.0]}, "mu must be"),
    ({"sigma2": [0.1, 0.2, -0.1, 0.3]}, "sigma2"),
    ({"idio": "ar1", "phi_id": 1.0}, "phi_id has spectral radius"),
    ({"idio": "ar1", "sigma_id": -0.1}, "sigma_id"),
    ({"idio": "garch"}, "idio must be"),
    ({"phi_id": 0.5}, "apply only to idio='ar1'"),
    ({"K": 5}, "K <= N"),
])
def test_refusals(kwargs, message):
    kwargs = {"N": 4, "K": 2, "T": 10, **kwargs}
    with pytest.raises(ValueError, match=message) as err:
        simulate_dfsv(**kwargs)
    assert isinstance(err.value, InputError)


def test_non_normal_but_stationary_phi_is_accepted():
    # spectral radius 0.5 although the matrix norm exceeds 1: stationarity is about eigenvalues
    sim = simulate_dfsv(3, 2, 50, Phi_f=[[0.5, 2.0], [0.0, 0.5]], seed=1)
    assert np.all(np.isfinite(sim.returns))


def test_fsv_preset_structure():
    sim = fsv_preset(8, 3, 200, seed=4)
    p = sim.params
    L = p["Lambda"]
    assert L.shape == (8, 3) and np.all(np.triu(L, 1) == 0) and np.all(np.diag(L) > 0)
    assert np.all(p["Phi_f"] == 0) and np.all(p["mu"] == 0)
    for M in (p["Phi_h"], p["Q_h"]):
        assert np.all(M == np.diag(np.diag(M)))
    assert np.all((np.diag(p["Phi_h"]) > 0) & (np.diag(p["Phi_h"]) < 1))
    f = sim.truth["fsv_params"]
    assert sim.truth["model"] == "fsv" and sim.truth["idio"] == "ar1"
    np.testing.assert_allclose(np.square(f["tau_f"]), np.diag(p["Q_h"]))
    np.testing.assert_allclose(f["phi_f"], np.diag(p["Phi_h"]))
    np.testing.assert_allclose(f["kappa_eps"], p["mu_id"])
    np.testing.assert_allclose(f["tau_eps"], p["sigma_id"])
    np.testing.assert_allclose(f["beta"], L)
    assert np.std(sim.h_id, axis=0).min() > 0  # idiosyncratic log-vols move


def test_deterministic_and_json_ready():
    a, b = simulate_dfsv(5, 2, 100, seed=6), simulate_dfsv(5, 2, 100, seed=6)
    assert np.array_equal(a.returns, b.returns) and np.array_equal(a.h, b.h)
    assert not np.array_equal(a.returns, simulate_dfsv(5, 2, 100, seed=7).returns)
    # giving one parameter leaves the other default draws unchanged
    c = simulate_dfsv(5, 2, 100, seed=6, Phi_f=a.params["Phi_f"] * 0.5)
    np.testing.assert_array_equal(c.params["Lambda"], a.params["Lambda"])
    truth = json.loads(json.dumps(a.truth, allow_nan=False))
    assert truth["model"] == "dfsv" and np.allclose(truth["params"]["Lambda"], a.params["Lambda"])
    assert np.allclose(truth["h"], a.h) and np.allclose(truth["factors"], a.factors)


def test_cli_simulates_student_t_factor_panels(tmp_path):
    from bayesvol.cli import main

    out, truth = tmp_path / "r.csv", tmp_path / "t.json"
    assert main(["simulate", "fsv", "--assets", "3", "--factors", "1", "--T", "200",
                 "--dist", "t", "--out", str(out), "--truth", str(truth)]) == 0
    doc = json.loads(truth.read_text())
    assert doc["params"]["nu_f"] == [8.0] and len(doc["params"]["nu_id"]) == 3
    W = np.asarray(doc["W_id"])
    assert W.shape == (200, 3) and np.all(W > 0)
    assert main(["simulate", "dfsv", "--dist", "skewt", "--out", str(tmp_path / "x.csv")]) == 2
