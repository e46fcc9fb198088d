"""Sequential updating of DFSV fits (seq-VA), padding, CLAPL and the choice of K
(bayesvol.dfsv_sequential, bayesvol.inference.dfsv.sequential).

One simulated panel (N = 4, K = 1, ``simulate_dfsv`` seed 4) is shared. The sequential run
fits the first 114 dates on the padded time axis and updates twice with blocks of 6 dates
(120, 126 dates: every fit in the capacity bucket of 128 dates), scoring each block first; a
plain batch fit (``fit_dfsv``) on the first 120 dates is the reference. Checked:

- padding is exact: fully masked trailing dates add nothing to the Kalman-filter likelihood
  (value and gradient, with and without factor dynamics), and with the theta-free prior on
  padded paths the ELBO integrand log p - log q at a draw of the padded q equals the unpadded
  one at the same (theta, x_{1:T}) (so the two ELBOs are the same random variable). With the
  model's own AR(1) prior on the padding they would differ by the padded paths' AR(1) density,
  which q, independent of theta, cannot match for every phi (the engine's docstring);
- the AR(1) continuation of the new path entries keeps q's marginal of the old dates exactly
  and truncation to the real dates inverts it; q carried to a new data scale maps every draw
  of theta to the rescaled parameters (Lambda -> rho Lambda, mu_id -> mu_id + 2 log rho);
- a padded batch fit, and an update from a fit on fewer dates, agree with the plain batch fit
  within VI noise (posterior means of the loadings within 3 posterior sds, the covariance
  path within 20%; different seeds of the batch fit differ by 1-2 sds and 3-14% on panels
  like this one);
- an update in the same bucket compiles nothing (JAX's compile log);
- CLAPL is the sum of the joint one-step scores of each block under the fit before it;
- bad input raises InputError.
No timings are asserted (benchmarks/dfsv_sequential.py measures them).
"""

from __future__ import annotations

import dataclasses
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import bayesvol  # noqa: F401  (float64)
from bayesvol.dfsv_fit import DfsvFit, fit_dfsv, select_factors
from bayesvol.dfsv_sequential import (
    default_update_options,
    fit_dfsv_padded,
    sequential_dfsv,
    update_dfsv,
)
from bayesvol.errors import InputError
from bayesvol.inference.dfsv import family as fam
from bayesvol.inference.dfsv.sequential import (
    PaddedDfsvModel,
    _path_ar1,
    extend_params,
    pad_params,
    rescale_params,
    truncate_params,
)
from bayesvol.models.dfsv import DfsvModel
from bayesvol.simulate.dfsv import simulate_dfsv

N, K, T0, J = 4, 1, 114, 6
OPTS = {"max_iter": 400, "num_draws": 200}
SCORE = {"max_draws": 40, "n_particles": 40}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return simulate_dfsv(N, K, 150, idio="ar1", seed=4, Q_h=0.3**2).to_frame()


@pytest.fixture(scope="module")
def run(data):
    return sequential_dfsv(data.iloc[:T0 + 2 * J], K, T0, J, seed=0, keep_fits=True,
                           **SCORE, **OPTS)


@pytest.fixture(scope="module")
def batch(data) -> DfsvFit:
    return fit_dfsv(data.iloc[:T0 + J], K, seed=0, **OPTS)


def _assert_close_fits(fit: DfsvFit, ref: DfsvFit, times) -> None:
    """Posterior means of the loadings within 3 posterior sds, covariance within 20%."""
    lam, ref_lam = fit.loadings().to_numpy(), ref.loadings().to_numpy()
    sd = ref.loadings("sd").to_numpy()
    assert np.all(np.abs(lam - ref_lam) <= 3.0 * sd + 1e-12), (lam, ref_lam, sd)
    cov, ref_cov = (f.covariance(times=times).to_numpy() for f in (fit, ref))
    assert np.max(np.abs(cov - ref_cov)) <= 0.2 * np.max(np.abs(ref_cov))
    assert abs(fit.elbo - ref.elbo) < 5.0


# ---------------------------------------------------------------- padding is exact
@jax.jit
def _loglik_pair(theta, x, x_pad, y, mask, y_pad, mask_pad):
    """(value, value padded, gradient, gradient padded) of log p(y | x, theta) for the model
    with factor dynamics (Kalman filter; gradient by Fisher's identity from the smoother) and
    (value only) without (static factors; theta without phi_f)."""
    out = []
    drop = DfsvModel(N, K, "ar1", True).layout["phi_f"]
    for far in (True, False):
        model = DfsvModel(N, K, "ar1", far)
        if not far:
            theta = jnp.concatenate([theta[:drop.start], theta[drop.stop:]])

        def ll(th, xx, yy, mm, model=model):
            h, h_id = model.scale_paths(th, xx)
            return model.log_likelihood(th, h, h_id, yy, mm)

        pair = (ll(theta, x, y, mask), ll(theta, x_pad, y_pad, mask_pad))
        if far:
            pair += (jax.grad(ll)(theta, x, y, mask), jax.grad(ll)(theta, x_pad, y_pad, mask_pad))
        out.append(pair)
    return out


def _integrand(model, params, theta, x, y, mask):
    """log p(y, theta, x) - log q(theta, x): the ELBO's integrand at one draw."""
    return (model.log_joint_noncentred(theta, x, y, mask)
            - fam.log_density(params, theta, x, model.path_globals(),
                              fam.theta_blocks(model) if "theta_blk" in params else None))


_integrands = jax.jit(jax.vmap(_integrand, in_axes=(None, None, 0, 0, None, None)),
                      static_argnums=0)


def test_padding_adds_nothing(run):
    fit = run.fits[1]                                   # 120 real dates
    model = fit.model
    T, cap = len(fit.times), 128
    y = np.where(np.isfinite(fit.returns), (fit.returns - fit.asset_mean) / fit.scale, 0.0)
    mask = np.isfinite(fit.returns)
    y_pad = np.zeros((cap, N))
    y_pad[:T] = y
    y_pad[T:] = 7.0                                     # values under a False mask are ignored
    mask_pad = np.zeros((cap, N), bool)
    mask_pad[:T] = mask
    params = pad_params(fit.params, cap)
    rng = np.random.default_rng(0)
    eps_t = rng.normal(size=(8, model.dim))
    eps_x = rng.normal(size=(8, model.n_paths, cap))
    blocks = fam.theta_blocks(model) if "theta_blk" in params else None
    jp = {k: jnp.asarray(v) for k, v in params.items()}
    theta, x_pad = jax.vmap(lambda a, b: fam.sample(jp, a, b, model.path_globals(), blocks))(
        jnp.asarray(eps_t), jnp.asarray(eps_x))
    x = x_pad[:, :, :T]

    # the Kalman filter (Phi_f estimated) and the static-factor likelihood: value and gradient
    dyn, static = _loglik_pair(theta[0], x[0], x_pad[0], y, mask, y_pad, mask_pad)
    np.testing.assert_allclose(float(dyn[1]), float(dyn[0]), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(dyn[3]), np.asarray(dyn[2]), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(float(static[1]), float(static[0]), rtol=1e-12)

    # ELBO integrand: padded model and padded q at a draw = unpadded at its first T dates
    padded = PaddedDfsvModel.of(model)
    trunc = {k: jnp.asarray(v) for k, v in truncate_params(params, T).items()}
    got = np.asarray(_integrands(padded, jp, theta, x_pad, jnp.asarray(y_pad),
                                 jnp.asarray(mask_pad)))
    want = np.asarray(_integrands(model, trunc, theta, x, jnp.asarray(y), jnp.asarray(mask)))
    np.testing.assert_allclose(got, want, rtol=1e-11)
    # the truncated parameters are the first T entries (the link to the padding is zero)
    for k in ("path_loc", "path_logd", "path_c"):
        np.testing.assert_allclose(np.asarray(trunc[k]), fit.params[k], rtol=1e-12)


def test_new_entries_continue_the_ar1(run):
    fit = run.fits[0]
    model, T = fit.model, len(fit.times)
    rng = np.random.default_rng(1)
    theta = jnp.asarray(fit.params["theta_loc"] + 0.01 * rng.normal(size=model.dim))
    blocks = fam.theta_blocks(model) if "theta_blk" in fit.params else None
    for paths in ("noncentred", "centred"):
        ext = extend_params(model, fit.params, 5, T + 9, paths)
        x = rng.normal(size=(model.n_paths, T + 9))
        lq_ext, lq = (float(fam.log_density({k: jnp.asarray(v) for k, v in p.items()}, theta,
                                            jnp.asarray(xx), model.path_globals(), blocks))
                      for p, xx in ((ext, x), (fit.params, x[:, :T])))
        level, phi, sd = _path_ar1(model, fit.params["theta_loc"], paths)
        new = x[:, T:T + 5]
        prev = x[:, T - 1:T + 4]
        cont = norm.logpdf(new, level[:, None] + phi[:, None] * (prev - level[:, None]),
                           sd[:, None]).sum()
        np.testing.assert_allclose(lq_ext - lq, cont + norm.logpdf(x[:, T + 5:]).sum(),
                                   rtol=1e-10)
        back = truncate_params(ext, T)
        for k, v in fit.params.items():
            np.testing.assert_allclose(back[k], v, rtol=1e-10, atol=1e-12)


def test_rescaled_q_is_the_image_of_q(run):
    """q carried to data of another scale: each draw of q' is the image of the same draw of
    q under theta -> a theta + b, i.e. Lambda -> rho Lambda and mu_id -> mu_id + 2 log rho."""
    fit = run.fits[0]
    model, rho = fit.model, 0.8
    blocks = fam.theta_blocks(model) if "theta_blk" in fit.params else None
    new = rescale_params(model, fit.params, np.log(rho))
    eps = np.random.default_rng(2).normal(size=(5, model.dim))
    draw = lambda p: np.asarray(fam.theta_draw(  # noqa: E731
        {k: jnp.asarray(v) for k, v in p.items()}, jnp.asarray(eps), blocks))
    before, after = draw(fit.params), draw(new)
    for th, th2 in zip(before, after, strict=True):
        a, b = model.constrain(jnp.asarray(th)), model.constrain(jnp.asarray(th2))
        np.testing.assert_allclose(b["Lambda"], rho * np.asarray(a["Lambda"]), rtol=1e-12)
        np.testing.assert_allclose(b["mu_id"], np.asarray(a["mu_id"]) + 2 * np.log(rho),
                                   rtol=1e-12)
        for k in ("phi_h", "sigma_h", "phi_id", "sigma_id", "phi_f"):
            np.testing.assert_allclose(b[k], a[k], rtol=1e-12)


# ---------------------------------------------------------------- fits
def test_padded_batch_fit_matches_plain_fit(data, batch):
    fit = fit_dfsv_padded(data.iloc[:T0 + J], K, seed=0, **OPTS)
    assert fit.diagnostics["capacity"] == 128
    assert fit.params["path_loc"].shape == batch.params["path_loc"].shape
    np.testing.assert_allclose(fit.scale, batch.scale)
    _assert_close_fits(fit, batch, data.index[[5, 60, T0 + J - 1]])


def test_update_matches_batch_fit(run, data, batch):
    fit = run.fits[1]
    assert fit.times.equals(batch.times)
    np.testing.assert_array_equal(np.isnan(fit.returns), np.isnan(batch.returns))
    np.testing.assert_allclose(fit.scale, batch.scale, rtol=1e-12)      # data transform of
    np.testing.assert_allclose(fit.asset_mean, batch.asset_mean, rtol=1e-12)   # all data
    assert fit.diagnostics["updates"] == 1 and fit.diagnostics["n_new"] == J
    assert fit.params["path_loc"].shape == (fit.model.n_paths, T0 + J)
    _assert_close_fits(fit, batch, data.index[[5, 60, T0 + J - 1]])
    # the run's update is the public update of its batch fit (deterministic)
    again = run.fits[0].update(data.iloc[T0:T0 + J],
                               **default_update_options(run.fits[0].options))
    np.testing.assert_allclose(again.params["theta_loc"], fit.params["theta_loc"], rtol=1e-9)


class _Compiles(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Compiling"):
            self.messages.append(msg)


def test_update_in_the_same_bucket_compiles_nothing(run, data):
    assert list(run.steps["capacity"]) == [128, 128, 128]
    handler, logger = _Compiles(), logging.getLogger("jax")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    jax.config.update("jax_log_compiles", True)
    try:      # a new number of dates (128), the bucket of the previous updates
        new = run.fit.update(data.iloc[T0 + 2 * J:T0 + 2 * J + 2])
    finally:
        jax.config.update("jax_log_compiles", False)
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert handler.messages == []
    assert len(new.times) == 128 and new.diagnostics["capacity"] == 128
    assert new.diagnostics["updates"] == 3


# ---------------------------------------------------------------- CLAPL and K
def test_clapl_is_the_sum_of_block_scores(run, data):
    steps = run.steps
    assert list(steps["n_dates"]) == [T0, T0 + J, T0 + 2 * J]
    assert (steps["iterations"] > 0).all()
    joint = run.joint
    assert len(joint) == 2 * J and joint.index.equals(data.index[T0:T0 + 2 * J])
    total = 0.0
    for b in range(2):
        block = data.iloc[T0 + b * J:T0 + (b + 1) * J]
        s = run.fits[b].score(block, **SCORE).joint
        np.testing.assert_allclose(joint.loc[block.index].to_numpy(), s.to_numpy(), rtol=1e-12)
        total += float(s.sum())
    np.testing.assert_allclose(run.clapl, total, rtol=1e-12)
    assert np.isfinite(run.clapl)


def test_select_factors_table(run, data):
    table = select_factors(data.iloc[:T0 + 2 * J], ks=(1,), t0=T0, every=J, seed=0,
                           **SCORE, **OPTS)
    assert list(table.index) == [1]
    np.testing.assert_allclose(table.loc[1, "clapl"], run.clapl, rtol=1e-10)
    np.testing.assert_allclose(table.loc[1, "elbo"], run.fit.elbo, rtol=1e-10)
    assert table.loc[1, "n_scored"] == 2 * J
    assert table.attrs["k_elbo"] == table.attrs["k_clapl"] == 1
    assert bool(table.loc[1, "best_elbo"]) and bool(table.loc[1, "best_clapl"])


@pytest.mark.slow
def test_clapl_picks_the_true_number_of_factors():
    """One clear factor (N = 5, 150 dates): CLAPL over the last 50 dates prefers K = 1."""
    df = simulate_dfsv(5, 1, 150, idio="ar1", seed=2, Q_h=0.3**2).to_frame()
    table = select_factors(df, ks=(1, 2), t0=100, every=10, **SCORE, **OPTS)
    assert table.attrs["k_clapl"] == 1


# ---------------------------------------------------------------- bad input
def test_bad_input(run, data):
    fit = run.fit
    with pytest.raises(InputError, match="strictly after"):
        fit.update(data.iloc[T0:T0 + 3 * J])               # overlaps the fitted dates
    with pytest.raises(InputError, match="not in the fit"):
        fit.update(data.iloc[T0 + 2 * J:T0 + 3 * J].rename(columns={"A01": "ZZZ"}))
    with pytest.raises(InputError, match="dates"):
        fit.update(np.zeros((N, 3)))                       # a dated fit needs dates
    with pytest.raises(InputError, match="family"):
        fit.update(data.iloc[T0 + 2 * J:T0 + 3 * J], family="meanfield")
    with pytest.raises(InputError, match="option"):
        fit.update(data.iloc[T0 + 2 * J:T0 + 3 * J], no_such_option=1)
    with pytest.raises(InputError, match="VI fit"):
        update_dfsv(dataclasses.replace(fit, params={}, method="nuts"),
                    data.iloc[T0 + 2 * J:T0 + 3 * J])
    with pytest.raises(InputError, match="t0"):
        sequential_dfsv(data, K, t0=len(data), every=5)
    with pytest.raises(InputError, match="every"):
        sequential_dfsv(data, K, t0=T0, every=0)
