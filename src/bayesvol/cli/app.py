"""The typer application every command module registers on, and shared CLI helpers."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(
    name="bayesvol",
    help="Bayesian volatility modelling of many assets: simulate, check, fit, forecast, demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# piped or captured output (logs, scripts, tests) is not wrapped at 80 columns, so paths and
# messages stay whole; a terminal wraps as usual
console = Console(soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


@app.callback()
def _root() -> None:
    """Bayesian volatility modelling of many assets: simulate, check, fit, forecast, demo."""


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on one line to stderr and exit with ``code`` (2 = bad input)."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    raise typer.Exit(code)
