"""Client commands for the compute scale: ``warmup``, ``status``, ``reset``, ``terminate``.

With ``--json`` each prints the API's ``/v1/scale`` (``reset``: its answer) and nothing else.
"""

from __future__ import annotations

from typing import Annotated

import typer

from signalrisk.cli import options as opt
from signalrisk.cli.output import console, emit_json, reporting
from signalrisk.cli.render import scale_view
from signalrisk.cli.waiting import wait_ready, wait_terminated


def warmup(
    service: opt.ServiceOpt = "lambda",
    r: opt.Resources = opt.DEFAULT_R,
    wait: Annotated[
        bool, typer.Option("--wait", help="wait until every resource is ready")
    ] = False,
    timeout: opt.Timeout = 300.0,
    url: opt.Url = opt.DEFAULT_URL,
    as_json: opt.Json = False,
) -> None:
    """Warm up r resources of a service; returns at once unless --wait.

    Warming up with the same service and r again is a no-op; another r or service replaces a
    ready scale (the old one is terminated first).
    """
    with reporting(as_json), opt.connect(url) as client:
        client.warmup(service, r)
        scale = wait_ready(client, timeout, quiet=as_json) if wait else client.scale()
        if as_json:
            emit_json(scale)
            return
        out = console()
        out.print(scale_view(scale))
        if not wait:
            out.print("follow it with `signalrisk status --wait`", markup=False)


def status(
    wait: Annotated[
        bool, typer.Option("--wait", help="while warming up or terminating, wait until done")
    ] = False,
    timeout: opt.Timeout = 300.0,
    url: opt.Url = opt.DEFAULT_URL,
    as_json: opt.Json = False,
) -> None:
    """The scale's live state: service, r, each resource, warm-up cost and cost to date.

    With --wait, a scale that is warming up is followed with a progress bar until it is ready
    (exit 1 if it fails), and one that is terminating until every resource has stopped.
    """
    with reporting(as_json), opt.connect(url) as client:
        scale = client.scale()
        if wait and scale["state"] == "warming":
            scale = wait_ready(client, timeout, quiet=as_json)
        elif wait and scale["state"] == "terminating":
            wait_terminated(client, timeout, quiet=as_json)
            scale = client.scale()
        if as_json:
            emit_json(scale)
        else:
            console().print(scale_view(scale))


def reset(url: opt.Url = opt.DEFAULT_URL, as_json: opt.Json = False) -> None:
    """Forget the last analysis (its run and audit record stay); the scale stays warm."""
    with reporting(as_json), opt.connect(url) as client:
        answer = client.reset()
        if as_json:
            emit_json(answer)
        else:
            console().print("reset: the last analysis is cleared; the scale stays as it was")


def terminate(
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="wait until every resource has stopped")
    ] = True,
    timeout: opt.Timeout = 120.0,
    url: opt.Url = opt.DEFAULT_URL,
    as_json: opt.Json = False,
) -> None:
    """Scale down to zero, and wait (with progress) until every resource has stopped.

    A new warmup is needed afterwards.
    """
    with reporting(as_json), opt.connect(url) as client:
        client.terminate()
        if wait:
            wait_terminated(client, timeout, quiet=as_json)
        scale = client.scale()
        if as_json:
            emit_json(scale)
        elif wait:
            console().print("terminated: every resource has stopped")
        else:
            console().print(scale_view(scale))
