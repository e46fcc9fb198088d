"""Variational inference for the dynamic factor SV model (``bayesvol.models.dfsv``).

- family.py: q(theta) = N(m, Sigma) (block diagonal by asset plus a low-rank term, fullrank
  or meanfield) times bidiagonal-precision Gaussians over the log-variance paths (O(T) draws,
  exact entropy);
- start.py: starting values from moments (principal factors, two-sided EWMA variances);
- loop.py: the jitted optimisation loop (Adam, Polyak averaging, noise-aware stopping);
- vi.py: ``run_dfsv_vi``, the whole fit as one compiled program (STL gradient by default);
- nuts.py: ``run_dfsv_nuts``, NUTS on the same posterior (the reference for small problems).

``bayesvol.dfsv_fit.fit_dfsv`` is the user-facing entry point.
"""

from .nuts import DfsvNutsOptions, DfsvNutsResult, run_dfsv_nuts
from .start import DfsvStart, dfsv_start
from .vi import DfsvVIOptions, DfsvVIResult, elbo_estimate, run_dfsv_vi

__all__ = ["DfsvNutsOptions", "DfsvNutsResult", "DfsvStart", "DfsvVIOptions", "DfsvVIResult",
           "dfsv_start", "elbo_estimate", "run_dfsv_nuts", "run_dfsv_vi"]
