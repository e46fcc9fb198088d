"""Dynamic pooled marked point process (DPMP): the credit-intensity factor model of Koopman,
Lucas & Monteiro (2008) with score-driven factors (Creal, Koopman & Lucas 2013, section 4.2;
Niesert 2017, section 4.2.1; docs/models/credit-intensity.md).

k event types (e.g. the rating transitions IG_SIG, IG_DEF, SIG_IG, SIG_DEF), pooled over firms;
intensities piecewise constant between the pooled event times tau_t:

    log lambda_t = w + C f_t                                          (eq. 20)
    l_t          = y_t' log lambda_t - (tau_t - tau_{t-1}) K_t' lambda_t   (eq. 21)
    f_{t+1}      = A s_t + B f_t,   f_1 = 0,   s_t = I_t^{-a} nabla_t       (eq. 2, omega = 0)
    nabla_t      = C' (y_t - dtau_t K_t o lambda_t),   I_t = C' P_t C

with r factors, C a k x r loading matrix (fixed entries and free ones, :mod:`credit_structure`),
A = diag(a), B = diag(b), |b_i| < 1. The intercept of the factor recursion is 0 because it
would duplicate the baseline log-intensities w (erratum E7; w_j is d_j in the thesis's
tables). I_t is the per-event information (see :mod:`credit_structure`). Scalings (option
``scaling``): "I" (a = 0), "H" (a = 1/2, the symmetric inverse square root of I_t,
gas_filter.sym_sqrt) and "Inv" (a = 1). The recursion is the generic GAS filter
(models/gas_filter.py), one ``lax.scan`` over event times; a padding row (mask 0) adds
nothing and propagates f_{t+1} = B f_t.

Loadings (option ``factors`` = 1, 2, 3: the structures C^(1), C^(2), C^(3) of the thesis for
the four rating types; or ``loadings``: any k x r pattern). Unconstrained coordinates, in
order: a_1..a_r, atanh(b_1)..atanh(b_r), the free loadings (row-major), w_1..w_k. Reported
parameters: a_i, b_i, C_j_i (the loading of type j on factor i, 1-based), w_j.
Priors: :class:`~bayesvol.models.credit_structure.CreditPriors` ("Prior 2"), presets
"prior1".."prior4" (Appendix B).

References: S. J. Koopman, A. Lucas and A. Monteiro (2008), The multi-state latent factor
intensity model for credit rating transitions, Journal of Econometrics 142(1), 399-424;
D. Creal, S. J. Koopman and A. Lucas (2013), Generalized autoregressive score models with
applications, Journal of Applied Econometrics 28(5), 777-795; R. Niesert (2017), Bayesian
inference for generalized autoregressive score models, MSc thesis, Erasmus University
Rotterdam.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..data.ratings import RATING_TYPES, EventData, EventTable
from .credit_structure import (
    LOADING_PRESETS,
    SCALINGS,
    CreditPriors,
    event_information,
    event_loglik,
    event_score,
    free_positions,
    loading_matrix,
    normalise_pattern,
    resolve_priors,
    truncnorm_logpdf,
)
from .gas_filter import GasPath, forward_hessian, gas_filter, tanh_forward, tanh_inverse
from .priors import normal_logpdf

__all__ = ["CreditIntensityModel", "EventData"]

RIDGE = 1e-10
"""Added to I_t (times the identity) so that a factor whose types have nobody at risk
keeps a finite scaled score; negligible otherwise."""


def _scaling_name(scaling) -> str:
    if isinstance(scaling, int | float) and not isinstance(scaling, bool):
        for name, a in SCALINGS.items():
            if float(scaling) == a:
                return "Inv" if name == "INV" else name
    key = str(scaling).strip().upper()
    key = {"IDENTITY": "I", "SQRT": "H", "INVSQRT": "H", "INVERSE": "INV", "0": "I",
           "0.5": "H", "1": "INV"}.get(key, key)
    if key not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}: use I (a = 0), H (a = 1/2) or Inv "
                         "(a = 1)")
    return "Inv" if key == "INV" else key


@dataclass(frozen=True)
class CreditIntensityModel:
    """The DPMP / credit-intensity factor model (module docstring). A system model: one
    parameter vector for all firms and types; data are :class:`EventData` (a leading unit
    axis of size 1 when passed to the inference runner)."""

    factors: int | None = 1
    loadings: tuple | str | None = None
    scaling: str = "Inv"
    priors: CreditPriors = field(default_factory=CreditPriors)
    types: tuple[str, ...] = RATING_TYPES

    system = True
    name = "credit-intensity"
    label = "Credit intensity (DPMP)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scaling", _scaling_name(self.scaling))
        object.__setattr__(self, "priors", resolve_priors(self.priors))
        object.__setattr__(self, "types", tuple(str(t) for t in self.types))
        if self.loadings is None:
            if self.factors not in LOADING_PRESETS:
                raise ValueError(f"factors must be 1, 2 or 3 (the rating structures C^(1..3)),"
                                 f" got {self.factors!r}; give ``loadings`` for others")
            if len(self.types) != 4:
                raise ValueError(f"the factor presets are for the k = 4 rating types; "
                                 f"{len(self.types)} types need ``loadings``")
            pattern = LOADING_PRESETS[int(self.factors)]
        else:
            pattern = normalise_pattern(self.loadings)
            if len(pattern) != len(self.types):
                if self.types == RATING_TYPES:
                    object.__setattr__(self, "types",
                                       tuple(f"type{j + 1}" for j in range(len(pattern))))
                else:
                    raise ValueError(f"loadings have {len(pattern)} rows for "
                                     f"{len(self.types)} event types")
        object.__setattr__(self, "loadings", pattern)
        object.__setattr__(self, "factors", len(pattern[0]))
        self.priors.w_locs(self.k, self.types == RATING_TYPES)  # checks w_loc's length

    # ----------------------------------------------------------------- parameter layout
    @property
    def k(self) -> int:
        """Number of event types."""
        return len(self.loadings)

    @property
    def r(self) -> int:
        """Number of factors."""
        return len(self.loadings[0])

    @property
    def a(self) -> float:
        """The scaling power a of S_t = I_t^{-a}."""
        return SCALINGS[self.scaling.upper()]

    @property
    def _free(self) -> tuple[tuple[int, int, float], ...]:
        return free_positions(self.loadings)

    @property
    def param_names(self) -> tuple[str, ...]:
        r = range(1, self.r + 1)
        return (tuple(f"a_{i}" for i in r) + tuple(f"b_{i}" for i in r)
                + tuple(f"C_{j + 1}_{i + 1}" for j, i, _ in self._free)
                + tuple(f"w_{j}" for j in range(1, self.k + 1)))

    @property
    def unconstrained_names(self) -> tuple[str, ...]:
        return tuple(f"atanh_{n}" if n.startswith("b_") else n for n in self.param_names)

    @property
    def dim(self) -> int:
        return len(self.param_names)

    @property
    def program_key(self) -> str:
        return repr(self)

    def unpack(self, z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array,
                                            jax.Array]:
        """(a [r], b [r], C [k, r], w [k], log-Jacobian of b = tanh) from one z [dim]."""
        r, m = self.r, len(self._free)
        a = z[:r]
        b, logdet = tanh_forward(z[r:2 * r])
        C = loading_matrix(self.loadings, z[2 * r:2 * r + m])
        w = z[2 * r + m:]
        return a, b, C, w, logdet

    def constrain(self, z: jax.Array) -> dict[str, jax.Array]:
        """Natural parameters (``param_names``) from z; any leading shape."""
        z = jnp.asarray(z)
        r = self.r
        out = {n: z[..., i] for i, n in enumerate(self.param_names)}
        for i in range(r):
            out[f"b_{i + 1}"] = jnp.tanh(z[..., r + i])
        return out

    def unconstrain(self, params: dict) -> jax.Array:
        """Inverse of :meth:`constrain` (|b_i| < 1)."""
        cols = []
        for n in self.param_names:
            x = jnp.asarray(params[n], dtype=float)
            cols.append(tanh_inverse(x) if n.startswith("b_") else x)
        return jnp.stack(jnp.broadcast_arrays(*cols), axis=-1)

    def loading(self, z: jax.Array) -> jax.Array:
        """The loading matrix C [k, r] at one z."""
        return self.unpack(jnp.asarray(z))[2]

    # ------------------------------------------------------------------------ densities
    @staticmethod
    def _squeeze(data: EventData) -> EventData:
        """Drop a leading unit axis (runner layout) if present."""
        dtau = jnp.asarray(data.dtau)
        if dtau.ndim == 2:
            if dtau.shape[0] != 1:
                raise ValueError("EventData with a leading axis must have size 1 there")
            return EventData(*(jnp.asarray(x)[0] for x in data))
        return EventData(*(jnp.asarray(x) for x in data))

    def filter(self, z: jax.Array, data: EventData) -> GasPath:
        """The GAS filter over the event times (module docstring): f_t, l_t, s_t, f_{T+1}."""
        data = self._squeeze(data)
        a, b, C, w, _ = self.unpack(jnp.asarray(z))
        k = self.k
        obs = jnp.concatenate([data.dtau[:, None], data.y, data.K], axis=-1)

        def split(o):
            return o[0], o[1:1 + k], o[1 + k:]

        def log_density(o, f):
            dtau, y, K = split(o)
            return event_loglik(dtau, y, K, w + C @ f)

        def score(o, f):
            dtau, y, K = split(o)
            return event_score(dtau, y, K, w + C @ f, C)

        def information(o, f):
            _, _, K = split(o)
            info = event_information(K, w + C @ f, C, RIDGE)
            return info[0] if self.r == 1 else info  # r = 1: a (1,) "diagonal"

        zeros = jnp.zeros(self.r, dtype=obs.dtype)
        return gas_filter(obs, data.mask, log_density, zeros, a, b, zeros, scaling=self.a,
                          score=score, information=information, information_uses_y=True)

    def loglik_terms(self, z: jax.Array, data: EventData) -> jax.Array:
        """l_t per event time (0 at padding rows)."""
        return self.filter(z, data).loglik

    def log_likelihood(self, z: jax.Array, data: EventData) -> jax.Array:
        """sum_t l_t (eq. 21), with gas_filter.forward_hessian's derivatives."""
        def raw(zz, dd):
            return jnp.sum(self.loglik_terms(zz, dd))

        return forward_hessian(raw)(z, data)

    def log_prior(self, z: jax.Array) -> jax.Array:
        """log p(z): CreditPriors on a, b (truncated normal), free C and w, plus the
        log-Jacobian of b = tanh(z_b)."""
        pr = self.priors
        a, b, _, w, logdet = self.unpack(z)
        r, m = self.r, len(self._free)
        c_free = z[2 * r:2 * r + m]
        signs = jnp.asarray([s for _, _, s in self._free], dtype=z.dtype)
        lp = jnp.sum(normal_logpdf(a, pr.a_loc, pr.a_scale))
        lp += jnp.sum(truncnorm_logpdf(b, pr.b_loc, pr.b_scale))
        if m:
            lp += jnp.sum(normal_logpdf(c_free, signs * pr.C_loc, pr.C_scale))
        w_loc = jnp.asarray(pr.w_locs(self.k, self.types == RATING_TYPES), dtype=z.dtype)
        lp += jnp.sum(normal_logpdf(w, w_loc, pr.w_scale))
        return lp + logdet

    def log_joint(self, z: jax.Array, data: EventData) -> jax.Array:
        return self.log_likelihood(z, data) + self.log_prior(z)

    def numpyro_model(self, data: EventData) -> None:
        """NumPyro model over the same unconstrained z (for NUTS)."""
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        z = numpyro.sample("z", dist.ImproperUniform(constraints.real_vector, (), (self.dim,)))
        numpyro.factor("log_joint", self.log_joint(z, data))

    def initial_z(self, data: EventData) -> jax.Array:
        """Start of the mode search: a = 0.02 (0.05 for "I"), b = 0.9, free loadings at their
        prior means' sign times 0.5, w_j the log of the constant-intensity MLE
        (events / exposure) of type j."""
        data = self._squeeze(data)
        m = data.mask[:, None]
        events = jnp.sum(data.y * m, axis=0)
        exposure = jnp.sum(data.dtau[:, None] * data.K * m, axis=0)
        w = jnp.log(jnp.maximum(events, 0.5) / jnp.maximum(exposure, 1e-12))
        r = self.r
        a0 = 0.05 if self.scaling == "I" else 0.02
        c0 = jnp.asarray([0.5 * s for _, _, s in self._free], dtype=w.dtype)
        return jnp.concatenate([jnp.full(r, a0), jnp.full(r, jnp.arctanh(0.9)), c0, w])

    # --------------------------------------------------------------------------- paths
    def _paths(self, z: jax.Array, data: EventData, what: str) -> jax.Array:
        def one(zz):
            path = self.filter(zz, data)
            if what == "f":
                return path.f
            _, _, C, w, _ = self.unpack(zz)
            return jnp.exp(w + path.f @ C.T)

        z = jnp.asarray(z)
        if z.ndim == 1:
            return one(z)
        flat = z.reshape(-1, self.dim)
        out = jax.vmap(one)(flat)
        return out.reshape(*z.shape[:-1], *out.shape[1:])

    def factor_paths(self, z: jax.Array, data: EventData) -> jax.Array:
        """f_t [..., T, r] at z [..., dim] (vmapped over draws)."""
        return self._paths(z, data, "f")

    def intensity_paths(self, z: jax.Array, data: EventData) -> jax.Array:
        """lambda_t = exp(w + C f_t) per type [..., T, k] at z [..., dim] (intensity per firm
        at risk, per year)."""
        return self._paths(z, data, "lambda")

    # ----------------------------------------------------------------- data and config
    def prepare(self, events: EventTable | EventData, pad_to: int | None = None) -> EventData:
        """Runner input: EventData with a leading unit axis, as float64 JAX arrays."""
        if isinstance(events, EventTable):
            if len(events.types) != self.k:
                raise ValueError(f"the events have {len(events.types)} types, the model "
                                 f"{self.k}")
            events = events.data(pad_to)
        return EventData(*(jnp.asarray(np.asarray(x, dtype=float))[None] for x in events))

    # ------------------------------------------------------ system-fitter hooks (optional)
    def load_input(self, data) -> EventTable:
        """The model input: an EventTable as is, or a path / DataFrame holding either rating
        histories (columns firm, date, rating) or an event file (columns time, y_NAME, K_NAME)
        (:func:`bayesvol.data.ratings.load_events`)."""
        from ..data.ratings import load_events

        return data if isinstance(data, EventTable) else load_events(data)

    def new_input(self, events: EventTable, new) -> EventTable:
        """The events after the fitted ones, for one-step scores (``SystemFit.score``).

        ``new``: rating histories or an event file (path, DataFrame or EventTable) covering
        the fitted period and later, from the same start, so that the numbers at risk of the
        new event times come from the same histories. Its first rows must be the fitted
        events (InputError otherwise); the rows after them are returned, with their dates
        (for an event file without dates and start: the start is needed for dates).
        """
        from ..errors import InputError

        full = self.load_input(new)
        n = events.n_times
        src = full.source
        if tuple(full.types) != tuple(events.types):
            raise InputError(f"the new events have types {', '.join(full.types)}, the fit "
                             f"{', '.join(events.types)}", source=src)
        same = (full.n_times >= n
                and np.allclose(np.asarray(full.time[:n], float), events.time, atol=1e-6)
                and np.array_equal(np.asarray(full.y[:n]), np.asarray(events.y)))
        if not same or (full.start is not None and events.start is not None
                        and full.start != events.start):
            raise InputError("the new events must extend the fitted ones: give the rating "
                             "histories (or event file) of the fitted period and after, "
                             "from the same start", source=src)
        if full.n_times == n:
            raise InputError("no events after the fitted ones", source=src)
        dates = full.dates
        if dates is None:
            if full.start is None:
                raise InputError("the event file has no dates and no start: scores need "
                                 "the dates of the new events", source=src)
            dates = full.start + pd.to_timedelta(np.asarray(full.time) * 365.25, unit="D")
        return EventTable(time=np.asarray(full.time[n:]), y=np.asarray(full.y[n:]),
                          K=np.asarray(full.K[n:]), types=tuple(full.types),
                          dates=pd.DatetimeIndex(dates[n:]), start=full.start, source=src,
                          firms=full.firms)

    def continued_data(self, events: EventTable, tail: EventTable
                       ) -> tuple[EventData, np.ndarray]:
        """EventData of the fitted events followed by ``tail`` (:meth:`new_input`), and the
        positions of the tail's rows: the filter runs on through the new event times."""
        n = events.n_times
        full = EventTable(time=np.concatenate([events.time, tail.time]),
                          y=np.concatenate([events.y, tail.y]),
                          K=np.concatenate([events.K, tail.K]), types=tuple(events.types),
                          start=events.start, source=tail.source)
        return self.prepare(full), n + np.arange(tail.n_times)

    def bind(self, events: EventTable) -> CreditIntensityModel:
        """The model with the input's type names (their number must be k)."""
        from ..errors import InputError

        if len(events.types) != self.k:
            raise InputError(f"the events have {len(events.types)} types "
                             f"({', '.join(events.types)}), the model {self.k}",
                             source=events.source)
        if tuple(events.types) == self.types:
            return self
        return CreditIntensityModel(loadings=self.loadings, scaling=self.scaling,
                                    priors=self.priors, types=tuple(events.types))

    def labels(self, events: EventTable) -> dict:
        """No vector parameters: every reported parameter is a scalar."""
        return {}

    @staticmethod
    def input_to_dataset(events: EventTable):
        """The events as an xarray Dataset (the observed_data group of a saved fit)."""
        import xarray as xr

        attrs = {"source": events.source or "", "start": "" if events.start is None else
                 events.start.isoformat()}
        ds = xr.Dataset({"time": (("event",), np.asarray(events.time, float)),
                         "y": (("event", "type"), np.asarray(events.y, float)),
                         "K": (("event", "type"), np.asarray(events.K, float))},
                        coords={"type": list(events.types)}, attrs=attrs)
        if events.dates is not None:
            ds = ds.assign_coords(date=("event", np.asarray(events.dates)))
        return ds

    @staticmethod
    def input_from_dataset(ds) -> EventTable:
        """Inverse of :meth:`input_to_dataset`."""
        import pandas as pd

        start = ds.attrs.get("start") or None
        dates = pd.DatetimeIndex(ds["date"].values, name="date") if "date" in ds.coords \
            else None
        return EventTable(time=ds["time"].values, y=ds["y"].values, K=ds["K"].values,
                          types=tuple(str(t) for t in ds["type"].values), dates=dates,
                          start=None if start is None else pd.Timestamp(start),
                          source=ds.attrs.get("source") or "<events>")

    def config(self) -> dict:
        """JSON-serialisable description (``from_config`` inverts it)."""
        return {"model": self.name, "factors": self.r,
                "loadings": [list(row) for row in self.loadings], "scaling": self.scaling,
                "types": list(self.types), "priors": self.priors.as_dict()}

    @classmethod
    def from_config(cls, cfg: dict) -> CreditIntensityModel:
        return cls(loadings=cfg["loadings"], scaling=cfg["scaling"],
                   types=tuple(cfg["types"]), priors=resolve_priors(cfg.get("priors")))

    @classmethod
    def from_options(cls, factors: int | None = 1, loadings=None, scaling: str = "Inv",
                     priors=None, types: tuple[str, ...] | None = None
                     ) -> CreditIntensityModel:
        """The model from fit options: ``factors`` 1|2|3 or ``loadings`` (a pattern or its
        text form), ``scaling`` I|H|Inv, ``priors`` (a preset name, a dict or CreditPriors),
        ``types`` (the event-type names, default the four rating transitions)."""
        kw = {} if types is None else {"types": tuple(types)}
        if loadings is not None and types is None:
            k = len(normalise_pattern(loadings))
            if k != len(RATING_TYPES):
                kw["types"] = tuple(f"type{j + 1}" for j in range(k))
        return cls(factors=factors, loadings=loadings, scaling=scaling,
                   priors=resolve_priors(priors), **kw)
