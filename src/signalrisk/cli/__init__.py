"""The ``signalrisk`` command: the server, its operators' tools, and a client of its API.

One module per group: :mod:`.server` (serve, cleanup, deploy, destroy, version),
:mod:`.scale_commands` (warmup, status, reset, terminate), :mod:`.result_commands` (analyse,
results, chart, export, audit) and :mod:`.run` (a whole analysis on the embedded platform).
Client commands reach the API at ``--url`` (default ``SIGNALRISK_URL``, else
http://127.0.0.1:8080) with the token in ``SIGNALRISK_TOKEN``.
"""

from __future__ import annotations

import typer

from signalrisk.cli import result_commands, scale_commands, server
from signalrisk.cli.output import EXIT_CODES_HELP
from signalrisk.cli.run import run

app = typer.Typer(
    help="Risk analysis of trading signals on elastic compute.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
)

SERVER = "Server"
CLIENT = "Client (talks to a running API: --url, SIGNALRISK_URL, SIGNALRISK_TOKEN)"
ALL_IN_ONE = "All in one"

app.command(rich_help_panel=SERVER)(server.serve)
app.command(rich_help_panel=SERVER)(server.cleanup)
app.command(rich_help_panel=SERVER)(server.deploy)
app.command(rich_help_panel=SERVER)(server.destroy)
app.command(rich_help_panel=SERVER)(server.version)
for command in (
    scale_commands.warmup,
    scale_commands.status,
    result_commands.analyse,
    result_commands.results,
    result_commands.chart,
    result_commands.export,
    result_commands.audit,
    scale_commands.reset,
    scale_commands.terminate,
):
    app.command(rich_help_panel=CLIENT, epilog=EXIT_CODES_HELP)(command)
app.command(rich_help_panel=ALL_IN_ONE, epilog=EXIT_CODES_HELP)(run)

__all__ = ["app"]
