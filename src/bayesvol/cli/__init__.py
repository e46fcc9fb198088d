"""Command-line interface: ``bayesvol COMMAND``. Thin: parse, call the API, print, exit codes.

Exit codes (docs/cli.md): 0 success; 2 bad input or usage, one line ``error: ...`` on stderr and
no traceback; 1 an internal failure.
"""

from __future__ import annotations

import sys

import typer

from ..errors import InputError, NumericalError
from . import backtest, check, compare, demo, fit, forecast, report, score, simulate  # noqa: F401,E501  (register commands)
from .app import app


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    The compilation caches are already on (importing bayesvol turns them on: _config.py).
    """
    try:
        rc = app(args=argv, standalone_mode=False)  # returns typer.Exit's code, not raises
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 1
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2
    except (InputError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except NumericalError as exc:
        print(f"error: numerical failure: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return rc if isinstance(rc, int) else 0


def run() -> None:
    """Console-script wrapper that exits with main()'s code."""
    sys.exit(main())
