"""The dispatcher's retry contract, on a fake provider whose resources fail on demand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from signalrisk.compute.base import BatchResult, Resource, ScaleSpec
from signalrisk.core.errors import ComputeError, NotWarm
from signalrisk.services.dispatch import Dispatcher

SPEC = ScaleSpec("scale", "lambda", 3, "secret")


class FakeProvider:
    """Answers batch k with numbers of k alone; the resources in ``failing`` raise."""

    service = "lambda"

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def run_batch(
        self, spec: ScaleSpec, resource: Resource, payload: dict[str, Any]
    ) -> BatchResult:
        k = payload["resource_index"]
        with self._lock:
            self.calls.append((resource.id, k))
        if resource.id in self.failing:
            raise ComputeError(f"worker {resource.id} did not answer")
        return BatchResult(resource.id, k, None, [float(k)], [k - 1.0], 0.0, 0.0, 7.0)


def resources(n: int, dead: tuple[int, ...] = ()) -> list[Resource]:
    return [Resource(f"r{i}", i, "dead" if i in dead else "ready") for i in range(n)]


def payloads(n: int) -> list[dict[str, Any]]:
    return [{"resource_index": k} for k in range(n)]


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


def dispatch(
    provider: FakeProvider, scale: list[Resource], pool: ThreadPoolExecutor, n: int = 3
) -> tuple[Dispatcher, list[BatchResult]]:
    dispatcher = Dispatcher(provider, SPEC, scale, pool)  # type: ignore[arg-type]
    return dispatcher, dispatcher.run(payloads(n))


def test_dispatch_sends_batch_k_to_resource_k(pool: ThreadPoolExecutor) -> None:
    provider = FakeProvider(set())
    dispatcher, batches = dispatch(provider, resources(3), pool)
    assert sorted(provider.calls) == [("r0", 0), ("r1", 1), ("r2", 2)]
    assert [b.var95 for b in batches] == [[0.0], [1.0], [2.0]]
    assert dispatcher.faults == [] and dispatcher.failed == []


def test_dispatch_retries_failed_batch_on_next_live_resource(pool: ThreadPoolExecutor) -> None:
    provider = FakeProvider({"r1"})
    dispatcher, batches = dispatch(provider, resources(3), pool)
    assert [(b.resource_id, b.resource_index) for b in batches] == [
        ("r0", 0),
        ("r2", 1),
        ("r2", 2),
    ]
    assert [b.var95 for b in batches] == [[0.0], [1.0], [2.0]]  # the stream follows k
    [fault] = dispatcher.faults
    assert (fault.resource_index, fault.resource, fault.retried_on) == (1, "r1", "r2")
    assert "did not answer" in fault.error and fault.billed_ms >= 1.0
    assert [r.id for r in dispatcher.failed] == ["r1"]


def test_dispatch_skips_dead_resources_and_resources_failed_by_other_batches(
    pool: ThreadPoolExecutor,
) -> None:
    provider = FakeProvider({"r2"})
    dispatcher, batches = dispatch(provider, resources(4, dead=(0,)), pool, n=4)
    assert [b.var95 for b in batches] == [[0.0], [1.0], [2.0], [3.0]]
    assert all(resource != "r0" for resource, _ in provider.calls)
    assert [c for c in provider.calls if c[0] == "r2"] in ([("r2", 2)], [("r2", 0), ("r2", 2)])
    assert {f.resource for f in dispatcher.faults} == {"r2"}


def test_dispatch_bounds_attempts_and_names_them_when_every_resource_fails(
    pool: ThreadPoolExecutor,
) -> None:
    scale = resources(5)
    provider = FakeProvider({r.id for r in scale})
    dispatcher = Dispatcher(provider, SPEC, scale, pool, max_attempts=3)  # type: ignore[arg-type]
    with pytest.raises(ComputeError, match="failed on every resource it was tried on"):
        dispatcher.run(payloads(1))
    assert [resource for resource, _ in provider.calls] == ["r0", "r1", "r2"]
    assert [f.retried_on for f in dispatcher.faults] == ["r1", "r2", None]


def test_dispatch_refuses_a_scale_without_live_resource(pool: ThreadPoolExecutor) -> None:
    with pytest.raises(NotWarm):
        Dispatcher(FakeProvider(set()), SPEC, resources(2, dead=(0, 1)), pool)  # type: ignore[arg-type]
