"""Running the r batches of one analysis on the resources of a scale, with retries.

The retry contract of :class:`Dispatcher`:

1. Batch k is the payload whose ``resource_index`` is k. Its Monte Carlo streams come from (run
   seed, k, signal index) alone, never from who runs it: a batch retried elsewhere returns the
   same numbers, bit for bit, and the results come back in batch order, whoever ran them.
2. Batch k goes first to the live resource of index k (if that one is not live, to the k-th
   live one, cyclically); all batches run at once.
3. On :class:`ComputeError` (the resource died: connection refused or reset; it answered an
   error; or it did not answer within ``worker_call_timeout_s``, in which case the provider
   has stopped it for good), the batch goes to the next live resource in index order, skipping
   every resource that has already failed in this dispatch, for any batch. A batch makes at
   most ``min(live resources, max_attempts)`` attempts (``MAX_ATTEMPTS`` = 3 by default).
4. Every failed attempt is a :class:`Fault`, logged as a warning (resource, error, retried_on;
   the run id is bound by the caller) and kept in :attr:`Dispatcher.faults` for the run's
   record; :attr:`Dispatcher.failed` are the resources to re-check (mark dead) afterwards.
   Calls the provider refused at its rate limit and retried itself (Lambda throttles, in
   ``BatchResult.throttled``) are faults too, of kind "throttled", billed nothing.
5. A batch that fails on every attempt makes the dispatch raise ComputeError naming each
   attempt, once every other batch has ended: no batch is left running behind a failed run.

The timeout is one setting, ``worker_call_timeout_s`` (600 s by default): the longest wait for
one attempt. A timeout derived from the work (d x signals at an assumed throughput) would see a
hang sooner, but a wrong guess of the throughput (a loaded host, a small Lambda) would declare
healthy workers hung and stop them, which is worse than waiting; set it above the longest batch
you run. A dispatch lasts at most ``max_attempts`` timeouts (a hang on every attempt of a batch).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Executor, wait
from dataclasses import asdict, dataclass
from typing import Any, Literal

from signalrisk.compute.base import BatchResult, ComputeProvider, Resource, ScaleSpec
from signalrisk.core.errors import ComputeError, NotWarm
from signalrisk.core.logs import in_run_context

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Fault:
    """One failed attempt at a batch: which batch, on which resource, why, and what next.

    ``kind`` is "error" for an attempt that failed (retried on another resource), or
    "throttled" for a call the provider refused at its rate limit, which the provider retried
    on the same resource after a wait.
    """

    resource_index: int  # the batch (its stream), not the failed resource's index
    resource: str  # the resource that failed it
    error: str
    retried_on: str | None  # the resource of the next attempt; None when none was left
    at: float  # epoch seconds when the failure was seen
    elapsed_s: float  # how long the failed attempt took, from the request to the failure
    kind: Literal["error", "throttled"] = "error"

    @property
    def billed(self) -> bool:
        """Whether the provider bills the failed call: a throttled one is never run."""
        return self.kind == "error"

    @property
    def billed_ms(self) -> float:
        """What the failed call is counted as on Lambda: its wall time, rounded up to 1 ms.
        Lambda bills a failed or timed-out invocation for the time it ran, which is not
        reported back to us; the caller's wall time of the call is the stand-in. Nothing for
        a throttled call."""
        if not self.billed:
            return 0.0
        return float(max(1, math.ceil(self.elapsed_s * 1000.0)))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "billed_ms": self.billed_ms}


class Dispatcher:
    """One analysis's batches on one scale (see the module docstring for the contract)."""

    def __init__(
        self,
        provider: ComputeProvider,
        spec: ScaleSpec,
        resources: list[Resource],
        pool: Executor,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.provider = provider
        self.spec = spec
        self.live = sorted((r for r in resources if r.state == "ready"), key=lambda r: r.index)
        if not self.live:
            raise NotWarm("no live resource in the scale; POST /terminate, then /warmup")
        self.pool = pool
        self.max_attempts = max(1, max_attempts)
        self.faults: list[Fault] = []
        self._failed: dict[str, Resource] = {}
        self._lock = threading.Lock()

    @property
    def failed(self) -> list[Resource]:
        """The resources that failed an attempt, in the order they failed."""
        with self._lock:
            return list(self._failed.values())

    def run(self, payloads: list[dict[str, Any]]) -> list[BatchResult]:
        """Every batch, in payload order; ComputeError if one failed on every attempt."""
        futures = [
            self.pool.submit(in_run_context(self._run_batch), k, payload)
            for k, payload in enumerate(payloads)
        ]
        wait(futures)
        return [future.result() for future in futures]

    def _order(self, k: int) -> list[Resource]:
        """The resources batch k may try, in turn: its own first, then the next by index."""
        own = next((r for r in self.live if r.index == k), self.live[k % len(self.live)])
        start = self.live.index(own)
        return self.live[start:] + self.live[:start]

    def _next(self, order: list[Resource], tried: set[str]) -> Resource | None:
        with self._lock:
            return next((r for r in order if r.id not in tried and r.id not in self._failed), None)

    def _run_batch(self, k: int, payload: dict[str, Any]) -> BatchResult:
        order = self._order(k)
        limit = min(len(order), self.max_attempts)
        tried: set[str] = set()
        errors: list[str] = []
        resource = self._next(order, tried)
        while resource is not None:
            tried.add(resource.id)
            clock = time.perf_counter()
            try:
                result = self.provider.run_batch(self.spec, resource, payload)
            except ComputeError as exc:
                elapsed = time.perf_counter() - clock
                errors.append(f"{resource.id}: {exc.message}")
                with self._lock:
                    self._failed.setdefault(resource.id, resource)
                following = self._next(order, tried) if len(tried) < limit else None
                retried_on = following.id if following else None
                self._record(Fault(k, resource.id, exc.message, retried_on, time.time(), elapsed))
                resource = following
                continue
            for throttle in result.throttled:
                self._record(
                    Fault(
                        k,
                        resource.id,
                        throttle.error,
                        resource.id,
                        throttle.at,
                        throttle.elapsed_s,
                        kind="throttled",
                    )
                )
            return result
        if not errors:
            errors.append("every live resource had already failed in this analysis")
        raise ComputeError(
            f"batch {k} failed on every resource it was tried on ({len(tried)} of"
            f" {len(self.live)} live, at most {limit} attempts): " + "; ".join(errors)
        )

    def _record(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)
        if fault.kind == "throttled":
            message = "batch throttled; retried on the same resource after a wait"
        elif fault.retried_on:
            message = "batch failed; retrying on another resource"
        else:
            message = "batch failed; no resource left to retry it on"
        log.warning(
            message,
            extra={
                "resource": fault.resource,
                "resource_index": fault.resource_index,
                "error": fault.error,
                "retried_on": fault.retried_on,
                "elapsed_s": round(fault.elapsed_s, 3),
            },
        )
