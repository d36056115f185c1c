"""Figure 3: the largest job, 500 signals x d = 10^7 x r = 32, through the whole service.

The prices are the synthetic series of :mod:`bench.synthetic` (exactly 500 sell signals with
``i >= h`` in the default window), served by the CSV price source (``SIGNALRISK_PRICE_SOURCE=csv``),
so the request is an ordinary one: ``{"ticker": "SYNTH500", "h": 101, "d": 1e7, "t": "sell",
"p": 7}``. One API process warms up ``r`` local lambda workers; then ``runs`` analyses, each
with its own seed, are timed by the client (request to answer), and the run's signal count is
checked under /v1/runs/{id}. The figure is the median wall time.

Memory is the peak of the summed PSS (:class:`bench.memory.PssSampler`, every 0.2 s) over the
API process and all its descendants, from before the first analysis to after the last.

The reference is the seed's method doing the same 1.6e11 draws, extrapolated from figure 1's
single-core rate with perfect scaling over every core (so optimistic for the seed).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.api import ApiProcess
from bench.common import (
    Figure,
    Mode,
    Row,
    fmt_bytes,
    fmt_count,
    fmt_ratio,
    fmt_seconds,
    load_average,
    median,
)
from bench.memory import PssSampler
from bench.synthetic import write_series

TICKER = "SYNTH500"
SIGNALS = 500
TIME_TARGET_S = 90.0
MEMORY_TARGET = 3 * 2**30
CALL_TIMEOUT_S = "3600"
"""Per-batch guard of the API (default 600 s): a slow machine must not turn into an error."""


def csv_env(csv_dir: Path) -> dict[str, str]:
    return {
        "SIGNALRISK_PRICE_SOURCE": "csv",
        "SIGNALRISK_CSV_PATH": str(csv_dir),
        "SIGNALRISK_WORKER_CALL_TIMEOUT_S": CALL_TIMEOUT_S,
    }


def run(mode: Mode, reference_rate: float | None) -> Figure:
    figure = Figure("largest", "3. Largest job: 500 signals x d=1e7 x r=32")
    d = mode.pick(10_000_000, 100_000)
    r = mode.pick(32, 4)
    runs = mode.pick(3, 1)
    draws = SIGNALS * d * r
    cores = os.cpu_count() or 1
    ref_s = draws / (reference_rate * cores) if reference_rate else None
    with tempfile.TemporaryDirectory(prefix="bench-largest-") as scratch:
        home = Path(scratch)
        write_series(home / "prices", TICKER, SIGNALS)
        with ApiProcess(home / "home", csv_env(home / "prices")) as api:
            warm_s = api.warm("lambda", r, every_s=0.2)
            times: list[float] = []
            server: list[float] = []
            load_before = load_average()
            with PssSampler(api.tree) as memory:
                for k in range(runs):
                    body = {"ticker": TICKER, "h": 101, "d": d, "t": "sell", "p": 7, "seed": k + 1}
                    seconds, run_id = api.analyse(body)
                    detail = api.get(f"/v1/runs/{run_id}")
                    if detail["signals"] != SIGNALS:
                        raise RuntimeError(f"run {run_id} had {detail['signals']} signals")
                    times.append(seconds)
                    server.append(float(detail.get("wall_s") or 0.0))
            api.terminate()
            api.error_rows(figure)
    raw: dict[str, Any] = {
        "signals": SIGNALS,
        "d": d,
        "r": r,
        "draws": draws,
        "runs": runs,
        "seconds": times,
        "median_s": median(times),
        "server_wall_s": server,
        "warmup_s": warm_s,
        "peak_pss_bytes": memory.peak_bytes,
        "peak_processes": memory.peak_processes,
        "max_processes": memory.max_processes,
        "pss_samples": memory.samples,
        "reference_extrapolated_s": ref_s,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    figure.raw.update(raw)
    size = f"{SIGNALS} signals x d={fmt_count(d)} x r={r}"
    figure.rows += [
        Row(
            "3",
            f"{size}: wall time, median of {runs}",
            f"<= {TIME_TARGET_S:.0f} s on {cores} cores",
            fmt_seconds(raw["median_s"]),
            f"{fmt_seconds(ref_s)} (seed, extrapolated)" if ref_s else "",
            fmt_ratio(ref_s / raw["median_s"]) if ref_s else "",
            None if mode.quick else raw["median_s"] <= TIME_TARGET_S,
        ),
        Row(
            "3",
            f"{size}: peak summed PSS, API + {memory.max_processes - 1} processes",
            "<= 3 GiB",
            fmt_bytes(memory.peak_bytes),
            passed=None if mode.quick else memory.peak_bytes <= MEMORY_TARGET,
        ),
    ]
    if mode.quick:
        figure.notes.append(f"quick mode: a much smaller job ({size}); targets not judged.")
    figure.notes.append(
        f"Prices: bench/synthetic.py ({SIGNALS} sell signals, CSV price source); seeds 1..{runs}; "
        f"{memory.samples} PSS samples. SIGNALRISK_WORKER_CALL_TIMEOUT_S={CALL_TIMEOUT_S}."
    )
    return figure
