"""Innovation densities against fGarch, quadrature and Monte Carlo (SVI-GARCH paper 1.3-1.4)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import gammaln

import bayesvol  # noqa: F401  (float64)
from bayesvol.distributions import (
    SkewedT,
    StandardizedT,
    get_innovation,
    skewed_t_logpdf,
    skewed_t_moments,
    skewed_t_sample,
    skewed_t_skewness,
    std_t_logpdf,
)

TESTDATA = Path(__file__).resolve().parent / "data" / "fgarch"  # R fGarch reference values

N_DRAWS = 1_000_000
_sstd = jax.jit(skewed_t_logpdf)
_sample = jax.jit(skewed_t_sample, static_argnums=3)
_std = jax.jit(std_t_logpdf)


def sstd_pdf(x: float, nu: float, xi: float) -> float:
    return float(np.exp(_sstd(x, nu, xi)))


def kink(nu: float, xi: float) -> float:
    """-m/s: the point where the two halves of the skewed-t meet."""
    m, s = skewed_t_moments(nu, xi)
    return float(-m / s)


@cache
def sstd_moment(k: int, nu: float, xi: float) -> float:
    """E[x^k] of the unit-variance skewed-t by quadrature, split at the kink."""
    c = kink(nu, xi)
    opts = {"epsabs": 1e-13, "epsrel": 1e-12, "limit": 400}
    lo = integrate.quad(lambda x: x**k * sstd_pdf(x, nu, xi), -np.inf, c, **opts)[0]
    hi = integrate.quad(lambda x: x**k * sstd_pdf(x, nu, xi), c, np.inf, **opts)[0]
    return lo + hi


def test_skewed_t_density_matches_fgarch_dsstd():
    ref = pd.read_csv(TESTDATA / "fgarch_dsstd.csv")
    assert len(ref) == 200 and set(ref.xi) >= {0.5, 1.0, 2.0}
    got = np.exp(np.asarray(skewed_t_logpdf(jnp.asarray(ref.x.values), jnp.asarray(ref.nu.values),
                                            jnp.asarray(ref.xi.values))))
    np.testing.assert_allclose(got, ref.density.values, rtol=1e-10, atol=0)


def test_standardized_t_density_matches_fgarch_dstd():
    ref = pd.read_csv(TESTDATA / "fgarch_dstd.csv")
    assert len(ref) == 40
    got = np.exp(np.asarray(std_t_logpdf(jnp.asarray(ref.x.values), jnp.asarray(ref.nu.values))))
    np.testing.assert_allclose(got, ref.density.values, rtol=1e-10, atol=0)


@pytest.mark.parametrize("nu, xi", [(4.0, 0.8), (7.0, 1.5), (3.5, 0.6), (10.0, 1.0)])
def test_skewed_t_integrates_to_one_with_mean_zero_variance_one(nu, xi):
    assert sstd_moment(0, nu, xi) == pytest.approx(1.0, abs=1e-9)
    assert sstd_moment(1, nu, xi) == pytest.approx(0.0, abs=1e-9)
    assert sstd_moment(2, nu, xi) == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("nu, xi", [(4.0, 0.8), (8.0, 0.7), (10.0, 1.5), (6.0, 1.0)])
def test_skewness_formula_matches_quadrature(nu, xi):
    assert float(skewed_t_skewness(nu, xi)) == pytest.approx(sstd_moment(3, nu, xi), abs=1e-7)


def test_skewness_value_and_sign():
    # SVI-GARCH paper 1.4: E[x^3] = -1.488 at (4, 0.8); xi < 1 skews left, xi > 1 right
    assert float(skewed_t_skewness(4.0, 0.8)) == pytest.approx(-1.488, abs=5e-4)
    assert float(skewed_t_skewness(8.0, 1.3)) > 0 > float(skewed_t_skewness(8.0, 0.9))


@pytest.mark.parametrize("nu", [4.0, 8.0])
def test_standardized_t_unit_variance(nu):
    f = lambda x: float(np.exp(_std(x, nu)))  # noqa: E731
    assert integrate.quad(f, -np.inf, np.inf)[0] == pytest.approx(1.0, abs=1e-10)
    assert integrate.quad(lambda x: x * x * f(x), -np.inf, np.inf, limit=200)[0] == \
        pytest.approx(1.0, abs=1e-8)


@pytest.fixture(scope="module", params=[(8.0, 0.7), (10.0, 1.5)], ids=["nu8-xi0.7", "nu10-xi1.5"])
def draws(request):
    nu, xi = request.param
    x = np.asarray(_sample(jax.random.key(20240), nu, xi, (N_DRAWS,)))
    return nu, xi, x


def test_sampler_moments(draws):
    nu, xi, x = draws
    n = x.size
    m3, m4, m6 = (sstd_moment(k, nu, xi) for k in (3, 4, 6))
    # Monte-Carlo standard errors of the raw moments (true mean 0): sd(x^k) / sqrt(n)
    assert abs(x.mean()) < 5.0 / np.sqrt(n)
    assert abs(np.mean(x**2) - 1.0) < 5.0 * np.sqrt(m4 - 1.0) / np.sqrt(n)
    skew = float(skewed_t_skewness(nu, xi))
    assert abs(np.mean(x**3) - skew) < 5.0 * np.sqrt(m6 - m3**2) / np.sqrt(n)
    assert abs(skew) > 10.0 * np.sqrt(m6 - m3**2) / np.sqrt(n)  # the check has power


def sstd_pdf_np(x: float, nu: float, xi: float) -> float:
    """The spec's formula (svi-garch.md 1.4) in plain numpy: a fast scalar pdf for quad."""
    m = np.exp(gammaln((nu - 1) / 2) - gammaln(nu / 2)) * np.sqrt((nu - 2) / np.pi) * (xi - 1 / xi)
    s = np.sqrt(xi**2 + xi**-2 - 1 - m**2)
    u = s * x + m
    c = np.exp(gammaln((nu + 1) / 2) - gammaln(nu / 2)) / np.sqrt(np.pi * (nu - 2))
    return 2 * s / (xi + 1 / xi) * c * (1 + (u * xi ** (-np.sign(u))) ** 2 / (nu - 2)) ** (
        -(nu + 1) / 2)


def _cdf_by_quadrature(nu: float, xi: float):
    """CDF on a grid: quad over each cell (the kink is a node), tails by quad to infinity."""
    xs = np.linspace(-8.0, 8.0, 321)
    lib = np.exp(np.asarray(skewed_t_logpdf(jnp.asarray(xs), nu, xi)))
    np.testing.assert_allclose([sstd_pdf_np(x, nu, xi) for x in xs], lib, rtol=1e-12)
    c = kink(nu, xi)
    grid = np.unique(np.concatenate([np.linspace(-10.0, 10.0, 801), [c]]))
    f = lambda x: sstd_pdf_np(x, nu, xi)  # noqa: E731
    cells = [integrate.quad(f, a, b, epsabs=1e-14)[0] for a, b in zip(grid[:-1], grid[1:],
                                                                        strict=True)]
    cdf = integrate.quad(f, -np.inf, grid[0])[0] + np.concatenate([[0.0], np.cumsum(cells)])
    assert cdf[-1] + integrate.quad(f, grid[-1], np.inf)[0] == pytest.approx(1.0, abs=1e-9)
    return lambda x: np.interp(x, grid, cdf)


def test_sampler_ks_against_quadrature_cdf(draws):
    nu, xi, x = draws
    assert stats.kstest(x, _cdf_by_quadrature(nu, xi)).pvalue > 1e-3
    # the same test rejects a slightly wrong skewness parameter: it has power
    assert stats.kstest(x, _cdf_by_quadrature(nu, xi * 1.05)).pvalue < 1e-6


@jax.jit
def _numpyro_vs_pure(v, nu, xi, loc, scale):
    z = (v - loc) / scale
    return (SkewedT(nu, xi, loc, scale).log_prob(v), skewed_t_logpdf(z, nu, xi) - jnp.log(scale),
            StandardizedT(nu, loc, scale).log_prob(v), std_t_logpdf(z, nu) - jnp.log(scale))


def test_numpyro_distributions_match_pure_functions():
    v = jnp.linspace(-6.0, 8.0, 57)
    nu, xi = jnp.array([3.0, 5.0, 30.0])[:, None], jnp.array([0.6, 1.0, 1.8])[:, None]
    got_st, want_st, got_t, want_t = _numpyro_vs_pure(v, nu, xi, 0.3, 1.7)
    assert got_st.shape == got_t.shape == (3, 57)
    np.testing.assert_allclose(got_st, want_st, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got_t, want_t, rtol=1e-13, atol=1e-13)
    # and they are proper densities in x: the Jacobian 1/scale is there
    assert float(jnp.max(jnp.abs(got_st - skewed_t_logpdf(v, nu, xi)))) > 0.1


def test_get_innovation_names_and_aliases():
    assert get_innovation("normal").shape_params == ()
    assert get_innovation("std").name == "t" and get_innovation("t").shape_params == ("nu",)
    assert get_innovation("sstd").name == "skewt"
    assert get_innovation("skewt").shape_params == ("nu", "xi")
    with pytest.raises(ValueError, match="unknown distribution"):
        get_innovation("cauchy")
