"""Waiting for the scale with a progress bar on stderr: resources ready k/r while warming up,
resources stopped k/r while terminating. With ``--json`` (or ``quiet``) nothing is drawn."""

from __future__ import annotations

from collections.abc import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from signalrisk.cli.output import console
from signalrisk.client import JsonObject, SignalriskClient

Waiter = Callable[..., JsonObject]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=False,
    )


def _count(scale: JsonObject, states: tuple[str, ...]) -> int:
    return sum(1 for r in scale.get("resources") or [] if r.get("state") in states)


def _wait(
    wait: Waiter,
    description: str,
    done_states: tuple[str, ...],
    total: int,
    quiet: bool,
    timeout_s: float,
    every_s: float,
    final: str,
) -> JsonObject:
    if quiet:
        return wait(timeout_s, every_s)
    with _progress() as progress:
        task = progress.add_task(description, total=max(total, 1), state="")

        def show(scale: JsonObject) -> None:
            progress.update(task, completed=_count(scale, done_states), state=scale["state"])

        scale = wait(timeout_s, every_s, on_poll=show)
        progress.update(task, completed=max(total, 1), state=final)
        return scale


def wait_ready(
    client: SignalriskClient, timeout_s: float, quiet: bool = False, every_s: float = 0.25
) -> JsonObject:
    """Until the scale is ready; ScaleFailed if it fails, WaitTimeout after ``timeout_s``."""
    total = int(client.scale().get("r") or 0)
    return _wait(
        client.wait_ready,
        "resources ready",
        ("ready",),
        total,
        quiet,
        timeout_s,
        every_s,
        "ready",
    )


def wait_terminated(
    client: SignalriskClient, timeout_s: float, quiet: bool = False, every_s: float = 0.25
) -> JsonObject:
    """Until every resource has stopped; WaitTimeout after ``timeout_s``."""
    total = len(client.scale().get("resources") or [])
    return _wait(
        client.wait_terminated,
        "resources stopped",
        ("terminated",),
        total,
        quiet,
        timeout_s,
        every_s,
        "terminated",
    )
