"""Generic score-driven (GAS) filter: the recursion of Creal, Koopman & Lucas (2013) and
Harvey (2013), for any observation density, as one ``lax.scan`` over time.

For an n-vector of time-varying parameters f_t and observations y_t with mask m_t:

    f_{t+1} = omega + A s_t + B f_t,             t = 1, ..., T
    s_t     = m_t S_t nabla_t,                   nabla_t = d log p(y_t | f_t, theta) / d f_t
    S_t     = I_t^{-a},   a in {0, 1/2, 1},      I_t = -E[d^2 log p(y_t | f_t) / d f_t d f_t']

(a = 0: the plain score; a = 1: the inverse-information, Newton-like step; a = 1/2: the
symmetric inverse square root V diag(w^{-1/2}) V' of I_t = V diag(w) V'). A missing
observation (m_t = 0) adds nothing to the likelihood and gives s_t = 0, so the filter
propagates in expectation (E[nabla_t] = 0): f_{t+1} = omega + B f_t.
The log-likelihood is sum_t m_t log p(y_t | f_t, theta).

nabla_t is the model's closed form where it has one, otherwise ``jax.grad`` of the
observation log density in f (reverse mode, traced once inside the scan). I_t must be given
in closed form for a != 0 (an expectation cannot be differentiated out of one draw).

A, B act on vectors as scalars (shape ()), diagonals (shape (n,)) or dense matrices (n, n).
Stationarity of the f recursion needs the eigenvalues of B inside the unit circle
(Creal, Koopman & Lucas 2013, section 2). :class:`GasDynamics` enforces it through the
parameterisation: |b_i| < 1 by b = tanh(z) for scalar and diagonal B, and for dense B the
bijection B = M (I + M'M)^{-1/2} of the real n x n matrices M onto the matrices of spectral
norm below 1 (a sufficient condition: spectral radius <= spectral norm < 1), with inverse
M = B (I - B'B)^{-1/2}. Intercept options (Creal, Koopman & Lucas 2013, eq. 3 and after):

    "free"           omega is a free parameter
    "unconditional"  omega = (I - B) f_bar, f_bar (the unconditional mean of f) is free
    "targeting"      omega = (I - B) f_bar with f_bar fixed from the data (given at unpack)
    "zero"           omega = 0

and start options for f_1: "unconditional" (f_1 = (I - B)^{-1} omega), "given" (a fixed
value) or "estimated" (a free parameter).

References: D. Creal, S. J. Koopman and A. Lucas (2013), Generalized autoregressive score
models with applications, Journal of Applied Econometrics 28(5), 777-795. A. C. Harvey (2013),
Dynamic Models for Volatility and Heavy Tails, Cambridge University Press.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

SCALINGS = (0.0, 0.5, 1.0)
FORMS = ("scalar", "diagonal", "dense")
INTERCEPTS = ("free", "unconditional", "targeting", "zero")
STARTS = ("unconditional", "given", "estimated")


class GasPath(NamedTuple):
    """Output of :func:`gas_filter` (time axis first).

    f: [T, ...] f_t, t = 1..T; loglik: [T] log p(y_t | f_t) (0 where missing);
    score: [T, ...] the scaled score s_t (0 where missing); f_next: f_{T+1}.
    """

    f: jax.Array
    loglik: jax.Array
    score: jax.Array
    f_next: jax.Array


def apply(M: jax.Array, x: jax.Array) -> jax.Array:
    """M x for M a scalar (shape ()), a diagonal (shape of x) or a dense matrix (n, n)."""
    M = jnp.asarray(M)
    if M.ndim == 2:
        return M @ x
    return M * x


def scale_score(nabla: jax.Array, info: jax.Array | None, a: float) -> jax.Array:
    """s = I^{-a} nabla; ``info`` a scalar, a diagonal (vector) or an (n, n) matrix.

    For a matrix, I^{-1} uses a linear solve and I^{-1/2} the symmetric square root
    (:func:`sym_sqrt`, from the eigendecomposition of (I + I')/2): s = R^{-1} nabla, R R = I.
    """
    if a == 0.0:
        return nabla
    if info is None:
        raise ValueError(f"scaling a = {a} needs the information I_t (pass ``information``)")
    info = jnp.asarray(info)
    if info.ndim < 2:
        return nabla * info ** (-a)
    if a == 1.0:
        return jnp.linalg.solve(info, nabla)
    return jnp.linalg.solve(sym_sqrt(info), nabla)


@jax.custom_jvp
def sym_sqrt(S: jax.Array) -> jax.Array:
    """The symmetric square root R = V diag(w^{1/2}) V' of a symmetric positive definite S
    (eigendecomposition of (S + S')/2), so that R^{-1} = S^{-1/2} is the symmetric inverse
    square root.

    Its derivative is the solution dR of the Sylvester equation R dR + dR R = dS, solved as
    the n^2 x n^2 linear system (R kron I + I kron R) vec dR = vec dS. Unlike the derivative
    of ``eigh`` it stays finite where eigenvalues coincide (e.g. a diagonal information with
    equal entries), and every higher derivative is again a linear solve in R.
    """
    w, v = jnp.linalg.eigh(0.5 * (S + S.T))
    return (v * jnp.sqrt(w)) @ v.T


@sym_sqrt.defjvp
def _sym_sqrt_jvp(primals, tangents):
    (S,), (dS,) = primals, tangents
    R = sym_sqrt(S)
    n = S.shape[-1]
    eye = jnp.eye(n, dtype=R.dtype)
    K = jnp.kron(R, eye) + jnp.kron(eye, R)
    dR = jnp.linalg.solve(K, (0.5 * (dS + dS.T)).reshape(-1)).reshape(n, n)
    return R, dR


def gas_filter(
    y: jax.Array,
    mask: jax.Array,
    log_density: Callable[[jax.Array, jax.Array], jax.Array],
    omega: jax.Array,
    A: jax.Array,
    B: jax.Array,
    f1: jax.Array,
    scaling: float = 0.0,
    score: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    information: Callable[..., jax.Array] | None = None,
    unroll: int = 1,
    information_uses_y: bool = False,
) -> GasPath:
    """Run the GAS recursion (module docstring) over y with one ``lax.scan``.

    y: [T, ...] observations (leading axis time; the values at missing points must keep
    ``log_density`` finite, e.g. 0). mask: [T], 1.0 observed, 0.0 missing.
    log_density(y_t, f_t) -> scalar log p(y_t | f_t, theta) (theta closed over).
    omega, f1: the shape of f_t; A, B: scalar, diagonal or (n, n) (see :func:`apply`).
    scaling: a in {0, 0.5, 1}. score(y_t, f_t) -> nabla_t in closed form (default: autodiff
    of ``log_density`` in f). information(f_t) -> I_t (needed when a != 0), or
    information(y_t, f_t) with ``information_uses_y`` (an information that depends on
    predetermined inputs carried in y_t, e.g. the at-risk counts of a point process).
    """
    a = float(scaling)
    if a not in SCALINGS:
        raise ValueError(f"scaling a must be one of 0, 0.5, 1, got {scaling!r}")
    if a != 0.0 and information is None:
        raise ValueError(f"scaling a = {a} needs the information I_t (pass ``information``)")
    f1 = jnp.asarray(f1, dtype=jnp.result_type(float))
    mask = jnp.asarray(mask, dtype=f1.dtype)

    if score is None:
        def value_and_score(y_t, f):
            return jax.value_and_grad(log_density, argnums=1)(y_t, f)
    else:
        def value_and_score(y_t, f):
            return log_density(y_t, f), score(y_t, f)

    def scaled(y_t, m_t, f):  # (log p(y_t | f_t), s_t), both 0 where y_t is missing
        ll, nabla = value_and_score(y_t, f)
        if a == 0.0:
            info = None
        else:
            info = information(y_t, f) if information_uses_y else information(f)
        s = scale_score(nabla, info, a)
        observed = m_t > 0
        return jnp.where(observed, ll, 0.0), jnp.where(observed, s, jnp.zeros_like(s))

    def step(f, inputs):
        y_t, m_t = inputs
        _, s = scaled(y_t, m_t, f)
        return omega + apply(A, s) + apply(B, f), f

    # The scan carries and stores f_t only; the log densities and scores are then computed
    # for all t at once from the stored path. A loop body with few operations matters on
    # CPU, where XLA runs each fused operation of a while loop as its own kernel: storing
    # the per-step terms (and, under reverse mode, their residuals) inside the scan made a
    # T = 1263 value-and-gradient 10-30 times slower than this form (jax 0.10).
    f_next, f = jax.lax.scan(step, f1, (y, mask), unroll=unroll)
    ll, s = jax.vmap(scaled)(y, mask, f)
    return GasPath(f, ll, s, f_next)


def forward_hessian(fn: Callable[[jax.Array, object], jax.Array]
                    ) -> Callable[[jax.Array, object], jax.Array]:
    """``fn(z, data) -> scalar`` with the same values and derivatives in z, differentiated
    faster: the gradient by reverse mode, and the second derivative (the Jacobian of the
    gradient, e.g. ``jax.jacfwd(jax.grad(...))`` or a Hessian-vector product) by forward over
    forward mode, H = jacfwd(jacfwd(fn)).

    JAX's default for a Hessian through a long ``lax.scan`` is forward over reverse, whose
    forward pass over the reversed scan was about 50 times the cost of a gradient here (a
    6-parameter GAS likelihood, T = 1536: 25 ms against 3.7 ms forward over forward, CPU);
    this routes each order to the mode that suits a scan. ``data`` is treated as constant
    (its tangents are ignored): differentiate only in z.
    """

    @jax.custom_jvp
    def value_and_grad(z, data):
        return jax.value_and_grad(fn)(z, data)

    @value_and_grad.defjvp
    def _value_and_grad_jvp(primals, tangents):
        z, data = primals
        dz = tangents[0]
        value, grad = jax.value_and_grad(fn)(z, data)
        hess = jax.jacfwd(jax.jacfwd(fn))(z, data)
        return (value, grad), (grad @ dz, hess @ dz)

    @jax.custom_jvp
    def wrapped(z, data):
        return fn(z, data)

    @wrapped.defjvp
    def _wrapped_jvp(primals, tangents):
        z, data = primals
        dz = tangents[0]
        value, grad = value_and_grad(z, data)
        return value, grad @ dz

    return wrapped


# ------------------------------------------------------------------ stationarity bijections
def tanh_forward(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """b = tanh(z) in (-1, 1); log-Jacobian log(1 - b^2) = 2 log 2 - 2 log(e^z + e^-z),
    summed over the elements."""
    logdet = 2.0 * jnp.log(2.0) - 2.0 * jnp.logaddexp(z, -z)
    return jnp.tanh(z), jnp.sum(logdet)


def tanh_inverse(b: jax.Array) -> jax.Array:
    """z = atanh(b) for |b| < 1."""
    return jnp.arctanh(b)


def _sym_power(S: jax.Array, power: float) -> jax.Array:
    """S^power for a symmetric positive definite S (eigendecomposition)."""
    w, v = jnp.linalg.eigh(0.5 * (S + S.T))
    return (v * w**power) @ v.T


def contraction_forward(M: jax.Array) -> jax.Array:
    """B = M (I + M'M)^{-1/2}: any real n x n M -> spectral norm ||B||_2 < 1."""
    n = M.shape[-1]
    return M @ _sym_power(jnp.eye(n, dtype=M.dtype) + M.T @ M, -0.5)


def contraction_inverse(B: jax.Array) -> jax.Array:
    """M = B (I - B'B)^{-1/2}, the inverse of :func:`contraction_forward` (||B||_2 < 1)."""
    n = B.shape[-1]
    return B @ _sym_power(jnp.eye(n, dtype=B.dtype) - B.T @ B, -0.5)


def contraction_logdet(M: jax.Array) -> jax.Array:
    """log |det d vec(B) / d vec(M)| of :func:`contraction_forward` (autodiff Jacobian)."""
    n = M.shape[-1]

    def vec_map(m):
        return contraction_forward(m.reshape(n, n)).reshape(-1)

    jac = jax.jacfwd(vec_map)(M.reshape(-1))
    return jnp.linalg.slogdet(jac)[1]


def spectral_radius(B: np.ndarray) -> float:
    """max |eigenvalue| of B (a scalar or diagonal B: max |b_i|)."""
    B = np.asarray(B, dtype=float)
    if B.ndim < 2:
        return float(np.max(np.abs(B)))
    return float(np.max(np.abs(np.linalg.eigvals(B))))


# ------------------------------------------------------------------------ parameter layout
class GasParams(NamedTuple):
    """Natural GAS parameters: omega [n], A and B (scalar, [n] or [n, n]), f1 [n]."""

    omega: jax.Array
    A: jax.Array
    B: jax.Array
    f1: jax.Array


@dataclass(frozen=True)
class GasDynamics:
    """The static layout of a GAS recursion: how many coordinates, and the maps from an
    unconstrained vector to (omega, A, B, f_1) with the log-Jacobian of the constrained ones.

    n: state dimension; form: scalar | diagonal | dense (A and B share it); intercept: free |
    unconditional | targeting | zero; start: unconditional | given | estimated (f_1);
    f1_value: f_1 for start "given". Coordinates, in order: intercept (n, for free and
    unconditional), A (1, n or n^2), B (same; tanh or contraction coordinates), f_1 (n, for
    estimated).
    """

    n: int = 1
    form: str = "scalar"
    intercept: str = "unconditional"
    start: str = "unconditional"
    f1_value: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if int(self.n) < 1:
            raise ValueError(f"state dimension n must be >= 1, got {self.n}")
        if self.form not in FORMS:
            raise ValueError(f"unknown form '{self.form}': use {', '.join(FORMS)}")
        if self.intercept not in INTERCEPTS:
            raise ValueError(f"unknown intercept '{self.intercept}': use "
                             f"{', '.join(INTERCEPTS)}")
        if self.start not in STARTS:
            raise ValueError(f"unknown start '{self.start}': use {', '.join(STARTS)}")
        if self.start == "given":
            if self.f1_value is None or len(self.f1_value) != self.n:
                raise ValueError(f"start 'given' needs f1_value with {self.n} number(s)")

    @property
    def _k(self) -> int:
        return {"scalar": 1, "diagonal": self.n, "dense": self.n * self.n}[self.form]

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the unconstrained coordinates."""
        n, k = self.n, self._k
        idx = [f"[{i}]" for i in range(n)] if n > 1 else [""]
        names: list[str] = []
        if self.intercept == "free":
            names += [f"omega{i}" for i in idx]
        elif self.intercept == "unconditional":
            names += [f"f_bar{i}" for i in idx]
        mat = ([""] if k == 1 else idx if k == n else
               [f"[{i},{j}]" for i in range(n) for j in range(n)])
        names += [f"A{i}" for i in mat]
        b_name = "M" if self.form == "dense" else "atanh_B"
        names += [f"{b_name}{i}" for i in mat]
        if self.start == "estimated":
            names += [f"f1{i}" for i in idx]
        return tuple(names)

    @property
    def size(self) -> int:
        """Number of unconstrained coordinates."""
        return len(self.names)

    def _matrix(self, v: jax.Array) -> jax.Array:
        if self.form == "scalar":
            return v[0]
        if self.form == "diagonal":
            return v
        return v.reshape(self.n, self.n)

    def unpack(self, z: jax.Array, target: jax.Array | None = None
               ) -> tuple[GasParams, jax.Array]:
        """(GasParams, log-Jacobian of B's map) from the coordinates z [size].

        ``target``: f_bar for intercept "targeting" (e.g. from sample moments).
        """
        n, k = self.n, self._k
        pos = 0
        f_bar = None
        if self.intercept in ("free", "unconditional"):
            head = z[:n]
            pos = n
        A = self._matrix(z[pos:pos + k])
        zb = z[pos + k:pos + 2 * k]
        pos += 2 * k
        if self.form == "dense":
            M = zb.reshape(n, n)
            B = contraction_forward(M)
            logdet = contraction_logdet(M)
        else:
            b, logdet = tanh_forward(zb)
            B = self._matrix(b)
        eye = jnp.eye(n, dtype=z.dtype)
        i_minus_b = eye - (B if B.ndim == 2 else B * eye)
        if self.intercept == "free":
            omega = head
        elif self.intercept == "unconditional":
            f_bar = head
            omega = i_minus_b @ f_bar
        elif self.intercept == "targeting":
            if target is None:
                raise ValueError("intercept 'targeting' needs the target f_bar")
            f_bar = jnp.broadcast_to(jnp.asarray(target, dtype=z.dtype), (n,))
            omega = i_minus_b @ f_bar
        else:
            omega = jnp.zeros(n, dtype=z.dtype)
        if self.start == "estimated":
            f1 = z[pos:pos + n]
        elif self.start == "given":
            f1 = jnp.asarray(self.f1_value, dtype=z.dtype)
        else:
            f1 = f_bar if f_bar is not None else jnp.linalg.solve(i_minus_b, omega)
        return GasParams(omega, A, B, f1), logdet

    def pack(self, params: GasParams) -> jax.Array:
        """The inverse of :meth:`unpack`: coordinates z from natural parameters."""
        n = self.n
        B = jnp.asarray(params.B, dtype=float)
        A = jnp.asarray(params.A, dtype=float)
        cols = []
        eye = jnp.eye(n)
        if self.intercept == "free":
            cols.append(jnp.asarray(params.omega, dtype=float).reshape(n))
        elif self.intercept == "unconditional":
            i_minus_b = eye - (B if B.ndim == 2 else B * eye)
            cols.append(jnp.linalg.solve(i_minus_b,
                                         jnp.asarray(params.omega, dtype=float).reshape(n)))
        cols.append(A.reshape(-1))
        if self.form == "dense":
            cols.append(contraction_inverse(B).reshape(-1))
        else:
            cols.append(tanh_inverse(B).reshape(-1))
        if self.start == "estimated":
            cols.append(jnp.asarray(params.f1, dtype=float).reshape(n))
        return jnp.concatenate(cols)
