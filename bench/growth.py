"""Figure 6: how the cost of an analysis grows with d, with the number of signals and with r.

One API process with the CSV price source serves synthetic series with exactly 50, 100, 200
and 500 sell signals (:mod:`bench.synthetic`). Every point is the median client wall time of
POST /analyse (h=101, t=sell, p=7, a fresh seed each) on local lambda workers:

* vs d: 100 signals, r = 2, d over three or four decades;
* vs signals: d fixed, r = 2, 50 / 100 / 200 / 500 signals;
* vs r: 100 signals, d fixed, r = 1 .. 32 (a new warm-up for each r).

Expected: linear in d and in signals, ``t = a + b x`` with a fixed cost ``a`` per request,
and flat in r while r <= cores, then proportional to r / cores (each resource does the full
``signals x d`` draws and the cores are shared): ``t = a + b max(r, cores)``. Each sweep is
fitted to its model (least squares on relative error) and every point must lie within 20% of
the fit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.api import ApiProcess
from bench.common import Figure, Mode, Row, fmt_count, fmt_seconds, load_average, median
from bench.largest import csv_env
from bench.synthetic import write_series

COUNTS = (50, 100, 200, 500)


def ticker(signals: int) -> str:
    return f"SYNTH{signals:03d}"


def _time(api: ApiProcess, signals: int, d: int, repeats: int, seed: list[int]) -> float:
    times = []
    for _ in range(repeats):
        seed[0] += 1
        body = {"ticker": ticker(signals), "h": 101, "d": d, "t": "sell", "p": 7, "seed": seed[0]}
        times.append(api.analyse(body)[0])
    return median(times)


def fit_linear(xs: list[float], ts: list[float]) -> tuple[float, float, float]:
    """``t = a + b x`` fitted to relative error (every point weighs the same, whatever its
    size); returns ``(a, b, largest relative deviation of a point from the fit)``."""
    x = np.asarray(xs, dtype=float)
    t = np.asarray(ts, dtype=float)
    (a, b), *_ = np.linalg.lstsq(np.column_stack([1.0 / t, x / t]), np.ones_like(t), rcond=None)
    deviation = float(np.max(np.abs((a + b * x) / t - 1.0)))
    return float(a), float(b), deviation


def run(mode: Mode) -> Figure:
    figure = Figure("growth", "6. How cost grows with d, signals and r")
    repeats = mode.pick(3, 1)
    ds = mode.pick([10_000, 100_000, 1_000_000, 10_000_000], [1_000, 10_000, 100_000])
    d_fixed = mode.pick(1_000_000, 10_000)
    rs = mode.pick([1, 2, 4, 8, 16, 32], [1, 2, 4])
    cores = os.cpu_count() or 1
    seed = [0]
    raw: dict[str, Any] = {
        "repeats": repeats,
        "cores": cores,
        "load_average_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as scratch:
        prices = Path(scratch) / "prices"
        for count in COUNTS:
            write_series(prices, ticker(count), count)
        with ApiProcess(Path(scratch) / "home", csv_env(prices)) as api:
            api.warm("lambda", 2)
            _time(api, 100, ds[0], 1, seed)  # untimed: loads the CSV, warms the workers
            raw["vs_d"] = {"signals": 100, "r": 2, "points": []}
            for d in ds:
                raw["vs_d"]["points"].append([d, _time(api, 100, d, repeats, seed)])
            raw["vs_signals"] = {"d": d_fixed, "r": 2, "points": []}
            for count in COUNTS:
                raw["vs_signals"]["points"].append(
                    [count, _time(api, count, d_fixed, repeats, seed)]
                )
            raw["vs_r"] = {"signals": 100, "d": d_fixed, "points": []}
            for r in rs:
                api.terminate()
                api.warm("lambda", r, every_s=0.1)
                _time(api, 100, d_fixed, 1, seed)  # untimed: first batch of fresh workers
                raw["vs_r"]["points"].append([r, _time(api, 100, d_fixed, repeats, seed)])
            api.terminate()
            api.error_rows(figure)
    raw["load_average_after"] = load_average()
    figure.raw.update(raw)
    judge = not mode.quick
    sweeps = (
        ("vs_d", "d", "100 signals, r=2", 0),
        ("vs_signals", "signals", f"d={fmt_count(d_fixed)}, r=2", 0),
        ("vs_r", f"max(r, {cores})", f"100 signals, d={fmt_count(d_fixed)}", cores),
    )
    for key, label, fixed, floor in sweeps:
        points = raw[key]["points"]
        a, b, deviation = fit_linear([max(x, floor) for x, _ in points], [t for _, t in points])
        raw[key]["fit"] = {"fixed_s": a, "per_unit_s": b, "max_deviation": deviation}
        xs = ", ".join(fmt_count(x) for x, _ in points)
        figure.rows.append(
            Row(
                "6",
                f"time vs {key[3:]} ({fixed}; {key[3:]} = {xs}): t = a + b*{label}",
                "every point within 20% of the fit",
                f"a={fmt_seconds(a)}, b={b:.3g} s; worst {deviation:.0%}",
                passed=deviation <= 0.2 if judge else None,
            )
        )
    figure.notes.append(
        f"Medians of {repeats} analyses per point, local lambda, client wall time; "
        "the table of every point is below and the plot is BENCHMARKS-growth.png."
    )
    return figure


def plot(raw: dict[str, Any], path: Path) -> None:
    """Three panels (time vs d, vs signals, vs r), each with its fitted model dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (
        ("vs_d", "d (draws per signal per resource)", "log"),
        ("vs_signals", "signals", "linear"),
        ("vs_r", "r (resources)", "linear"),
    )
    for ax, (key, label, scale) in zip(axes, panels, strict=True):
        xs = [p[0] for p in raw[key]["points"]]
        ts = [p[1] for p in raw[key]["points"]]
        ax.plot(xs, ts, "o-", label="measured")
        fit = raw[key].get("fit")
        floor = raw["cores"] if key == "vs_r" else 0
        if fit:
            model = [fit["fixed_s"] + fit["per_unit_s"] * max(x, floor) for x in xs]
            ax.plot(xs, model, "--", label=f"fit: a + b*{'max(r, cores)' if floor else 'x'}")
        if key == "vs_r":
            ax.axvline(floor, color="grey", lw=0.5)
        if scale == "log":
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.set_xscale(scale)
        ax.set_xlabel(label)
        ax.set_ylabel("/analyse wall time (s)")
        ax.grid(True, which="both", lw=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("signalrisk: cost of an analysis (local lambda)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
