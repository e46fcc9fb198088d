"""The schedule of a rolling or expanding backtest.

With T dates, a window of W dates and a step of S dates, window k (k = 0, 1, ...) is fitted
to the dates [start_k, end_k) with end_k = W + k S and start_k = end_k - W (rolling) or 0
(expanding), then forecasts the dates [end_k, min(end_k + S, T)) one step ahead each, until
the next refit at end_{k+1}. Every date from W on is forecast exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Window:
    """One refit: fit on dates [start, end), forecast dates [end, stop) (integer positions)."""

    index: int
    start: int
    end: int
    stop: int

    @property
    def horizon(self) -> int:
        """Number of dates forecast from this fit."""
        return self.stop - self.end


def schedule(n_dates: int, window: int, step: int, expanding: bool = False,
             min_window: int = 2) -> list[Window]:
    """The windows of a backtest over ``n_dates`` dates (module docstring).

    Raises InputError when the window leaves no date to forecast (window >= n_dates), when the
    window is shorter than ``min_window`` or when the step is < 1.
    """
    for name, value in (("window", window), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"--{name} must be a positive whole number of dates, got {value!r}")
    if window < min_window:
        raise InputError(f"--window {window} is too short: a fit needs at least {min_window} "
                         "dates")
    if window >= n_dates:
        raise InputError(f"--window {window} leaves nothing to forecast: the data have "
                         f"{n_dates} dates")
    out = []
    for k, end in enumerate(range(window, n_dates, step)):
        out.append(Window(k, 0 if expanding else end - window, end, min(end + step, n_dates)))
    return out
