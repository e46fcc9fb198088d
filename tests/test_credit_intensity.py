"""Credit-intensity (DPMP) model: likelihood (21) against a direct NumPy recursion, the
closed-form score and per-event information against finite differences and Monte Carlo,
E[score] = 0 on simulated events, priors, parameter recovery by MAP through the runner,
NUTS (slow), and the simulate -> rating histories -> events round trip."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesvol.data.ratings import EventData, events_from_ratings
from bayesvol.models.credit_intensity import CreditIntensityModel
from bayesvol.models.credit_structure import (
    PRIOR_PRESETS,
    event_information,
    event_loglik,
    event_score,
    normalise_pattern,
    resolve_priors,
    truncnorm_logpdf,
)
from bayesvol.models.gas_filter import sym_sqrt
from bayesvol.simulate.credit_intensity import default_params, simulate_credit_intensity

N_EVENTS = 500


@pytest.fixture(scope="module")
def sim():
    """One factor, Inv scaling, 500 events (about 12 years of 500 firms). a_1 = 0.1 makes the
    factor move enough (sd of f about 0.5) to be identified: with a_1 = 0.05 and 400 events
    the posterior was a funnel (a_1 near 0, b_1 and the loadings at their priors) and NUTS
    diverged on 12% of its draws."""
    model = CreditIntensityModel(factors=1, scaling="Inv")
    return model, simulate_credit_intensity(model, params={"a_1": 0.1}, n_events=N_EVENTS,
                                            n_ig=300, n_sig=200, seed=5)


def _np_loglik(model: CreditIntensityModel, params: dict, data: EventData) -> np.ndarray:
    """Eq. (21) with the factor recursion written out in NumPy, C built from the names."""
    r, k = model.r, model.k
    a = np.array([params[f"a_{i + 1}"] for i in range(r)])
    b = np.array([params[f"b_{i + 1}"] for i in range(r)])
    C = np.array([[0.0 if isinstance(c, str) else c for c in row] for row in model.loadings])
    for name, value in params.items():
        if name.startswith("C_"):
            j, i = (int(x) - 1 for x in name.split("_")[1:])
            C[j, i] = value
    w = np.array([params[f"w_{j + 1}"] for j in range(k)])
    f = np.zeros(r)
    out = np.zeros(len(data.dtau))
    for t in range(len(data.dtau)):
        if data.mask[t] == 0:
            f = b * f
            continue
        dtau, y, K = data.dtau[t], data.y[t], data.K[t]
        lam = np.exp(w + C @ f)
        out[t] = y @ np.log(lam) - dtau * K @ lam
        nabla = C.T @ (y - dtau * K * lam)
        p = K * lam / (K @ lam)
        info = C.T @ np.diag(p) @ C
        if model.scaling == "I":
            s = nabla
        elif model.scaling == "Inv":
            s = np.linalg.solve(info, nabla)
        else:
            ev, vec = np.linalg.eigh(info)
            s = vec @ np.diag(ev ** -0.5) @ vec.T @ nabla
        f = a * s + b * f
    return out


@pytest.mark.parametrize("factors,scaling", [(1, "I"), (2, "Inv"), (3, "H")])
def test_loglik_matches_numpy_recursion(sim, factors, scaling):
    _, s = sim
    model = CreditIntensityModel(factors=factors, scaling=scaling)
    params = default_params(model)
    params = {k: v * (1.1 if k.startswith(("a_", "C_")) else 1.0) for k, v in params.items()}
    data = s.events.data(pad_to=N_EVENTS + 7)  # 7 padding rows: they add nothing
    z = model.unconstrain(params)
    got = np.asarray(jax.jit(model.loglik_terms)(z, data))
    want = _np_loglik(model, params, data)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)  # rounding grows along f_t
    assert np.all(got[N_EVENTS:] == 0.0)
    if factors == 1:  # the runner's layout: a leading unit axis
        total = float(jax.jit(model.log_likelihood)(z, model.prepare(s.events)))
        np.testing.assert_allclose(total, want.sum(), rtol=1e-10)


def test_score_matches_finite_differences():
    rng = np.random.default_rng(0)
    C = jnp.asarray([[1.0, 0, 0], [0.3, 0, -0.7], [0, 1, 0], [0, 0, 1]])
    w = jnp.asarray([-3.0, -6, -2.5, -3])
    dtau, y, K = 0.03, jnp.asarray([1.0, 0, 2, 0]), jnp.asarray([300.0, 300, 200, 200])
    for _ in range(3):
        f = jnp.asarray(rng.normal(0, 0.5, 3))
        nabla = np.asarray(event_score(dtau, y, K, w + C @ f, C))
        h = 1e-6
        fd = [(event_loglik(dtau, y, K, w + C @ (f + h * e))
               - event_loglik(dtau, y, K, w + C @ (f - h * e))) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(nabla, np.asarray(fd), rtol=1e-7, atol=1e-7)


def test_information_is_per_event_and_matches_monte_carlo():
    """E[nabla] = 0 and E[nabla nabla'] = -E[Hessian] = C' P C when dtau ~ Exp(K'lambda) and
    the type is j with probability p_j (one event per event time)."""
    rng = np.random.default_rng(1)
    C = np.array([[1.0, 0.0], [0.8, 0.4], [0.0, 1.0], [1.0, -0.5]])
    K = np.array([300.0, 300.0, 200.0, 200.0])
    f = np.array([0.3, -0.2])
    log_lam = np.array([-3.0, -6.0, -2.5, -3.0]) + C @ f
    lam = np.exp(log_lam)
    total = K @ lam
    p = K * lam / total
    n = 400_000
    dtau = rng.exponential(1.0 / total, n)
    y = np.eye(4)[rng.choice(4, n, p=p)]
    nabla = (y - dtau[:, None] * K * lam) @ C
    info = np.asarray(event_information(jnp.asarray(K), jnp.asarray(log_lam), jnp.asarray(C)))
    np.testing.assert_allclose(info, C.T @ np.diag(p) @ C, rtol=1e-12)
    se = nabla.std(0) / np.sqrt(n)
    assert np.all(np.abs(nabla.mean(0)) < 4 * se)
    mc = nabla.T @ nabla / n
    np.testing.assert_allclose(mc, info, rtol=0.02, atol=3e-3)
    # minus the expected Hessian: C' diag(E[dtau] K lambda) C with E[dtau] = 1 / K'lambda
    hess = jax.hessian(lambda ff: event_loglik(1.0 / total, jnp.asarray(p), jnp.asarray(K),
                                               jnp.asarray(log_lam - C @ f) + C @ ff))
    np.testing.assert_allclose(-np.asarray(hess(jnp.asarray(f))), info, rtol=1e-10)
    # not the information of counts over a fixed interval (scaled by the expected count)
    scaled = C.T @ np.diag(K * lam) @ C
    assert np.max(np.abs(scaled - mc)) > 10 * np.max(np.abs(info - mc))


def test_expected_score_zero_on_simulated_events(sim):
    model, s = sim
    params = s.truth["params"]
    C = np.asarray(model.loading(model.unconstrain(params)))
    d = s.data
    resid = d.y - d.dtau[:, None] * d.K * s.lam  # per type, mean zero given the past
    nabla = resid @ C
    for x in (resid, nabla):
        t_stat = x.mean(0) / (x.std(0) / np.sqrt(len(x)))
        assert np.all(np.abs(t_stat) < 4.0), t_stat
    # the filtered factor path is the simulated one
    f = np.asarray(model.factor_paths(model.unconstrain(params), d))
    np.testing.assert_allclose(f, s.f, atol=1e-10)


def test_sym_sqrt_derivative_finite_at_equal_eigenvalues():
    S = jnp.diag(jnp.asarray([2.0, 2.0, 0.5]))
    E = jnp.asarray([[0.3, 0.1, 0.0], [0.1, -0.2, 0.05], [0.0, 0.05, 0.1]])
    h = 1e-6

    @jax.jit
    def checks(S, E):
        R = sym_sqrt(S)
        _, dR = jax.jvp(sym_sqrt, (S,), (E,))
        fd = (sym_sqrt(S + h * E) - sym_sqrt(S - h * E)) / (2 * h)
        g = jax.grad(lambda s: jnp.sum(jnp.linalg.solve(sym_sqrt(s), jnp.ones(3))))(S)
        hess = jax.jacfwd(jax.jacfwd(lambda x: jnp.sum(sym_sqrt(jnp.diag(x)))))(jnp.ones(3))
        return R, dR, fd, g, hess

    R, dR, fd, g, hess = (np.asarray(x) for x in checks(S, E))
    np.testing.assert_allclose(R @ R, np.asarray(S), atol=1e-12)
    np.testing.assert_allclose(dR, fd, atol=1e-7)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(hess, -0.25 * np.eye(3), atol=1e-10)


def test_priors_presets_and_truncated_normal():
    # b's prior in z = atanh(b), Jacobian included, integrates to 1 (normaliser with mu, E4)
    z = np.linspace(-12, 12, 200_001)
    for scale in (0.25, 1.0, 2.0):
        b = np.tanh(z)
        dens = np.exp(np.asarray(truncnorm_logpdf(jnp.asarray(b), 0.95, scale))) * (1 - b * b)
        np.testing.assert_allclose(np.trapezoid(dens, z), 1.0, rtol=1e-6)
    assert resolve_priors("prior1").C_scale == 10.0
    assert resolve_priors({"preset": "Prior 4", "w_scale": 3.0}).w_scale == 3.0
    assert resolve_priors("prior4").a_scale == 0.25 and resolve_priors(None).a_scale == 1.0
    assert set(PRIOR_PRESETS) == {"prior1", "prior2", "prior3", "prior4"}
    with pytest.raises(ValueError, match="unknown prior preset"):
        resolve_priors("prior5")
    with pytest.raises(ValueError, match="unknown prior setting"):
        resolve_priors({"a_sd": 1.0})
    m2, m4 = (CreditIntensityModel(factors=1, priors=p) for p in ("prior2", "prior4"))
    z0 = m2.unconstrain(default_params(m2))
    # prior 4 is tighter: higher density at the prior means, C_3_1's mean is -0.5
    at_means = m2.unconstrain({"a_1": 0.05, "b_1": 0.95, "C_1_1": 0.5, "C_2_1": 0.5,
                               "C_3_1": -0.5, "w_1": -5.0, "w_2": -10.0, "w_3": -5.0,
                               "w_4": -5.0})
    lp2, lp4 = jax.jit(m2.log_prior), jax.jit(m4.log_prior)
    assert float(lp4(at_means)) > float(lp2(at_means))
    grad = jax.jit(jax.grad(m2.log_prior))(at_means)
    np.testing.assert_allclose(np.asarray(grad)[[0, 2, 3, 4, 5, 6, 7, 8]], 0.0, atol=1e-12)
    assert np.isfinite(float(lp2(z0)))


def test_structures_names_config_and_errors():
    m3 = CreditIntensityModel(factors=3, scaling="H")
    assert m3.param_names == ("a_1", "a_2", "a_3", "b_1", "b_2", "b_3", "C_2_1", "C_2_3",
                              "w_1", "w_2", "w_3", "w_4")
    assert CreditIntensityModel(factors=1).dim == 9 and CreditIntensityModel(factors=2).dim == 10
    assert m3.dim == 12  # the parameter counts 9 / 10 / 12 of the thesis
    again = CreditIntensityModel.from_config(m3.config())
    assert again == m3 and again.program_key == m3.program_key
    m = CreditIntensityModel.from_options(loadings="1,0;free,0;0,1;-x,1", scaling=0.5)
    assert m.scaling == "H" and m.types == ("IG_SIG", "IG_DEF", "SIG_IG", "SIG_DEF")
    assert m.param_names[4:6] == ("C_2_1", "C_4_1")
    g = CreditIntensityModel.from_options(loadings=[[1], ["free"]], scaling="I")
    assert g.k == 2 and g.types == ("type1", "type2")
    assert normalise_pattern("x;1") == (("free",), (1.0,))
    with pytest.raises(ValueError, match="no fixed non-zero loading"):
        normalise_pattern([["free", 1], ["free", 0]])
    with pytest.raises(ValueError, match="unknown scaling"):
        CreditIntensityModel(scaling="sqrt2")
    with pytest.raises(ValueError, match="factors must be 1, 2 or 3"):
        CreditIntensityModel(factors=4)
    assert CreditIntensityModel.system is True


def test_paths_over_draws_and_generic_simulation(sim):
    model, s = sim
    z = model.unconstrain(s.truth["params"])
    zs = jnp.stack([z, z.at[0].set(0.0)])[None]  # [1, 2, dim]
    lam = np.asarray(jax.jit(model.intensity_paths)(zs, s.data))
    assert lam.shape == (1, 2, N_EVENTS, 4)
    np.testing.assert_allclose(lam[0, 0], s.lam, rtol=1e-10)
    w = np.array([s.truth["params"][f"w_{j}"] for j in range(1, 5)])
    np.testing.assert_allclose(lam[0, 1], np.broadcast_to(np.exp(w), lam[0, 1].shape))  # a = 0
    g = CreditIntensityModel.from_options(loadings="1;free", scaling="H")
    gs = simulate_credit_intensity(g, n_events=60, at_risk=np.array([50.0, 80.0]), seed=2)
    assert gs.histories is None and gs.events.y.sum() == 60
    assert np.isfinite(float(jax.jit(lambda d: g.log_joint(g.initial_z(d), d))(gs.data)))


def test_simulated_histories_round_trip(sim):
    _, s = sim
    ev = events_from_ratings(s.histories)
    np.testing.assert_array_equal(ev.y, s.events.y)
    np.testing.assert_array_equal(ev.K, s.events.K)
    np.testing.assert_array_equal(ev.at_risk, s.events.at_risk)
    np.testing.assert_allclose(ev.time, s.events.time, atol=1e-7)  # dates to the second
    daily = events_from_ratings(s.rating_histories("D"))  # same-day events pooled
    assert daily.n_times < N_EVENTS and daily.y.sum() <= N_EVENTS
    assert daily.y.sum(1).max() >= 2


def test_map_recovers_parameters(sim):
    from bayesvol.inference.runner import run_mode

    model, s = sim
    res = run_mode(model, model.prepare(s.events))
    assert bool(res.ok[0])
    z_hat, sd = np.asarray(res.z[0]), np.sqrt(np.diag(np.asarray(res.cov[0])))
    truth = np.asarray(model.unconstrain(s.truth["params"]))
    zscore = (z_hat - truth) / sd
    assert np.all(np.abs(zscore) < 3.0), dict(zip(model.unconstrained_names, zscore, strict=True))
    est = model.constrain(z_hat)
    for j, tol in ((1, 0.3), (3, 0.3), (4, 0.4)):  # the frequent types are tight
        assert abs(float(est[f"w_{j}"]) - s.truth["params"][f"w_{j}"]) < tol
    assert 0.05 < float(est["a_1"]) < 0.2 and float(est["b_1"]) > 0.7


@pytest.mark.slow
def test_nuts_small_case(sim):
    from bayesvol.inference.runner import run_nuts_batch

    model, s = sim
    out = run_nuts_batch(model, model.prepare(s.events), jax.random.PRNGKey(0),
                         num_warmup=300, num_samples=300, num_chains=2)
    assert out.rhat_max[0] < 1.05 and out.divergences[0] <= 3
    draws = np.asarray(out.z[0]).reshape(-1, model.dim)
    truth = np.asarray(model.unconstrain(s.truth["params"]))
    lo, hi = np.quantile(draws, [0.005, 0.995], axis=0)
    inside = (truth >= lo) & (truth <= hi)
    assert inside.sum() >= model.dim - 1, dict(zip(model.unconstrained_names, inside, strict=True))


def test_system_fitter_hooks(sim):
    model, s = sim
    ds = model.input_to_dataset(s.events)
    back = model.input_from_dataset(ds)
    np.testing.assert_array_equal(back.y, s.events.y)
    assert back.types == s.events.types and (back.dates == s.events.dates).all()
    assert model.load_input(s.events) is s.events and model.bind(s.events) is model
    renamed = model.bind(back.__class__(time=back.time, y=back.y, K=back.K,
                                        types=("a", "b", "c", "d")))
    assert renamed.types == ("a", "b", "c", "d") and renamed.loadings == model.loadings
    fit_system = pytest.importorskip("bayesvol.fit_system").fit_system
    fit = fit_system(model, s.events, method="map", seed=0)  # the MAP test's program
    assert fit.theta.shape[-1] == model.dim
    assert set(fit.summary().index) == set(model.param_names)


def test_cli_simulate_fit_and_malformed_history(sim, tmp_path, capsys):
    """``bayesvol simulate credit-intensity`` writes rating histories; ``bayesvol fit
    --model credit-intensity`` reads them (here the fixture's, so the MAP program above is
    reused) and writes summary.json and posterior.nc; a malformed history exits 2 with one
    line naming the file, column and row."""
    import json

    from bayesvol.cli import main
    from bayesvol.results_system import SystemFit

    _, s = sim
    hist = tmp_path / "hist.csv"
    s.histories.to_csv(hist, index=False)
    out = tmp_path / "fit"
    assert main(["fit", str(hist), "--model", "credit-intensity", "--method", "map",
                 "--out", str(out)]) == 0
    doc = json.loads((out / "summary.json").read_text())
    assert doc["model"] == "credit-intensity" and "b_1" in doc["parameters"]
    back = SystemFit.load(out)
    assert back.model.scaling == "Inv" and back.theta.shape[-1] == back.model.dim
    # model comparison reads system fits too: the Laplace evidence of the saved MAP fit is
    # log p(y, z*) + d/2 log(2 pi) + 1/2 log|Sigma| at the mode z* (Sigma its Laplace cov)
    import bayesvol as bv

    ev = bv.evidence(out, method="laplace")
    data0 = jax.tree_util.tree_map(lambda x: x[0], back.model.prepare(back.input))
    d = back.model.dim
    expect = (float(back.model.log_joint(jnp.asarray(back.point), data0))
              + 0.5 * d * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(back.point_cov)[1])
    assert ev.log_ml == pytest.approx(expect, abs=1e-3) and ev.n_params == d
    bad = tmp_path / "bad.csv"
    bad.write_text("firm,date,rating\nF1,2001-01-01,A\nF1,2002-01-01,ZZ\n")
    capsys.readouterr()
    assert main(["fit", str(bad), "--model", "credit-intensity", "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.csv" in err and "'rating'" in err and "row 3" in err and "\n" not in err
    assert not (tmp_path / "x").exists()
    sim_csv = tmp_path / "sim.csv"
    assert main(["simulate", "credit-intensity", "--T", "40", "--seed", "1",
                 "--out", str(sim_csv)]) == 0
    with open(sim_csv) as fh:
        assert fh.readline().strip() == "firm,date,rating"


HEAD = 450  # events in the fit whose one-step scores are checked


@pytest.fixture(scope="module")
def head_fit(sim):
    """A MAP fit of the first HEAD events (the scores' tests)."""
    from bayesvol.data.ratings import EventTable
    from bayesvol.fit_system import fit_system

    model, s = sim
    ev, n = s.events, HEAD
    head = EventTable(time=ev.time[:n], y=ev.y[:n], K=ev.K[:n], types=ev.types,
                      dates=ev.dates[:n], start=ev.start, source="head")
    return head, fit_system(model, head, method="map", seed=0)


def test_one_step_scores_of_new_events(sim, head_fit):
    """fit.score on events after the fitted ones: each new event time's term is the
    log-likelihood term l_t of the filter run on through the new events (eq. 21), and the
    score is its log mean over draws; events that do not extend the fit are refused."""
    from scipy.special import logsumexp

    from bayesvol.data.ratings import EventTable
    from bayesvol.errors import InputError

    model, s = sim
    ev, n = s.events, HEAD
    head, fit = head_fit
    res = fit.score(ev, max_draws=50, seed=1)
    frame = res.to_frame()
    assert len(frame) == N_EVENTS - n and (frame["date"].values == ev.dates[n:].values).all()
    z = np.asarray(fit.theta).reshape(-1, model.dim)[np.asarray(res.draws[0])]
    data = jax.tree_util.tree_map(lambda x: x[0], model.prepare(ev))
    terms = np.stack([np.asarray(model.loglik_terms(jnp.asarray(zz), data))[n:] for zz in z])
    np.testing.assert_allclose(res.terms[0], terms, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.log_score[0], logsumexp(terms, axis=0) - np.log(len(z)),
                               rtol=1e-9)
    shifted = EventTable(time=ev.time + 0.1, y=ev.y, K=ev.K, types=ev.types,
                         dates=ev.dates, start=ev.start)
    with pytest.raises(InputError, match="must extend the fitted ones"):
        fit.score(shifted)
    with pytest.raises(InputError, match="no events after"):
        fit.score(head)


def test_cli_score_reads_rating_histories(sim, head_fit, tmp_path, capsys):
    """``bayesvol score DIR HISTORIES``: a saved credit fit scores the events of histories
    that extend the fitted ones (the same terms as the API on the same draws)."""
    import pandas as pd

    from bayesvol.cli import main

    _, s = sim
    ev, n = s.events, HEAD
    head, fit = head_fit
    fit.save(tmp_path / "fit")
    hist = tmp_path / "hist.csv"
    s.histories.to_csv(hist, index=False)
    out = tmp_path / "scores.csv"
    assert main(["score", str(tmp_path / "fit"), str(hist), "--out", str(out),
                 "--max-draws", "50", "--seed", "1"]) == 0
    got = pd.read_csv(out)
    api = fit.score(ev, max_draws=50, seed=1).to_frame()
    assert len(got) == N_EVENTS - n
    np.testing.assert_allclose(got["log_score"], api["log_score"], rtol=1e-6)
    # no return forecasts for event data: a one-line error, exit code 2
    capsys.readouterr()
    assert main(["forecast", str(tmp_path / "fit"), "--out", str(tmp_path / "f.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no return forecasts" in err and "\n" not in err
