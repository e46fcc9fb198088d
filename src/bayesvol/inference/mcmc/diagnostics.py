"""Convergence and efficiency diagnostics of MCMC draws, and HPD intervals and bands.

- **ESS**: ArviZ's rank-normalised bulk effective sample size (Vehtari et al. 2021), which
  pools the chains; the estimate behind it is M / (1 + 2 sum_k rho_k) over the
  autocorrelations rho_k. **ESS per second** divides it by the sampling time of the run.
- **R-hat**: ArviZ's rank-normalised split R-hat (Vehtari et al. 2021); NaN for one chain.
- **Geweke (1992)**: per chain and coordinate,
  z = (mean(first 10%) - mean(last 50%)) / sqrt(NSE_a^2 + NSE_b^2), with each numerical
  standard error NSE = sqrt(var / ESS) from the segment's own ESS (the segments' spectral
  densities at frequency 0 in Geweke's form). |z| > 1.96 flags a chain whose start and end
  disagree at the 5% level.
- **HPD interval** (highest posterior density): the shortest interval holding ``prob`` of
  the draws (ArviZ ``hdi``); for a symmetric unimodal posterior it is the central interval.
  **HPD bands** apply it at every time point of paths [draws, T] (e.g. volatility).
"""

from __future__ import annotations

import numpy as np


def _dataset(z: np.ndarray):
    import arviz as az  # imported here: it costs seconds at start-up

    return az.convert_to_dataset({"z": np.asarray(z, dtype=float)})


def ess(z: np.ndarray) -> np.ndarray:
    """Bulk ESS per coordinate of draws z [chains, draws, d] -> [d]."""
    import arviz as az

    return np.asarray(az.ess(_dataset(z))["z"].values, dtype=float)


def rhat(z: np.ndarray) -> np.ndarray:
    """Split R-hat per coordinate of z [chains, draws, d] -> [d] (NaN with one chain)."""
    import arviz as az

    z = np.asarray(z)
    if z.shape[0] < 2:
        return np.full(z.shape[-1], np.nan)
    return np.asarray(az.rhat(_dataset(z))["z"].values, dtype=float)


def nse(x: np.ndarray) -> np.ndarray:
    """Numerical standard error sqrt(var / ESS) of the mean of one chain's draws x [n, d]."""
    x = np.asarray(x, dtype=float)
    e = ess(x[None])
    return np.sqrt(np.var(x, axis=0, ddof=1) / np.maximum(e, 1.0))


def geweke(z: np.ndarray, first: float = 0.1, last: float = 0.5) -> np.ndarray:
    """Geweke z-scores [chains, d] comparing the first ``first`` and last ``last`` fractions
    of each chain of z [chains, draws, d]."""
    z = np.asarray(z, dtype=float)
    n = z.shape[1]
    na, nb = max(int(first * n), 4), max(int(last * n), 4)
    if na + nb > n:
        raise ValueError(f"Geweke needs at least {na + nb} draws per chain, got {n}")
    out = np.empty((z.shape[0], z.shape[2]))
    for c in range(z.shape[0]):
        a, b = z[c, :na], z[c, n - nb:]
        out[c] = (a.mean(0) - b.mean(0)) / np.sqrt(nse(a) ** 2 + nse(b) ** 2)
    return out


def hpd_interval(x: np.ndarray, prob: float = 0.95) -> np.ndarray:
    """HPD interval of draws x [n] -> [2] (lower, upper), or of each column of x [n, d] ->
    [d, 2] (pool chains first: ``z.reshape(-1, d)``)."""
    import arviz as az

    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        return np.asarray(az.hdi(x, hdi_prob=prob))
    return np.asarray(az.hdi(x.reshape(-1, x.shape[-1])[None], hdi_prob=prob))


def hpd_band(paths: np.ndarray, prob: float = 0.99) -> np.ndarray:
    """HPD band over time of paths [draws, T] (or [chains, draws, T]) -> [T, 2] (lower,
    upper): the HPD interval at every time point, e.g. of a volatility path."""
    import arviz as az

    p = np.asarray(paths, dtype=float)
    p = p.reshape(-1, p.shape[-1])
    return np.asarray(az.hdi(p[None], hdi_prob=prob))  # [chains=1, draws, T] -> [T, 2]


def summarize(z: np.ndarray, acceptance: np.ndarray, seconds: float) -> dict:
    """The diagnostics of one run (JSON-ready): per-coordinate lists and their extremes."""
    z = np.asarray(z, dtype=float)
    e = ess(z)
    r = rhat(z)
    g = geweke(z) if z.shape[1] >= 40 else np.full((z.shape[0], z.shape[2]), np.nan)
    ess_s = e / max(seconds, 1e-9)
    finite_r = r[np.isfinite(r)]
    return {
        "acceptance_rate": float(np.mean(acceptance)),
        "acceptance_per_chain": np.asarray(acceptance, dtype=float).tolist(),
        "ess": e.tolist(), "ess_min": float(np.min(e)),
        "ess_per_s": ess_s.tolist(), "ess_per_s_min": float(np.min(ess_s)),
        "rhat": r.tolist(), "rhat_max": float(np.max(finite_r)) if finite_r.size else None,
        "geweke": g.tolist(),
        "geweke_max_abs": float(np.nanmax(np.abs(g))) if np.isfinite(g).any() else None,
        "geweke_flagged": int(np.sum(np.abs(g) > 1.96)),
        "sampling_seconds": float(seconds),
    }


def sampler_diagnostics(per_asset: list, info: list, num_chains: int) -> dict:
    """A sampler fit's diagnostics: the extremes over assets and coordinates, and the per-asset
    details (mcmc.diagnostics.summarize, and what the sampler tuned). ``converged``: split
    R-hat < 1.05 (with more than one chain) and no divergent HMC transition."""
    rhat = [d["rhat_max"] for d in per_asset if d.get("rhat_max") is not None]
    divergences = sum(int(i.get("divergences") or 0) for i in info)
    ok = (max(rhat) < 1.05 if rhat else True) if num_chains > 1 else True
    return {"converged": bool(ok and divergences == 0),
            "rhat_max": max(rhat) if rhat else None,
            "ess_min": min(d["ess_min"] for d in per_asset),
            "ess_per_s_min": min(d["ess_per_s_min"] for d in per_asset),
            "acceptance_rate": float(np.mean([d["acceptance_rate"] for d in per_asset])),
            "geweke_max_abs": max((d["geweke_max_abs"] for d in per_asset
                                   if d.get("geweke_max_abs") is not None), default=None),
            "divergences": divergences if any("divergences" in i for i in info) else None,
            "per_asset": per_asset, "sampler": info}
