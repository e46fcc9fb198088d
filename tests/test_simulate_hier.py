"""Pooled AR(1)-GARCH(1,1)-t panel simulator (bayesvol.simulate.hier_garch; README hier-GARCH)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import bayesvol  # noqa: F401  (float64)
from bayesvol.errors import InputError
from bayesvol.simulate import DEFAULT_HYPER, simulate_hier_garch

N, T = 30, 400


@pytest.fixture(scope="module")
def sim():
    return simulate_hier_garch(N, T, seed=1)


def test_shapes_and_names(sim):
    for a in (sim.returns, sim.sigma2, sim.mask):
        assert a.shape == (N, T)
    assert sim.first.shape == sim.last.shape == (N,)
    assert sim.assets[0] == "A01" and sim.assets[-1] == "A30" and len(sim.dates) == T
    assert set(sim.params) == {"omega", "alpha", "beta", "phi", "nu", "persistence",
                               "alpha_share"}
    assert all(v.shape == (N,) for v in sim.params.values())


def test_nan_exactly_outside_each_window(sim):
    t = np.arange(T)
    inside = (t >= sim.first[:, None]) & (t <= sim.last[:, None])
    assert np.array_equal(sim.mask, inside)
    assert np.all(np.isfinite(sim.returns[inside])) and np.all(np.isnan(sim.returns[~inside]))
    assert np.all(sim.sigma2[inside] > 0) and np.all(np.isnan(sim.sigma2[~inside]))
    frame = sim.to_frame()
    assert np.array_equal(frame.notna().to_numpy().T, inside)


def test_ragged_windows(sim):
    min_length = max(50, T // 4)
    assert np.all((0 <= sim.first) & (sim.first <= sim.last) & (sim.last <= T - 1))
    assert np.all(sim.last - sim.first + 1 >= min_length)
    assert np.sum(sim.first > 0) == round(N / 3)  # about a third listed late
    assert np.sum(sim.last < T - 1) == round(N / 6)  # about a sixth delisted early
    assert sim.first[0] == 0 and sim.last[0] == T - 1  # the panel's first and last days have data
    assert len(set(sim.first[sim.first > 0].tolist())) > 5  # listing dates spread out


def test_min_length_and_unragged():
    s = simulate_hier_garch(12, 200, seed=5, min_length=150)
    assert np.all(s.last - s.first + 1 >= 150) and np.any(s.first > 0)
    s = simulate_hier_garch(6, 100, seed=5, ragged=False)
    assert np.all(s.first == 0) and np.all(s.last == 99) and np.all(np.isfinite(s.returns))
    with pytest.raises(InputError, match="min_length"):
        simulate_hier_garch(4, 100, min_length=101)


def test_per_asset_parameters_within_bounds(sim):
    p = sim.params
    assert np.all(p["omega"] > 0) and np.all(p["alpha"] > 0) and np.all(p["beta"] > 0)
    assert np.all(p["alpha"] + p["beta"] < 1)
    np.testing.assert_allclose(p["alpha"] + p["beta"], p["persistence"], rtol=1e-12)
    np.testing.assert_allclose(p["alpha"] / p["persistence"], p["alpha_share"], rtol=1e-12)
    assert np.all(np.abs(p["phi"]) < DEFAULT_HYPER["phi_bound"]) and np.all(p["nu"] > 2)


def test_parameters_follow_the_hyperparameters():
    # 400 assets: sample means of the per-asset draws match the pooling laws (5 standard errors)
    s = simulate_hier_garch(400, 20, seed=9, ragged=False, burn=0)
    p, n = s.params, 400
    assert abs(np.log(p["omega"]).mean() - math.log(0.05)) < 5 * 0.3 / math.sqrt(n)
    assert np.log(p["omega"]).std() == pytest.approx(0.3, rel=0.15)
    sd_p = math.sqrt(0.95 * 0.05 / 51)  # Beta by mean m, concentration c: var = m(1-m)/(c+1)
    assert abs(p["persistence"].mean() - 0.95) < 5 * sd_p / math.sqrt(n)
    sd_a = math.sqrt(0.1 * 0.9 / 41)
    assert abs(p["alpha_share"].mean() - 0.1) < 5 * sd_a / math.sqrt(n)
    assert abs(p["phi"].mean()) < 5 * 0.05 / math.sqrt(n)
    assert abs(np.log(p["nu"] - 2).mean() - math.log(6)) < 5 * 0.3 / math.sqrt(n)


def test_hyper_override_and_refusals():
    s = simulate_hier_garch(50, 30, seed=2, hyper={"phi_loc": 0.5, "phi_scale": 0.01})
    assert s.params["phi"].mean() == pytest.approx(0.5, abs=0.01)
    assert s.truth["hyper"]["phi_loc"] == 0.5
    with pytest.raises(InputError, match="unknown hyperparameter"):
        simulate_hier_garch(3, 30, hyper={"omega_mu": 1.0})
    with pytest.raises(InputError, match="persistence_mean"):
        simulate_hier_garch(3, 30, hyper={"persistence_mean": 1.0})


def test_ar1_garch_recursion_inside_the_window(sim):
    p = sim.params
    for i in range(N):
        a, b = sim.first[i], sim.last[i]
        y, s = sim.returns[i, a:b + 1], sim.sigma2[i, a:b + 1]
        e = y[1:] - p["phi"][i] * y[:-1]
        want = p["omega"][i] + p["alpha"][i] * e[:-1] ** 2 + p["beta"][i] * s[1:-1]
        np.testing.assert_allclose(s[2:], want, rtol=1e-11)


def test_standardised_residuals_are_unit_variance_t(sim):
    p = sim.params
    z = [(sim.returns[i, 1:] - p["phi"][i] * sim.returns[i, :-1]) / np.sqrt(sim.sigma2[i, 1:])
         for i in range(N)]
    z = np.concatenate([v[np.isfinite(v)] for v in z])
    assert np.var(z) == pytest.approx(1.0, abs=0.05)
    assert np.mean(z**4) / np.var(z) ** 2 > 3.2  # heavier tails than normal


def test_deterministic_by_seed(sim):
    again = simulate_hier_garch(N, T, seed=1)
    assert np.array_equal(again.returns, sim.returns, equal_nan=True)
    assert np.array_equal(again.first, sim.first) and np.array_equal(again.last, sim.last)
    other = simulate_hier_garch(N, T, seed=2)
    assert not np.array_equal(other.returns, sim.returns, equal_nan=True)


def test_truth_is_json_ready(sim):
    truth = json.loads(json.dumps(sim.truth, allow_nan=False))
    assert truth["model"] == "hier-garch" and truth["dist"] == "t"
    assert truth["first"] == sim.first.tolist() and truth["last"] == sim.last.tolist()
    assert set(truth["hyper"]) == set(DEFAULT_HYPER)
    assert truth["params"]["nu"] == sim.params["nu"].tolist()
    i = int(np.argmax(sim.first))
    assert truth["sigma2"][i][0] is None and truth["sigma2"][i][-1] == sim.sigma2[i, -1]
