"""Sequential updating (SVI-GARCH paper 2.10): Seq-SVB, UVB and its block likelihood.

The engine (UVB target and data, warm-started VI) is bayesvol.inference.sequential; the Fit
orchestration (update_fit, run_sequential, Fit.update) is bayesvol.updating.

All VI fits use one VIOptions and series that fall in one length bucket (520, 570 and 620 dates
all pad to 640), so the mode program and the VI programs are compiled once each.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import bayesvol as bv
from bayesvol.errors import InputError
from bayesvol.inference.accuracy import overlap_accuracy
from bayesvol.inference.sequential import UVBTarget, sequential_schedule, uvb_data
from bayesvol.inference.vi.families import get_family
from bayesvol.models.garch import GarchModel
from bayesvol.models.hier_garch import HierGarchModel
from bayesvol.models.series import series_data
from bayesvol.updating import run_sequential, update_fit

T_N, T0, H = 620, 520, 50
# Tighter than the defaults (more MC samples, longer window and patience) so that two VI runs
# from different starts end at the same optimum: the GARCH ELBO is flat along the omega-beta
# ridge and the default stopping rule can leave ~0.2 sd between a warm and a cold start.
OPTS = bv.VIOptions(mc_samples=32, window=100, patience=300, learning_rate=0.02)


def _garch(T: int, n: int, seed: int, omega=0.05, alpha=0.15, beta=0.8, nu=None) -> np.ndarray:
    """n GARCH(1,1) paths [n, T] (numpy; unit-variance normal or t innovations, burn-in 200)."""
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n, T + 200))
    if nu is not None:
        eps = rng.standard_t(nu, (n, T + 200)) * np.sqrt((nu - 2) / nu)
    y, s = np.zeros((n, T + 200)), np.full(n, omega / (1 - alpha - beta))
    for t in range(T + 200):
        y[:, t] = np.sqrt(s) * eps[:, t]
        s = omega + alpha * y[:, t] ** 2 + beta * s
    return y[:, 200:]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame(_garch(T_N, 2, seed=1).T, columns=["A01", "A02"],
                        index=pd.bdate_range("2000-01-03", periods=T_N, name="date"))


@pytest.fixture(scope="module")
def fit0(frame):
    return bv.fit(frame.iloc[:T0], seed=0, vi=OPTS)


@pytest.fixture(scope="module")
def refits(frame):
    return {t: bv.fit(frame.iloc[:t], seed=5, vi=OPTS) for t in (T0 + H, T_N)}


def _compare(fit, ref):
    """max over params of |mean difference| / ref sd, and min overlap accuracy, per asset."""
    out = []
    for i in range(len(ref.assets)):
        q, p = fit.flat_draws(i), ref.flat_draws(i)
        diff = max(abs(q[k].mean() - p[k].mean()) / p[k].std() for k in p)
        acc = min(overlap_accuracy(q[k], p[k]) for k in p)
        out.append((diff, acc))
    return out


def test_seqsvb_matches_full_refit(frame, fit0, refits):
    f1 = fit0.update(frame.iloc[T0:T0 + H], method="seqsvb")
    f2 = update_fit(f1, frame.iloc[T0 + H:])
    assert f2.method == "vi" and f2.panel.n_times == T_N
    assert f2.panel == bv.ReturnsPanel.from_values(frame.to_numpy().T, frame.index,
                                                   frame.columns)
    d = f2.diagnostics
    assert d["update_method"] == "seqsvb" and d["n_new"] == H and d["updates"] == 2
    assert d["converged"] and d["iterations"] > 0 and d["update_seconds"] > 0
    assert f2.options == dataclasses.asdict(OPTS)
    for diff, acc in _compare(f2, refits[T_N]) + _compare(f1, refits[T0 + H]):
        assert diff < 0.2 and acc > 90.0


def test_uvb_close_to_refit_and_uses_block_only(frame, fit0, refits):
    u1 = fit0.update(frame.iloc[T0:T0 + H], method="uvb")
    assert u1.diagnostics["update_method"] == "uvb" and u1.diagnostics["carry"] == "plugin"
    assert u1.panel.n_times == T0 + H and u1.vi_params["loc"].shape == (2, 3)
    for diff, acc in _compare(u1, refits[T0 + H]):
        assert diff < 0.5 and acc > 85.0
    # the UVB log-joint at z is the block log-likelihood (new points only, variance entering
    # the block from the recursion at the previous mean) plus log N(z; mu_prev, Sigma_prev)
    mu, cov = jax.vmap(get_family("fullrank").mean_cov)(
        jax.tree_util.tree_map(jnp.asarray, fit0.vi_params))
    mu, cov = np.asarray(mu), np.asarray(cov)
    data = uvb_data(fit0.model, fit0.panel, u1.panel, mu, cov, "plugin")
    target = UVBTarget(fit0.model, "plugin")
    for i in range(2):
        z = mu[i] + np.array([0.1, -0.2, 0.15])
        p = {k: float(v) for k, v in fit0.model.constrain(jnp.asarray(mu[i])).items()}
        y_old = frame.iloc[:T0, i].to_numpy()
        s = np.mean(y_old ** 2)  # start "sample"
        for y in y_old:
            s = p["omega"] + p["alpha"] * y ** 2 + p["beta"] * s
        q = {k: float(v) for k, v in fit0.model.constrain(jnp.asarray(z)).items()}
        ll = 0.0
        for y in frame.iloc[T0:T0 + H, i].to_numpy():
            ll += -0.5 * (np.log(2 * np.pi * s) + y ** 2 / s)
            s = q["omega"] + q["alpha"] * y ** 2 + q["beta"] * s
        want = ll + multivariate_normal(mu[i], cov[i]).logpdf(z)
        di = jax.tree_util.tree_map(lambda x, i=i: x[i], data)
        assert float(target.log_joint(jnp.asarray(z), di)) == pytest.approx(want, abs=1e-8)
    # a second update reuses the compiled program (same block shape)
    u2 = u1.update(frame.iloc[T0 + H:].to_numpy().T, method="uvb")
    assert u2.panel.n_times == T_N and u2.diagnostics["updates"] == 2


@pytest.mark.parametrize("ar", [False, True])
def test_exact_carry_is_loglik_difference(ar):
    # start=1.0: the start value does not depend on the data, so the exact block likelihood is
    # l(all) - l(old). With the default start "sample", l(all) would start from the sample
    # variance of ALL data while the UVB block keeps the old fit's start (sample variance of
    # the old data), and the two sides would differ. With an AR(1) mean the exact carry stays
    # exact (the block's first residual sees the last old return); the plug-in one is refused.
    model = GarchModel(dist="t", start=1.0, ar=ar)
    rng = np.random.default_rng(0)
    y = _garch(300, 2, seed=3, omega=0.1, alpha=0.1, beta=0.85, nu=6.0)
    y[1, :10] = np.nan  # ragged: asset 1 lists late ...
    y[1, 255:260] = np.nan  # ... and its old data end before the last old date
    if ar:
        y[:, 1:] += 0.3 * y[:, :-1]
    dates = pd.bdate_range("2010-01-04", periods=300)
    full = bv.ReturnsPanel.from_values(y, dates, ["a", "b"])
    old = full.slice_time(0, 260)
    mu = np.array([[0.3] * ar + [-2.0, 1.5, -1.0, 1.0]] * 2)
    d = mu.shape[1]
    cov = np.stack([0.05 * np.eye(d), 0.02 * np.eye(d) + 0.01])
    exact = uvb_data(model, old, full, mu, cov, "exact")
    blocks, targets = [exact], [UVBTarget(model, "exact")]
    if ar:
        with pytest.raises(InputError, match="without AR mean"):
            uvb_data(model, old, full, mu, cov, "plugin")
    else:
        blocks.append(uvb_data(model, old, full, mu, cov, "plugin"))
        targets.append(UVBTarget(model, "plugin"))
    z = jnp.asarray(np.concatenate([mu, mu + rng.normal(scale=0.3, size=mu.shape)]))
    twice = jax.tree_util.tree_map(lambda x: jnp.concatenate([x, x]), (
        series_data(full), series_data(old), *blocks))

    @jax.jit
    def logliks(z, d_full, d_old, *d_blocks):
        ll = jax.vmap(model.log_likelihood)
        return (ll(z, d_full) - ll(z, d_old),
                *(jax.vmap(t.log_likelihood)(z, d) for t, d in zip(targets, d_blocks,
                                                                   strict=True)))

    want, got, *rest = (np.asarray(a) for a in logliks(z, *twice))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)
    if not ar:
        got_plugin = rest[0]
        # at the previous mean (first two rows) the plug-in variance is the exact one
        np.testing.assert_allclose(got_plugin[:2], got[:2], rtol=0, atol=1e-8)
        assert np.all(np.abs(got_plugin[2:] - got[2:]) > 1e-6)  # elsewhere it is not


def test_update_errors(frame, fit0):
    with pytest.raises(InputError, match=str(frame.index[T0 - 5].date())):
        fit0.update(frame.iloc[T0 - 5:T0 + 10])
    with pytest.raises(InputError, match="assets"):
        fit0.update(frame.iloc[T0:T0 + 10].rename(columns={"A02": "B"}))
    with pytest.raises(InputError, match="asset"):
        fit0.update(np.zeros((3, 10)))
    with pytest.raises(InputError, match="method"):
        fit0.update(frame.iloc[T0:T0 + 10], method="bogus")
    mle = dataclasses.replace(fit0, method="mle", vi_params=None)
    with pytest.raises(ValueError, match="sequential updating needs a VI fit"):
        update_fit(mle, frame.iloc[T0:T0 + 10])


def test_update_refuses_other_models(frame, fit0):
    # a pooled model, and UVB's plug-in carry under an AR(1) mean, are refused before any work
    hier = dataclasses.replace(fit0, model=HierGarchModel())
    for method in ("seqsvb", "uvb"):
        with pytest.raises(InputError, match="available for garch models without AR mean"):
            hier.update(frame.iloc[T0:T0 + 10], method=method)
    ar = dataclasses.replace(fit0, model=GarchModel(ar=True))
    with pytest.raises(InputError, match="available for garch models without AR mean"):
        ar.update(frame.iloc[T0:T0 + 10], method="uvb")
    with pytest.raises(InputError, match="without AR mean"):
        update_fit(ar, frame.iloc[T0:T0 + 10], method="uvb", carry="plugin")


def test_engine_does_not_import_the_api():
    code = ("import sys, bayesvol.inference.sequential; "
            "print(sorted(m for m in ('bayesvol.api', 'bayesvol.results', 'bayesvol.updating',"
            " 'bayesvol.fit_joint') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_schedule_and_run_sequential(frame):
    assert sequential_schedule(600, 1000, 2) == [(600, 800), (800, 1000)]
    assert sequential_schedule(500, 1000, 1) == [(500, 1000)]
    assert sequential_schedule(10, 17, 3) == [(10, 12), (12, 14), (14, 17)]
    with pytest.raises(InputError):
        sequential_schedule(600, 500, 2)
    fits = run_sequential(frame, T0, 2, "seqsvb", vi=OPTS)
    assert [f.panel.n_times for f in fits] == [T0, T0 + H, T_N]
    assert [f.diagnostics.get("update_method") for f in fits] == [None, "seqsvb", "seqsvb"]
    assert fits[-1].panel.dates.equals(frame.index)
