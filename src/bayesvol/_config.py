"""Process-wide numerical settings: float64 on by default (DESIGN.md, Numerics).

Importing bayesvol switches JAX to 64-bit unless ``BAYESVOL_X64=0`` is set (float32 is an
option for accelerators). The persistent compilation cache is enabled for the CLI only.

Neither setting imports JAX (a 1-4 s import that ``bayesvol check`` and ``--help`` must not
pay): when JAX is already imported its config is updated, otherwise the setting goes into
the ``JAX_*`` environment variable that JAX reads when it is imported (and that child
processes inherit).
"""

from __future__ import annotations

import os
import sys


def _set(name: str, value: bool | float | str) -> None:
    """Set JAX config option ``name`` now if JAX is loaded, else through its environment."""
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "config"):
        jax.config.update(name, value)
    else:
        os.environ[name.upper()] = ("1" if value else "0") if isinstance(value, bool) else str(
            value)


def enable_x64() -> None:
    """Turn on JAX float64 unless the user opted out with BAYESVOL_X64=0."""
    if os.environ.get("BAYESVOL_X64", "1") != "0":
        _set("jax_enable_x64", True)


def enable_compilation_cache(path: str | None = None) -> None:
    """Enable JAX's persistent compilation cache (used by the CLI so repeated runs start warm)."""
    cache = path or os.environ.get(
        "BAYESVOL_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "bayesvol", "jax")
    )
    try:
        os.makedirs(cache, exist_ok=True)
        _set("jax_compilation_cache_dir", cache)
        _set("jax_persistent_cache_min_compile_time_secs", 0.5)
    except Exception:  # a read-only home must never break a run
        pass


enable_x64()
