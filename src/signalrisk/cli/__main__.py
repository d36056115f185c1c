"""``python -m signalrisk.cli``: the CLI."""

from signalrisk.cli import app

app()
