"""``signalrisk run``: a whole analysis in one command, on the embedded local platform.

Starts the API in this process (:mod:`signalrisk.cli.embedded`), warms up, waits, analyses,
prints the results and saves the chart; then, whatever happened (an error, Ctrl-C, SIGTERM),
terminates the scale, stops the API and kills any worker of this run still alive.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from signalrisk.cli import options as opt
from signalrisk.cli.embedded import EmbeddedApi, home_environment, sweep
from signalrisk.cli.output import EXIT_USAGE, console, describe, emit_json, note, reporting
from signalrisk.cli.render import run_summary, signals_table
from signalrisk.cli.waiting import wait_ready, wait_terminated
from signalrisk.client import ClientError, JsonObject, SignalriskClient
from signalrisk.core.config import Settings

TERMINATE_TIMEOUT_S = 30.0


class HomeInUse(ClientError):
    """The home's scale is live: another ``signalrisk serve`` (or a crashed one) owns it."""

    code = "busy"


@contextmanager
def _main_thread_signals(handlers: dict[signal.Signals, Any]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def _be_patient(signum: int, frame: FrameType | None) -> None:
    note("stopping the workers first, one moment ...")


def _analyse(
    client: SignalriskClient,
    service: str,
    r: int,
    params: dict[str, Any],
    timeout: float,
    as_json: bool,
    scale_ids: set[str],
) -> JsonObject:
    state = client.scale()["state"]
    if state not in ("cold", "failed"):
        raise HomeInUse(
            f"the scale of {client.url}'s home is {state}: is `signalrisk serve` running on it?"
            " Use another --home, or `signalrisk cleanup` after a crash"
        )
    answer = client.warmup(service, r)
    scale_ids.add(str(answer["scale_id"]))
    if not as_json:
        note(f"warming up {service} x {r} ...")
    wait_ready(client, timeout, quiet=as_json)
    if as_json:
        return client.run(client.analyse(**params))
    with console(stderr=True).status("analysing ..."):
        return client.run(client.analyse(**params))


def _scale_down(
    client: SignalriskClient, api: EmbeddedApi, scale_ids: set[str], as_json: bool
) -> None:
    """Terminate through the API and wait; then stop the API and kill what is left, always."""
    try:
        if scale_ids and client.scale()["state"] != "cold":
            client.terminate()
            wait_terminated(client, TERMINATE_TIMEOUT_S, quiet=as_json)
    except ClientError as error:
        note(f"terminating through the API failed ({describe(error)}); stopping the workers")
    finally:
        api.stop()
        left = sweep(scale_ids)
        if left:
            note(f"killed {left} worker process(es) left behind")


def run(
    service: opt.ServiceOpt = "lambda",
    r: opt.Resources = opt.DEFAULT_R,
    h: opt.History = opt.DEFAULT_H,
    d: opt.Shots = opt.DEFAULT_D,
    t: opt.SideOpt = "sell",
    p: opt.Period = opt.DEFAULT_P,
    ticker: opt.Ticker = None,
    start: opt.Start = None,
    end: opt.End = None,
    seed: opt.Seed = None,
    home: Annotated[
        Path | None,
        typer.Option(help="database, audit and charts (default: SIGNALRISK_HOME, else ./var)"),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(help="where to save the chart (default: <home>/charts/<run_id>.png)"),
    ] = None,
    timeout: opt.Timeout = 120.0,
    as_json: opt.Json = False,
) -> None:
    """A whole analysis in one command, on the embedded local platform.

    Starts the API in this process, warms up, analyses, prints the results, saves the chart,
    then terminates the scale and stops everything, even on an error or Ctrl-C. No server is
    needed; the run is audited in the home like any other. The defaults are the source
    document's standard job (r=3, h=101, d=10000, t=sell, p=7).
    """
    try:
        settings = Settings(platform="local", home=home) if home else Settings(platform="local")
    except ValidationError as exc:
        typer.echo(f"error: bad configuration: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    params = {"h": h, "d": d, "t": t, "p": p, "ticker": ticker, "start": start, "end": end}
    scale_ids: set[str] = set()
    with (
        reporting(as_json),
        _main_thread_signals({signal.SIGTERM: _interrupt}),
        home_environment(settings.home),
    ):
        api = EmbeddedApi(settings)
        api.start()
        if not as_json:
            note(f"signalrisk run: embedded API on {api.url}, home {settings.home}")
        with SignalriskClient(api.url) as client:
            try:
                result = _analyse(
                    client, service, r, {**params, "seed": seed}, timeout, as_json, scale_ids
                )
                png = client.chart_png(result["run_id"])
                path = chart or settings.home / "charts" / f"{result['run_id']}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(png)
                if as_json:
                    emit_json({"run": result, "chart": str(path.resolve())})
                else:
                    out = console()
                    out.print(signals_table(result))
                    out.print(run_summary(result))
                    out.print(f"chart saved to {path}", markup=False)
            finally:
                with _main_thread_signals(
                    {signal.SIGINT: _be_patient, signal.SIGTERM: _be_patient}
                ):
                    _scale_down(client, api, scale_ids, as_json)
        if not as_json:
            note("done: the scale is terminated and the embedded API stopped")
