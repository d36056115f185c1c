"""The compute interface: a scale of ``r`` resources that run batches of the compute function.

A provider is stateless: everything it needs about a scale travels in :class:`ScaleSpec` and the
:class:`Resource` records that the service keeps in its database, so that a restarted API (or a
second one) can drive a scale that another process launched.

Lifecycle, as the source system's endpoints use it::

    launch ─► probe … probe (until every resource is ready) ─► run_batch × n ─► terminate ─► gone

``launch`` returns at once; readiness is observed by ``probe``, which never blocks for long. A
resource that dies while its scale is ready is replaced by ``launch`` of its index alone: the
new resource has a new id and the same index, so it runs the same batches (streams follow the
index, never the resource).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

ResourceState = Literal["starting", "ready", "dead", "terminating", "terminated"]


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """What was asked at warm-up, and the scale's own secret that its workers accept."""

    scale_id: str
    service: str
    r: int
    secret: str


@dataclass(frozen=True, slots=True)
class Resource:
    """One compute resource of a scale, as recorded in the database."""

    id: str
    index: int
    state: ResourceState = "starting"
    address: str | None = None  # base URL of a worker, or None for a pure function
    pid: int | None = None
    create_time: float | None = None  # process start time, guards against pid reuse
    warm_billed_ms: float | None = None  # billed duration of the warm-up call, if any
    detail: dict[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> Resource:
        return replace(self, **changes)


def launch_indices(spec: ScaleSpec, indices: Sequence[int] | None) -> list[int]:
    """The indices a ``launch`` starts: every one of the scale's by default."""
    return list(range(spec.r)) if indices is None else list(indices)


def resource_suffix(first_launch: bool) -> str:
    """What makes a resource id unique to its launch: nothing the first time an index is
    launched (readable ids), a random tag for a replacement of it."""
    return "" if first_launch else f"-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Throttle:
    """A call refused by the provider's rate limit (Lambda's 429) and retried after a wait;
    the provider bills nothing for it."""

    error: str
    at: float  # epoch seconds when the refusal came
    elapsed_s: float  # how long the refused call took


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A resource's answer to one batch."""

    resource_id: str
    resource_index: int
    pid: int | None
    var95: list[float]
    var99: list[float]
    started: float  # epoch seconds, as the worker saw it
    finished: float
    billed_ms: float  # what the provider bills for this call
    throttled: tuple[Throttle, ...] = ()  # refusals ridden out before the call ran


@runtime_checkable
class ComputeProvider(Protocol):
    """A way to run the compute function on ``r`` parallel resources."""

    service: str

    def launch(self, spec: ScaleSpec, indices: Sequence[int] | None = None) -> list[Resource]:
        """Start the resources of ``indices`` (default: all ``spec.r``) without waiting for
        them; return their records, in the order of ``indices``. Every id is new, also when
        an index is launched again to replace a dead resource."""
        ...

    def probe(self, spec: ScaleSpec, resources: list[Resource]) -> list[Resource]:
        """Observe each resource once (briefly) and return it with its new state.

        A ``starting`` resource becomes ``ready`` once it has answered (for Lambda: once its
        warm-up invocation has answered, with ``warm_billed_ms`` set); a resource whose process
        or instance has gone becomes ``dead``.
        """
        ...

    def endpoints(self, spec: ScaleSpec, resources: list[Resource], api_url: str) -> dict[str, str]:
        """One entry per unique endpoint: URL -> a curl command line that invokes it."""
        ...

    def run_batch(
        self, spec: ScaleSpec, resource: Resource, payload: dict[str, Any]
    ) -> BatchResult:
        """Run one batch of the compute function on ``resource``; raise ComputeError on failure."""
        ...

    def terminate(self, spec: ScaleSpec, resources: list[Resource]) -> None:
        """Ask every resource to stop; return without waiting."""
        ...

    def stop_hung(self, spec: ScaleSpec, resource: Resource) -> None:
        """Stop a resource that does not answer, for good and now, as Lambda stops a timed-out
        environment and EC2 forces off an instance: a hung process may ignore ``terminate``."""
        ...

    def gone(self, spec: ScaleSpec, resources: list[Resource]) -> list[bool]:
        """For each resource, whether it has stopped for good."""
        ...


@runtime_checkable
class Invocable(Protocol):
    """Optional: a provider whose compute function can be invoked with a raw seed payload."""

    def invoke(
        self, spec: ScaleSpec, resource: Resource, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Run the compute handler on ``payload`` as given and return its answer unchanged."""
        ...
