"""Writing and reading NetCDF through xarray without paying for a Dask import.

xarray looks for Dask whenever it builds a Variable (``array_type("dask")``) and whenever it
writes a file (the write lock asks for Dask's scheduler and ``distributed``'s client). With
Dask installed (the ``backtest`` extra) that imports ``dask``, ``dask.array`` and
``distributed``: about 1 s of a 4-5 s ``bayesvol fit`` on 2 cores (measured, see the latency
benchmark), for files that hold only NumPy arrays.

:func:`no_dask` hides Dask from xarray while a bayesvol file is built, written or read, when
Dask has not been imported yet: no Dask array can exist in the process then, so xarray's
answers ("not a Dask array", "no scheduler") are the ones it would have given anyway. When the
block starts and when it ends, xarray's cached answers about Dask are dropped, so within it
xarray sees no Dask and after it Dask works with xarray in the same process as usual. Where
Dask is already imported, or ``BAYESVOL_XARRAY_DASK=1`` is set, it does nothing.

One caveat: another thread that imports Dask for the first time while such a block runs gets
an ImportError; bayesvol itself imports Dask only to start a backtest on a Dask scheduler.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_HIDDEN = ("dask", "distributed")
_LOCK = threading.RLock()
_DEPTH = [0]


def _forget_xarray_answers() -> None:
    """Drop what xarray cached about Dask while it was hidden (private caches: each guarded,
    so a newer xarray without them is left alone)."""
    try:
        from xarray.namedarray import pycompat

        pycompat._cached_duck_array_modules.pop("dask", None)
    except (ImportError, AttributeError):
        pass
    for module, name in (("xarray.namedarray.utils", "module_available"),
                         ("xarray.namedarray.parallelcompat", "list_chunkmanagers")):
        cached = getattr(sys.modules.get(module), name, None)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


@contextmanager
def no_dask() -> Iterator[None]:
    """Within the block, xarray sees no Dask (module docstring); re-entrant."""
    if os.environ.get("BAYESVOL_XARRAY_DASK") == "1" or any(m in sys.modules and
                                                            sys.modules[m] is not None
                                                            for m in _HIDDEN):
        yield
        return
    with _LOCK:
        if _DEPTH[0] == 0:
            for m in _HIDDEN:
                sys.modules.setdefault(m, None)  # None in sys.modules: import raises
            _forget_xarray_answers()  # answers cached before the block said "installed"
        _DEPTH[0] += 1
        try:
            yield
        finally:
            _DEPTH[0] -= 1
            if _DEPTH[0] == 0:
                for m in _HIDDEN:
                    if m in sys.modules and sys.modules[m] is None:
                        del sys.modules[m]
                _forget_xarray_answers()
