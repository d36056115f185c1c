"""``python -m bench [--quick] [--only kernel,latency,...] [--out DIR]``: run the suite.

Figures run one after another, in this order (the kernel first: its reference rate is the
reference for the job-level figures). A figure that breaks is reported as an error and the
others still run; the exit status is 1 if any figure broke, so CI catches a suite that rots.
Missed targets are reported, not fatal (``--strict`` makes them fatal too).

Full mode writes ``BENCHMARKS.md`` and ``BENCHMARKS-growth.png`` at the repository root and
``bench/results.json``. Quick mode (``--quick``, under 90 s) measures much smaller jobs and
writes the same files under ``var/bench-quick/``, so it never overwrites a full run's results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import growth, kernel, largest, latency, report, throughput, warmup
from bench.common import Figure, Mode, Row, load_average
from bench.machine import ROOT, machine_info, other_cpu

FIGURES = ("kernel", "latency", "largest", "warmup", "throughput", "growth")


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {load_average()}] {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small jobs; proves the suite runs")
    parser.add_argument("--only", default=",".join(FIGURES), help="comma-separated figures")
    parser.add_argument("--out", type=Path, default=None, help="where to write the report")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a missed target too")
    args = parser.parse_args(argv)
    mode = Mode(quick=args.quick)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; choose from {', '.join(FIGURES)}")
    out = args.out or (ROOT / "var" / "bench-quick" if mode.quick else ROOT)
    json_path = out / "results.json" if args.out or mode.quick else ROOT / "bench" / "results.json"
    plot_path = out / "BENCHMARKS-growth.png"
    out.mkdir(parents=True, exist_ok=True)  # var/bench-quick does not exist in a fresh clone
    os.environ.setdefault("MPLBACKEND", "Agg")

    machine = machine_info()
    clock = time.monotonic()
    figures: list[Figure] = []
    reference_rate: float | None = None
    steps: dict[str, Callable[[], Figure]] = {
        "kernel": lambda: kernel.run(mode),
        "latency": lambda: latency.run(mode, reference_rate),
        "largest": lambda: largest.run(mode, reference_rate),
        "warmup": lambda: warmup.run(mode),
        "throughput": lambda: throughput.run(mode),
        "growth": lambda: growth.run(mode),
    }
    for name in [f for f in FIGURES if f in only]:
        others = other_cpu()
        load_start = load_average()
        _log(f"{name}: start; other processes use {others['percent']}% CPU {others['top']}")
        started = time.monotonic()
        try:
            figure = steps[name]()
        except Exception:
            error = traceback.format_exc()
            figure = Figure(name, name, error=error)
            figure.rows.append(
                Row(
                    "-",
                    name,
                    "",
                    "error: " + error.strip().splitlines()[-1][:120],
                    passed=False,
                )
            )
        figure.seconds = time.monotonic() - started
        figure.load = {"start": load_start, "end": load_average(), "other_cpu_at_start": others}
        figures.append(figure)
        if name == "kernel" and "reference" in figure.raw:
            reference_rate = float(figure.raw["reference"]["draws_per_s"])
        if name == "growth" and not figure.error:
            growth.plot(figure.raw, plot_path)
        _log(f"{name}: done in {figure.seconds:.1f} s" + (" (ERROR)" if figure.error else ""))

    seconds = time.monotonic() - clock
    machine["load_average_end"] = list(os.getloadavg())
    report.write(figures, machine, mode.quick, seconds, out / "BENCHMARKS.md", json_path, plot_path)
    print("\n".join(report.header(machine, mode.quick, seconds)))
    print()
    print(report.text_table(figures))
    print(f"\nwrote {out / 'BENCHMARKS.md'} and {json_path}")
    for figure in figures:
        if figure.error:
            print(f"\n{figure.key} failed:\n{figure.error}", file=sys.stderr)
    broken = any(f.error for f in figures)
    failed = any(r.passed is False for f in figures for r in f.rows)
    return 1 if broken or (args.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
