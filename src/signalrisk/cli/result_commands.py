"""Client commands for analyses and what they leave: ``analyse``, ``results``, ``chart``,
``export``, ``audit``.

With ``--json``, ``analyse`` and ``results`` print the API's ``/v1/runs/{id}`` unchanged, and
``audit`` its ``/v1/audit`` page, so a script reads the same numbers the API serves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from signalrisk.cli import options as opt
from signalrisk.cli.output import console, emit_json, note, reporting
from signalrisk.cli.render import audit_table, run_summary, signals_table
from signalrisk.client import JsonObject, SignalriskClient

Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="file to write ('-' for stdout)", show_default=False),
]


def analyse(
    h: opt.History = opt.DEFAULT_H,
    d: opt.Shots = opt.DEFAULT_D,
    t: opt.SideOpt = "sell",
    p: opt.Period = opt.DEFAULT_P,
    ticker: opt.Ticker = None,
    start: opt.Start = None,
    end: opt.End = None,
    seed: opt.Seed = None,
    url: opt.Url = opt.DEFAULT_URL,
    as_json: opt.Json = False,
) -> None:
    """Run an analysis on the warm scale, wait for it, and print its summary.

    The defaults are the source document's standard job (h=101, d=10000, t=sell, p=7).
    """
    with reporting(as_json), opt.connect(url) as client:
        params = {"h": h, "d": d, "t": t, "p": p, "ticker": ticker, "start": start, "end": end}
        if as_json:
            emit_json(client.run(client.analyse(**params, seed=seed)))
            return
        with console(stderr=True).status("analysing ..."):
            run = client.run(client.analyse(**params, seed=seed))
        out = console()
        out.print(run_summary(run))
        out.print(
            f"the signals: `signalrisk results {run['run_id']}`; "
            f"the chart: `signalrisk chart {run['run_id']}`",
            markup=False,
        )


def results(
    run_id: opt.RunId = None, url: opt.Url = opt.DEFAULT_URL, as_json: opt.Json = False
) -> None:
    """A run's signals (date, var95, var99, standard errors, P/L), averages, totals, time, cost."""
    with reporting(as_json), opt.connect(url) as client:
        run = client.run(run_id)
        if as_json:
            emit_json(run)
            return
        out = console()
        out.print(signals_table(run))
        out.print(run_summary(run))


def _resolve(client: SignalriskClient, run_id: str | None) -> str:
    return run_id or str(client.run()["run_id"])


def _write(output: Path, data: bytes) -> None:
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(data)


def chart(
    run_id: opt.RunId = None,
    output: Output = None,
    url: opt.Url = opt.DEFAULT_URL,
    as_json: opt.Json = False,
) -> None:
    """Save a run's chart: a PNG of the per-signal VaR with the two averages.

    The file is --output, by default signalrisk-<run_id>.png in the current directory.
    """
    with reporting(as_json), opt.connect(url) as client:
        run_id = _resolve(client, run_id)
        png = client.chart_png(run_id)
        path = output or Path(f"signalrisk-{run_id}.png")
        _write(path, png)
        if str(path) == "-":
            return
        if as_json:
            emit_json({"run_id": run_id, "path": str(path.resolve()), "bytes": len(png)})
        else:
            console().print(
                f"chart of run {run_id} saved to {path} ({len(png)} bytes)", markup=False
            )


def export(
    run_id: opt.RunId = None,
    output: Output = None,
    url: opt.Url = opt.DEFAULT_URL,
    as_json: opt.Json = False,
) -> None:
    """A run's signals as CSV, to stdout or --output.

    Columns: date, position, mean, std, var95, var99, se95, se99, spread95, spread99,
    profit_loss. With --json and no --output, the same rows as JSON instead.
    """
    with reporting(as_json), opt.connect(url) as client:
        run_id = _resolve(client, run_id)
        if as_json and output is None:
            emit_json(client.run(run_id).get("items") or [])
            return
        text = client.signals_csv(run_id)
        rows = max(0, len(text.splitlines()) - 1)
        if output is None or str(output) == "-":
            typer.echo(text, nl=False)
            return
        _write(output, text.encode())
        if as_json:
            emit_json({"run_id": run_id, "path": str(output.resolve()), "rows": rows})
        else:
            note(f"{rows} signals of run {run_id} written to {output}")


def audit(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="how many records")
    ] = 20,
    offset: Annotated[
        int | None,
        typer.Option(min=0, help="from this record on, oldest first (default: the latest)"),
    ] = None,
    url: opt.Url = opt.DEFAULT_URL,
    as_json: opt.Json = False,
) -> None:
    """The audit trail: one record per analysis, oldest first (the latest --limit by default)."""
    with reporting(as_json), opt.connect(url) as client:
        page: JsonObject = (
            client.latest_audit(limit) if offset is None else client.audit(offset, limit)
        )
        if as_json:
            emit_json(page)
        elif not page.get("items"):
            console().print(f"audit: no records here (of {page.get('total')})")
        else:
            out = console()
            out.print(audit_table(page, out.width))
