"""The report: one table on stdout, ``BENCHMARKS.md`` and the raw figures as JSON.

Every row is: figure, what is measured, target, measured, reference (where there is one),
ratio, and pass / FAIL / info (no target). The header gives the machine (CPU, cores, RAM,
Python, numpy), the commit, the date and the load averages at the start and the end, because
the machine may be shared and its other load moves the figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import Figure, Row, fmt_bytes, fmt_count, fmt_seconds

COLUMNS = ("#", "measure", "target", "measured", "reference", "ratio", "status")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.figure, row.name, row.target, row.measured, row.reference, row.ratio, row.status)


def all_rows(figures: list[Figure]) -> list[Row]:
    return [row for figure in figures for row in figure.rows]


def text_table(figures: list[Figure]) -> str:
    rows = [COLUMNS, *(_cells(r) for r in all_rows(figures))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(figures: list[Figure]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in all_rows(figures):
        cells = list(_cells(row))
        if row.passed is False:
            cells[-1] = "**FAIL**"
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return "\n".join(lines)


def header(machine: dict[str, Any], quick: bool, seconds: float) -> list[str]:
    load_start = " ".join(f"{x:.2f}" for x in machine["load_average_start"])
    load_end = " ".join(f"{x:.2f}" for x in machine.get("load_average_end", []))
    numba = machine.get("numba") or "not installed"
    return [
        f"- Mode: {'quick (proves the suite runs; targets are not the point)' if quick else 'full'}"
        f", {fmt_seconds(seconds)} in all",
        f"- Commit: `{machine['commit']}` (working tree as it was), date {machine['date']}",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{fmt_bytes(machine['ram_bytes'])} RAM; {machine['platform']}",
        f"- Python {machine['python']}, numpy {machine['numpy']}, numba {numba}",
        f"- Load averages (1/5/15 min): {load_start} at the start, {load_end} at the end."
        " Each figure below gives them again, with the CPU that other processes used when it"
        " started (sampled over 0.5 s): the load average lags by minutes (after figure 3's 32"
        " workers it stays high while the machine is idle), the sample does not.",
    ]


def growth_points(figure: Figure) -> list[str]:
    raw = figure.raw
    lines = ["| sweep | x | median /analyse time |", "|---|---|---|"]
    for key, label in (("vs_d", "d"), ("vs_signals", "signals"), ("vs_r", "r")):
        for x, t in raw.get(key, {}).get("points", []):
            lines.append(f"| {key.replace('_', ' ')} | {label}={fmt_count(x)} | {fmt_seconds(t)} |")
    return lines


def _load_line(figure: Figure) -> str:
    load = figure.load
    if not load:
        return ""
    others = load["other_cpu_at_start"]
    busy = f" ({'; '.join(others['top'])})" if others["top"] else ""
    return (
        f"Load averages {load['start']} at the start, {load['end']} at the end; other "
        f"processes used {others['percent']}% of a core when it started{busy}."
    )


def markdown(
    figures: list[Figure], machine: dict[str, Any], quick: bool, seconds: float, plot: str | None
) -> str:
    out = ["# signalrisk benchmarks", ""]
    out += ["Written by `make bench` (`python -m bench`); do not edit by hand.", ""]
    out += header(machine, quick, seconds)
    out += ["", "## Results", "", markdown_table(figures), ""]
    for figure in figures:
        out += [f"### {figure.title}", ""]
        out += [f"- {note}" for note in figure.notes]
        if figure.error:
            out += ["", "```", figure.error.strip()[-2000:], "```"]
        if figure.key == "growth" and not figure.error:
            out += ["", *growth_points(figure)]
            if plot:
                out += ["", f"![cost growth]({plot})"]
        out += ["", f"Took {fmt_seconds(figure.seconds)}. {_load_line(figure)}", ""]
    return "\n".join(out)


def results_json(figures: list[Figure], machine: dict[str, Any], quick: bool) -> str:
    document = {
        "machine": machine,
        "mode": "quick" if quick else "full",
        "rows": [
            {
                "figure": r.figure,
                "measure": r.name,
                "target": r.target,
                "measured": r.measured,
                "reference": r.reference,
                "ratio": r.ratio,
                "status": r.status,
            }
            for r in all_rows(figures)
        ],
        "figures": {
            f.key: {
                "title": f.title,
                "seconds": f.seconds,
                "load": f.load,
                "error": f.error,
                "raw": f.raw,
            }
            for f in figures
        },
    }
    return json.dumps(document, indent=1, default=str) + "\n"


def write(
    figures: list[Figure],
    machine: dict[str, Any],
    quick: bool,
    seconds: float,
    markdown_path: Path,
    json_path: Path,
    plot_path: Path | None,
) -> None:
    plot = plot_path.name if plot_path and plot_path.exists() else None
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(markdown(figures, machine, quick, seconds, plot), encoding="utf-8")
    json_path.write_text(results_json(figures, machine, quick), encoding="utf-8")
