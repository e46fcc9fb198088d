"""Exceptions with a one-line message the CLI prints as ``error: ...`` with exit code 2."""

from __future__ import annotations


class BayesvolError(Exception):
    """Base class of the library's own errors."""


class InputError(BayesvolError, ValueError):
    """Bad user input: the message names the file, column and row where relevant.

    ``str(err)`` is a single line such as
    ``returns.csv: column 'AAPL', row 17: non-numeric value 'abc'``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.row = row
        self.detail = message
        where = [f"column '{column}'" if column is not None else "",
                 f"row {row}" if row is not None else ""]
        location = ", ".join(w for w in where if w)
        prefix = ": ".join(p for p in (str(source) if source else "", location) if p)
        text = f"{prefix}: {message}" if prefix else message
        super().__init__(" ".join(text.split()))


class NumericalError(BayesvolError, RuntimeError):
    """A numerical failure (NaN ELBO, divergent chain, failed optimisation) that was detected."""
