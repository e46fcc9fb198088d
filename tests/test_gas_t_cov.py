"""The multivariate Student-t GAS covariance model (gas-t-cov) and the system-model fitter:
density against scipy, the angle maps, score and information against finite differences and
Monte Carlo, targeting, parameter recovery, SystemFit save/load, scores, the CLI."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_t

import bayesvol as bv
from bayesvol.cli import main
from bayesvol.data import as_panel
from bayesvol.errors import InputError
from bayesvol.models import hyperspherical as hs
from bayesvol.models.gas_t_cov import (
    GasTCovModel,
    sample_mvt,
    trunc_normal_from_std,
    trunc_normal_logpdf,
)
from bayesvol.results_system import SystemFit
from bayesvol.simulate.gas_t_cov import simulate_gas_t_cov

K = 3
TRUTH = {"a_D": 0.08, "b_D": 0.95, "a_phi": 0.05, "b_phi": 0.95, "nu_bar": 0.15}


def _f(seed=0, k=K):
    rng = np.random.default_rng(seed)
    m = hs.n_angles(k)
    return jnp.asarray(np.concatenate([rng.normal(-1.0, 0.5, k), rng.uniform(0.4, 2.7, m)]))


# ---------------------------------------------------------------------- density and maps
def test_density_matches_scipy_multivariate_t():
    rng = np.random.default_rng(1)
    for nb in (0.05, 0.2, 0.4):
        f = _f(int(nb * 100))
        sigma = np.asarray(hs.covariance(f, K))
        y = rng.normal(size=K) * 0.7
        ref = multivariate_t(np.zeros(K), sigma * (1 - 2 * nb), df=1 / nb).logpdf(y)
        assert float(hs.mvt_logpdf(jnp.asarray(y), f, nb)) == pytest.approx(ref, abs=1e-10)
        ll, _ = hs.scaled_score(jnp.asarray(y), f, nb)
        assert float(ll) == pytest.approx(ref, abs=1e-10)


def test_angles_give_a_correlation_matrix_and_invert():
    for k in (2, 3, 5):
        phi = _f(k, k)[k:]
        R = np.asarray(hs.angles_to_corr(phi, k))
        assert np.allclose(np.diag(R), 1.0) and np.allclose(R, R.T)
        assert np.all(np.linalg.eigvalsh(R) > 0) and np.all(np.abs(R) <= 1.0 + 1e-12)
        assert np.allclose(hs.corr_to_angles(R), phi, atol=1e-10)
    # documented ordering: column by column (phi_12, phi_13, phi_23); R_12 = cos(phi_12)
    phi = jnp.asarray([0.3, 1.0, 2.0])
    R = np.asarray(hs.angles_to_corr(phi, 3))
    assert hs.angle_pairs(3) == [(0, 1), (0, 2), (1, 2)]
    assert R[0, 1] == pytest.approx(np.cos(0.3)) and R[0, 2] == pytest.approx(np.cos(1.0))


def test_score_matches_finite_differences_and_information_the_printed_formula():
    rng = np.random.default_rng(2)
    f, nb = _f(3), 0.12
    y = jnp.asarray(rng.normal(size=K))
    _, nabla, info = hs.score_and_information(y, f, nb)
    eps = 1e-6
    shifts = eps * jnp.eye(f.size)
    logpdf = jax.jit(jax.vmap(lambda ff: hs.mvt_logpdf(y, ff, nb)))
    fd = np.asarray(logpdf(f + shifts) - logpdf(f - shifts)) / (2 * eps)
    assert np.allclose(nabla, fd, atol=1e-7)
    # the Kronecker form with J'J = Sigma^{-1} (erratum E21), and the closed-form s = I^{-1} nabla
    assert np.allclose(info, hs.information_kron(f, nb, K), atol=1e-10)
    assert np.allclose(hs.scaled_score(y, f, nb)[1], np.linalg.solve(info, nabla), atol=1e-10)


def test_scaled_score_equals_the_information_solve_for_larger_systems():
    # the closed-form angle step (a cumulative sum down each column of X) for k up to 10
    rng = np.random.default_rng(5)
    for k in (4, 7, 10):
        f = jnp.asarray(np.concatenate([rng.normal(size=k) * 0.3,
                                        rng.uniform(0.5, 2.6, k * (k - 1) // 2)]))
        y = jnp.asarray(rng.normal(size=k))
        ll, nabla, info = hs.score_and_information(y, f, 0.1)
        s = hs.scaled_score(y, f, 0.1)
        assert float(s[0]) == pytest.approx(float(ll), abs=1e-10)
        assert np.allclose(s[1], np.linalg.solve(info, nabla), atol=1e-9)


def test_information_matches_monte_carlo_outer_product_of_scores():
    f, nb, n = _f(4), 0.1, 4000
    L = hs.chol_factor(f, K)

    @jax.jit
    def draws(key):
        ys = jax.vmap(lambda kk: sample_mvt(kk, L, nb))(jax.random.split(key, n))
        return jax.vmap(lambda y: hs.score_and_information(y, f, nb)[1])(ys)

    scores = np.asarray(draws(jax.random.PRNGKey(0)))
    info = np.asarray(hs.score_and_information(jnp.zeros(K), f, nb)[2])
    outer = scores[:, :, None] * scores[:, None, :]
    mc, se = outer.mean(0), outer.std(0) / np.sqrt(n)
    assert np.all(np.abs(mc - info) < 4.5 * se + 1e-3), np.max(np.abs(mc - info) / se)
    assert np.abs(scores.mean(0)).max() < 0.1  # E[nabla] = 0


def test_targeting_reproduces_the_sample_covariance():
    rng = np.random.default_rng(5)
    y = rng.standard_t(6, size=(300, K)) @ np.array([[1, 0.5, 0.2], [0, 1, 0.4], [0, 0, 1]])
    panel = as_panel(y.T)
    model = GasTCovModel().bind(panel)
    data = model.prepare(panel)
    sigma = np.asarray(hs.covariance(data.target[0], K))
    e = y - y.mean(0)
    assert np.allclose(sigma, e.T @ e / len(e), rtol=1e-10)


def test_priors_and_non_centred_truncated_normal():
    # the truncated normal normaliser (E4): the density integrates to 1 on (-1, 1)
    x = np.linspace(-1, 1, 20001)
    dens = np.exp(trunc_normal_logpdf(jnp.asarray(x), 0.95, 0.5))
    assert np.trapezoid(dens, x) == pytest.approx(1.0, abs=1e-6)
    # xi ~ N(0, 1) mapped by the inverse CDF is TN(mu, s^2; -1, 1)
    xi = jax.random.normal(jax.random.PRNGKey(3), (20000,))
    b = np.asarray(trunc_normal_from_std(xi, 0.9, 0.3))
    assert np.all(np.abs(b) < 1)
    from scipy.stats import truncnorm
    ref = truncnorm((-1 - 0.9) / 0.3, (1 - 0.9) / 0.3, loc=0.9, scale=0.3)
    assert b.mean() == pytest.approx(ref.mean(), abs=0.01)
    # constrain / unconstrain round trip and a finite log prior in every variant
    panel = as_panel(np.random.default_rng(0).normal(size=(K, 60)))
    for variant, centred, dim in (("full", False, 13), ("scalar", False, 9),
                                  ("hier", True, 17), ("hier", False, 17)):
        model = GasTCovModel(variant=variant, centred=centred).bind(panel)
        assert model.dim == dim == len(model.unconstrained_names)
        z = jnp.asarray(np.random.default_rng(1).normal(0, 0.5, dim))
        assert np.allclose(model.unconstrain(model.constrain(z)), z, atol=1e-8)
        assert np.isfinite(float(model.log_prior(z)))


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError, match="at least 2 assets"):
        bv.fit(np.random.default_rng(0).normal(size=(1, 100)), model="gas-t-cov")
    y = np.random.default_rng(0).normal(size=(K, 100))
    y[1, 50] = np.nan
    with pytest.raises(InputError, match="same dates"):
        bv.fit(y, model="gas-t-cov")
    with pytest.raises(InputError, match="unknown variant"):
        bv.fit(np.random.default_rng(0).normal(size=(K, 100)), model="gas-t-cov",
               variant="diag")


# --------------------------------------------------------------------- fits (one shared)
@pytest.fixture(scope="module")
def sim():
    return simulate_gas_t_cov(500, n_assets=K, seed=3, **TRUTH)


@pytest.fixture(scope="module")
def mle_fit(sim):
    return bv.fit(sim.to_frame().iloc[:450], model="gas-t-cov", method="mle",
                  variant="scalar", num_draws=200)


# the shared MLE fit (about 35 s of compilation) serves the next four tests
def test_simulated_parameters_are_recovered_by_mle(mle_fit):
    table = mle_fit.summary()
    est = table["mean"]
    assert est["nu_bar"] == pytest.approx(TRUTH["nu_bar"], abs=0.06)
    assert est["b_phi"] == pytest.approx(TRUTH["b_phi"], abs=0.06)
    assert est["a_phi"] == pytest.approx(TRUTH["a_phi"], abs=0.03)
    a_d = np.array([est[f"a_D[A0{i}]"] for i in (1, 2, 3)])
    assert np.all(np.abs(a_d - TRUTH["a_D"]) < 0.06), a_d
    assert list(table.columns) == ["mean", "sd", "q05", "q50", "q95"]


# the shared MLE fit (about 35 s of compilation) serves the next four tests
def test_covariance_paths_and_scores(mle_fit, sim):
    cov = mle_fit.covariance(num_draws=50)
    assert cov.dims == ("time", "asset", "asset2") and cov.shape == (450, K, K)
    c = cov.values
    assert np.allclose(c, np.swapaxes(c, 1, 2)) and np.all(np.linalg.eigvalsh(c) > 0)
    corr = mle_fit.correlation(num_draws=50).values
    assert np.allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0)
    # the filtered covariance tracks the simulated one
    err = np.abs(np.log(np.diagonal(c, axis1=1, axis2=2))
                 - np.log(np.diagonal(sim.sigma[:450], axis1=1, axis2=2)))
    assert np.median(err) < 0.35
    # one-step scores of the next dates continue the filter: equal to the full-data terms
    new = sim.to_frame().iloc[450:]
    scores = mle_fit.score(new, max_draws=1)
    frame = scores.to_frame()
    assert len(frame) == 50 and set(frame["asset"]) == {"__joint__"}
    model = mle_fit.model
    full = as_panel(sim.to_frame())
    data, pos = model.continued_data(mle_fit.input, full.slice_time(450, 500))
    z = mle_fit.flat_theta()[scores.draws[0]]
    terms = model.loglik_terms(jnp.asarray(z[0]), jax.tree_util.tree_map(lambda x: x[0], data))
    assert np.allclose(np.asarray(terms)[pos], frame["log_score"].to_numpy(), atol=1e-9)


# the shared MLE fit (about 35 s of compilation) serves the next four tests
def test_system_fit_save_load_round_trip(mle_fit, tmp_path):
    mle_fit.save(tmp_path / "fit")
    back = SystemFit.load(tmp_path / "fit")
    assert np.array_equal(back.theta, mle_fit.theta)
    assert np.array_equal(back.point, mle_fit.point)
    assert back.model == mle_fit.model and back.method == "mle"
    assert back.input == mle_fit.input and back.diagnostics == mle_fit.diagnostics
    assert back.summary().equals(mle_fit.summary())
    doc = json.loads((tmp_path / "fit" / "summary.json").read_text())
    assert doc["model"] == "gas-t-cov" and "b_phi" in doc["parameters"]
    ds = mle_fit.to_dataset()
    assert ds["a_D"].dims == ("chain", "draw", "a_D_dim") and "theta" in ds


# the shared MLE fit (about 35 s of compilation) serves the next four tests
def test_cli_fit_and_bad_option(sim, tmp_path, capsys):
    csv = tmp_path / "panel.csv"
    sim.to_frame().iloc[:450].to_csv(csv)
    out = tmp_path / "fit"
    assert main(["fit", str(csv), "--model", "gas-t-cov", "--variant", "scalar",
                 "--method", "mle", "--num-draws", "200", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "gas-t-cov" and summary["method"] == "mle"
    assert (out / "posterior.nc").exists()
    capsys.readouterr()
    assert main(["fit", str(csv), "--model", "gas-t-cov", "--variant", "bogus",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "unknown variant" in err and "\n" not in err
    new = tmp_path / "new.csv"
    sim.to_frame().iloc[450:].to_csv(new)
    assert main(["score", str(out), str(new), "--out", str(tmp_path / "s.csv"),
                 "--max-draws", "20"]) == 0
    # bayesvol forecast of a system fit: the predictive covariance per step, as the API's
    import pandas as pd

    from bayesvol.results_system import SystemFit

    fc = tmp_path / "fc.csv"
    assert main(["forecast", str(out), "--horizon", "3", "--seed", "4", "--out", str(fc)]) == 0
    got = pd.read_csv(fc)
    api = SystemFit.load(out).forecast_covariance(horizon=3, seed=4)
    k = sim.returns.shape[0]
    assert len(got) == 3 * k * k and set(got["step"]) == {1, 2, 3}
    np.testing.assert_allclose(got["covariance"].to_numpy().reshape(3, k, k), api.values,
                               rtol=1e-8)
    assert main(["forecast", str(out), "--horizon", "2", "--out", str(tmp_path / "f.json")]) == 0
    doc = json.loads((tmp_path / "f.json").read_text())
    assert abs(sum(doc["gmv_weights"].values()) - 1.0) < 1e-9


def test_hierarchical_variant_fits_end_to_end(sim):
    """RC-GAS-t (non-centred): the MAP fit runs, the angle parameters are the hierarchy's
    transform of the xi coordinates (a_phi = mu_a + sigma_a xi_a), and the hyper-means sit
    near the common truth (a_phi 0.05, b_phi 0.95 for every angle)."""
    fit = bv.fit(sim.to_frame(), model="gas-t-cov", variant="hier", method="map",
                 num_draws=200)
    table = fit.summary()
    assert {"mu_a_phi", "mu_b_phi", "sigma_a_phi", "sigma_b_phi"} <= set(table.index)
    assert abs(table.loc["mu_a_phi", "mean"] - TRUTH["a_phi"]) < 0.05
    assert 0.8 < table.loc["mu_b_phi", "mean"] < 1.0
    d = fit.natural_draws()
    xi = fit.flat_theta()[:, [i for i, n in enumerate(fit.model.unconstrained_names)
                            if n.startswith("xi_a_phi")]]
    np.testing.assert_allclose(d["a_phi"].reshape(xi.shape),
                               d["mu_a_phi"].reshape(-1, 1)
                               + d["sigma_a_phi"].reshape(-1, 1) * xi, rtol=1e-10)
    assert np.isfinite(fit.covariance(num_draws=20).values).all()


@pytest.mark.slow
def test_vi_and_nuts_recover_the_parameters(sim):
    frame = sim.to_frame()
    vi = bv.fit(frame, model="gas-t-cov", variant="scalar", num_draws=500)
    nuts = bv.fit(frame, model="gas-t-cov", variant="scalar", method="nuts",
                  num_warmup=300, num_samples=300, num_chains=1)
    for fit in (vi, nuts):
        table = fit.summary()
        for name in ("nu_bar", "a_phi", "b_phi"):
            assert table.loc[name, "q05"] - 0.02 < TRUTH[name] < table.loc[name, "q95"] + 0.02
