"""The ``REPORT`` line that AWS Lambda writes at the end of every invocation's log.

``Invoke`` with ``LogType="Tail"`` returns the last 4 KB of the invocation's log (base64), which
ends with a line of tab-separated fields (shown here one a line), a trailing tab and, with X-Ray
tracing on, an ``XRAY`` line after it::

    REPORT RequestId: 3b1e…
           Duration: 102.25 ms
           Billed Duration: 343 ms
           Memory Size: 1024 MB
           Max Memory Used: 75 MB
           Init Duration: 240.11 ms
    XRAY TraceId: 1-…	SegmentId: …	Sampled: true

``Init Duration`` is present on the first invocation of an execution environment (a cold start).

What Lambda bills (SPEC §4). Since 1 August 2025 AWS bills the INIT phase of on-demand
invocations for every runtime and package type (it was already billed for container images and
custom runtimes; before that date it was free for ZIP packages on managed runtimes). Lines
written under the new rule already count INIT in ``Billed Duration`` (``ceil(Duration + Init
Duration)``); older lines and other emulators may not. So :attr:`LambdaReport.billed_total_ms`
is ``max(Billed Duration, ceil(Duration + Init Duration))``: INIT is charged exactly once,
whichever rule wrote the line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from signalrisk.core.errors import ComputeError

_FIELD = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z ]*?):\s*(?P<value>\S+)(?:\s+(?P<unit>\S+))?\s*$")


@dataclass(frozen=True, slots=True)
class LambdaReport:
    """One invocation's figures as Lambda reported them (milliseconds, megabytes)."""

    request_id: str
    duration_ms: float
    billed_ms: float
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None = None

    @property
    def billed_total_ms(self) -> float:
        """Billed milliseconds with the INIT phase counted once (see the module docstring)."""
        if self.init_ms is None:
            return self.billed_ms
        return max(self.billed_ms, float(math.ceil(self.duration_ms + self.init_ms)))


def _fields(line: str) -> dict[str, str]:
    """``{"RequestId": "…", "Duration": "102.25", …}`` from the tab-separated REPORT line."""
    found: dict[str, str] = {}
    for part in line.removeprefix("REPORT").split("\t"):
        match = _FIELD.match(part)
        if match:
            found[match["key"].strip()] = match["value"]
    return found


def parse_report(log_tail: str) -> LambdaReport:
    """The last ``REPORT`` line of a log tail; ComputeError if there is none or it is malformed."""
    lines = [line for line in log_tail.splitlines() if line.startswith("REPORT ")]
    if not lines:
        tail = log_tail.strip().splitlines()[-1:] or ["(empty)"]
        raise ComputeError(f"no REPORT line in the Lambda log tail (it ends with: {tail[0]!r})")
    fields = _fields(lines[-1])
    try:
        init = fields.get("Init Duration")
        return LambdaReport(
            request_id=fields["RequestId"],
            duration_ms=float(fields["Duration"]),
            billed_ms=float(fields["Billed Duration"]),
            memory_mb=int(fields["Memory Size"]),
            max_memory_mb=int(fields["Max Memory Used"]),
            init_ms=None if init is None else float(init),
        )
    except (KeyError, ValueError) as exc:
        raise ComputeError(f"malformed Lambda REPORT line {lines[-1]!r}: {exc!r}") from exc
