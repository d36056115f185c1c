"""Calling worker apps over HTTP: health checks and batches, errors translated once here."""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from signalrisk.compute.base import BatchResult
from signalrisk.core.errors import ComputeError, FunctionError

T = TypeVar("T")
R = TypeVar("R")

SAMPLE_PAYLOAD = '{"mean": 0.001, "std": 0.02, "shots": 10000}'


def auth_header(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def is_healthy(client: httpx.Client, url: str, secret: str, timeout_s: float = 0.5) -> bool:
    """Whether the worker at ``url`` answers its health check with this scale's secret."""
    try:
        response = client.get(f"{url}/health", headers=auth_header(secret), timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def post_batch(
    client: httpx.Client,
    url: str,
    secret: str,
    payload: dict[str, Any],
    timeout_s: float,
    on_timeout: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """POST a compute payload; a transport error, error status or handler error is ComputeError.

    A worker that sends no answer within ``timeout_s`` (it hangs, or is stopped) is a
    ComputeError too, after ``on_timeout`` has run: the provider's chance to stop the hung
    worker for good, as Lambda stops an environment whose invocation timed out.
    """
    try:
        response = client.post(url, json=payload, headers=auth_header(secret), timeout=timeout_s)
    except httpx.TimeoutException as exc:
        if on_timeout is not None:
            on_timeout()
        raise ComputeError(f"worker {url} did not answer within {timeout_s:g} s: {exc!r}") from exc
    except httpx.HTTPError as exc:
        raise ComputeError(f"worker {url} did not answer: {exc!r}") from exc
    if response.headers.get("x-amz-function-error") or response.status_code == 422:
        failure = _json_object(response, url)
        message = failure.get("errorMessage") or failure.get("error", {}).get("message", "")
        raise FunctionError(f"compute handler error: {message}")
    if response.status_code != 200:
        raise ComputeError(f"worker {url} failed ({response.status_code}): {response.text[:300]}")
    return _json_object(response, url)


def _json_object(response: httpx.Response, url: str) -> dict[str, Any]:
    """The answer's JSON object; anything else (a worker cut off mid-answer) is ComputeError."""
    try:
        body = response.json()
    except ValueError as exc:
        raise ComputeError(f"worker {url} answered no JSON: {response.text[:300]!r}") from exc
    if not isinstance(body, dict):
        raise ComputeError(f"worker {url} answered {type(body).__name__}, not a JSON object")
    return body


def batch_result(body: dict[str, Any], billed_ms: float | None = None) -> BatchResult:
    """A worker's answer as a BatchResult; ``billed_ms`` defaults to Lambda's 1 ms rounding."""
    duration = float(body.get("duration_ms", 0.0))
    return BatchResult(
        resource_id=str(body["resource_id"]),
        resource_index=int(body["resource_index"]),
        pid=body.get("pid"),
        var95=list(body["var95"]),
        var99=list(body["var99"]),
        started=float(body["started"]),
        finished=float(body["finished"]),
        billed_ms=float(math.ceil(duration)) if billed_ms is None else billed_ms,
    )


def worker_batch(body: dict[str, Any], url: str, billed_ms: float | None = None) -> BatchResult:
    """:func:`batch_result` of a worker's answer; one without a batch's fields is ComputeError."""
    try:
        return batch_result(body, billed_ms)
    except (KeyError, TypeError, ValueError) as exc:
        raise ComputeError(f"worker {url} answered without a batch result: {exc!r}") from exc


def curl_command(url: str, headers: dict[str, str], payload: str = SAMPLE_PAYLOAD) -> str:
    """A curl command line that POSTs ``payload`` to ``url``."""
    parts = ["curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json"]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    parts += ["-d", payload, url]
    return shlex.join(parts)


def in_parallel(call: Callable[[T], R], items: list[T]) -> list[R]:
    """``[call(x) for x in items]``, the calls made concurrently (they wait on the network)."""
    if len(items) <= 1:
        return [call(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(32, len(items))) as pool:
        return list(pool.map(call, items))
