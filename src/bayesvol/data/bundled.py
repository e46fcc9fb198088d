"""Real daily index data that ships inside a PyPI wheel (nothing is downloaded at run time).

``load_bundled("sp500")`` and ``load_bundled("nasdaq")`` read the adjusted closing prices that
the ``arch`` package ships (arch.data; install with ``pip install bayesvol[data]``), and turn
them into a ReturnsPanel of daily log returns (x100 = percent by default) through the same
reader and validation as a user's file.
"""

from __future__ import annotations

from ..errors import InputError
from .panel import ReturnsPanel
from .readers import load_returns

DATASETS = {"sp500": "SPX", "nasdaq": "NASDAQ"}


def load_bundled(name: str = "sp500", scale: float = 100.0) -> ReturnsPanel:
    """Daily log returns of a bundled index (``sp500`` or ``nasdaq``), in percent by default."""
    key = name.lower()
    if key not in DATASETS:
        raise InputError(f"unknown bundled data set '{name}': choose {', '.join(DATASETS)}")
    try:
        module = __import__(f"arch.data.{key}", fromlist=["load"])
    except ImportError:
        raise InputError("bundled data need the 'arch' package: pip install 'bayesvol[data]'"
                         ) from None
    prices = module.load()["Adj Close"].rename(DATASETS[key]).to_frame()
    prices.index = prices.index.astype("datetime64[ns]").rename("date")
    return load_returns(prices, prices=True, log=True, scale=scale)
