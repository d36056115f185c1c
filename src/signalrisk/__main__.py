"""``python -m signalrisk``: the CLI."""

from signalrisk.cli import app

app()
