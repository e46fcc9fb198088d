"""The input of a joint (pooled) model: global data and per-asset data (asset axis first)."""

from __future__ import annotations

from typing import Any, NamedTuple


class JointData(NamedTuple):
    """Model input of a joint model: ``glob`` (no asset axis) and ``local`` (asset axis first)."""

    glob: Any
    local: Any
