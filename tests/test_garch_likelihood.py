"""GARCH(1,1) likelihood against outside implementations (arch; R fGarch reference values)."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from arch.univariate import arch_model

import bayesvol
from bayesvol.models.garch import GarchModel, SeriesData

TESTDATA = Path(__file__).resolve().parent / "data" / "fgarch"  # R fGarch reference values


@pytest.fixture(scope="module")
def shared_series() -> pd.DataFrame:
    return pd.read_csv(TESTDATA / "garch_sstd_shared.csv", parse_dates=["date"]).set_index("date")


@pytest.fixture(scope="module")
def fgarch() -> dict:
    return json.loads((TESTDATA / "fgarch_fit_shared.json").read_text())


@pytest.mark.parametrize(
    "dist,ours,params",
    [("normal", "normal", {"omega": 0.08, "alpha": 0.15, "beta": 0.78}),
     ("t", "t", {"omega": 0.05, "alpha": 0.12, "beta": 0.83, "nu": 5.5})],
)
def test_loglik_terms_equal_arch(shared_series, dist, ours, params):
    """Per-observation log-likelihood equals arch's at the same parameters and start value."""
    y = shared_series["y"].to_numpy()
    am = arch_model(y, mean="Zero", vol="GARCH", dist=dist)
    vec = np.array([params["omega"], params["alpha"], params["beta"]]
                   + ([params["nu"]] if "nu" in params else []))
    bc = am.volatility.backcast(y)
    bounds = am.volatility.variance_bounds(y)
    arch_terms = -am._loglikelihood(vec, np.empty_like(y), bc, bounds, individual=True)
    model = GarchModel(dist=ours, start="backcast")
    p = model.constrain(model.unconstrain(params))
    ours_terms = np.asarray(model.loglik_terms(p, SeriesData(jnp.asarray(y), jnp.ones(y.size))))
    np.testing.assert_allclose(ours_terms, arch_terms, rtol=1e-8, atol=0)


@pytest.mark.parametrize("dist,key", [("skewt", "sstd"), ("t", "std"), ("normal", "norm")])
def test_mle_agrees_with_fgarch(shared_series, fgarch, dist, key):
    """MLE on the shared series within 0.2 fGarch standard errors per parameter."""
    fit = bayesvol.fit(shared_series, dist=dist, method="mle")
    est = fit.standard_errors()
    names = {"omega": "omega", "alpha": "alpha1", "beta": "beta1", "nu": "shape", "xi": "skew"}
    ref = fgarch[key]["params"]
    for ours, theirs in names.items():
        if ours not in est:
            continue
        mle, se = float(est[ours][0][0]), float(est[ours][1][0])
        assert abs(mle - ref[theirs]["mle"]) < 0.2 * ref[theirs]["se"], (ours, mle)
        assert se == pytest.approx(ref[theirs]["se"], rel=0.15), (ours, se)
    loglik = float(fit.diagnostics["log_density_at_mode"][0])
    assert abs(loglik - fgarch[key]["loglik"]) < 1.0


def test_missing_observation_propagates_in_expectation():
    """A missing e_{t-1} is replaced by sigma_{t-1}^2 and the point adds no likelihood."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    mask = np.ones(50)
    mask[20] = 0.0
    model = GarchModel(dist="normal", start=1.0)
    p = model.constrain(model.unconstrain({"omega": 0.1, "alpha": 0.2, "beta": 0.7}))
    data = SeriesData(jnp.asarray(np.where(mask > 0, y, 0.0)), jnp.asarray(mask))
    s2 = np.asarray(model.variance_path(p, data))
    expected = np.empty(50)
    expected[0] = 1.0
    for t in range(1, 50):
        e2 = y[t - 1] ** 2 if mask[t - 1] else expected[t - 1]
        expected[t] = 0.1 + 0.2 * e2 + 0.7 * expected[t - 1]
    np.testing.assert_allclose(s2, expected, rtol=1e-12)
    terms = np.asarray(model.loglik_terms(p, data))
    assert terms[20] == 0.0 and np.all(terms[np.arange(50) != 20] != 0.0)


def test_bijections_round_trip_and_prior_matches_paper():
    """unconstrain(constrain(z)) = z; the prior density equals the paper's eqs. (16)-(18), (25),
    (29). Eq. (25) is the normalised translated exponential exp(-(nu-2)) with its Jacobian."""
    model = GarchModel(dist="skewt", nu_map="softplus", psi1_map="logit")  # the paper's maps
    z = jnp.array([0.3, -0.4, 1.1, 0.2, -0.7])
    np.testing.assert_allclose(model.unconstrain(model.constrain(z)), z, rtol=1e-12)
    t_om, t1, t2, t_nu, t_xi = (float(v) for v in z)
    sp = np.log1p(np.exp(t_xi))
    paper = (-t_om - np.exp(-t_om)
             + (-t1 - 2 * np.log1p(np.exp(-t1))) + (-t2 - 2 * np.log1p(np.exp(-t2)))
             + (-np.log(np.exp(t_nu) + 1) - np.log1p(np.exp(-t_nu)))
             + (-2 * np.log(sp) - 1 / sp - np.log1p(np.exp(-t_xi))))
    assert float(model.log_prior(z)) == pytest.approx(paper, rel=1e-12)


def test_cloglog_map_for_psi1_keeps_the_uniform_prior_and_stays_finite_at_the_bound():
    """Under psi1 = 1 - exp(-exp(z)) the U(0,1) prior on psi1 integrates to 1 over z, the
    round trip holds, and the log-prior stays finite where psi1 rounds to 1 (z = 5); the
    logit map gives the same prior for the same (alpha, beta) up to the two Jacobians."""
    from scipy.integrate import quad

    from bayesvol.models.bijections import cloglog_forward, sigmoid_forward

    model = GarchModel(dist="normal")
    assert model.psi1_map == "cloglog" and model.unconstrained_names[1] == "cloglog_psi1"
    z = jnp.array([0.3, -0.4, 1.1])
    np.testing.assert_allclose(model.unconstrain(model.constrain(z)), z, rtol=1e-12)

    def dens(t):
        zz = z.at[1].set(t)
        return float(jnp.exp(model.log_prior(zz) - model.log_prior(z.at[1].set(0.0))))

    mass = quad(dens, -40, 6, limit=200)[0]
    # p(z1) = 1 * |dpsi1/dz1|, so the mass relative to z1 = 0 is 1 / |dpsi1/dz1|(0) = e
    assert mass == pytest.approx(np.e, rel=1e-6)
    assert float(model.constrain(z.at[1].set(5.0))["alpha"] + model.constrain(
        z.at[1].set(5.0))["beta"]) == 1.0
    assert np.isfinite(float(model.log_prior(z.at[1].set(5.0))))
    paper = GarchModel(dist="normal", psi1_map="logit")
    params = model.constrain(z)
    zp = paper.unconstrain(params)
    jac = (float(cloglog_forward(z[1])[1]) - float(sigmoid_forward(zp[1])[1]))
    assert float(model.log_prior(z)) - float(paper.log_prior(zp)) == pytest.approx(jac,
                                                                                    rel=1e-10)


def test_log_map_for_nu_keeps_the_same_prior_on_nu():
    """Both maps put the translated exponential on nu: integrate exp(log_prior) over z_nu."""
    from scipy.integrate import quad

    for nu_map in ("log", "softplus"):
        model = GarchModel(dist="t", nu_map=nu_map)
        base = jnp.array([0.0, 0.0, 0.0])

        def dens(t, model=model, base=base):
            return float(jnp.exp(model.log_prior(jnp.concatenate([base, jnp.array([t])]))
                                 - model.log_prior(jnp.concatenate([base, jnp.array([0.0])]))
                                 ))

        mass = quad(dens, -30, 30)[0]
        nu_at = float(model.constrain(jnp.concatenate([base, jnp.array([0.0])]))["nu"])
        # p(z) = p(nu) |dnu/dz| integrates to 1, so mass = 1 / (p(nu(0)) |dnu/dz|(0)) with
        # p(nu) = exp(-(nu - 2)) and |dnu/dz|(0) = 1 (log map) or sigmoid(0) = 1/2 (softplus)
        jac0 = 1.0 if nu_map == "log" else 0.5
        assert mass == pytest.approx(np.exp(nu_at - 2.0) / jac0, rel=1e-6), nu_map


def test_mle_on_real_sp500_agrees_with_arch():
    """arch's t-GARCH MLE on its own bundled S&P 500 returns, against ours with arch's start
    rule (backcast): estimates within 0.05 standard errors, log-likelihoods within 0.01."""
    panel = bayesvol.load_bundled("sp500")
    y = panel.values[0]
    ref = arch_model(y, mean="Zero", vol="GARCH", dist="t").fit(disp="off")
    fit = bayesvol.fit(panel, dist="t", method="mle", start="backcast")
    est = fit.standard_errors()
    for ours, theirs in {"omega": "omega", "alpha": "alpha[1]", "beta": "beta[1]",
                         "nu": "nu"}.items():
        assert abs(est[ours][0][0] - ref.params[theirs]) < 0.05 * ref.std_err[theirs], ours
    assert float(fit.diagnostics["log_density_at_mode"][0]) == pytest.approx(ref.loglikelihood,
                                                                             abs=0.01)
