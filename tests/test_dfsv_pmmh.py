"""Particle-marginal MH for the DFSV model (inference/dfsv/pmmh.py): options, determinism,
the kept estimate on rejection, and agreement with the NUTS reference (slow)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from bayesvol.errors import InputError
from bayesvol.inference.dfsv.pmmh import PmmhOptions, run_pmmh
from bayesvol.models.dfsv import DfsvModel
from bayesvol.simulate.dfsv import simulate_dfsv

MODEL = DfsvModel(2, 1, "constant", factor_ar=False)


@pytest.fixture(scope="module")
def data():
    y = np.asarray(simulate_dfsv(2, 1, 80, idio="constant", seed=5).to_frame().to_numpy())
    return y, np.isfinite(y)


SHORT = PmmhOptions(num_warmup=60, num_samples=60, num_chains=2, n_particles=50,
                    adapt_blocks=3)


def test_short_run_is_finite_deterministic_and_moves(data):
    y, mask = data
    a = run_pmmh(MODEL, y, mask, jax.random.key(0), SHORT)
    b = run_pmmh(MODEL, y, mask, jax.random.key(0), SHORT)
    assert a.theta_draws.shape == (2 * 60, MODEL.dim)
    assert np.all(np.isfinite(a.theta_draws))
    np.testing.assert_array_equal(a.theta_draws, b.theta_draws)  # same key, same numbers
    assert np.any(a.accept_rate > 0) and np.all(a.accept_rate < 1)
    # a rejection repeats the previous draw exactly, an acceptance moves it: the moves seen
    # between kept draws are the accepted proposals (all but the first kept iteration's)
    for c in range(2):
        chain = a.theta_draws[60 * c:60 * (c + 1)]
        moves = int(np.sum(np.any(np.diff(chain, axis=0) != 0, axis=1)))
        accepted = round(a.accept_rate[c] * 60)
        assert moves in (accepted, accepted - 1), (c, moves, accepted)
    assert a.loglik_sd >= 0 and np.isfinite(a.loglik_sd)


def test_bad_options_and_shapes_are_input_errors(data):
    y, mask = data
    with pytest.raises(InputError, match="n_particles"):
        run_pmmh(MODEL, y, mask, jax.random.key(0), PmmhOptions(n_particles=0))
    with pytest.raises(InputError, match="target_accept"):
        run_pmmh(MODEL, y, mask, jax.random.key(0), PmmhOptions(target_accept=1.5))
    with pytest.raises(InputError, match="N=2"):
        run_pmmh(MODEL, y[:, :1], mask[:, :1], jax.random.key(0), SHORT)


@pytest.mark.slow  # about 70 s: PMMH 2 x (2000 + 4000) and NUTS 2 x (500 + 1000)
def test_pmmh_agrees_with_nuts(data):
    """Measured: |mean difference| <= 0.22 NUTS sd on every global (T = 80, N = 2, K = 1;
    PMMH R-hat 1.13, min ESS 18: the random walk mixes slowly)."""
    from bayesvol.inference.dfsv.nuts import DfsvNutsOptions, run_dfsv_nuts

    y, mask = data
    p = run_pmmh(MODEL, y, mask, jax.random.key(0),
                 PmmhOptions(num_warmup=2000, num_samples=4000, n_particles=100))
    n = run_dfsv_nuts(MODEL, y, mask, jax.random.key(1),
                      DfsvNutsOptions(num_warmup=500, num_samples=1000))
    assert n.rhat_max < 1.05 and p.rhat_max < 1.2
    z = (p.theta_draws.mean(0) - n.theta_draws.mean(0)) / n.theta_draws.std(0)
    assert np.max(np.abs(z)) < 0.75, z
