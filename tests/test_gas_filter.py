"""The generic GAS filter (models/gas_filter.py): the recursion against a slow NumPy loop for
every scaling and form of A and B, masked observations, the stationarity bijections, the
parameter layout round trip and the forward-over-forward Hessian rule."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import gammaln

import bayesvol  # noqa: F401  (float64)
from bayesvol.models.gas_filter import (
    GasDynamics,
    GasParams,
    contraction_forward,
    contraction_inverse,
    contraction_logdet,
    forward_hessian,
    gas_filter,
    scale_score,
    spectral_radius,
    tanh_forward,
    tanh_inverse,
)

N_STATE, N_SERIES, T = 2, 3, 60
C = np.array([[1.0, 0.0], [0.6, 0.4], [0.0, 1.0]])  # loadings: log lambda = w + C f
W = np.array([0.3, -0.2, 0.1])


def poisson_counts(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Counts [T, 3] and a mask with two missing dates (count 0 there)."""
    rng = np.random.default_rng(seed)
    y = rng.poisson(np.exp(W), size=(T, N_SERIES)).astype(float)
    mask = np.ones(T)
    mask[[7, 31]] = 0.0
    y[mask == 0] = 0.0
    return y, mask


def log_density(y_t, f):
    """Independent Poisson counts with log intensities w + C f (y! dropped in jnp, kept in
    the reference, so the two differ by a constant per observed date)."""
    eta = jnp.asarray(W) + jnp.asarray(C) @ f
    return jnp.sum(y_t * eta - jnp.exp(eta))


def information(f):
    """I = C' diag(lambda) C (dense, depends on f)."""
    lam = jnp.exp(jnp.asarray(W) + jnp.asarray(C) @ f)
    return jnp.asarray(C).T @ (lam[:, None] * jnp.asarray(C))


def reference_filter(y, mask, omega, A, B, f1, a):
    """The GAS recursion by a Python loop over time (NumPy), closed-form score."""
    def mat(M):
        M = np.asarray(M, dtype=float)
        return M if M.ndim == 2 else M * np.eye(N_STATE)

    A, B = mat(A), mat(B)
    f = np.array(f1, dtype=float)
    fs, lls, ss = [], [], []
    for t in range(len(y)):
        lam = np.exp(W + C @ f)
        if mask[t] > 0:
            ll = float(np.sum(y[t] * np.log(lam) - lam - gammaln(y[t] + 1.0)))
            nabla = C.T @ (y[t] - lam)
            info = C.T @ np.diag(lam) @ C
            w, v = np.linalg.eigh(info)
            s = v @ np.diag(w ** (-a)) @ v.T @ nabla
        else:
            ll, s = 0.0, np.zeros(N_STATE)
        fs.append(f.copy())
        lls.append(ll)
        ss.append(s)
        f = omega + A @ s + B @ f
    return np.array(fs), np.array(lls), np.array(ss), f


FORM_PARAMS = {
    "scalar": (np.array(0.08), np.array(0.9)),
    "diagonal": (np.array([0.08, 0.05]), np.array([0.9, 0.7])),
    "dense": (np.array([[0.08, 0.02], [-0.01, 0.05]]), np.array([[0.85, 0.05], [0.1, 0.6]])),
}


@pytest.mark.parametrize("a,form", list(itertools.product((0.0, 0.5, 1.0), FORM_PARAMS)))
def test_filter_matches_numpy_loop(a, form):
    y, mask = poisson_counts()
    A, B = FORM_PARAMS[form]
    omega = np.array([0.02, -0.03])
    f1 = np.array([0.1, -0.1])
    path = jax.jit(lambda yy, mm: gas_filter(yy, mm, log_density, omega, A, B, f1, scaling=a,
                                             information=information))(y, mask)
    f_ref, ll_ref, s_ref, f_next = reference_filter(y, mask, omega, A, B, f1, a)
    np.testing.assert_allclose(np.asarray(path.f), f_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(path.score), s_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(path.f_next), f_next, rtol=1e-10, atol=1e-12)
    const = np.where(mask > 0, gammaln(y + 1.0).sum(axis=1), 0.0)  # the dropped log y!
    np.testing.assert_allclose(np.asarray(path.loglik) - const, ll_ref, rtol=1e-10, atol=1e-10)


def test_closed_form_score_equals_autodiff_path():
    y, mask = poisson_counts(1)
    A, B = FORM_PARAMS["dense"]
    omega, f1 = np.array([0.0, 0.01]), np.zeros(2)

    def score(y_t, f):
        lam = jnp.exp(jnp.asarray(W) + jnp.asarray(C) @ f)
        return jnp.asarray(C).T @ (y_t - lam)

    auto = gas_filter(y, mask, log_density, omega, A, B, f1, scaling=0.5,
                      information=information)
    closed = gas_filter(y, mask, log_density, omega, A, B, f1, scaling=0.5, score=score,
                        information=information)
    np.testing.assert_allclose(np.asarray(auto.f), np.asarray(closed.f), rtol=1e-12)


def test_missing_observation_gives_no_update_and_no_likelihood():
    y, mask = poisson_counts()
    A, B = FORM_PARAMS["diagonal"]
    omega = np.array([0.02, -0.03])
    path = gas_filter(y, mask, log_density, omega, A, B, np.zeros(2))
    t = 7  # missing
    assert float(path.loglik[t]) == 0.0
    np.testing.assert_array_equal(np.asarray(path.score[t]), 0.0)
    np.testing.assert_allclose(np.asarray(path.f[t + 1]), omega + B * np.asarray(path.f[t]),
                               rtol=1e-13)


def test_scaling_needs_information_and_a_valid_power():
    y, mask = poisson_counts()
    with pytest.raises(ValueError, match="information"):
        gas_filter(y, mask, log_density, np.zeros(2), 0.1, 0.9, np.zeros(2), scaling=1.0)
    with pytest.raises(ValueError, match="0, 0.5, 1"):
        gas_filter(y, mask, log_density, np.zeros(2), 0.1, 0.9, np.zeros(2), scaling=0.3,
                   information=information)
    # scalar information: s = nabla I^-a
    np.testing.assert_allclose(float(scale_score(jnp.asarray(2.0), jnp.asarray(4.0), 0.5)), 1.0)


def test_tanh_bijection_round_trip_and_jacobian():
    z = jnp.array([-3.0, -0.2, 0.0, 1.5, 4.0])
    b, logdet = tanh_forward(z)
    assert np.all(np.abs(np.asarray(b)) < 1.0)
    np.testing.assert_allclose(np.asarray(tanh_inverse(b)), np.asarray(z), rtol=1e-10)
    np.testing.assert_allclose(float(logdet), float(np.sum(np.log1p(-np.tanh(z) ** 2))),
                               rtol=1e-10)


def test_contraction_bijection_round_trip_and_stationarity():
    rng = np.random.default_rng(4)
    forward, inverse = jax.jit(contraction_forward), jax.jit(contraction_inverse)
    for scale in (0.1, 1.0, 10.0):
        for _ in range(2):
            M = jnp.asarray(scale * rng.standard_normal((2, 2)))
            B = forward(M)
            assert np.linalg.norm(np.asarray(B), 2) < 1.0
            assert spectral_radius(np.asarray(B)) < 1.0
            np.testing.assert_allclose(np.asarray(inverse(B)), np.asarray(M),
                                       rtol=1e-6, atol=1e-8)
    # log-Jacobian against central finite differences of the map
    M = rng.standard_normal((2, 2))
    h = 1e-6
    steps = np.concatenate([np.eye(4), -np.eye(4)]) * h
    out = np.asarray(jax.vmap(lambda d: forward((jnp.asarray(M).reshape(-1) + d).reshape(2, 2))
                              )(jnp.asarray(steps))).reshape(8, 4)
    jac = ((out[:4] - out[4:]) / (2 * h)).T
    np.testing.assert_allclose(float(jax.jit(contraction_logdet)(jnp.asarray(M))),
                               np.linalg.slogdet(jac)[1], rtol=1e-6)


@pytest.mark.parametrize("form,intercept,start", [
    ("scalar", "unconditional", "unconditional"), ("diagonal", "free", "estimated"),
    ("dense", "unconditional", "estimated"), ("dense", "free", "unconditional"),
    ("diagonal", "zero", "given"), ("scalar", "targeting", "unconditional"),
])
def test_dynamics_layout_round_trips(form, intercept, start):
    dyn = GasDynamics(n=2, form=form, intercept=intercept, start=start,
                      f1_value=(0.5, -0.5) if start == "given" else None)
    z = jnp.asarray(np.random.default_rng(2).normal(scale=0.7, size=dyn.size))
    target = jnp.array([0.3, -0.4]) if intercept == "targeting" else None
    params, logdet = dyn.unpack(z, target=target)
    assert np.isfinite(float(logdet))
    assert spectral_radius(np.asarray(params.B)) < 1.0
    if intercept == "zero":
        np.testing.assert_array_equal(np.asarray(params.omega), 0.0)
    if intercept == "targeting":  # omega = (I - B) target
        Bm = np.asarray(params.B) * np.eye(2)
        np.testing.assert_allclose(np.asarray(params.omega), (np.eye(2) - Bm) @ [0.3, -0.4],
                                   rtol=1e-12)
    if start == "unconditional":  # f1 = (I - B)^{-1} omega
        Bm = np.asarray(params.B) if np.ndim(params.B) == 2 else np.asarray(params.B) * np.eye(2)
        np.testing.assert_allclose((np.eye(2) - Bm) @ np.asarray(params.f1),
                                   np.asarray(params.omega), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(dyn.pack(params)), np.asarray(z), rtol=1e-7,
                               atol=1e-9)
    assert len(dyn.names) == dyn.size


def test_dynamics_bad_options_are_value_errors():
    with pytest.raises(ValueError, match="form"):
        GasDynamics(form="banded")
    with pytest.raises(ValueError, match="intercept"):
        GasDynamics(intercept="mean")
    with pytest.raises(ValueError, match="f1_value"):
        GasDynamics(n=2, start="given")
    with pytest.raises(ValueError, match="target"):
        GasDynamics(intercept="targeting").unpack(jnp.zeros(2))


def test_forward_hessian_rule_matches_plain_autodiff():
    y, mask = poisson_counts(3)
    dyn = GasDynamics(n=2, form="diagonal", intercept="unconditional", start="unconditional")

    def loglik(z, data):
        params, _ = dyn.unpack(z)
        return jnp.sum(gas_filter(data[0], data[1], log_density, *params).loglik)

    z = jnp.asarray(dyn.pack(GasParams(jnp.array([0.01, 0.0]), jnp.array([0.05, 0.03]),
                                       jnp.array([0.8, 0.6]), jnp.zeros(2))))
    data = (jnp.asarray(y[:30]), jnp.asarray(mask[:30]))
    fast = forward_hessian(loglik)

    h = 1e-5
    steps = jnp.concatenate([jnp.eye(z.size), -jnp.eye(z.size)]) * h

    @jax.jit
    def both(z, data):
        # the Hessian of the plain function by central differences of its gradient (a
        # plain forward-over-reverse Hessian takes seconds to compile)
        grads = jax.vmap(lambda d: jax.grad(loglik)(z + d, data))(steps)
        return (fast(z, data), loglik(z, data), jax.grad(fast)(z, data),
                jax.grad(loglik)(z, data), jax.jacfwd(jax.grad(fast))(z, data),
                (grads[: z.size] - grads[z.size:]).T / (2 * h))

    v1, v2, g1, g2, h1, h2 = (np.asarray(x) for x in both(z, data))
    np.testing.assert_allclose(v1, v2, rtol=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-9)
    np.testing.assert_allclose(h1, h1.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h1, h2, rtol=1e-5, atol=1e-6)
