"""The unrolled small linear algebra agrees with LAPACK (numpy) on batches of random SPD
matrices, for unrolled sizes and for the jnp.linalg fallback above UNROLL_MAX."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesvol import small_linalg as sl


def _spd(rng, batch, d):
    x = rng.standard_normal(batch + (d, d))
    return x @ np.swapaxes(x, -1, -2) + 0.5 * np.eye(d)


@pytest.mark.parametrize("d", [1, 2, 5, sl.UNROLL_MAX + 2])
def test_agrees_with_numpy(d):
    rng = np.random.default_rng(d)
    a = _spd(rng, (3, 4), d)
    b = rng.standard_normal((3, 4, d))
    low = np.linalg.cholesky(a)
    np.testing.assert_allclose(sl.cholesky(jnp.asarray(a)), low, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sl.solve_lower(jnp.asarray(low), jnp.asarray(b)),
                               np.linalg.solve(low, b[..., None])[..., 0], rtol=1e-9)
    inv = np.asarray(sl.spd_inverse(jnp.asarray(a)))
    np.testing.assert_allclose(inv, np.linalg.inv(a), rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(inv, np.swapaxes(inv, -1, -2))
    np.testing.assert_allclose(sl.logdet_from_cholesky(sl.cholesky(jnp.asarray(a))),
                               np.linalg.slogdet(a)[1], rtol=1e-10)


def test_broadcasts_one_factor_over_many_vectors():
    rng = np.random.default_rng(0)
    low = np.linalg.cholesky(_spd(rng, (), 5))
    b = rng.standard_normal((7, 5))
    np.testing.assert_allclose(sl.solve_lower(jnp.asarray(low), jnp.asarray(b)),
                               np.linalg.solve(low, b.T).T, rtol=1e-9)


def test_not_positive_definite_is_nan_and_gradients_are_exact():
    a = jnp.array([[1.0, 2.0], [2.0, 1.0]])
    assert np.isnan(np.asarray(sl.cholesky(a))).any()
    rng = np.random.default_rng(1)
    a0 = jnp.asarray(_spd(rng, (), 4))
    b0 = jnp.asarray(rng.standard_normal(4))
    def mine_f(m):
        low = sl.cholesky(m)
        u = sl.solve_lower(low, b0)  # b' M^{-1} b = |L^{-1} b|^2
        return u @ u + sl.logdet_from_cholesky(low)

    mine = jax.grad(mine_f)(a0)
    ref = jax.grad(lambda m: jnp.linalg.solve(m, b0) @ b0 + jnp.linalg.slogdet(m)[1])(a0)
    # the unrolled Cholesky reads only the lower triangle; along symmetric perturbations
    # (the only ones a covariance takes) the derivatives are g + g^T for both
    np.testing.assert_allclose(mine + mine.T, ref + ref.T, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("d", [1, 4, sl.UNROLL_MAX + 1])
def test_symmetric_solve_indefinite(d):
    rng = np.random.default_rng(20 + d)
    x = rng.standard_normal((5, d, d))
    a = x + np.swapaxes(x, -1, -2) + np.diag(np.linspace(-2.0, 2.0, d))  # indefinite
    b = rng.standard_normal((5, d))
    np.testing.assert_allclose(sl.symmetric_solve(jnp.asarray(a), jnp.asarray(b)),
                               np.linalg.solve(a, b[..., None])[..., 0], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("d", [1, 3, 5, sl.UNROLL_MAX])
def test_jacobi_eigh_agrees_with_numpy(d):
    rng = np.random.default_rng(10 + d)
    x = rng.standard_normal((6, d, d))
    a = x + np.swapaxes(x, -1, -2)  # symmetric, indefinite
    a[0] = np.diag(np.arange(d, dtype=float))  # already diagonal: no rotation
    a[1] = np.eye(d)  # repeated eigenvalues
    w, v = (np.asarray(t) for t in sl.eigh(jnp.asarray(a)))
    np.testing.assert_allclose(np.sort(w, -1), np.linalg.eigvalsh(a), atol=1e-12)
    np.testing.assert_allclose(np.einsum("...ij,...j,...kj->...ik", v, w, v), a, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(v, -1, -2) @ v, np.broadcast_to(np.eye(d), a.shape),
                               atol=1e-12)
