"""``python -m bayesvol`` runs the command-line interface."""

from .cli import run

run()
