"""What the fuzzing (``test_fuzz.py``) found, each as the case that showed it; and the proof
that a failure which is not the client's stays a logged 500 in the error shape.

In process (``create_app`` under Starlette's TestClient) unless a real worker is needed.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from signalrisk.api.app import create_app
from signalrisk.core.config import Settings
from signalrisk.core.errors import InternalError
from signalrisk.workers.compute import compute

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

STANDARD = {"h": "101", "d": "1000", "t": "sell", "p": "7"}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(Settings(home=tmp_path / "home"))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def assert_error(response: object, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == code, error
    if field is not None:
        assert error.get("field") == field, error


# -- found by the fuzzing --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/runs", "/v1/audit"])
def test_reject_page_offset_past_64_bits_names_field(client: TestClient, path: str) -> None:
    # was 500: SQLite cannot bind an OFFSET past a signed 64-bit integer (OverflowError)
    response = client.get(path, params={"offset": str(2**63), "limit": "1"})
    assert_error(response, 422, "invalid_parameter", "offset")
    assert "2^63 - 1" in response.json()["error"]["message"]
    response = client.get(path, params={"offset": str(2**63 - 1), "limit": "1"})
    assert response.status_code == 200 and response.json()["items"] == []


@pytest.mark.parametrize("run_id", ["%F3%AF%BD%90%C3%BC", "a%20b", "...", "%2E%2E"])
def test_reject_chart_of_run_id_that_cannot_be_a_key_not_found(
    client: TestClient, run_id: str
) -> None:
    # was 500 "invalid object key 'charts/...png'": the id became a store key before the run
    # was looked up
    assert_error(client.get(f"/v1/runs/{run_id}/chart.png"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/reset", "GET, POST"),
        ("DELETE", "/terminate", "GET, POST"),
        ("GET", "/warmup", "POST"),
        ("PUT", "/v1/runs/0000000000000000", "GET"),
    ],
)
def test_reject_wrong_method_allow_lists_every_method_of_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    # was "Allow: GET" for /reset and /terminate, which take POST too (by a second route)
    response = client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow


def test_document_post_reset_and_terminate(client: TestClient) -> None:
    # they answered 200 to POST, undocumented (the seed's clients may POST them)
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/reset", "/terminate"):
        assert {"get", "post"} <= set(paths[path]), path
        assert client.post(path).status_code == 200


@pytest.mark.parametrize("text", ["1_01", "101.0", "\u0661\u0660\u0661", "\x1c101", "0x65", "1e2"])
def test_reject_integer_text_outside_documented_pattern(client: TestClient, text: str) -> None:
    # was accepted (pydantic's lax int: underscores, '5.0') while the document's pattern
    # ^[ \t\n\r]*[+-]?[0-9]+[ \t\n\r]*$ refuses it
    assert_error(
        client.post("/analyse", json={**STANDARD, "h": text}), 422, "invalid_parameter", "h"
    )


def test_accept_integer_text_of_documented_pattern(client: TestClient) -> None:
    body = {**STANDARD, "h": " +101\n", "d": "\t1000 ", "seed": "007"}
    assert_error(client.post("/analyse", json=body), 409, "not_warm")  # valid: then the state


@pytest.mark.parametrize("warmup", ["false", "true", 0, 1, {}, []])
def test_reject_compute_warmup_not_boolean(warmup: object) -> None:
    # was read for its truth: {"warmup": "false"} only warmed up, {"warmup": {}} computed
    with pytest.raises(ValueError, match="warmup must be true or false"):
        compute({"warmup": warmup, "mean": 0.001, "std": 0.02, "shots": 100})


def test_reject_compute_warmup_not_boolean_through_api(client: TestClient) -> None:
    path = "/v1/functions/compute/invocations"
    assert client.post("/warmup", json={"s": "lambda", "r": 1}).status_code == 200
    try:
        deadline = time.monotonic() + 30
        while client.get("/scaled_ready").json()["warm"] != "true":
            assert time.monotonic() < deadline, client.get("/v1/scale").text
            time.sleep(0.05)
        payload = {"mean": 0.001, "std": 0.02, "shots": 100}
        response = client.post(path, json={**payload, "warmup": "false"})
        assert_error(response, 422, "invalid_parameter")
        assert response.json()["error"]["message"].endswith("warmup must be true or false")
        assert "var95" in client.post(path, json={**payload, "warmup": False}).json()
        assert client.post(path, json={"warmup": True}).json()["warm"] is True
    finally:
        assert client.get("/terminate").status_code == 200
        deadline = time.monotonic() + 30
        while client.get("/scaled_terminated").json()["terminated"] != "true":
            assert time.monotonic() < deadline
            time.sleep(0.05)


# -- not the client's: 500, in the error shape, logged -------------------------------------------


def test_unexpected_exception_in_handler_is_500_internal_and_logged(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """A test-only route added to an app instance in process raises what no handler expects,
    from a sync and from an async endpoint; and one raises an error of the hierarchy that has
    no status of its own. Each is 500 ``internal`` in the one shape (never a 4xx), and its
    traceback is logged at ERROR."""

    def sync_boom() -> None:
        raise RuntimeError("sync boom")

    async def async_boom() -> None:
        raise KeyError("async boom")

    def hierarchy_boom() -> None:
        raise InternalError("an invariant broke")

    app.add_api_route("/test-only/sync", sync_boom)
    app.add_api_route("/test-only/async", async_boom)
    app.add_api_route("/test-only/hierarchy", hierarchy_boom)
    cases = [
        ("/test-only/sync", "internal error; it has been logged", "RuntimeError: sync boom"),
        ("/test-only/async", "internal error; it has been logged", "KeyError: 'async boom'"),
        ("/test-only/hierarchy", "an invariant broke", "InternalError: an invariant broke"),
    ]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        for path, message, logged in cases:
            caplog.clear()
            with caplog.at_level(logging.ERROR, logger="signalrisk.api.errors"):
                response = test_client.get(path)
            assert response.status_code == 500, (path, response.text)
            assert response.headers["content-type"] == "application/json"
            assert response.json() == {"error": {"code": "internal", "message": message}}
            records = [r for r in caplog.records if r.name == "signalrisk.api.errors"]
            assert len(records) == 1 and records[0].levelno == logging.ERROR, caplog.text
            assert records[0].exc_info is not None, path
            assert "Traceback" in caplog.text and logged in caplog.text, caplog.text
            assert getattr(records[0], "path", None) == path
