"""The joint VI engine (inference/joint) on a conjugate toy model whose posterior is known.

Toy model (a Gaussian hierarchy, exactly Gaussian posterior):
    mu ~ N(0, 10^2);  z_i | mu ~ N(mu, tau^2);  y_ij | z_i ~ N(z_i, 1), j = 1..n_i
The posterior of (mu, z) is Gaussian and the local-global family contains it (q(z_i | mu) is
linear-Gaussian in mu), so the structured family must recover its means and covariances.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayesvol.inference.joint import vi as joint_vi
from bayesvol.inference.joint.family import LocalGlobalFamily
from bayesvol.inference.joint.objective import (
    chunked_elbo_grad,
    full_elbo,
    global_elbo,
    local_elbo,
    split_minibatch_elbo,
    surrogate_mean,
    surrogate_value,
    take_assets,
)
from bayesvol.inference.joint.vi import JointVIOptions, run_joint_vi
from bayesvol.models.joint_data import JointData

TAU = 0.7
PRIOR_SD = 10.0


class ToyLocal(NamedTuple):
    y: jax.Array  # [N, n]
    mask: jax.Array  # [N, n]


def _norm(x, m, s):
    return -0.5 * ((x - m) / s) ** 2 - jnp.log(s) - 0.5 * jnp.log(2 * jnp.pi)


@dataclass(frozen=True)
class Toy:
    global_dim = 1
    local_dim = 1

    def log_global(self, g, glob):
        return _norm(g[0], 0.0, PRIOR_SD)

    def log_local_prior(self, z, g):
        return _norm(z[0], g[0], TAU)

    def local_log_likelihood(self, z, local):
        return jnp.sum(local.mask * _norm(local.y, z[0], 1.0))

    def independent_globals(self, glob):
        return jnp.zeros(1)

    def initial_local(self, local):
        return jnp.zeros(1)

    def population_gaussian(self, g):
        return g, jnp.eye(1) * TAU**2

    def globals_from_moments(self, m, v, ok, glob):
        return jnp.mean(m, axis=0)

    def global_start_cov(self, g, ok):
        return jnp.eye(1)


def _toy_data(n_assets=12, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 12, n_assets)
    z = 1.5 + TAU * rng.standard_normal(n_assets)
    y = z[:, None] + rng.standard_normal((n_assets, 12))
    mask = (np.arange(12)[None, :] < counts[:, None]).astype(float)
    return JointData(jnp.zeros(()), ToyLocal(jnp.asarray(y * mask), jnp.asarray(mask)))


def _exact_posterior(data):
    """Mean and covariance of (mu, z_1..z_N) from the joint Gaussian precision."""
    y, m = np.asarray(data.local.y), np.asarray(data.local.mask)
    n = y.shape[0]
    prec = np.zeros((n + 1, n + 1))
    b = np.zeros(n + 1)
    prec[0, 0] = 1 / PRIOR_SD**2 + n / TAU**2
    for i in range(n):
        prec[0, i + 1] = prec[i + 1, 0] = -1 / TAU**2
        prec[i + 1, i + 1] = 1 / TAU**2 + m[i].sum()
        b[i + 1] = (y[i] * m[i]).sum()
    cov = np.linalg.inv(prec)
    return cov @ b, cov


def test_family_log_q_and_entropy_match_the_dense_gaussian():
    rng = np.random.default_rng(3)
    n, dg, dl = 3, 4, 2
    fam = LocalGlobalFamily("structured")
    p = fam.init(jnp.asarray(rng.normal(size=dg)), jnp.eye(dg),
                 jnp.asarray(rng.normal(size=(n, dl))), jnp.broadcast_to(jnp.eye(dl), (n, dl, dl)))
    p = {k: jnp.asarray(v + 0.3 * rng.normal(size=v.shape)) for k, v in p.items()}
    # dense A with z = m + A eps, eps = (eps_g, eps_1, ..., eps_N)
    lg, ll = np.asarray(fam.global_chol(p)), np.asarray(fam.local_chol(p))
    d = dg + n * dl
    a = np.zeros((d, d))
    a[:dg, :dg] = lg
    for i in range(n):
        r = slice(dg + i * dl, dg + (i + 1) * dl)
        a[r, :dg] = np.asarray(p["l_B"][i]) @ lg
        a[r, r] = ll[i]
    mean = np.concatenate([np.asarray(p["g_loc"]), np.asarray(p["l_loc"]).ravel()])
    cov = a @ a.T
    eps_g = jnp.asarray(rng.normal(size=(5, dg)))
    eps_l = jnp.asarray(rng.normal(size=(5, n, dl)))
    g, z = fam.sample(p, eps_g, eps_l)
    flat = np.concatenate([np.asarray(g), np.asarray(z).reshape(5, -1)], axis=1)
    eps = np.concatenate([np.asarray(eps_g), np.asarray(eps_l).reshape(5, -1)], axis=1)
    np.testing.assert_allclose(flat, mean + eps @ a.T, atol=1e-10)
    dense = multivariate_normal(mean, cov)
    np.testing.assert_allclose(np.asarray(fam.log_q(p, g, z)), dense.logpdf(flat), rtol=1e-9)
    np.testing.assert_allclose(float(fam.entropy(p)), dense.entropy(), rtol=1e-10)
    m_g, c_g, m_l, c_l = fam.marginals(p)
    np.testing.assert_allclose(np.asarray(c_g), cov[:dg, :dg], atol=1e-10)
    np.testing.assert_allclose(np.asarray(c_l[1]), cov[dg + dl:dg + 2 * dl, dg + dl:dg + 2 * dl],
                               atol=1e-10)


def test_minibatch_estimate_averages_to_the_full_elbo():
    """With the same eps, the N/B-scaled batch estimates average over all batches to the
    full-data estimate (the estimator is unbiased)."""
    import itertools

    model, data = Toy(), _toy_data(6)
    fam = LocalGlobalFamily("structured")
    p = fam.init(jnp.ones(1), jnp.eye(1), jnp.zeros((6, 1)),
                 jnp.broadcast_to(jnp.eye(1), (6, 1, 1)))
    p["l_B"] = p["l_B"] + 0.3
    key = jax.random.PRNGKey(0)
    eps_g, eps_l = jax.random.normal(key, (4, 1)), jax.random.normal(key, (4, 6, 1))
    full = float(full_elbo(fam, model, p, eps_g, eps_l, data, chunk=4))  # 2 chunks, padded
    gl = {k: v for k, v in p.items() if not k.startswith("l_")}
    ll = {k: v for k, v in p.items() if k.startswith("l_")}
    est = []
    for b in itertools.combinations(range(6), 2):
        idx = jnp.asarray(b)
        loc = local_elbo(fam, model, {**gl, **take_assets(ll, idx)}, eps_g, eps_l[:, idx],
                         take_assets(data.local, idx))
        est.append(float(global_elbo(fam, model, p, eps_g, data.glob) + 3.0 * loc))
    assert np.mean(est) == pytest.approx(full, rel=1e-12)
    assert np.std(est) > 0  # the batches do differ


def _toy_structured(n, draws, seed):
    """A structured family on the toy model with B_i != 0: (family, global params, local
    params, eps_g, eps_l)."""
    fam = LocalGlobalFamily("structured")
    p = fam.init(jnp.ones(1), 0.3 * jnp.eye(1), 0.1 * jnp.arange(float(n))[:, None],
                 jnp.broadcast_to(0.5 * jnp.eye(1), (n, 1, 1)))
    p["l_B"] = p["l_B"] + 0.3
    key = jax.random.PRNGKey(seed)
    eps_g, eps_l = jax.random.normal(key, (draws, 1)), jax.random.normal(key, (draws, n, 1))
    gp = {k: v for k, v in p.items() if not k.startswith("l_")}
    lp = {k: v for k, v in p.items() if k.startswith("l_")}
    return fam, gp, lp, eps_g, eps_l


def test_split_minibatch_estimate_is_unbiased_with_exact_local_gradients():
    """The estimator of the minibatch step (prior terms of all assets, likelihood of the batch
    times N / B) averages over all batches to the full-data ELBO, its gradient in the globals
    averages to the full gradient, and each batch asset's gradient is the full one."""
    import itertools

    model, data = Toy(), _toy_data(6)
    fam, gp, lp, eps_g, eps_l = _toy_structured(6, draws=4, seed=0)
    full, (g_full, l_full) = jax.value_and_grad(
        lambda a, b: full_elbo(fam, model, {**a, **b}, eps_g, eps_l, data, chunk=6),
        argnums=(0, 1))(gp, lp)
    values, grads_g = [], []
    for b in itertools.combinations(range(6), 2):
        idx = jnp.asarray(b)
        v, (gg, gl) = jax.value_and_grad(
            lambda a, c, idx=idx: split_minibatch_elbo(
                fam, model, a, lp, c, idx, eps_g, eps_l, take_assets(data.local, idx),
                data.glob, 3.0), argnums=(0, 1))(gp, take_assets(lp, idx))
        values.append(float(v))
        grads_g.append(gg)
        for k in lp:  # each batch asset: the full gradient in its own locals
            np.testing.assert_allclose(np.asarray(gl[k]), np.asarray(l_full[k])[idx],
                                       rtol=1e-10, atol=1e-12)
    assert np.mean(values) == pytest.approx(float(full), rel=1e-12)
    assert np.std(values) > 0
    for k in gp:
        mean_grad = np.mean([np.asarray(g[k]) for g in grads_g], axis=0)
        np.testing.assert_allclose(mean_grad, np.asarray(g_full[k]), rtol=1e-10, atol=1e-12)


def _toy_surrogate(n, exact=True):
    """The start's quadratic likelihood summaries of the toy (exact: its likelihood is
    Gaussian), or a deliberately wrong one (shifted and rescaled)."""
    from bayesvol.inference.joint.start import joint_start

    surr = joint_start(Toy(), _toy_data(n), surrogate=True).surrogate
    if exact:
        return surr
    return surr._replace(z=surr.z + 0.4, prec=0.5 * surr.prec, grad=surr.grad - 0.3)


def test_surrogate_mean_is_the_expectation_of_the_surrogate_under_q():
    fam, gp, lp, _, _ = _toy_structured(5, draws=1, seed=0)
    surr = _toy_surrogate(5, exact=False)
    eps_g = jax.random.normal(jax.random.PRNGKey(3), (200_000, 1))
    eps_l = jax.random.normal(jax.random.PRNGKey(4), (200_000, 5, 1))
    _, z = fam.sample({**gp, **lp}, eps_g, eps_l)
    mc = np.asarray(jax.vmap(lambda z_s: surrogate_value(surr, z_s))(z)).mean(0)
    exact = np.asarray(surrogate_mean(fam, {**gp, **lp}, surr))
    np.testing.assert_allclose(exact, mc, rtol=0.01, atol=0.01)
    assert np.ptp(exact) > 0.5  # the assets differ, so the check is not of a constant


@pytest.mark.parametrize("exact", [True, False])
def test_control_variate_estimate_is_unbiased_and_exact_for_a_quadratic_likelihood(exact):
    """With the surrogate as a control variate the batch estimates still average to the
    full-data ELBO and gradient (any surrogate); with the toy's exact one the likelihood
    residual vanishes, so every batch gives the same global gradient: no batch noise."""
    import itertools

    model, data = Toy(), _toy_data(6)
    fam, gp, lp, eps_g, eps_l = _toy_structured(6, draws=4, seed=0)
    surr = _toy_surrogate(6, exact)
    est = lambda a, c, idx: split_minibatch_elbo(  # noqa: E731
        fam, model, a, lp, c, idx, eps_g, eps_l, take_assets(data.local, idx), data.glob,
        3.0, surr)
    values, grads = [], []
    for b in itertools.combinations(range(6), 2):
        idx = jnp.asarray(b)
        v, (gg, _) = jax.value_and_grad(est, argnums=(0, 1))(gp, take_assets(lp, idx), idx)
        values.append(float(v))
        grads.append(np.asarray(gg["g_logd"]))
    # the full-batch (chunked) estimate with the same surrogate and eps is their average
    v_all, (g_all, _) = chunked_elbo_grad(fam, model, gp, lp, eps_g, eps_l, data, 4, surr)
    assert np.mean(values) == pytest.approx(float(v_all), rel=1e-12)
    np.testing.assert_allclose(np.mean(grads, axis=0), np.asarray(g_all["g_logd"]), rtol=1e-10)
    if not exact:
        assert np.ptp(grads) > 1e-3
        return
    # (exact up to the start's mode tolerance, gtol 1e-4 per asset)
    assert np.ptp(values) < 1e-5 and np.ptp(grads) < 1e-5
    # nor Monte Carlo noise in the likelihood terms: other local draws move the estimate only
    # through the sampled prior terms, far less than the plain estimate moves
    others = [jax.random.normal(jax.random.PRNGKey(k), eps_l.shape) for k in range(20)]
    cv = [float(chunked_elbo_grad(fam, model, gp, lp, eps_g, e, data, 4, surr)[0])
          for e in others]
    plain = [float(full_elbo(fam, model, {**gp, **lp}, eps_g, e, data, chunk=6))
             for e in others]
    assert np.std(cv) < 0.5 * np.std(plain)


def test_chunked_full_batch_gradient_equals_the_one_pass_gradient():
    """The full-batch step's gradient assembled chunk by chunk (padded last chunk) is the
    gradient of the full-data ELBO estimate in one pass, value included."""
    model, data = Toy(), _toy_data(7)
    fam, gp, lp, eps_g, eps_l = _toy_structured(7, draws=3, seed=1)
    full, (g_full, l_full) = jax.value_and_grad(
        lambda a, b: full_elbo(fam, model, {**a, **b}, eps_g, eps_l, data, chunk=7),
        argnums=(0, 1))(gp, lp)
    for chunk in (3, 7):
        v, (gg, gl) = chunked_elbo_grad(fam, model, gp, lp, eps_g, eps_l, data, chunk)
        assert float(v) == pytest.approx(float(full), rel=1e-13)
        for k in gp:
            np.testing.assert_allclose(np.asarray(gg[k]), np.asarray(g_full[k]), rtol=1e-12)
        for k in lp:
            assert gl[k].shape == lp[k].shape
            np.testing.assert_allclose(np.asarray(gl[k]), np.asarray(l_full[k]), rtol=1e-12,
                                       atol=1e-14)


@pytest.mark.parametrize("batch_size", [
    None,
    pytest.param(4, marks=pytest.mark.xfail(
        strict=False, reason="known shortfall (issue 7 note): the minibatch q(mu) sd ends "
        "15-35% too wide depending on the run and the globals' step; means and locals "
        "agree")),
])
def test_structured_vi_recovers_the_exact_gaussian_posterior(batch_size):
    data = _toy_data(12)
    mean, cov = _exact_posterior(data)
    opts = JointVIOptions(batch_size=batch_size, mc_samples=8, max_iter=6000,
                          num_draws=20000, learning_rate=0.01,
                          eval_patience=10, window=50 if batch_size is None else 10)
    res = run_joint_vi(Toy(), data, jax.random.PRNGKey(1), opts)
    draws = np.concatenate([res.g[0], np.moveaxis(res.z[:, 0], 0, 1)[..., 0]], axis=1)
    sd = np.sqrt(np.diag(cov))
    assert res.converged
    assert np.all(np.abs(draws.mean(0) - mean) < 0.15 * sd)
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.12)
    # the coupling of each z_i with mu (what B_i carries) is recovered
    corr_vi = np.corrcoef(draws.T)[0, 1:]
    corr_ex = (cov / np.outer(sd, sd))[0, 1:]
    np.testing.assert_allclose(corr_vi, corr_ex, atol=0.08)


def test_meanfield_misses_the_coupling_that_structured_keeps():
    data = _toy_data(12)
    _, cov = _exact_posterior(data)
    opts = JointVIOptions(family="meanfield", mc_samples=8, max_iter=4000, num_draws=5000,
                          eval_patience=10, window=50)
    res = run_joint_vi(Toy(), data, jax.random.PRNGKey(1), opts)
    draws = np.concatenate([res.g[0], np.moveaxis(res.z[:, 0], 0, 1)[..., 0]], axis=1)
    assert np.max(np.abs(np.corrcoef(draws.T)[0, 1:])) < 0.05
    assert np.max(np.abs((cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov))))[0, 1:])) > 0.1
    # the learning rate is an argument of the compiled fit, not part of it: another rate (as
    # a retry uses) reuses the program, and the rate takes effect
    misses = joint_vi._program.cache_info().misses
    other = run_joint_vi(Toy(), data, jax.random.PRNGKey(1),
                         dataclasses.replace(opts, learning_rate=0.01))
    assert joint_vi._program.cache_info().misses == misses
    assert other.learning_rate == 0.01
    assert not np.array_equal(other.elbo_trace[:20], res.elbo_trace[:20])
    # nor is the number of draws (drawn by a program of their own): same fit, more draws
    more = run_joint_vi(Toy(), data, jax.random.PRNGKey(1),
                        dataclasses.replace(opts, num_draws=7000))
    assert joint_vi._program.cache_info().misses == misses
    assert more.g.shape[1] == 7000 and more.elbo == res.elbo
    np.testing.assert_array_equal(more.params["g_loc"], res.params["g_loc"])


def test_minibatch_fits_that_draw_globals_from_q_warn():
    """Minibatch q(g) is far from full batch's (benchmarks/hier_garch.py): a minibatch fit
    drawing from it warns; full batch, or the Laplace globals, do not."""
    from bayesvol.inference.joint.vi import minibatch_globals_warning
    from bayesvol.models.hier_garch import HierGarchModel

    hier, mini = HierGarchModel(), JointVIOptions(batch_size=4)
    assert minibatch_globals_warning(Toy(), mini, 12)  # no Gaussian population: q(g)
    assert "batch_size=4 of 12" in minibatch_globals_warning(hier, dataclasses.replace(
        mini, globals="vi"), 12)
    assert minibatch_globals_warning(hier, mini, 12) is None  # auto: Laplace globals
    assert minibatch_globals_warning(Toy(), mini, 4) is None  # batch covers the panel
    assert minibatch_globals_warning(Toy(), JointVIOptions(), 12) is None
    with pytest.warns(UserWarning, match="own q\\(g\\)"):
        run_joint_vi(Toy(), _toy_data(12), jax.random.PRNGKey(0),
                     dataclasses.replace(mini, max_iter=20, min_epochs=1, num_draws=10))


def test_laplace_marginal_of_the_globals_is_exact_for_a_gaussian_hierarchy():
    """With Gaussian likelihoods the start's summaries are exact, so the Laplace marginal of
    mu (inference/joint/start.py) is its exact posterior; globals="laplace" draws from it and
    each z_i from q(z_i | mu), which then match the exact joint too."""
    from bayesvol.inference.joint.start import joint_start

    data = _toy_data(12)
    mean, cov = _exact_posterior(data)
    lap = joint_start(Toy(), data, laplace=True).marginal
    assert bool(lap.ok)
    # exact up to the start's mode tolerance (gtol 1e-4 on each asset's mode)
    assert float(lap.z[0]) == pytest.approx(mean[0], rel=1e-6)
    assert float(lap.cov[0, 0]) == pytest.approx(cov[0, 0], rel=1e-6)
    opts = JointVIOptions(mc_samples=8, max_iter=6000, num_draws=20000, learning_rate=0.01,
                          eval_patience=10, window=50, globals="laplace")
    res = run_joint_vi(Toy(), data, jax.random.PRNGKey(2), opts)
    assert res.laplace_globals and res.converged
    draws = np.concatenate([res.g[0], np.moveaxis(res.z[:, 0], 0, 1)[..., 0]], axis=1)
    sd = np.sqrt(np.diag(cov))
    assert draws[:, 0].std() == pytest.approx(sd[0], rel=0.03)
    assert np.all(np.abs(draws.mean(0) - mean) < 0.15 * sd)
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.12)
    assert not run_joint_vi(Toy(), data, jax.random.PRNGKey(2), JointVIOptions(
        max_iter=100, num_draws=10)).laplace_globals  # auto: the toy declares no Gaussian


def _family_joint(p):
    """Mean and dense covariance of (g, z_1..z_N) under the structured family (d_g = d_l = 1):
    Cov(z_i, g) = B_i Cov g, Cov(z_i, z_j) = B_i Cov g B_j^T + [i = j] L_i L_i^T."""
    fam = LocalGlobalFamily("structured")
    lg, ll = np.asarray(fam.global_chol(p)), np.asarray(fam.local_chol(p))
    b = np.asarray(p["l_B"])[:, 0, 0]
    vg = (lg @ lg.T)[0, 0]
    col = np.concatenate([[1.0], b])
    cov = vg * np.outer(col, col)
    cov[1:, 1:] += np.diag((ll @ np.swapaxes(ll, 1, 2))[:, 0, 0])
    return np.concatenate([np.asarray(p["g_loc"]), np.asarray(p["l_loc"])[:, 0]]), cov


def test_laplace_start_is_the_exact_posterior_for_a_gaussian_hierarchy():
    """global_start="laplace" (start.py, step 6) starts q(g) at the Laplace marginal, each
    block at its posterior given that g and B_i at that posterior mean's slope in g: with
    Gaussian likelihoods each piece is exact, so the start is the exact joint posterior,
    the coupling B_i included. The default start is not (narrow q(g), B_i = 0)."""
    from bayesvol.inference.joint.start import joint_start

    data = _toy_data(12)
    mean, cov = _exact_posterior(data)
    fam = LocalGlobalFamily("structured")
    start = joint_start(Toy(), data, global_start="laplace")
    m, c = _family_joint(fam.init(start.g, start.cov_g, start.z, start.cov_z, start.slope))
    np.testing.assert_allclose(m, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, cov, rtol=1e-5, atol=1e-9)
    default = joint_start(Toy(), data)
    assert default.slope is None
    _, c0 = _family_joint(fam.init(default.g, default.cov_g, default.z, default.cov_z))
    assert np.max(np.abs(c0[0, 1:] - cov[0, 1:])) > 0.5 * np.max(np.abs(cov[0, 1:]))
    # and a fit from there stays there (full batch)
    opts = JointVIOptions(global_start="laplace", mc_samples=8, max_iter=3000,
                          num_draws=20000, learning_rate=0.01, eval_patience=10, window=50)
    res = run_joint_vi(Toy(), data, jax.random.PRNGKey(1), opts)
    draws = np.concatenate([res.g[0], np.moveaxis(res.z[:, 0], 0, 1)[..., 0]], axis=1)
    sd = np.sqrt(np.diag(cov))
    assert res.converged and np.all(np.abs(draws.mean(0) - mean) < 0.15 * sd)
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.1)


def test_globals_option_is_checked():
    with pytest.raises(ValueError, match="globals must be one of"):
        JointVIOptions(globals="exact")
    with pytest.raises(ValueError, match="global_start must be"):
        JointVIOptions(global_start="mode")


def test_closed_form_population_terms_are_the_expectation_over_the_blocks():
    """expected_local_priors with closed_form (a Gaussian population, hier-garch's mvn) is the
    Monte Carlo average of log p(z_i | g) over q(z_i | g), per draw of g and asset."""
    from bayesvol.inference.joint.objective import expected_local_priors
    from bayesvol.models.hier_garch import HierGarchModel

    model, fam = HierGarchModel(), LocalGlobalFamily("structured")
    rng = np.random.default_rng(0)
    n, dg, dl = 4, model.global_dim, model.local_dim
    p = fam.init(jnp.asarray(0.1 * rng.normal(size=dg)), 0.01 * jnp.eye(dg),
                 jnp.asarray(rng.normal(size=(n, dl))),
                 jnp.broadcast_to(0.05 * jnp.eye(dl), (n, dl, dl)))
    p = {k: jnp.asarray(v + 0.1 * rng.normal(size=v.shape)) for k, v in p.items()}
    g, g_dev = fam.sample_global(p, jnp.asarray(rng.normal(size=(3, dg))))
    exact = np.asarray(expected_local_priors(fam, model, p, g, g_dev, jnp.zeros((3, n, dl))))
    eps = jax.random.normal(jax.random.PRNGKey(0), (100_000, 3, n, dl))
    mc = np.asarray(jax.vmap(lambda e: expected_local_priors(
        fam, model, p, g, g_dev, e, closed_form=False))(eps)).mean(0)
    assert exact.shape == (3, n)
    np.testing.assert_allclose(exact, mc, atol=0.05)
    assert np.ptp(exact) > 1.0


def test_variance_reduction_option_fits_the_toy():
    """variance_reduction=True (control variate, more draws of g) runs the whole fit, full
    batch and minibatch, and lands on the exact posterior means of the toy."""
    data = _toy_data(12)
    mean, cov = _exact_posterior(data)
    sd = np.sqrt(np.diag(cov))
    for batch in (None, 4):
        opts = JointVIOptions(variance_reduction=True, batch_size=batch, mc_samples=8,
                              max_iter=3000, num_draws=4000, learning_rate=0.01,
                              eval_patience=10, window=50 if batch is None else 10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # minibatch q(g) warning
            res = run_joint_vi(Toy(), data, jax.random.PRNGKey(1), opts)
        draws = np.concatenate([res.g[0], np.moveaxis(res.z[:, 0], 0, 1)[..., 0]], axis=1)
        assert np.isfinite(res.elbo) and not res.failed
        assert np.all(np.abs(draws.mean(0) - mean) < 0.2 * sd)
