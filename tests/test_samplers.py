"""The MCMC toolbox (bayesvol.inference.mcmc): NUTS, static HMC, adaptive RW-MH, AdMit
independence MH and griddy Gibbs on a correlated Gaussian (mean and covariance within Monte
Carlo error bounds from each run's ESS) and on a GARCH(1,1)-normal series (each method's
posterior means within 0.3 NUTS posterior sd of NUTS's); the diagnostics on known cases;
fits through ``bv.fit``/the CLI, saved and loaded; failures reported, not returned.

Kept fast: small draw counts, one run per sampler shared by the checks (module fixtures).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesvol as bv
from bayesvol.cli import main
from bayesvol.inference.mcmc import SAMPLERS, SamplerFailure, sample
from bayesvol.inference.mcmc import diagnostics as dg
from bayesvol.simulate import simulate_garch

MU = np.array([1.0, -2.0, 0.5])
COV = np.array([[1.0, 0.8, 0.3], [0.8, 2.0, 0.5], [0.3, 0.5, 0.5]])
PREC = np.linalg.inv(COV)


def gaussian(z):
    r = z - jnp.asarray(MU)
    return -0.5 * r @ jnp.asarray(PREC) @ r


@pytest.fixture(scope="module")
def gauss_runs():
    """One run per sampler on the 3-d Gaussian, started away from the mean."""
    out = {}
    for i, m in enumerate(SAMPLERS):
        extra = {"cov0": COV} if m in ("admit", "griddy") else {}
        z0 = MU if m in ("admit", "griddy") else np.zeros(3)  # these two start at the mode
        out[m] = sample(m, gaussian, z0, jax.random.PRNGKey(i), num_warmup=300,
                        num_samples=1000, num_chains=2, **extra)
    return out


@pytest.mark.parametrize("method", SAMPLERS)
def test_gaussian_mean_and_covariance_within_mc_error(gauss_runs, method):
    out = gauss_runs[method]
    assert out.z.shape == (2, 1000, 3) and not out.failed
    ess = np.asarray(out.diagnostics["ess"])
    assert np.all(ess > 100), ess
    z = out.z.reshape(-1, 3)
    sd = np.sqrt(np.diag(COV))
    assert np.all(np.abs(z.mean(0) - MU) < 4.0 * sd / np.sqrt(ess)), (z.mean(0), ess)
    # se of a covariance entry: sqrt((S_ii S_jj + S_ij^2) / n_eff)
    se = np.sqrt((np.outer(np.diag(COV), np.diag(COV)) + COV ** 2) / ess.min())
    assert np.all(np.abs(np.cov(z.T) - COV) < 4.0 * se), (np.cov(z.T), se)
    assert out.diagnostics["rhat_max"] < 1.05
    acc = out.diagnostics["acceptance_rate"]
    low, high = {"rwmh": (0.15, 0.4), "admit": (0.3, 0.9), "hmc": (0.5, 1.0),
                 "nuts": (0.5, 1.0), "griddy": (1.0, 1.0)}[method]
    assert low <= acc <= high, acc
    assert out.diagnostics["ess_per_s_min"] > 0


def test_tuning_records(gauss_runs):
    hmc = gauss_runs["hmc"].info
    assert hmc["divergences"] == 0 and 1 <= int(hmc["num_steps"]) <= 256
    # the final inverse mass matrix estimates the posterior covariance (from 2 x 50 draws)
    ratio = np.diag(hmc["inverse_mass_matrix"]) / np.diag(COV)
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio
    assert abs(float(gauss_runs["rwmh"].info["warmup_accept"][-1]) - 0.234) < 0.1
    assert int(gauss_runs["admit"].info["components"]) >= 1
    assert float(gauss_runs["griddy"].info["edge_mass_max"]) < 1e-3


def test_hmc_with_the_thesis_fixed_step_size_and_steps():
    """eps and L given (the thesis's final eps = 0.5, L = 4): only the mass matrix windows
    run, and sampling keeps exactly those values."""
    out = sample("hmc", gaussian, np.zeros(3), jax.random.PRNGKey(5), num_warmup=100,
                 num_samples=800, step_size=0.5, num_steps=4)
    assert int(out.info["num_steps"]) == 4
    assert float(out.info["step_size"]) == pytest.approx(0.5)
    ess = np.asarray(out.diagnostics["ess"])
    z = out.z.reshape(-1, 3)
    assert np.all(np.abs(z.mean(0) - MU) < 4.0 * np.sqrt(np.diag(COV) / ess))


def test_same_seed_same_numbers():
    a = sample("rwmh", gaussian, np.zeros(3), jax.random.PRNGKey(3), num_warmup=300,
               num_samples=1000)
    b = sample("rwmh", gaussian, np.zeros(3), jax.random.PRNGKey(3), num_warmup=300,
               num_samples=1000)
    c = sample("rwmh", gaussian, np.zeros(3), jax.random.PRNGKey(4), num_warmup=300,
               num_samples=1000)
    np.testing.assert_array_equal(a.z, b.z)
    assert not np.array_equal(a.z, c.z)


def test_failures_are_raised_not_returned():
    def nowhere(z):  # no point has positive density
        return -jnp.inf * jnp.sum(z ** 2 + 1.0)

    with pytest.raises(SamplerFailure, match="acceptance 0|non-finite"):
        sample("rwmh", nowhere, np.zeros(2), jax.random.PRNGKey(0), num_warmup=60,
               num_samples=50)
    out = sample("rwmh", nowhere, np.zeros(2), jax.random.PRNGKey(0), num_warmup=60,
                 num_samples=50, raise_on_failure=False)
    assert out.failed and out.failure


# ------------------------------------------------------------------------- diagnostics
def test_hpd_of_a_normal_is_the_central_interval_and_shorter_when_skewed():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, 40000)
    lo, hi = dg.hpd_interval(x, 0.9)
    q05, q95 = np.quantile(x, [0.05, 0.95])  # the central interval of the same draws
    assert abs(lo - q05) < 0.15 and abs(hi - q95) < 0.15, (lo, hi, q05, q95)
    assert abs((hi - lo) / (q95 - q05) - 1.0) < 0.01
    assert lo == pytest.approx(2.0 - 1.6449 * 3.0, abs=0.25)
    e = rng.exponential(1.0, 40000)  # HPD of Exp(1): [0, -log(0.1)]
    lo, hi = dg.hpd_interval(e, 0.9)
    assert lo < 0.01 and hi == pytest.approx(np.log(10.0), abs=0.05)
    both = dg.hpd_interval(np.stack([x, e], axis=1), 0.9)
    assert both.shape == (2, 2) and both[1, 0] < 0.01
    paths = rng.normal(size=(4000, 6)) * np.arange(1, 7)  # sd grows along "time"
    band = dg.hpd_band(paths, 0.95)
    assert band.shape == (6, 2)
    np.testing.assert_allclose(band[:, 1], 1.96 * np.arange(1, 7), rtol=0.08)


def test_geweke_ess_and_rhat_on_known_chains():
    rng = np.random.default_rng(1)
    iid = rng.normal(size=(2, 2000, 3))
    g = dg.geweke(iid)
    assert g.shape == (2, 3) and np.all(np.abs(g) < 3.5)
    drift = iid.copy()
    drift[:, :200] += 1.0  # the first 10% sit one sd away
    assert np.all(np.abs(dg.geweke(drift)) > 4.0)
    assert np.all(np.abs(dg.ess(iid) / 4000 - 1.0) < 0.2)
    ar = np.zeros((2, 4000, 1))
    for t in range(1, 4000):
        ar[:, t] = 0.9 * ar[:, t - 1] + rng.normal(size=(2, 1))
    expected = 8000 * 0.1 / 1.9  # n (1 - rho) / (1 + rho)
    assert abs(dg.ess(ar)[0] / expected - 1.0) < 0.35
    assert dg.rhat(iid).max() < 1.01
    apart = iid + np.array([0.0, 3.0])[:, None, None]
    assert dg.rhat(apart).min() > 1.5


# ---------------------------------------------------------------------------------- GARCH
@pytest.fixture(scope="module")
def garch_frame():
    return simulate_garch(500, dist="normal", seed=3, omega=0.1, alpha=0.15,
                          beta=0.75).to_frame()


@pytest.fixture(scope="module")
def garch_nuts(garch_frame):
    return bv.fit(garch_frame, method="nuts", seed=0, num_warmup=300, num_samples=2000)


GARCH_RUNS = {"hmc": (300, 1000), "rwmh": (600, 2000), "admit": (200, 1500),
              "griddy": (100, 700)}


@pytest.fixture(scope="module")
def garch_fits(garch_frame):
    """Fits by method, made when a test first asks (the slow ones only under -m slow)."""
    cache = {}

    def get(m):
        if m not in cache:
            w, s = GARCH_RUNS[m]
            cache[m] = bv.fit(garch_frame, method=m, seed=1, num_warmup=w, num_samples=s)
        return cache[m]

    return get


@pytest.mark.parametrize("method", [
    "hmc", "rwmh",
    pytest.param("admit", marks=pytest.mark.slow), pytest.param("griddy", marks=pytest.mark.slow)])
def test_garch_posterior_means_agree_with_nuts(garch_nuts, garch_fits, method):
    fit = garch_fits(method)
    ref = garch_nuts.z[0].reshape(-1, garch_nuts.z.shape[-1])
    z = fit.z[0].reshape(-1, fit.z.shape[-1])
    dev = np.abs(z.mean(0) - ref.mean(0)) / ref.std(0)
    assert np.all(dev < 0.3), dev
    ratio = z.std(0) / ref.std(0)
    assert np.all((ratio > 0.75) & (ratio < 1.33)), ratio
    s, r = fit.summary(), garch_nuts.summary()
    for name in ("omega", "alpha", "beta"):
        assert abs(s.loc[name, "mean"] - r.loc[name, "mean"]) < 0.3 * r.loc[name, "sd"]
    d = fit.diagnostics
    assert d["converged"] and d["ess_min"] > 50 and d["ess_per_s_min"] > 0
    assert 0.0 < d["acceptance_rate"] <= 1.0 and d["geweke_max_abs"] is not None


def test_sampler_fit_saves_and_loads(garch_fits, tmp_path):
    fit = garch_fits("rwmh")
    fit.save(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    diag = summary["diagnostics"]
    assert summary["method"] == "rwmh"
    assert 0.1 < diag["acceptance_rate"] < 0.5 and diag["ess_per_s_min"] > 0
    assert diag["rhat_max"] < 1.05 and diag["geweke_max_abs"] is not None
    back = bv.Fit.load(tmp_path)
    np.testing.assert_array_equal(back.z, fit.z)
    assert back.method == "rwmh"
    assert back.diagnostics["sampler"][0]["scale"] == pytest.approx(
        fit.diagnostics["sampler"][0]["scale"])
    assert back.summary().round(12).equals(fit.summary().round(12))


def test_cli_method_names_and_unknown_method(garch_frame, tmp_path, capsys):
    csv = tmp_path / "r.csv"
    garch_frame.to_csv(csv)
    assert main(["fit", str(csv), "--method", "slice", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "slice" in err[0]
    for name in SAMPLERS:
        assert name in err[0]
    assert not (tmp_path / "x").exists()
    w, s = GARCH_RUNS["rwmh"]  # the fixture's settings: the compiled program is reused
    out = tmp_path / "fit"
    assert main(["fit", str(csv), "--method", "rwmh", "--seed", "1", "--num-warmup", str(w),
                 "--num-samples", str(s), "--out", str(out)]) == 0
    assert "acceptance" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["method"] == "rwmh"
    with pytest.raises(bv.errors.InputError, match="sampler_options"):
        bv.fit(garch_frame, method="vi", sampler_options={"df": 3})


# ----------------------------------------------------------------------------- pooled
@pytest.fixture(scope="module")
def hier_frame():
    from bayesvol.simulate.hier_garch import simulate_hier_garch

    return simulate_hier_garch(2, 300, seed=11, ragged=False).to_frame()


@pytest.mark.slow  # compiling the joint start, mode and sampler: ~45 s of CPU on a cold cache
def test_hier_garch_rwmh_runs_on_the_joint_posterior_and_saves(hier_frame, tmp_path):
    """Integration only: RW-MH on the pooled posterior (30 coordinates) mixes slowly (min ESS
    about 5 after 2 x 20000 iterations), so no accuracy is asserted here; see the docs."""
    rw = bv.fit(hier_frame, model="hier-garch", method="rwmh", seed=1, num_warmup=600,
                num_samples=400)
    d = rw.diagnostics
    assert rw.g is not None and rw.z.shape[:3] == (2, 2, 400) and np.all(np.isfinite(rw.g))
    assert 0.1 < d["acceptance_rate"] < 0.5 and d["start_ok"] is True
    rw.save(tmp_path)
    diag = json.loads((tmp_path / "summary.json").read_text())["diagnostics"]
    assert diag["acceptance_rate"] == pytest.approx(d["acceptance_rate"])
    back = bv.Fit.load(tmp_path)
    np.testing.assert_array_equal(back.g, rw.g)


@pytest.mark.slow
def test_hier_garch_hmc_agrees_with_vi_volatility(hier_frame):
    vi = bv.fit(hier_frame, model="hier-garch", seed=1, num_draws=1000)
    hmc = bv.fit(hier_frame, model="hier-garch", method="hmc", seed=1, num_warmup=500,
                 num_samples=1000)
    assert hmc.diagnostics["rhat_max"] < 1.1
    vol_vi, vol_hmc = vi.volatility(max_draws=300), hmc.volatility(max_draws=300)
    for a in vi.assets:
        rel = np.abs(vol_hmc[a]["mean"] / vol_vi[a]["mean"] - 1.0).dropna()
        assert rel.median() < 0.08, (a, rel.median())
