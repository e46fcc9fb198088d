"""Building blocks of the credit-intensity model (models/credit_intensity.py): factor loading
patterns, priors and their presets, and the closed-form per-event likelihood, score and
information (Koopman, Lucas & Monteiro 2008; Creal, Koopman & Lucas 2013, section 4.2;
Niesert 2017, section 4.2.1 and Appendix B; docs/models/credit-intensity.md).

Per event time t, with lambda_t = exp(w + C f_t) (eq. 20), counts y_t, numbers at risk K_t
and dtau_t = tau_t - tau_{t-1}:

    l_t       = y_t' log lambda_t - dtau_t K_t' lambda_t                      (eq. 21)
    nabla_t   = d l_t / d f_t = C' (y_t - dtau_t K_t o lambda_t)
    I_t       = C' P_t C,   P_t = diag(p_t),   p_{j,t} = K_{j,t} lambda_{j,t} / K_t' lambda_t

I_t is the information **per event**: -E[d^2 l_t / df df'] = C' diag(E[dtau_t] K_t o lambda_t) C
with dtau_t ~ Exp(K_t' lambda_t) (the time to the next event), so E[dtau_t] K_t o lambda_t =
p_t; it is also E[nabla_t nabla_t'] when the event is one event of type j with probability
p_{j,t}, independent of dtau_t (then y_t - dtau_t K_t o lambda_t = e_j - u p_t, u ~ Exp(1),
whose covariance is diag(p_t)). It is not the information of the counts over a fixed
interval, C' diag(dtau_t K_t o lambda_t) C, which scales with the expected number of events.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp
import numpy as np

from .priors import trunc_normal_logpdf

FREE, FREE_NEG = "free", "free-"
_FREE_WORDS = {"free": FREE, "x": FREE, "*": FREE, "free+": FREE,
               "free-": FREE_NEG, "-x": FREE_NEG, "-*": FREE_NEG, "-free": FREE_NEG}

# the three structures of Niesert (2017), section 4.2.1, rows IG_SIG, IG_DEF, SIG_IG, SIG_DEF
LOADING_PRESETS: dict[int, tuple[tuple[float | str, ...], ...]] = {
    1: ((FREE,), (FREE,), (FREE_NEG,), (1.0,)),
    2: ((FREE, 0.0), (FREE, 0.0), (0.0, 1.0), (1.0, 0.0)),
    3: ((1.0, 0.0, 0.0), (FREE, 0.0, FREE), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}

SCALINGS = {"I": 0.0, "H": 0.5, "INV": 1.0}
"""Scaling name -> a in S_t = I_t^{-a}: identity, inverse square root, inverse."""


def normalise_pattern(pattern) -> tuple[tuple[float | str, ...], ...]:
    """A k x r loading pattern as a tuple of tuples of floats (fixed entries) and "free" /
    "free-" (free entries with prior mean +C_loc / -C_loc). Accepts nested lists or the text
    form "free,0;free,0;0,1;1,0" (rows by ';', entries by ','; x or * for free, -x or -* for
    free with a negative prior mean). Every column needs a fixed non-zero entry (the
    identifying 1 of the thesis)."""
    if isinstance(pattern, str):
        pattern = [row.split(",") for row in pattern.split(";") if row.strip()]
    rows = []
    for row in pattern:
        out = []
        for cell in (row if isinstance(row, list | tuple) else [row]):
            if isinstance(cell, str):
                word = cell.strip().lower()
                if word in _FREE_WORDS:
                    out.append(_FREE_WORDS[word])
                    continue
                try:
                    cell = float(word)
                except ValueError:
                    raise ValueError(f"loading entry {cell!r}: use a number, free (x) or "
                                     "free- (-x)") from None
            if isinstance(cell, bool) or not np.isfinite(float(cell)):
                raise ValueError(f"loading entry {cell!r} is not a finite number")
            out.append(float(cell))
        rows.append(tuple(out))
    if not rows or len({len(r) for r in rows}) != 1 or len(rows[0]) == 0:
        raise ValueError("the loading pattern must be a non-empty k x r table")
    k, r = len(rows), len(rows[0])
    if r > k:
        raise ValueError(f"{r} factors for {k} event types: use r <= k")
    for i in range(r):
        if not any(isinstance(rows[j][i], float) and rows[j][i] != 0.0 for j in range(k)):
            raise ValueError(f"factor {i + 1} has no fixed non-zero loading: fix one entry "
                             "of each column (e.g. to 1) to identify the factor's scale")
    return tuple(rows)


def free_positions(pattern) -> tuple[tuple[int, int, float], ...]:
    """(row, column, sign of the prior mean) of each free entry, row-major."""
    return tuple((j, i, -1.0 if cell == FREE_NEG else 1.0)
                 for j, row in enumerate(pattern) for i, cell in enumerate(row)
                 if isinstance(cell, str))


def loading_matrix(pattern, free_values: jax.Array) -> jax.Array:
    """C [k, r]: the pattern's fixed entries and ``free_values`` (row-major) in the free ones."""
    k, r = len(pattern), len(pattern[0])
    base = np.array([[0.0 if isinstance(c, str) else c for c in row] for row in pattern])
    pos = free_positions(pattern)
    C = jnp.asarray(base, dtype=jnp.result_type(float))
    if pos:
        rows = np.array([p[0] for p in pos])
        cols = np.array([p[1] for p in pos])
        C = C.at[rows, cols].set(free_values)
    return C.reshape(k, r)


# ------------------------------------------------------------------------------ priors
@dataclass(frozen=True)
class CreditPriors:
    """The normal priors of Niesert (2017), section 4.2.1 ("Prior 2", the defaults):

    a_i ~ N(a_loc, a_scale^2); b_i ~ N(b_loc, b_scale^2) truncated to (-1, 1), normalised by
    Phi((1 - b_loc)/b_scale) - Phi((-1 - b_loc)/b_scale) (erratum E4); a free loading
    ~ N(+-C_loc, C_scale^2) (- for the "free-" entries, e.g. C_{3,1} of the one-factor
    structure); w_j ~ N(w_loc_j, w_scale^2) with w_loc (-5, -10, -5, -5) for the four rating
    types (IG_DEF rarer) and -5 otherwise, or ``w_loc`` given (a number or one per type).
    """

    a_loc: float = 0.05
    a_scale: float = 1.0
    b_loc: float = 0.95
    b_scale: float = 1.0
    C_loc: float = 0.5
    C_scale: float = 5.0
    w_loc: float | tuple[float, ...] | None = None
    w_scale: float = 5.0

    def __post_init__(self) -> None:
        for name in ("a_scale", "b_scale", "C_scale", "w_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float)
                                               and np.isfinite(value) and value > 0):
                raise ValueError(f"prior setting {name} must be a positive number, "
                                 f"got {value!r}")
        if isinstance(self.w_loc, list):
            object.__setattr__(self, "w_loc", tuple(float(x) for x in self.w_loc))

    def w_locs(self, k: int, rating_types: bool) -> np.ndarray:
        """Prior means of w_1..w_k."""
        if self.w_loc is None:
            locs = np.full(k, -5.0)
            if rating_types:
                locs[1] = -10.0
            return locs
        if isinstance(self.w_loc, int | float):
            return np.full(k, float(self.w_loc))
        if len(self.w_loc) != k:
            raise ValueError(f"w_loc has {len(self.w_loc)} values for {k} event types")
        return np.asarray(self.w_loc, dtype=float)

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(out["w_loc"], tuple):
            out["w_loc"] = list(out["w_loc"])
        return out


PRIOR_PRESETS: dict[str, dict[str, float]] = {
    "prior1": {"a_scale": 2.0, "b_scale": 2.0, "C_scale": 10.0, "w_scale": 10.0},
    "prior2": {},
    "prior3": {"a_scale": 0.5, "b_scale": 0.5, "C_scale": 2.5, "w_scale": 2.5},
    "prior4": {"a_scale": 0.25, "b_scale": 0.25, "C_scale": 1.0, "w_scale": 1.0},
}
"""The prior-sensitivity setups of Niesert (2017), Appendix B: only the variances change."""


def resolve_priors(priors) -> CreditPriors:
    """CreditPriors from None (Prior 2), a preset name ("prior1".."prior4"), a dict of
    fields (optionally with "preset": a name, the other keys override it) or CreditPriors."""
    if priors is None:
        return CreditPriors()
    if isinstance(priors, CreditPriors):
        return priors
    if isinstance(priors, str):
        priors = {"preset": priors}
    if not isinstance(priors, dict):
        raise ValueError(f"priors must be a preset name or a dict, got {type(priors).__name__}")
    opts = dict(priors)
    preset = opts.pop("preset", None)
    base: dict = {}
    if preset is not None:
        key = str(preset).strip().lower().replace(" ", "").replace("_", "")
        if key not in PRIOR_PRESETS:
            raise ValueError(f"unknown prior preset '{preset}': use "
                             f"{', '.join(PRIOR_PRESETS)}")
        base = dict(PRIOR_PRESETS[key])
    known = {f.name for f in fields(CreditPriors)}
    unknown = set(opts) - known
    if unknown:
        raise ValueError(f"unknown prior setting(s) {', '.join(sorted(unknown))}: use "
                         f"{', '.join(sorted(known))} or preset")
    return CreditPriors(**{**base, **opts})


def truncnorm_logpdf(x: jax.Array, loc: float, scale: float) -> jax.Array:
    """log TN(x; loc, scale^2; -1, 1), the normaliser using loc (erratum E4 of the thesis's
    footnote 10): models.priors.trunc_normal_logpdf."""
    return trunc_normal_logpdf(x, loc, scale)


# ------------------------------------------------------------- per-event closed forms
def event_loglik(dtau: jax.Array, y: jax.Array, K: jax.Array, log_lam: jax.Array) -> jax.Array:
    """l_t = y_t' log lambda_t - dtau_t K_t' lambda_t (eq. 21)."""
    return jnp.dot(y, log_lam) - dtau * jnp.dot(K, jnp.exp(log_lam))


def event_score(dtau: jax.Array, y: jax.Array, K: jax.Array, log_lam: jax.Array,
                C: jax.Array) -> jax.Array:
    """nabla_t = C' (y_t - dtau_t K_t o lambda_t)."""
    return C.T @ (y - dtau * K * jnp.exp(log_lam))


def event_probabilities(K: jax.Array, log_lam: jax.Array) -> jax.Array:
    """p_{j,t} = K_j lambda_j / K' lambda, the probability that the next event is of type j;
    1/k where nobody is at risk (a padding row), so that nothing is NaN."""
    rate = K * jnp.exp(log_lam)
    total = jnp.sum(rate)
    k = rate.shape[-1]
    return jnp.where(total > 0, rate / jnp.where(total > 0, total, 1.0), 1.0 / k)


def event_information(K: jax.Array, log_lam: jax.Array, C: jax.Array,
                      ridge: float = 0.0) -> jax.Array:
    """I_t = C' diag(p_t) C (+ ridge I), the per-event Fisher information (module docstring)."""
    p = event_probabilities(K, log_lam)
    r = C.shape[-1]
    return (C.T * p) @ C + ridge * jnp.eye(r, dtype=C.dtype)
