"""One kernel measurement in a fresh, single-core process: ``python -m bench.kernel_probe JSON``.

Run by :mod:`bench.kernel`, never by hand. The process pins itself to one CPU before numpy is
imported (so "per core" means one core, whatever threads a kernel might start), runs the task
and prints one JSON object on stdout. Tasks:

* ``speed``: median seconds of ``repeats`` calls after one untimed warm-up call (which also
  pays any JIT compilation), for ``ours`` (``simulate_var`` on ``signals`` signals) or ``ref``
  (the seed's method, :func:`reference_var`, one signal).
* ``memory``: one warm-up call, then the peak RSS increase of one call (``/proc/self/status``
  VmHWM after resetting it through ``/proc/self/clear_refs``, minus VmRSS before the call);
  with ``traced``, also tracemalloc's peak over a second call. tracemalloc sees numpy's
  buffers but not memory that compiled code (e.g. numba) allocates itself; RSS sees both.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # pin before numpy (and any thread pool) starts
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})

import gc
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

MEAN, STD = 0.001, 0.03
"""A typical signal: daily returns of mean 0.1% and standard deviation 3%."""


def reference_var(mean: float, std: float, d: int, rng: random.Random) -> tuple[float, float]:
    """The seed's method: ``d`` draws of ``random.gauss``, sorted descending, indexed."""
    simulated = [rng.gauss(mean, std) for _ in range(d)]
    simulated.sort(reverse=True)
    return simulated[int(len(simulated) * 0.95)], simulated[int(len(simulated) * 0.99)]


def _task(kernel: str, d: int, signals: int) -> Callable[[int], object]:
    if kernel == "ref":
        return lambda seed: reference_var(MEAN, STD, d, random.Random(seed))
    import numpy as np

    from signalrisk.quant.var import simulate_var

    means = np.full(signals, MEAN)
    stds = np.full(signals, STD)
    return lambda seed: simulate_var(means, stds, d, seed)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def speed(run: Callable[[int], object], repeats: int) -> dict[str, Any]:
    run(0)
    times = []
    for k in range(repeats):
        clock = time.perf_counter()
        run(k + 1)
        times.append(time.perf_counter() - clock)
    return {"seconds": statistics.median(times), "times": times}


def memory(run: Callable[[int], object], traced: bool) -> dict[str, Any]:
    run(0)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status_kib("VmRSS")
    run(1)
    out: dict[str, Any] = {"rss_increase_bytes": (_status_kib("VmHWM") - before) * 1024}
    if traced:
        gc.collect()
        tracemalloc.start()
        run(2)
        out["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out


def main() -> None:
    spec = json.loads(sys.argv[1])
    run = _task(spec["kernel"], spec["d"], spec.get("signals", 1))
    if spec["task"] == "speed":
        out = speed(run, spec["repeats"])
    else:
        out = memory(run, spec.get("traced", False))
    out["numba_loaded"] = "numba" in sys.modules
    out["cpus"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
