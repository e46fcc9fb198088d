"""Beta-Gen-t-EGARCH / Beta-t-EGARCH (models/beta_t_egarch.py): the corrected generalised-t
density, its score, information, variance and quantiles; proper priors; the filter against a
NumPy loop through one-step scores; recovery of simulated truth by MLE, VI and NUTS; VI
against NUTS; forecasts, the news-impact curve and the command line.

One simulated series (T = 1500, one missing date) is fitted once per method (module
fixtures), so the compiled programs are shared by every test of this file."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import betaln, gammaln, polygamma

import bayesvol as bv
from bayesvol.api import build_model
from bayesvol.cli import main
from bayesvol.errors import InputError
from bayesvol.models import special
from bayesvol.models.beta_t_egarch import (
    BetaTEgarchModel,
    BetaTEgarchPriors,
    gen_t_information,
    gen_t_logpdf,
    gen_t_score,
    log_variance_factor,
    one_step_var,
    quantile,
)
from bayesvol.models.registry import model_class
from bayesvol.plots_gas import news_impact, plot_news_impact, plot_var_posterior
from bayesvol.results import Fit
from bayesvol.simulate import simulate_beta_t_egarch, simulate_model
from bayesvol.simulate.beta_t_egarch import sample_gen_t_blocked

T_FIT, T_NEW = 1500, 40
TRUTH = {"omega": -0.01, "A": 0.08, "B": 0.95, "eta_bar": 0.1, "v": 1.5}
SHAPES = [(0.1, 2.0), (0.25, 1.5), (0.05, 1.0), (0.4, 3.0), (0.002, 1.3)]

logpdf = jax.jit(gen_t_logpdf)


# ------------------------------------------------------------------------------ density
@pytest.mark.parametrize("eta_bar,v", SHAPES)
def test_density_integrates_to_one(eta_bar, v):
    f = 0.3

    def dens(y):
        return float(np.exp(logpdf(y, f, eta_bar, v)))

    total = sum(integrate.quad(dens, lo, hi, limit=200)[0]
                for lo, hi in ((-np.inf, 0.0), (0.0, np.inf)))
    assert total == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("eta_bar,v", [(0.1, 2.0), (0.25, 1.5), (0.05, 1.0), (0.002, 1.3)])
def test_variance_formula_and_ged_fallback(eta_bar, v):
    f = -0.2
    second = sum(integrate.quad(lambda y: y * y * float(np.exp(logpdf(y, f, eta_bar, v))),
                                lo, hi, limit=400)[0] for lo, hi in ((-np.inf, 0.0),
                                                                     (0.0, np.inf)))
    model_var = float(np.exp(log_variance_factor(eta_bar, v) + 2 * f))
    # below the threshold the GED limit is used: within 1% of the exact value there
    assert model_var == pytest.approx(second, rel=1e-2 if eta_bar < 0.005 else 1e-7)


def test_variance_factor_exact_above_threshold_and_t_case():
    eta, v = 0.2, 1.7
    exact = (gammaln(3 / v) + gammaln((1 - 2 * eta) / (v * eta)) - gammaln(1 / v)
             - gammaln(1 / (v * eta)) - 2 / v * np.log(eta))
    assert float(log_variance_factor(eta, v)) == pytest.approx(exact, rel=1e-12)
    nu = 8.0  # v = 2: the t variance nu / (nu - 2)
    assert float(np.exp(log_variance_factor(1 / nu, 2.0))) == pytest.approx(nu / (nu - 2))
    ged = gammaln(3 / v) - gammaln(1 / v) + 2 / v * np.log(v)
    assert float(log_variance_factor(0.001, v)) == pytest.approx(ged, rel=1e-12)


def test_v2_is_the_student_t():
    y = np.linspace(-7, 7, 29)
    for nu in (3.0, 6.0, 40.0):
        np.testing.assert_allclose(np.asarray(gen_t_logpdf(jnp.asarray(y), 0.4, 1 / nu, 2.0)),
                                   stats.t.logpdf(y, nu, scale=np.exp(0.4)), rtol=1e-7)


def test_closed_form_score_equals_autodiff():
    grad_f = jax.jit(jax.grad(gen_t_logpdf, argnums=1))
    for eta, v in SHAPES + [(1e-7, 1.6)]:
        for e in (-3.1, -0.2, 0.0, 0.7, 5.0):
            for f in (-0.5, 0.4):
                assert float(gen_t_score(e, f, eta, v)) == pytest.approx(
                    float(grad_f(e, f, eta, v)), rel=1e-9, abs=1e-12)


def test_score_has_mean_zero_and_the_stated_information():
    for eta, v in ((0.1, 2.0), (0.25, 1.4), (0.01, 1.0)):
        eps = sample_gen_t_blocked(jax.random.key(5), eta, v, (100_000,))
        s = np.asarray(gen_t_score(jnp.asarray(eps), 0.0, eta, v))
        assert abs(s.mean()) < 0.01
        assert np.mean(s * s) == pytest.approx(float(gen_t_information(eta, v)), rel=0.02)


def test_quantiles_match_sampling_and_integration():
    for eta, v in ((0.1, 2.0), (0.3, 1.2), (0.001, 1.5)):
        eps = sample_gen_t_blocked(jax.random.key(1), eta, v, (100_000,))
        for alpha in (0.01, 0.05):
            q = float(quantile(alpha, 0.0, eta, v))
            assert np.quantile(eps, alpha) == pytest.approx(q, rel=0.04)
            mass = integrate.quad(lambda y, e=eta, w=v: float(np.exp(logpdf(y, 0.0, e, w))),
                                  -np.inf, q)[0]
            assert mass == pytest.approx(alpha, rel=1e-3 if eta > 0.005 else 2e-2)
    # location and scale: y = mu + e^f eps
    assert float(quantile(0.05, 0.5, 0.1, 2.0, mu=1.0)) == pytest.approx(
        1.0 + np.exp(0.5) * stats.t.ppf(0.05, 10))
    with pytest.raises(ValueError, match="alpha"):
        quantile(0.7, 0.0, 0.1, 2.0)


def test_log_beta_and_trigamma_are_accurate():
    """betaln against the exact log B(a, n) = log (n-1)! - sum_{k<n} log(a + k)."""
    for a in (0.3, 9.3044, 999.9, 1000.1, 5e4, 3.7e7):
        for n in (1, 3, 42):
            exact = gammaln(n) - np.sum(np.log(a + np.arange(n)))
            assert float(special.betaln(a, float(n))) == pytest.approx(exact, abs=1e-11)
    x = np.array([0.01, 0.7, 3.0, 45.0, 1e6])
    np.testing.assert_allclose(np.asarray(special.trigamma(jnp.asarray(x))),
                               polygamma(1, x), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(special.digamma))(jnp.asarray(x))),
                               polygamma(1, x), rtol=1e-9)


# ------------------------------------------------------------------------ model layout
def _prior_mass(model: BetaTEgarchModel) -> float:
    """The prior factorises over the coordinates of z: the product of 1-d integrals."""
    z0 = np.asarray(model.unconstrain({**TRUTH, "mu": 0.1, "f1": 0.2}))
    lp = jax.jit(model.log_prior)
    base = float(lp(jnp.asarray(z0)))
    mass = np.exp(base)
    for i in range(model.dim):
        def cond(t, i=i):
            z = z0.copy()
            z[i] = t
            return float(np.exp(float(lp(jnp.asarray(z))) - base))
        mass *= integrate.quad(cond, -np.inf, np.inf, limit=200)[0]
    return mass


@pytest.mark.parametrize("options", [
    {}, {"dist": "t", "intercept": "free"}, {"mean": True, "start": "estimated"}])
def test_priors_are_proper_and_normalised(options):
    assert _prior_mass(BetaTEgarchModel.from_options(**options)) == pytest.approx(1.0,
                                                                                   abs=1e-6)


@pytest.mark.parametrize("options", [{}, {"dist": "t", "intercept": "free", "mean": True},
                                     {"start": "estimated"}])
def test_parameter_maps_round_trip(options):
    model = BetaTEgarchModel.from_options(**options)
    p = {**TRUTH, "mu": 0.05, "f1": -0.3}
    z = model.unconstrain(p)
    assert z.shape == (model.dim,) and len(model.unconstrained_names) == model.dim
    back = model.constrain(z)
    assert set(back) == set(model.param_names)
    for k, val in back.items():
        assert float(val) == pytest.approx(p[k], rel=1e-10, abs=1e-14)
    assert ("v" in model.param_names) == (model.dist == "gen-t")
    cfg = json.loads(json.dumps(model.config()))
    assert model_class(cfg["model"]).from_config(cfg) == model


@pytest.mark.parametrize("options,message", [
    ({"dist": "skewt"}, "dist"), ({"intercept": "targeting"}, "intercept"),
    ({"start": "backcast"}, "start"), ({"start": -1.0}, "start"), ({"scaling": 0.3}, "scaling"),
    ({"priors": {"A_scale": -1.0}}, "A_scale"), ({"ged_threshold": 0.7}, "ged_threshold"),
])
def test_bad_options_are_value_errors(options, message):
    with pytest.raises(ValueError, match=message):
        BetaTEgarchModel.from_options(**options)


def test_simulator_checks_and_determinism():
    a = simulate_beta_t_egarch(50, seed=3)
    b = simulate_model("beta-t-egarch", T=50, seed=3)
    np.testing.assert_array_equal(a.returns, b.returns)
    assert set(a.truth["params"]) == {"omega", "A", "B", "mu", "eta_bar", "v"}
    assert simulate_beta_t_egarch(10, dist="t", seed=1).truth["params"]["v"] == 2.0
    for kwargs, message in (({"B": 1.0}, "B"), ({"eta_bar": 0.5}, "eta_bar"),
                            ({"v": 0.0}, "v"), ({"dist": "skewt"}, "gen-t")):
        with pytest.raises(InputError, match=message):
            simulate_beta_t_egarch(10, **kwargs)


# ------------------------------------------------------------------ shared fitted series
@pytest.fixture(scope="module")
def series() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit frame with one missing date, the next T_NEW returns)."""
    sim = simulate_beta_t_egarch(T_FIT + T_NEW, seed=11, **TRUTH)
    frame = sim.to_frame()
    frame.iloc[700, 0] = np.nan
    return frame.iloc[:T_FIT], frame.iloc[T_FIT:]


@pytest.fixture(scope="module")
def fit_mle(series):
    return bv.fit(series[0], model="beta-t-egarch", method="mle", seed=0)


@pytest.fixture(scope="module")
def fit_vi(series):
    return bv.fit(series[0], model="beta-t-egarch", method="vi", seed=0)


@pytest.fixture(scope="module")
def fit_nuts(series):
    return bv.fit(series[0], model="beta-t-egarch", method="nuts", seed=1, num_warmup=300,
                  num_samples=400, num_chains=1)


def _sd_errors(fit) -> dict[str, float]:
    table = fit.summary()
    return {k: abs(table.loc[k, "mean"] - TRUTH[k]) / table.loc[k, "sd"] for k in TRUTH}


def test_mle_recovers_truth_within_3_standard_errors(fit_mle):
    errors = _sd_errors(fit_mle)
    assert max(errors.values()) < 3.0, errors


def test_vi_recovers_truth_within_3_posterior_sd(fit_vi):
    errors = _sd_errors(fit_vi)
    assert max(errors.values()) < 3.0, errors
    assert fit_vi.diagnostics["converged"]


@pytest.mark.slow  # NUTS on T = 1500: about 45 s CPU
def test_vi_agrees_with_nuts(fit_vi, fit_nuts):
    """Posterior means within 0.5 NUTS sd; sds within a factor 1.5."""
    vi, nuts = fit_vi.summary(), fit_nuts.summary()
    for k in TRUTH:
        assert abs(vi.loc[k, "mean"] - nuts.loc[k, "mean"]) < 0.5 * nuts.loc[k, "sd"], k
        assert 1 / 1.5 < vi.loc[k, "sd"] / nuts.loc[k, "sd"] < 1.5, k
    errors = _sd_errors(fit_nuts)
    assert max(errors.values()) < 3.0, errors


# ------------------------------------------------------ filter, scores and forecasts
def reference_terms(y: np.ndarray, p: dict[str, float], n_old: int) -> np.ndarray:
    """log p(y_t | f_t) by a Python loop (NaN = missing: no term, f_{t+1} = omega + B f_t),
    started at the sample variance of the first n_old returns (the fit's data)."""
    eta, v = p["eta_bar"], p.get("v", 2.0)
    log_c = (gammaln(3 / v) + gammaln((1 - 2 * eta) / (v * eta)) - gammaln(1 / v)
             - gammaln(1 / (v * eta)) - 2 / v * np.log(eta))
    old = y[:n_old][~np.isnan(y[:n_old])]
    f = 0.5 * (np.log(np.mean(old**2)) - log_c)
    const = np.log(v) + np.log(eta) / v - np.log(2) - betaln(1 / (v * eta), 1 / v)
    out = np.full(len(y), np.nan)
    for t, yt in enumerate(y):
        s = 0.0
        if not np.isnan(yt):
            xv = (abs(yt) * np.exp(-f)) ** v
            out[t] = -f + const - (eta + 1) / (v * eta) * np.log1p(eta * xv)
            b = eta * xv / (1 + eta * xv)
            s = (eta + 1) / eta * b - 1
        f = p["omega"] + p["A"] * s + p["B"] * f
    return out


def _point_fit(fit_mle, draws: int, noise: float = 0.0) -> Fit:
    rng = np.random.default_rng(0)
    z = np.asarray(fit_mle.point)[:, None, None, :] + noise * rng.standard_normal(
        (1, 1, draws, fit_mle.model.dim))
    return Fit(model=fit_mle.model, panel=fit_mle.panel, method="vi", z=z, seed=0)


def test_one_step_scores_match_a_numpy_loop(fit_mle, series):
    old, new = series
    new = new.copy()
    new.iloc[5, 0] = np.nan  # a missing new date: propagated, not scored
    fit = _point_fit(fit_mle, 6, noise=0.05)
    scores = fit.score(new)
    assert len(scores) == T_NEW - 1
    y = np.concatenate([old.iloc[:, 0].to_numpy(), new.iloc[:, 0].to_numpy()])
    dens = np.array([reference_terms(y, {k: float(v[0, 0, s]) for k, v in fit.draws().items()},
                                     T_FIT)[T_FIT:] for s in range(6)])
    expected = np.log(np.mean(np.exp(dens), axis=0))
    np.testing.assert_allclose(scores["log_score"].to_numpy(),
                               expected[~np.isnan(expected)], rtol=1e-9)


def test_forecast_var_matches_the_beta_quantile(fit_mle):
    fit = _point_fit(fit_mle, 4)
    analytic = one_step_var(fit, 0.01)
    np.testing.assert_allclose(analytic, analytic[0])
    fc = fit.forecast(horizon=3, levels=(0.01, 0.05), n_paths=8000, seed=2)
    assert fc.risk.loc["A01", "VaR_1%"] == pytest.approx(analytic[0], rel=0.1)
    assert fc.risk.loc["A01", "VaR_5%"] == pytest.approx(one_step_var(fit, 0.05)[0], rel=0.06)
    assert fc.risk.loc["A01", "ES_1%"] > fc.risk.loc["A01", "VaR_1%"]
    once = fit.forecast(horizon=3, n_paths=300, seed=4)  # same seed, same numbers
    again = fit.forecast(horizon=3, n_paths=300, seed=4)
    np.testing.assert_array_equal(once.return_draws, again.return_draws)
    # volatility: sqrt of var(y_{T+1} | f_{T+1}), the same for every path at step 1
    model = fit.model
    data = fit.data()
    p = model.constrain(jnp.asarray(fit_mle.point[0]))
    s2 = float(model.next_variance(p, type(data)(data.y[0], data.mask[0]), T_FIT - 1))
    assert fc.volatility["A01"]["mean"].iloc[0] == pytest.approx(np.sqrt(s2), rel=1e-10)


def test_volatility_summary_and_news_impact(fit_vi):
    vol = fit_vi.volatility()["A01"]
    assert vol["q05"].notna().all() and (vol["q05"] <= vol["q95"]).all()
    curve = news_impact(fit_vi)
    lo, hi = curve.columns[1], curve.columns[2]
    assert (curve[lo] <= curve["median"]).all() and (curve["median"] <= curve[hi]).all()
    # bounded in the shock (Beta-t-EGARCH's robustness), unlike the Gaussian quadratic
    assert curve["median"].iloc[-1] < 0.5 * curve["quadratic"].iloc[-1]
    assert curve.loc[0.0, "median"] < 0.0  # a zero shock lowers the scale
    assert plot_news_impact(fit_vi).axes
    assert plot_var_posterior(fit_vi).axes
    with pytest.raises(ValueError, match="quantiles"):
        news_impact(fit_vi, quantiles=(0.9, 0.1))


def test_bad_fit_options_are_input_errors(series):
    with pytest.raises(InputError, match="dist"):
        bv.fit(series[0], model="beta-t-egarch", dist="skewt")


# ------------------------------------------------------------------------ command line
def test_cli_simulate_fit_score(tmp_path, series, fit_mle, capsys):
    old, new = series
    csv, new_csv = tmp_path / "old.csv", tmp_path / "new.csv"
    old.to_csv(csv)
    new.to_csv(new_csv)
    assert main(["fit", str(csv), "--model", "beta-t-egarch", "--method", "mle",
                 "--out", str(tmp_path / "fit")]) == 0
    summary = json.loads((tmp_path / "fit" / "summary.json").read_text())
    assert summary["model"] == "beta-t-egarch" and summary["dist"] == "gen-t"
    assert set(summary["parameters"]) == {"omega", "A", "B", "eta_bar", "v"}
    assert summary["parameters"]["B"]["mean"] == pytest.approx(
        float(fit_mle.summary().loc["B", "mean"]), rel=1e-8)
    assert main(["score", str(tmp_path / "fit"), str(new_csv), "--out",
                 str(tmp_path / "scores.csv")]) == 0
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == T_NEW and np.isfinite(scores["log_score"]).all()

    out, truth = tmp_path / "sim.csv", tmp_path / "truth.json"
    assert main(["simulate", "beta-t-egarch", "--T", "30", "--dist", "t", "--seed", "2",
                 "--out", str(out), "--truth", str(truth)]) == 0
    doc = json.loads(truth.read_text())
    assert doc["model"] == "beta-t-egarch" and doc["params"]["v"] == 2.0
    capsys.readouterr()
    assert main(["simulate", "beta-t-egarch", "--dist", "skewt", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "gen-t" in err[0]
    assert main(["fit", str(csv), "--model", "beta-t-egarch", "--dist", "normal",
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_priors_dataclass_in_fit_options():
    model = build_model("beta-t-egarch", priors={"A_scale": 0.2})
    assert model.priors == BetaTEgarchPriors(A_scale=0.2)
