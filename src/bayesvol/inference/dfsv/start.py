"""Starting values for DFSV VI from simple moments (no optimisation).

On returns y [T, N] (demeaned, unit overall scale; mask True where observed):

1. Sample covariance S from pairwise-complete products, then principal-axis factoring:
   Psi = diag(S) / 2, and 20 times: B = V_K E_K^{1/2} from the top K eigenpairs of S - Psi,
   Psi = max(diag(S - B B^T), 0.05 diag(S)).
2. Rotation to the identification rule (lower-triangular Lambda, positive diagonal): with
   B_{1:K}^T = Q R (QR), Lambda = B Q, whose top K x K block R^T is lower triangular; columns
   are flipped so its diagonal is positive.
3. Factors by weighted least squares at each date, f_t = (Lambda^T W_t Lambda)^{-1}
   Lambda^T W_t y_t with W_t = diag(mask_t / Psi); residuals e_t = y_t - Lambda f_t.
4. Log-variance paths from a two-sided exponentially weighted mean of f_t^2 and e_t^2
   (weight lam^|s - t|, missing dates skipped), logged; the factor paths are centred to mean 0
   (the identification mu = 0).
5. Globals: phi's 0.95, sigma_h = sigma_id = 0.2, phi_f = 0, mu_id = mean of the idiosyncratic
   path (or log sigma2 = log mean e^2). q(theta) starts with sd 0.1 on every coordinate.
   (Starting the loadings and levels at their Fisher-information sds instead, about 0.01-0.03
   and 0.045 at N = 100, T = 1000, K = 4, converged later, 900-1200 iterations against
   750-850, at a lower ELBO by 10-40 nats, over three seeds.)
6. Each path's precision starts at the AR(1) prior precision at those globals plus 1/2 on the
   diagonal (the Fisher information of a log-variance from one Gaussian observation), through
   its bidiagonal Cholesky factor.
7. Non-centred paths (``paths="noncentred"``, the default): x = (log-variance - level) / sigma
   at the starting sigma = 0.2, with precision that of a unit-innovation AR(1) at phi = 0.95
   plus sigma^2 / 2 on the diagonal (the information of step 6 carried through h = sigma x).
8. Student-t errors: degrees of freedom START_NU, and q(W_{r,t} | v) = IG(v/2 + 1/2,
   v/2 + z^2 / 2), W's full conditional given the squared standardised residual z^2 of steps
   3-4 (factor: f^2 / ewma(f^2); asset: e^2 / ewma(e^2); a missing return: z^2 ~ 0, so q is
   near the prior).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np
from scipy.linalg import cholesky_banded

from ...models.dfsv import DfsvModel

START_PHI = 0.95
START_SIGMA = 0.2
START_THETA_SD = 0.1
START_NU = 10.0       # Student-t degrees of freedom at the start (prior mean 25)
EWMA_LAMBDA = 0.94


class DfsvStart(NamedTuple):
    theta: np.ndarray       # [d] unconstrained
    theta_var: np.ndarray   # [d] starting variances of q(theta)
    path_loc: np.ndarray    # [M, T] (unit paths x when non-centred)
    path_logd: np.ndarray   # [M, T]
    path_c: np.ndarray      # [M, T-1]
    natural: dict           # the starting natural parameters
    mix_la: np.ndarray | None = None   # [K + N, T] Student-t: q(W | v) (family.py)
    mix_lb: np.ndarray | None = None

    def standardised_mixing(self) -> np.ndarray:
        """The mixing states at q's starting modes, log W = log(beta / alpha) at v = START_NU,
        standardised by their prior moments (``DfsvModel`` docstring): NUTS's start."""
        from ...models.student_mixing import log_w_moments

        a = 0.5 * START_NU
        u = np.log((a + np.exp(self.mix_lb)) / (a + np.exp(self.mix_la)))
        m, s = (float(v) for v in log_w_moments(a))
        return (u - m) / s


def pairwise_covariance(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """S_ij = sum_t y_ti y_tj m_ti m_tj / sum_t m_ti m_tj, clipped to be positive definite."""
    m = mask.astype(float)
    y0 = np.where(mask, y, 0.0)
    S = (y0.T @ y0) / np.maximum(m.T @ m, 1.0)
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    w = np.maximum(w, 1e-6 * max(float(np.max(w)), 1e-12))
    return (V * w) @ V.T


def principal_factors(S: np.ndarray, K: int, iterations: int = 20
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Principal-axis factoring: loadings B [N, K] and uniquenesses Psi [N] (module doc)."""
    d = np.diag(S).copy()
    psi = 0.5 * d
    for _ in range(iterations):
        w, V = np.linalg.eigh(S - np.diag(psi))
        top = np.argsort(w)[::-1][:K]
        B = V[:, top] * np.sqrt(np.maximum(w[top], 1e-8 * d.max()))
        psi = np.maximum(d - np.sum(B**2, axis=1), 0.05 * d)
    return B, psi


def lower_triangular_rotation(B: np.ndarray) -> np.ndarray:
    """B Q with B_{1:K}^T = Q R, so the top K x K block is lower triangular; diagonal > 0."""
    K = B.shape[1]
    Q, R = np.linalg.qr(B[:K].T)
    L = B @ Q
    sign = np.where(np.diag(L[:K]) < 0, -1.0, 1.0)
    L = L * sign
    L[:K] = np.tril(L[:K])
    floor = 0.05 * np.sqrt(np.mean(B**2)) + 1e-8
    idx = np.arange(K)
    L[idx, idx] = np.maximum(L[idx, idx], floor)
    return L


def two_sided_ewma(x: np.ndarray, mask: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """sum_s lam^|s-t| m_s x_s / sum_s lam^|s-t| m_s along axis 0 (missing dates skipped).

    Both sums are one convolution with the kernel lam^|k|, done by FFT on a zero-padded
    length n >= 2T (so the circular convolution equals the linear one): O(T log T) per
    column, without importing scipy.signal (over a second of a first fit's start-up).
    """
    m = mask.astype(float)
    xm = np.where(mask, x, 0.0)
    t = x.shape[0]
    n = 1 << int(np.ceil(np.log2(2 * t)))
    k = np.arange(n)
    lag = np.minimum(k, n - k)
    kernel = np.where(lag < t, lam ** lag.astype(float), 0.0)
    spectrum = np.fft.rfft(kernel)
    shape = (-1,) + (1,) * (x.ndim - 1)

    def two(v):
        out = np.fft.irfft(np.fft.rfft(v, n, axis=0) * spectrum.reshape(shape), n, axis=0)
        return out[:t]

    return two(xm) / np.maximum(two(m), 1e-12)


PATHS = ("noncentred", "centred")


def ar1_path_cholesky(T: int, phi: float, sigma: float, extra: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Lower-bidiagonal Cholesky factor C of the tridiagonal precision of a stationary AR(1)
    path plus ``extra`` on the diagonal: diag (1, 1 + phi^2, ..., 1) / sigma^2 + extra,
    off-diagonal -phi / sigma^2 (the precision of ``family.ar1_precision``). Returns
    (log diag C [T], sub-diagonal C [T-1]) by LAPACK's banded Cholesky (numpy, no tracing)."""
    diag = np.full(T, (1.0 + phi * phi) / sigma**2 + extra)
    diag[0] = diag[-1] = 1.0 / sigma**2 + extra
    ab = np.zeros((2, T))
    ab[0] = diag
    ab[1, :-1] = -phi / sigma**2
    cb = cholesky_banded(ab, lower=True)
    return np.log(cb[0]), cb[1, :-1].copy()


def _one_blas_thread():
    """A context limiting numpy's BLAS to one thread when threadpoolctl is installed (else a
    no-op): the start's N x N eigendecompositions are too small to gain from threads, and
    on a busy 2-core machine OpenBLAS's waiting threads made 20 of them (N = 100) take 3 s
    instead of 0.1 s."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def dfsv_start(model: DfsvModel, y: np.ndarray, mask: np.ndarray,
               paths: str = "noncentred") -> DfsvStart:
    """Starting values (module docstring) for y, mask [T, N]; ``paths`` "noncentred" (unit
    AR(1) paths x) or "centred" (log-variances)."""
    if paths not in PATHS:
        raise ValueError(f"paths must be one of {PATHS}, got {paths!r}")
    with _one_blas_thread():
        return _dfsv_start(model, y, mask, paths)


def _dfsv_start(model: DfsvModel, y: np.ndarray, mask: np.ndarray, paths: str) -> DfsvStart:
    T, N = y.shape
    K = model.n_factors
    S = pairwise_covariance(y, mask)
    B, psi = principal_factors(S, K)
    Lam = lower_triangular_rotation(B)
    W = mask / psi                                        # [T, N]
    y0 = np.where(mask, y, 0.0)
    A = np.einsum("ik,ti,il->tkl", Lam, W, Lam) + 1e-6 * np.eye(K)
    g = np.einsum("ik,ti->tk", Lam, W * y0)
    f = np.linalg.solve(A, g[..., None])[..., 0]         # [T, K]
    resid = y0 - f @ Lam.T
    var_f = two_sided_ewma(f**2, np.ones((T, K), bool))
    h = np.log(np.maximum(var_f, 1e-4 * np.mean(var_f)))
    h = h - h.mean(axis=0)
    var_e = two_sided_ewma(resid**2, mask)
    h_id = np.log(np.maximum(var_e, 1e-4 * np.mean(var_e, axis=0)))

    natural = {"Lambda": Lam, "phi_h": np.full(K, START_PHI), "sigma_h": np.full(K, START_SIGMA),
               "Phi_h": START_PHI * np.eye(K), "Q_h": START_SIGMA**2 * np.eye(K)}
    if model.factor_ar:
        natural["phi_f"] = np.zeros(K)
    if model.idio == "ar1":
        natural.update(mu_id=h_id.mean(axis=0), phi_id=np.full(N, START_PHI),
                       sigma_id=np.full(N, START_SIGMA))
        path_vals = np.concatenate([h.T, h_id.T], axis=0)
    else:
        e2 = np.sum(np.where(mask, resid**2, 0.0), axis=0) / np.maximum(mask.sum(axis=0), 1)
        natural["sigma2"] = np.maximum(e2, 1e-4 * np.mean(e2))
        path_vals = h.T
    if model.n_mix:
        natural.update(nu_f=np.full(K, START_NU), nu_id=np.full(N, START_NU))
    theta = model.unconstrain(natural)

    if paths == "noncentred":
        level = np.zeros(K) if model.idio != "ar1" else np.concatenate(
            [np.zeros(K), natural["mu_id"]])
        path_vals = (path_vals - level[:, None]) / START_SIGMA
        logd, c = ar1_path_cholesky(T, START_PHI, 1.0, 0.5 * START_SIGMA**2)
    else:
        logd, c = ar1_path_cholesky(T, START_PHI, START_SIGMA, 0.5)
    M = path_vals.shape[0]
    path_logd = np.broadcast_to(np.asarray(logd), (M, T)).copy()
    path_c = np.broadcast_to(np.asarray(c), (M, T - 1)).copy()
    mix_la = mix_lb = None
    if model.n_mix:     # Student-t: W's full conditional given the start's residuals (step 8)
        z2 = np.concatenate([f**2 / var_f, np.where(mask, resid**2, 0.0) / var_e], axis=1).T
        mix_la = np.full(z2.shape, np.log(0.5))
        mix_lb = np.log(np.maximum(0.5 * z2, 1e-3))
    return DfsvStart(theta, np.full(theta.shape, START_THETA_SD**2), path_vals, path_logd, path_c,
                     natural, mix_la, mix_lb)


__all__ = ["PATHS", "DfsvStart", "ar1_path_cholesky", "dfsv_start", "lower_triangular_rotation",
           "pairwise_covariance", "principal_factors", "two_sided_ewma"]
