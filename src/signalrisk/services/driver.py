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
        heartbeat_due = True
        while not self._stop.is_set():
            try:
                busy = self.scales.in_flight()
                if busy or heartbeat_due:
                    self.advance(heartbeat_due)
                busy = self.scales.in_flight()
            except Exception:  # keep driving: one failed round must not stop the heartbeat
                log.exception("scale driver round failed")
                busy = False
            woken = self._wake.wait(self.fast_s if busy else self.heartbeat_s)
            self._wake.clear()
            heartbeat_due = not woken and not busy
