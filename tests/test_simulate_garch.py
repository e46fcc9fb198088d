"""GARCH(1,1) simulator (bayesvol.simulate.garch; SVI-GARCH paper 1.1-1.4)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bayesvol  # noqa: F401  (float64)
from bayesvol.errors import InputError
from bayesvol.simulate import simulate_garch


def recursion_residual(sim, omega, alpha, beta, mu):
    """Max relative gap between sigma2[t] and omega + alpha (y[t-1]-mu)^2 + beta sigma2[t-1]."""
    y, s = sim.returns, sim.sigma2
    omega, alpha, beta, mu = (np.asarray(v, dtype=float).reshape(-1, 1)
                              for v in (omega, alpha, beta, mu))
    want = omega + alpha * (y[:, :-1] - mu) ** 2 + beta * s[:, :-1]
    return float(np.max(np.abs(s[:, 1:] / want - 1.0)))


@pytest.mark.parametrize("dist, shape, T, tol", [
    ("normal", {}, 50_000, 0.04),
    ("t", {"nu": 8.0}, 10_000, 0.10),
    ("skewt", {"nu": 8.0, "xi": 0.8}, 10_000, 0.10),
])
def test_long_run_variance_and_mean(dist, shape, T, tol):
    # omega / (1 - alpha - beta) = 2; finite fourth moment, so the sample variance settles
    sim = simulate_garch(T, omega=0.1, alpha=0.05, beta=0.9, mu=0.3, dist=dist, n_assets=4,
                         seed=11, **shape)
    assert sim.returns.shape == sim.sigma2.shape == (4, T)
    assert np.var(sim.returns, axis=1).mean() == pytest.approx(2.0, rel=tol)
    assert np.mean(sim.sigma2) == pytest.approx(2.0, rel=tol)
    assert sim.returns.mean() == pytest.approx(0.3, abs=0.02)
    # the innovations are unit-variance and the variance path is not constant
    assert np.var(sim.eps) == pytest.approx(1.0, abs=0.03)
    assert np.std(np.log(sim.sigma2)) > 0.1


@pytest.mark.parametrize("dist", ["normal", "t", "skewt"])
def test_sigma2_path_obeys_the_recursion_exactly(dist):
    sim = simulate_garch(500, omega=0.05, alpha=0.1, beta=0.85, dist=dist, nu=5.0, xi=1.3,
                         mu=0.1, n_assets=3, seed=2)
    assert recursion_residual(sim, 0.05, 0.1, 0.85, 0.1) < 1e-12
    np.testing.assert_allclose(sim.returns, 0.1 + np.sqrt(sim.sigma2) * sim.eps, rtol=1e-12,
                               atol=1e-14)
    # a wrong parameter does not pass: the check has power
    assert recursion_residual(sim, 0.05, 0.11, 0.85, 0.1) > 1e-3


def test_start_value_without_burn_in():
    sim = simulate_garch(10, omega=0.2, alpha=0.1, beta=0.8, burn=0)
    assert sim.sigma2[0, 0] == pytest.approx(0.2 / 0.1, rel=1e-14)
    sim = simulate_garch(10, sigma2_0=5.0, burn=0)
    assert sim.sigma2[0, 0] == 5.0
    assert sim.truth["sigma2_0"] == 5.0


def test_per_asset_parameter_arrays():
    omega, alpha, beta = [0.1, 0.2, 0.3], 0.1, np.array([0.8, 0.5, 0.0])
    sim = simulate_garch(400, omega=omega, alpha=alpha, beta=beta, dist="t", nu=[5.0, 6.0, 30.0],
                         seed=4)
    assert sim.returns.shape == (3, 400)
    assert recursion_residual(sim, omega, alpha, beta, 0.0) < 1e-12
    p = sim.truth["params"]
    assert p["omega"] == omega and p["beta"] == beta.tolist() and p["alpha"] == 0.1
    assert p["nu"] == [5.0, 6.0, 30.0] and "xi" not in p
    assert sim.assets == ("A01", "A02", "A03")
    assert simulate_garch(50, omega=[0.1, 0.2], n_assets=2).returns.shape == (2, 50)
    with pytest.raises(InputError, match="length 2"):
        simulate_garch(50, omega=[0.1, 0.2, 0.3], n_assets=2)


def test_deterministic_by_seed_and_assets_independent():
    a = simulate_garch(300, dist="skewt", n_assets=2, seed=7)
    b = simulate_garch(300, dist="skewt", n_assets=2, seed=7)
    c = simulate_garch(300, dist="skewt", n_assets=2, seed=8)
    assert np.array_equal(a.returns, b.returns) and np.array_equal(a.sigma2, b.sigma2)
    assert not np.allclose(a.returns, c.returns)
    assert not np.allclose(a.returns[0], a.returns[1])


def test_truth_dict_and_frame():
    sim = simulate_garch(20, dist="sstd", seed=3)
    truth = json.loads(json.dumps(sim.truth, allow_nan=False))
    assert truth["model"] == "garch" and truth["dist"] == "skewt" and truth["seed"] == 3
    assert truth["params"] == {"omega": 0.1, "alpha": 0.2, "beta": 0.75, "nu": 4.0, "xi": 0.8,
                               "mu": 0.0}
    assert np.allclose(truth["sigma2"], sim.sigma2)
    frame = sim.to_frame()
    assert frame.index.name == "date" and list(frame.columns) == ["A01"]
    assert str(frame.index[0].date()) == "2000-01-03" and frame.index[5].day_of_week == 0
    assert np.array_equal(frame["A01"].to_numpy(), sim.returns[0])
    assert "nu" not in simulate_garch(20).truth["params"]  # normal: no shape parameters


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 0.3, "beta": 0.7}, "alpha \\+ beta = 1 >= 1"),
    ({"alpha": [0.1, 0.3], "beta": 0.75}, "not stationary"),
    ({"omega": 0.0}, "omega must be > 0"),
    ({"alpha": -0.1}, "alpha must be >= 0"),
    ({"beta": -0.1}, "beta must be >= 0"),
    ({"dist": "t", "nu": 2.0}, "nu must be > 2"),
    ({"dist": "skewt", "xi": 0.0}, "xi must be > 0"),
    ({"dist": "cauchy"}, "unknown distribution"),
    ({"omega": float("nan")}, "finite"),
    ({"sigma2_0": -1.0}, "sigma2_0 must be > 0"),
    ({"T": 0}, "T must be >= 1"),
    ({"n_assets": 0}, "n_assets must be >= 1"),
])
def test_refusals(kwargs, message):
    kwargs = {"T": 10, **kwargs}
    with pytest.raises(ValueError, match=message) as err:
        simulate_garch(**kwargs)
    assert isinstance(err.value, InputError) and "\n" not in str(err.value)


def test_shape_parameters_of_other_laws_are_ignored():
    assert simulate_garch(10, dist="normal", nu=1.0, xi=-1.0).returns.shape == (1, 10)
