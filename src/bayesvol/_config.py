"""Process-wide numerical settings: float64 on by default (DESIGN.md, Numerics).

Importing bayesvol switches JAX to 64-bit unless ``BAYESVOL_X64=0`` is set (float32 is an
option for accelerators). The persistent compilation cache is enabled for the CLI only.
"""

from __future__ import annotations

import os

import jax


def enable_x64() -> None:
    """Turn on JAX float64 unless the user opted out with BAYESVOL_X64=0."""
    if os.environ.get("BAYESVOL_X64", "1") != "0":
        jax.config.update("jax_enable_x64", True)


def enable_compilation_cache(path: str | None = None) -> None:
    """Enable JAX's persistent compilation cache (used by the CLI so repeated runs start warm)."""
    cache = path or os.environ.get(
        "BAYESVOL_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "bayesvol", "jax")
    )
    try:
        os.makedirs(cache, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    except Exception:  # a read-only home must never break a run
        pass


enable_x64()
