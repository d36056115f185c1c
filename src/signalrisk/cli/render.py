"""Rich renderings of the API's answers: the scale, a run's signals, the audit trail.

Every function takes the API's JSON as it came and returns something ``Console.print`` draws;
numbers are formatted here and nowhere else. VaR values are fractional one-day returns as the
API reports them (negative), P/L is per share in price units.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from signalrisk.cli.output import fmt, money, seconds

VAR = ".6f"
PL = ".3f"


def _when(epoch: Any) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cost_line(label: str, cost: dict[str, Any] | None) -> str:
    if not cost:
        return f"{label}: —"
    kind = "estimate" if cost.get("estimate") else "billed"
    return (
        f"{label}: {seconds(cost.get('billable_s'))} billable, {money(cost.get('usd'))}"
        f" ({kind}, {cost.get('basis')})"
    )


def scale_view(scale: dict[str, Any]) -> RenderableType:
    """The scale's state, its resources and what it has cost."""
    if scale["state"] == "cold" and not scale.get("resources"):
        return Text(
            f"cold: no compute is running on the {scale.get('platform')} platform "
            "(start some with `signalrisk warmup`)"
        )
    resources = scale.get("resources") or []
    ready = sum(1 for r in resources if r.get("state") == "ready")
    head = Text(
        f"{scale['state']}: {scale.get('service')} x {scale.get('r')} on {scale.get('platform')}"
        f", {ready}/{scale.get('r')} resources ready  (scale {scale.get('scale_id')})"
    )
    lines: list[RenderableType] = [head]
    if scale.get("error"):
        lines.append(Text(f"error: {scale['error']}"))
    lines.append(
        Text(f"requested {_when(scale.get('requested_at'))}, ready {_when(scale.get('ready_at'))}")
    )
    lines.append(Text(_cost_line("warm-up", scale.get("warmup"))))
    lines.append(Text(_cost_line("cost to date", scale.get("cost_to_date"))))
    if resources:
        table = Table("#", "resource", "state", "address", "pid", title=None)
        for r in resources:
            table.add_row(
                str(r.get("index")),
                r.get("id"),
                r.get("state"),
                r.get("address") or "—",
                str(r.get("pid") or "—"),
            )
        lines.append(table)
    return Group(*lines)


def signals_table(run: dict[str, Any]) -> Table:
    """One row per signal (date, VaR, standard error, P/L), then the averages and the total."""
    req = run.get("request") or {}
    table = Table(
        "#",
        "date",
        "var95",
        "var99",
        "se95",
        "se99",
        "P/L",
        title=f"{req.get('ticker')} {req.get('t')} signals, {req.get('start')} … {req.get('end')}",
    )
    for column in table.columns[2:]:
        column.justify = "right"
    for n, item in enumerate(run.get("items") or [], start=1):
        table.add_row(
            str(n),
            item.get("date"),
            fmt(item.get("var95"), VAR),
            fmt(item.get("var99"), VAR),
            fmt(item.get("se95"), VAR),
            fmt(item.get("se99"), VAR),
            fmt(item.get("profit_loss"), PL),
        )
    table.add_section()
    table.add_row(
        "",
        "average",
        fmt(run.get("av95"), VAR),
        fmt(run.get("av99"), VAR),
        "",
        "",
        fmt(run.get("avg_profit_loss"), PL),
    )
    table.add_row("", "total", "", "", "", "", fmt(run.get("total_profit_loss"), PL))
    return table


def run_summary(run: dict[str, Any]) -> Text:
    """What was asked, how many signals, and the analysis's time and cost."""
    req = run.get("request") or {}
    excluded = run.get("excluded_signals")
    lines = [
        f"run {run['run_id']} ({run.get('status')}), finished {_when(run.get('finished_at'))}",
        f"{req.get('ticker')} {req.get('start')} … {req.get('end')}, t={req.get('t')}"
        f" h={req.get('h')} d={req.get('d')} p={req.get('p')}"
        f" on {req.get('s')} x {req.get('r')} ({req.get('platform')}), seed {req.get('seed')}",
        f"signals: {run.get('signals')}"
        + (f" ({excluded} more excluded: fewer than h days before them)" if excluded else ""),
        f"average var95 {fmt(run.get('av95'), VAR)}, var99 {fmt(run.get('av99'), VAR)};"
        f" total P/L {fmt(run.get('total_profit_loss'), PL)}",
        f"analysis: {seconds(run.get('time'))} billable, {money(run.get('cost'))}"
        f" ({'estimate' if run.get('estimate') else 'billed'}, {run.get('basis')})",
    ]
    if run.get("error"):
        lines.append(f"error: {run['error']}")
    return Text("\n".join(lines))


Cell = Callable[[dict[str, Any]], str]
NUMERIC = ("h", "d", "p", "n", "av95", "av99", "P/L", "time s", "cost")


def _field(key: str, spec: str = "") -> Cell:
    return lambda rec: fmt(rec.get(key), spec)


def _audit_columns(wide: bool) -> list[tuple[str, Cell]]:
    def finished(rec: dict[str, Any]) -> str:
        return str(rec.get("timestamp", "")).replace("T", " ")[: 19 if wide else 10]

    columns: list[tuple[str, Cell]] = [
        ("finished UTC" if wide else "date", finished),
        ("run", _field("run_id")),
        ("signal", lambda rec: f"{rec.get('ticker')} {rec.get('t')}"),
    ]
    if wide:
        columns.append(("service", lambda rec: f"{rec.get('s')} x{rec.get('r')}"))
        columns += [(key, _field(key)) for key in ("h", "d", "p")]
    columns += [
        ("n", _field("signals")),
        ("av95", _field("av95", VAR)),
        ("av99", _field("av99", VAR)),
        ("P/L", _field("profit_loss", PL)),
    ]
    if wide:
        columns += [("time s", _field("time", ".3f")), ("cost", lambda rec: money(rec.get("cost")))]
    return columns


def audit_table(page: dict[str, Any], width: int) -> Table:
    """Audit records, oldest first, one line each (n: signals). Below 150 columns: without
    the time of day, service, h, d, p, time and cost (``--json`` has everything)."""
    items = page.get("items") or []
    first = int(page.get("offset", 0)) + 1
    columns = _audit_columns(wide=width >= 150)
    table = Table(
        "#",
        *(name for name, _ in columns),
        title=f"audit: records {first}–{first + len(items) - 1} of {page.get('total')}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in table.columns:
        column.no_wrap = True
    table.columns[2].min_width = 16  # the run id, whole: it is what `results` takes
    for column in table.columns:
        if column.header in NUMERIC:
            column.justify = "right"
    for n, rec in enumerate(items, start=first):
        table.add_row(str(n), *(cell(rec) for _, cell in columns))
    return table
