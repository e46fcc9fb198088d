"""The local-global Gaussian family for joint posteriors over globals g and per-asset blocks z_i.

    q(g)       = N(m_g, L_g L_g^T)                        L_g lower triangular, diag > 0
    q(z_i | g) = N(m_i + B_i (g - m_g), L_i L_i^T)        B_i: d_l x d_g, L_i lower triangular

Drawn as g = m_g + L_g eps_g, z_i = m_i + B_i L_g eps_g + L_i eps_i (eps standard normal), so
the joint is z = m + A eps with a block lower-triangular A; nothing of size (N d_l)^2 is formed.

    log q(g, z) = log N(g; m_g, L_g L_g^T) + sum_i log N(z_i; m_i + B_i (g - m_g), L_i L_i^T)
    H[q]        = sum log diag L_g + sum_i sum log diag L_i + (d_g + N d_l)(1 + log 2 pi) / 2

(B_i leaves the entropy unchanged: the Jacobian of a block-triangular map.) Variants, by the
parameters that are learned (docs: "Joint models"; Tan & Nott 2018 for the sparse structure):

    structured  full L_g, full L_i and B_i (default)
    block       full L_g and L_i, B_i = 0 (independent blocks)
    meanfield   diagonal L_g and L_i, B_i = 0

Parameters are a dict; local leaves (prefix ``l_``) carry the asset axis first, so a minibatch
gathers and scatters them by asset index.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from ... import small_linalg as sl

_HALF_LOG_2PI = 0.5 * jnp.log(2.0 * jnp.pi)
VARIANTS = ("structured", "block", "meanfield")


def _chol(off: jax.Array | None, logd: jax.Array) -> jax.Array:
    """Lower-triangular factor from strict-lower entries and log-diagonal (batched)."""
    diag = jnp.exp(logd)[..., :, None] * jnp.eye(logd.shape[-1])
    return diag if off is None else diag + jnp.tril(off, -1)


def _psd_chol(cov: jax.Array, jitter: float = 1e-9) -> jax.Array:
    cov = 0.5 * (cov + jnp.swapaxes(cov, -1, -2))
    w, v = sl.eigh(cov)  # elementwise for the per-asset blocks (small_linalg)
    w = jnp.maximum(w, jitter * jnp.maximum(jnp.max(w, axis=-1, keepdims=True), 1e-300))
    return sl.cholesky((v * w[..., None, :]) @ jnp.swapaxes(v, -1, -2))


@dataclass(frozen=True)
class LocalGlobalFamily:
    """q(g) q(z_1 | g) ... q(z_N | g) (module docstring); ``variant`` picks what is learned."""

    variant: str = "structured"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown joint VI family '{self.variant}': choose "
                             f"{', '.join(VARIANTS)} (or fullrank for a dense check)")

    @property
    def full(self) -> bool:
        return self.variant != "meanfield"

    def init(self, m_g: jax.Array, cov_g: jax.Array, m_l: jax.Array, cov_l: jax.Array,
             slope: jax.Array | None = None) -> dict:
        """Parameters from means and covariances: g block [d_g], [d_g, d_g]; locals [N, d_l]...;
        B_i from ``slope`` [N, d_l, d_g] (structured only; default 0)."""
        lg, ll = _psd_chol(cov_g), _psd_chol(cov_l)
        p = {"g_loc": m_g, "g_logd": jnp.log(jnp.diagonal(lg)),
             "l_loc": m_l, "l_logd": jnp.log(jnp.diagonal(ll, axis1=-2, axis2=-1))}
        if self.full:
            p["g_off"] = jnp.tril(lg, -1)
            p["l_off"] = jnp.tril(ll, -1)
        if self.variant == "structured":
            p["l_B"] = (jnp.zeros(m_l.shape + m_g.shape) if slope is None
                        else jnp.asarray(slope, m_l.dtype))
        return p

    def global_chol(self, p: dict) -> jax.Array:
        return _chol(p.get("g_off"), p["g_logd"])

    def local_chol(self, p: dict) -> jax.Array:
        return _chol(p.get("l_off"), p["l_logd"])

    def sample(self, p: dict, eps_g: jax.Array, eps_l: jax.Array) -> tuple[jax.Array, jax.Array]:
        """g [S, d_g] and z [S, n, d_l] from eps_g [S, d_g], eps_l [S, n, d_l].

        ``p``'s local leaves may be a minibatch of n assets.
        """
        g, u_g = self.sample_global(p, eps_g)
        return g, self.sample_locals(p, u_g, eps_l)

    def sample_locals(self, p: dict, g_dev: jax.Array, eps_l: jax.Array) -> jax.Array:
        """z [S, n, d_l] from q(z | g) at g = m_g + g_dev (g_dev [S, d_g])."""
        z = p["l_loc"] + jnp.einsum("nij,snj->sni", self.local_chol(p), eps_l)
        if "l_B" in p:
            z = z + jnp.einsum("nij,sj->sni", p["l_B"], g_dev)
        return z

    def sample_global(self, p: dict, eps_g: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(g, L_g eps_g) for eps_g [S, d_g]."""
        u_g = eps_g @ self.global_chol(p).T
        return p["g_loc"] + u_g, u_g

    def global_entropy(self, p: dict) -> jax.Array:
        return jnp.sum(p["g_logd"]) + p["g_logd"].shape[-1] * (0.5 + _HALF_LOG_2PI)

    def local_entropy(self, p: dict) -> jax.Array:
        """Entropy of each q(z_i | g), shape [n] (independent of g)."""
        return jnp.sum(p["l_logd"], axis=-1) + p["l_logd"].shape[-1] * (0.5 + _HALF_LOG_2PI)

    def entropy(self, p: dict) -> jax.Array:
        return self.global_entropy(p) + jnp.sum(self.local_entropy(p))

    def log_q(self, p: dict, g: jax.Array, z: jax.Array) -> jax.Array:
        """log q(g, z) for g [S, d_g], z [S, N, d_l] (a check of the sampler; tests use it)."""
        lg = self.global_chol(p)
        u = solve_triangular(lg, (g - p["g_loc"]).T, lower=True).T  # [S, d_g]
        out = jnp.sum(-0.5 * u * u - _HALF_LOG_2PI, -1) - jnp.sum(p["g_logd"])
        mean = p["l_loc"][None]
        if "l_B" in p:
            mean = mean + jnp.einsum("nij,sj->sni", p["l_B"], g - p["g_loc"])
        ll = self.local_chol(p)
        v = jax.vmap(lambda L, r: solve_triangular(L, r.T, lower=True).T, in_axes=(0, 1),
                     out_axes=1)(ll, z - mean)  # [S, N, d_l]
        out += jnp.sum(-0.5 * v * v - _HALF_LOG_2PI, (-1, -2)) - jnp.sum(p["l_logd"])
        return out

    def marginals(self, p: dict) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """(m_g, Cov g, m_i, Cov z_i) with Cov z_i = B_i Cov_g B_i^T + L_i L_i^T."""
        lg, ll = self.global_chol(p), self.local_chol(p)
        cov_g = lg @ lg.T
        cov_l = ll @ jnp.swapaxes(ll, -1, -2)
        if "l_B" in p:
            bl = p["l_B"] @ lg
            cov_l = cov_l + bl @ jnp.swapaxes(bl, -1, -2)
        return p["g_loc"], cov_g, p["l_loc"], cov_l
