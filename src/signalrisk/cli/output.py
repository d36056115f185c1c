"""How the client commands speak: tables for people on stdout, progress and errors on stderr,
``--json`` for scripts, and one exit status per kind of failure.

Exit statuses (also in ``signalrisk --help``):

    0   ok
    1   the API answered with an error (or the scale failed while we waited)
    2   usage error: a bad option or argument, caught before any call
    3   the API cannot be reached at the URL
    4   timed out waiting for the scale
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from signalrisk.client import ApiError, ClientError, ServerUnreachable, WaitTimeout

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit status: 0 ok; 1 the API answered with an error (or the scale failed); "
    "2 usage error; 3 cannot reach the API; 4 timed out waiting; 130 interrupted."
)


def console(stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (made per call, so test runners capture it).

    Not a terminal (a pipe, a file, a test): no colour, and 200 columns unless COLUMNS says
    otherwise, so that wide tables (the audit) are not squeezed to rich's 80.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = 200
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def emit_json(value: Any) -> None:
    """The machine-readable answer: JSON, nothing else, on stdout."""
    typer.echo(json.dumps(value, indent=2, default=str))


def note(message: str) -> None:
    """A line for people, on stderr, so that stdout stays the command's answer."""
    console(stderr=True).print(message, markup=False)


HINTS = {
    "unauthorized": "; set SIGNALRISK_TOKEN to the API's token",
    "forbidden": "; SIGNALRISK_TOKEN holds the read-only token, this needs the full one",
    "not_warm": "; warm up first: `signalrisk warmup --wait`",
    "no_analysis": "; run one first: `signalrisk analyse`",
}


def describe(error: ClientError) -> str:
    """``error <code>: <message>`` and what to do about it."""
    text = f"error {error.code}: {error.message}"
    if isinstance(error, ApiError):
        if error.field:
            text += f" [field: {error.field}]"
        text += HINTS.get(error.code, "")
    if isinstance(error, ServerUnreachable):
        text += (
            "; start it with `signalrisk serve` (or `make run`), "
            "or point --url / SIGNALRISK_URL at it"
        )
    return text


def exit_code(error: ClientError) -> int:
    if isinstance(error, ServerUnreachable):
        return EXIT_UNREACHABLE
    if isinstance(error, WaitTimeout):
        return EXIT_TIMEOUT
    return EXIT_API_ERROR


@contextmanager
def reporting(as_json: bool) -> Iterator[None]:
    """Turn the client's errors and Ctrl-C into a message and an exit status, no traceback.

    With ``--json`` the error is also printed on stdout as ``{"error": {code, message, field}}``.
    """
    try:
        yield
    except ClientError as error:
        if as_json:
            body: dict[str, Any] = {"code": error.code, "message": error.message}
            if isinstance(error, ApiError):
                body["status"] = error.status
                if error.field:
                    body["field"] = error.field
            emit_json({"error": body})
        typer.echo(describe(error), err=True)
        raise typer.Exit(exit_code(error)) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def fmt(value: Any, spec: str) -> str:
    """A number for a table; absent values are an em dash."""
    if value is None:
        return "—"
    return format(value, spec)


def money(usd: Any) -> str:
    """US dollars to 10 decimals without trailing zeros (a warm-up costs a fraction of a cent)."""
    if usd is None:
        return "—"
    return "$" + (f"{usd:.10f}".rstrip("0").rstrip(".") or "0")


def seconds(value: Any) -> str:
    return "—" if value is None else f"{value:.3f} s"
