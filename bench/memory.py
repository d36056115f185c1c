"""Peak memory of a process tree, as summed PSS sampled in a background thread.

PSS (proportional set size, psutil ``memory_full_info().pss``, from ``/proc/<pid>/smaps_rollup``)
charges each shared page to the processes sharing it in equal parts, so the sum over a tree
counts numpy's and Python's shared libraries once, not once per worker as summed RSS would.
The tree is listed afresh at every sample, so workers that start or stop during the job are
included while they live.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import psutil


class PssSampler:
    """Samples ``sum(pss)`` over ``processes()`` every ``interval_s`` until stopped."""

    def __init__(
        self, processes: Callable[[], list[psutil.Process]], interval_s: float = 0.2
    ) -> None:
        self.processes = processes
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.peak_processes = 0
        self.samples = 0
        self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)

    def sample(self) -> int:
        total, count = 0, 0
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_full_info().pss
                count += 1
        self.samples += 1
        self.max_processes = max(self.max_processes, count)
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, count
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            clock = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - clock)))

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
