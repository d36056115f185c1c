"""``python -m bench.soak [--duration 300] [--readers 8]``: load and soak the API.

A real API (``signalrisk serve`` on a fresh home, local platform, lambda r=2) is kept busy for
the whole duration by reader threads rotating over every result endpoint and the /v1 reads,
and by two analyst threads, each posting an analysis every ``ANALYST_PACE_S`` (they race each
other: the loser's ``409 busy`` is the documented answer and counted as such, not as an error).

It reports requests and errors per kind, latency percentiles, the memory of the API and its
workers over time (flat means: the last tenth of the run within a small margin of the first
tenth after warm-up), and checks at the end that nothing was lost: every analysis that answered
200 has its run and exactly one audit record. ``make soak`` runs it for several minutes;
``tests/test_soak.py`` runs a bounded 30-second version in ``make test``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.api import ApiProcess
from bench.common import percentile
from signalrisk.seedclient import RESULTS

READS = (*RESULTS, "/v1/runs/last", "/v1/scale", "/v1/audit?limit=10", "/scaled_ready")
# Memory may wobble (allocator arenas, caches filling); growth beyond both of these is a leak.
FLAT_MARGIN_BYTES = 32 * 1024 * 1024
FLAT_MARGIN_RATIO = 0.10
# An analyst's pace: every run adds an audit record that /get_audit returns, so back-to-back
# analyses would measure a growing data set rather than a leak.
ANALYST_PACE_S = 0.25


@dataclass
class SoakReport:
    """What a soak run did and saw; ``ok`` when nothing failed and memory stayed flat."""

    duration_s: float
    reads: int = 0
    analyses: int = 0
    busy_refusals: int = 0
    errors: list[str] = field(default_factory=list)
    read_ms: dict[str, float] = field(default_factory=dict)
    analyse_ms: dict[str, float] = field(default_factory=dict)
    memory: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes RSS)
    memory_start: int = 0
    memory_end: int = 0
    lost_records: int = 0

    @property
    def memory_flat(self) -> bool:
        growth = self.memory_end - self.memory_start
        return growth <= max(FLAT_MARGIN_BYTES, FLAT_MARGIN_RATIO * self.memory_start)

    @property
    def ok(self) -> bool:
        return not self.errors and self.memory_flat and self.lost_records == 0

    def summary(self) -> str:
        mib = 1024 * 1024
        return "\n".join(
            [
                f"soak {self.duration_s:.0f} s: {self.reads} reads "
                f"({self.reads / self.duration_s:.0f}/s), {self.analyses} analyses, "
                f"{self.busy_refusals} documented 409 busy, {len(self.errors)} errors, "
                f"{self.lost_records} records lost",
                f"read latency ms: p50 {self.read_ms.get('p50', 0):.1f} "
                f"p99 {self.read_ms.get('p99', 0):.1f} max {self.read_ms.get('max', 0):.1f}",
                f"analyse latency ms: p50 {self.analyse_ms.get('p50', 0):.1f} "
                f"p99 {self.analyse_ms.get('p99', 0):.1f}",
                f"memory (API + workers, RSS): {self.memory_start / mib:.0f} MiB at start, "
                f"{self.memory_end / mib:.0f} MiB at end: "
                f"{'flat' if self.memory_flat else 'GROWING'}",
                *(f"error: {e}" for e in self.errors[:20]),
            ]
        )


def _latencies(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ms = [s * 1000 for s in samples]
    return {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms)}


def _rss(api: ApiProcess) -> int:
    total = 0
    for proc in api.tree():
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


class _Load:
    """The threads of one soak run and what they saw (lists are appended under the GIL)."""

    def __init__(self, api: ApiProcess, stop_at: float) -> None:
        self.api = api
        self.stop_at = stop_at
        self.report_lock = threading.Lock()
        self.read_s: list[float] = []
        self.analyse_s: list[float] = []
        self.run_ids: list[str] = []
        self.busy = 0
        self.errors: list[str] = []

    def _error(self, what: str, response: httpx.Response | None, exc: Exception | None) -> None:
        detail = f"{response.status_code} {response.text[:200]}" if response is not None else exc
        with self.report_lock:
            self.errors.append(f"{what}: {detail}")

    def reader(self, offset: int) -> None:
        with httpx.Client(base_url=self.api.url, timeout=30.0) as http:
            for path in itertools.islice(itertools.cycle(READS), offset, None):
                if time.monotonic() >= self.stop_at:
                    return
                clock = time.perf_counter()
                try:
                    response = http.get(path)
                except httpx.HTTPError as exc:
                    self._error(f"GET {path}", None, exc)
                    continue
                self.read_s.append(time.perf_counter() - clock)
                if response.status_code != 200:
                    self._error(f"GET {path}", response, None)

    def analyst(self, number: int) -> None:
        with httpx.Client(base_url=self.api.url, timeout=120.0) as http:
            for k in itertools.count():
                if time.monotonic() >= self.stop_at:
                    return
                body = {
                    "h": 101,
                    "d": 10_000,
                    "t": "sell" if k % 2 else "buy",
                    "p": 7,
                    "seed": number * 1_000_000 + k,
                }
                clock = time.perf_counter()
                try:
                    response = http.post("/analyse", json=body)
                except httpx.HTTPError as exc:
                    self._error("POST /analyse", None, exc)
                    continue
                if response.status_code == 200:
                    self.analyse_s.append(time.perf_counter() - clock)
                    self.run_ids.append(response.json()["run_id"])
                    time.sleep(ANALYST_PACE_S)
                elif response.status_code == 409 and response.json()["error"]["code"] == "busy":
                    self.busy += 1
                    time.sleep(0.005)
                else:
                    self._error("POST /analyse", response, None)


def soak(duration_s: float, readers: int = 8, home: Path | None = None) -> SoakReport:
    """Run the mixed load for ``duration_s`` against a fresh API; see the module docstring."""
    with (
        tempfile.TemporaryDirectory(prefix="signalrisk-soak-") as scratch,
        ApiProcess(home or Path(scratch) / "home") as api,
    ):
        api.warm("lambda", 2)
        api.analyse({"h": 101, "d": 10_000, "t": "sell", "p": 7, "seed": 1})
        report = SoakReport(duration_s)
        start = time.monotonic()
        load = _Load(api, start + duration_s)
        threads = [
            *(threading.Thread(target=load.reader, args=(k,)) for k in range(readers)),
            *(threading.Thread(target=load.analyst, args=(k,)) for k in (1, 2)),
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            report.memory.append((time.monotonic() - start, _rss(api)))
            time.sleep(min(1.0, duration_s / 30))
        report.reads = len(load.read_s)
        report.analyses = len(load.run_ids)
        report.busy_refusals = load.busy
        report.errors = load.errors + api.server_errors
        report.read_ms = _latencies(load.read_s)
        report.analyse_ms = _latencies(load.analyse_s)
        report.lost_records = _lost_records(api, [*load.run_ids])
        api.terminate()
    tenth = max(1, len(report.memory) // 10)
    # The first tenth is skipped: caches (the ended-run cache, matplotlib, the audit listing)
    # fill in the first seconds, which is growth to a plateau, not a leak.
    report.memory_start = int(statistics.median(b for _, b in report.memory[tenth : 2 * tenth]))
    report.memory_end = int(statistics.median(b for _, b in report.memory[-tenth:]))
    return report


def _lost_records(api: ApiProcess, run_ids: list[str]) -> int:
    """Analyses that answered 200 but lack their run or their one audit record."""
    audit: list[dict[str, Any]] = api.get("/get_audit")
    audited = [record["run_id"] for record in audit]
    lost = 0
    for run_id in run_ids:
        if audited.count(run_id) != 1 or api.http.get(f"/v1/runs/{run_id}").status_code != 200:
            lost += 1
    return lost


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=summary)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--readers", type=int, default=8, help="reader threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    report = soak(args.duration, args.readers)
    print(report.summary())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**asdict(report), "ok": report.ok}, indent=1))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
