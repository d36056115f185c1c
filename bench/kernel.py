"""Figure 1: the VaR kernel's draws per second on one core, against the seed's method.

Ours is ``signalrisk.quant.var.simulate_var`` on a batch of signals; the reference is the
seed's method written here (:func:`bench.kernel_probe.reference_var`: a list of
``random.gauss`` draws, ``list.sort``, two indexes). Both run in the same benchmark run, each
in a fresh process pinned to one CPU, at the same ``d``; the figure is the median of repeated
calls after an untimed warm-up call, and the ratio is ours over the reference.

If the installed package reads ``SIGNALRISK_KERNEL`` (a compiled kernel with a numpy
fallback), the default kernel and ``SIGNALRISK_KERNEL=numpy`` are measured separately; the
targets apply to the default kernel. Memory at ``d = 10^7`` is the peak RSS increase of one
call in a fresh process (and tracemalloc's peak), against the same for the reference.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    Figure,
    Mode,
    Row,
    fmt_bytes,
    fmt_count,
    fmt_rate,
    fmt_ratio,
    load_average,
)
from bench.machine import ROOT

SPEED_TARGET = 1e9
RATIO_TARGET = 500.0
MEMORY_TARGET = 20 * 2**20
"""O(tail): a fifth of the 80 MB that one float64 array of all 10^7 draws would take."""


def kernel_switch_exists() -> bool:
    """Whether the installed signalrisk reads ``SIGNALRISK_KERNEL`` anywhere in its code."""
    spec = importlib.util.find_spec("signalrisk")
    if spec is None or not spec.submodule_search_locations:
        return False
    for location in spec.submodule_search_locations:
        for path in Path(location).rglob("*.py"):
            if "SIGNALRISK_KERNEL" in path.read_text(encoding="utf-8", errors="replace"):
                return True
    return False


def probe(task: dict[str, Any], env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Run :mod:`bench.kernel_probe` in a fresh single-core process; its JSON answer."""
    env = {k: v for k, v in os.environ.items() if k != "SIGNALRISK_KERNEL"}
    env.update({"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    env.update(env_extra or {})
    done = subprocess.run(
        [sys.executable, "-m", "bench.kernel_probe", json.dumps(task)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kernel probe {task} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(mode: Mode) -> Figure:
    figure = Figure("kernel", "1. Kernel: draws/s per core and memory")
    d = mode.pick(10_000_000, 1_000_000)
    signals = mode.pick(10, 4)
    repeats = mode.pick(7, 3)
    ref_d = mode.pick(10_000_000, 100_000)
    ref_repeats = mode.pick(3, 2)
    variants: list[tuple[str, dict[str, str]]] = [("default", {})]
    if kernel_switch_exists():
        variants.append(("numpy", {"SIGNALRISK_KERNEL": "numpy"}))
    figure.raw["kernel_switch"] = len(variants) > 1
    figure.raw["load_average_before"] = load_average()

    ref = probe({"kernel": "ref", "task": "speed", "d": ref_d, "repeats": ref_repeats})
    ref_rate = ref_d / ref["seconds"]
    figure.raw["reference"] = {"d": ref_d, "draws_per_s": ref_rate, **ref}
    ref_memory = probe({"kernel": "ref", "task": "memory", "d": mode.pick(10_000_000, 1_000_000)})
    figure.raw["reference_memory"] = ref_memory

    for name, env in variants:
        speed = probe(
            {"kernel": "ours", "task": "speed", "d": d, "signals": signals, "repeats": repeats},
            env,
        )
        rate = signals * d / speed["seconds"]
        mem = probe({"kernel": "ours", "task": "memory", "d": 10_000_000, "traced": True}, env)
        engine = "numba" if speed["numba_loaded"] else "numpy"
        label = f"kernel ({engine})" if name == "default" else "SIGNALRISK_KERNEL=numpy"
        judged = name == "default"
        ratio = rate / ref_rate
        peak = max(mem["rss_increase_bytes"], mem.get("tracemalloc_peak_bytes", 0))
        figure.raw[name] = {
            "engine": engine,
            "d": d,
            "signals": signals,
            "draws_per_s": rate,
            "ratio_to_reference": ratio,
            "speed": speed,
            "memory_d1e7": mem,
        }
        figure.rows += [
            Row(
                "1",
                f"{label}: draws/s per core, {signals} signals x d={fmt_count(d)}",
                ">= 1 G/s" if judged else "(fallback)",
                fmt_rate(rate),
                f"{fmt_rate(ref_rate)} (seed, d={fmt_count(ref_d)})",
                fmt_ratio(ratio),
                rate >= SPEED_TARGET if judged else None,
            ),
            Row(
                "1",
                f"{label}: speed-up over the seed's method, same d",
                ">= 500x" if judged else "(fallback)",
                fmt_ratio(ratio),
                "1x",
                fmt_ratio(ratio),
                ratio >= RATIO_TARGET if judged else None,
            ),
            Row(
                "1",
                f"{label}: peak memory, 1 signal x d=1e7 (RSS / tracemalloc)",
                "O(tail), <= 20 MiB" if judged else "(fallback)",
                f"{fmt_bytes(mem['rss_increase_bytes'])} / "
                f"{fmt_bytes(mem.get('tracemalloc_peak_bytes', 0))}",
                f"{fmt_bytes(ref_memory['rss_increase_bytes'])} (seed, RSS, "
                f"d={fmt_count(mode.pick(10_000_000, 1_000_000))})",
                fmt_ratio(ref_memory["rss_increase_bytes"] / peak) + " less" if peak else "",
                peak <= MEMORY_TARGET if judged else None,
            ),
        ]
    if mode.quick:
        figure.notes.append("quick mode: the reference ran at d=1e5 (memory at 1e6), ours at 1e6.")
    figure.notes.append(
        f"One process per measurement, pinned to CPU {ref['cpus']}; medians of {repeats} "
        f"calls (reference: {ref_repeats}) after one untimed warm-up call. The reference is "
        "the seed's random.gauss list + sort(reverse=True). Ratios compare draws/s."
    )
    figure.raw["load_average_after"] = load_average()
    return figure
