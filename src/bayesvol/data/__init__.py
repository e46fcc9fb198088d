"""Returns data: the ReturnsPanel container, file/DataFrame readers and their validation.

``load_returns(path_or_frame, prices=False, ...)`` reads CSV, Parquet or a DataFrame (wide or
long layout) into a :class:`ReturnsPanel`; every bad input raises
:class:`bayesvol.errors.InputError` with a one-line message naming file, column and row.
``MIN_OBS_TO_FIT`` (data.limits) is the fewest observations per asset that fitting needs.
"""

from .bundled import load_bundled
from .frequency import infer_frequency
from .limits import MIN_OBS_TO_FIT
from .panel import ReturnsPanel
from .readers import as_panel, load_returns, prices_to_returns

__all__ = ["MIN_OBS_TO_FIT", "ReturnsPanel", "as_panel", "infer_frequency", "load_bundled",
           "load_returns", "prices_to_returns"]
