"""The configured guards, each refused in the one error shape, naming the limit and its value.

Over HTTP against a real API process with small limits: r <= 2 for lambda, d x r x signals
<= 1e7, bodies <= 2048 bytes, analyses estimated at <= $0.000001 (which admits d = 10 and
refuses d = 250000 on one lambda resource with the 36 sell signals of the default window).
The body limit is also driven directly at the ASGI level, for what a client library will not
send (a Content-Length that lies, a body without one on HTTP/2, a client gone mid-body).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from signalrisk.api.limits import BodySizeLimit
from signalrisk.core.config import PriceTable
from signalrisk.services.costs import estimate_analysis_cost
from tests.api.test_errors import assert_error
from tests.server import ApiServer

MAX_BODY = 2048
CAP_USD = 0.000001
SMALL = {"h": "101", "d": "10", "t": "sell", "p": "7"}  # 36 signals


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(
        Path(tmp_path_factory.mktemp("home-limits")),
        env={
            "SIGNALRISK_LIMITS__MAX_R_LAMBDA": "2",
            "SIGNALRISK_LIMITS__MAX_WORK": "10000000",
            "SIGNALRISK_LIMITS__MAX_BODY_BYTES": str(MAX_BODY),
            "SIGNALRISK_LIMITS__MAX_ANALYSIS_USD": str(CAP_USD),
        },
    )
    server.start()
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


@pytest.fixture(scope="module")
def ready(limited: ApiServer) -> ApiServer:
    """The limited API with a ready lambda scale of one resource."""
    limited.warm("lambda", 1)
    return limited


def trace(api: ApiServer) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the scale, the runs, the audit."""
    scale = api.get("/v1/scale").json()
    return (
        scale["scale_id"],
        scale["state"],
        [r["state"] for r in scale["resources"]],
        len(api.get("/v1/runs").json()["items"]),
        api.get("/v1/audit").json()["total"],
    )


def padded(body: dict[str, str], size: int) -> bytes:
    """``body`` as JSON, padded with trailing spaces to exactly ``size`` bytes."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


# -- r and d x r x signals: 422 ------------------------------------------------------------


def test_reject_warmup_r_over_max_names_limit(limited: ApiServer) -> None:
    message = assert_error(
        limited.post("/warmup", {"s": "lambda", "r": "3"}), 422, "invalid_parameter", "r"
    )
    assert "from 1 to 2" in message and "limits.max_r_lambda" in message


def test_reject_analyse_work_over_max_work_names_limit(limited: ApiServer) -> None:
    # Before any scale, r counts as 1: 300000 x 1 x 36 = 10800000 > 1e7.
    response = limited.post("/analyse", {**SMALL, "d": "300000"})
    message = assert_error(response, 422, "limit_exceeded", "d")
    assert "10800000" in message and "max_work = 10000000" in message
    assert "d may be at most 277777" in message


# -- request body: 413 ---------------------------------------------------------------------


def test_accept_body_at_limit(limited: ApiServer) -> None:
    body = padded(SMALL, MAX_BODY)
    response = httpx.post(f"{limited.url}/analyse", content=body, timeout=30)
    # Parsed and validated: it only meets the scale that is not warm yet.
    assert_error(response, 409, "not_warm")


def test_reject_body_over_limit_names_limit(limited: ApiServer) -> None:
    before = trace(limited)
    body = padded(SMALL, MAX_BODY + 1)
    response = httpx.post(f"{limited.url}/analyse", content=body, timeout=30)
    message = assert_error(response, 413, "limit_exceeded", "body")
    assert "max_body_bytes" in message and str(MAX_BODY) in message
    assert trace(limited) == before


def chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_reject_chunked_body_over_limit_without_content_length(limited: ApiServer) -> None:
    before = trace(limited)
    body = padded(SMALL, 4 * MAX_BODY)
    request = httpx.Request("POST", f"{limited.url}/warmup", content=chunks(body, 1000))
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    with httpx.Client(timeout=30) as client:
        response = client.send(request)
    message = assert_error(response, 413, "limit_exceeded", "body")
    assert str(MAX_BODY) in message
    assert response.headers.get("connection") == "close"
    assert trace(limited) == before


def test_accept_chunked_body_under_limit(limited: ApiServer) -> None:
    body = padded(SMALL, MAX_BODY)
    request = httpx.Request("POST", f"{limited.url}/analyse", content=chunks(body, 500))
    with httpx.Client(timeout=30) as client:
        assert_error(client.send(request), 409, "not_warm")


# -- estimated cost of an analysis: 422 before anything runs ----------------------------------


def test_reject_analysis_over_cost_cap_before_any_worker(ready: ApiServer) -> None:
    before = trace(ready)
    assert before[1] == "ready"
    response = ready.post("/analyse", {**SMALL, "d": "250000"})
    message = assert_error(response, 422, "limit_exceeded", "d")
    estimate = estimate_analysis_cost("lambda", 1, 250_000, 36, PriceTable()).usd
    assert estimate > CAP_USD
    assert f"${estimate:.3g}" in message and f"max_analysis_usd = ${CAP_USD:g}" in message
    assert "d may be at most" in message
    assert trace(ready) == before  # no run, no audit record, the scale untouched


def test_accept_analysis_under_cost_cap(ready: ApiServer) -> None:
    runs = len(ready.get("/v1/runs").json()["items"])
    response = ready.post("/analyse", SMALL)
    assert response.status_code == 200, response.text
    assert len(ready.get("/v1/runs").json()["items"]) == runs + 1


# -- the body limit at the ASGI level ---------------------------------------------------------


def call(
    headers: list[tuple[bytes, bytes]], messages: list[Message], http_version: str = "1.1"
) -> tuple[list[Message], bytes | None]:
    """Run the middleware on one request; returns what it sent and the body the app got."""
    got: dict[str, bytes] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        got["body"] = body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    queue = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": headers, "http_version": http_version}
    asyncio.run(BodySizeLimit(app, max_bytes=100)(scope, receive, send))
    return sent, got.get("body")


def part(body: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def test_reject_body_longer_than_its_content_length() -> None:
    sent, body = call([(b"content-length", b"10")], [part(b"x" * 60, True), part(b"x" * 60, False)])
    assert body is None and sent[0]["status"] == 413


def test_reject_http2_body_without_length_over_limit() -> None:
    sent, body = call([], [part(b"x" * 80, True), part(b"x" * 80, False)], http_version="2")
    assert body is None and sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["field"] == "body"


def test_accept_http2_body_without_length_under_limit() -> None:
    sent, body = call([], [part(b"x" * 50, True), part(b"x" * 50, False)], http_version="2")
    assert body == b"x" * 100 and sent[0]["status"] == 200


def test_skip_app_when_client_leaves_mid_body() -> None:
    sent, body = call([(b"transfer-encoding", b"chunked")], [part(b"x" * 10, True)])
    assert body is None and sent == []
