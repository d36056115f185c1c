"""The background thread that moves scales along between requests.

While a scale is warming up or terminating it calls ``advance`` every ``fast_s``; otherwise it
probes the ready scale every heartbeat interval, which is also the heartbeat that keeps the
workers' idle watchdogs quiet while this service owns them, and the moment a ready scale
unused for ``idle_ttl_s`` is terminated (so that happens between the TTL and the TTL plus one
heartbeat). ``wake`` makes it look at once. Where background threads cannot run (App Engine),
the status endpoints make the same progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from signalrisk.services.scaling import ScaleService

log = logging.getLogger(__name__)


class ScaleDriver:
    def __init__(
        self,
        scales: ScaleService,
        advance: Callable[[bool], None],
        heartbeat_s: float,
        fast_s: float = 0.05,
    ) -> None:
        self.scales = scales
        self.advance = advance
        self.heartbeat_s = heartbeat_s
        self.fast_s = fast_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scale-driver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        # The heartbeat keeps its own clock: it must also come while progress keeps the loop
        # fast (a replacement booting for minutes), or the ready workers' watchdogs go unfed.
        next_heartbeat = time.monotonic()
        while not self._stop.is_set():
            try:
                heartbeat = time.monotonic() >= next_heartbeat
                if heartbeat:
                    next_heartbeat = time.monotonic() + self.heartbeat_s
                busy = self.scales.in_flight()
                if busy or heartbeat:
                    self.advance(heartbeat)
                busy = self.scales.in_flight()
            except Exception:  # keep driving: one failed round must not stop the heartbeat
                log.exception("scale driver round failed")
                busy = False
            until_heartbeat = max(0.0, next_heartbeat - time.monotonic())
            self._wake.wait(min(self.fast_s, until_heartbeat) if busy else until_heartbeat)
            self._wake.clear()
