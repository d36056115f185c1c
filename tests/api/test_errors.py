"""Every error of SPEC §2 in its one body shape, over HTTP against a real API process.

The module's server runs with small guards (``max_work`` 1000, at most 4 ec2 resources) so that
the limits can be reached cheaply. Access control needs a client beyond loopback, which the
in-process TestClient provides.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from signalrisk.api.app import create_app
from signalrisk.core.config import Settings
from signalrisk.sources.bundled import BundledSource
from tests.server import ApiServer

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its TestClient; httpx is what is installed.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

MAX_SEED = 2**63 - 1
SMALL = {"h": "101", "d": "10", "t": "sell", "p": "7"}  # 10 x r x 36 signals <= 1000 for r <= 2
RESULT_PATHS = (
    "/get_sig_vars9599",
    "/get_avg_vars9599",
    "/get_sig_profit_loss",
    "/get_tot_profit_loss",
    "/get_chart_url",
    "/get_time_cost",
    "/v1/runs/last",
)


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> str:
    """The response is ``status`` with exactly the one error shape; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert {"code", "message"} <= set(error) <= {"code", "message", "field"}, body
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"], body
    if field is None:
        assert "field" not in error or isinstance(error["field"], str), body
    else:
        assert error.get("field") == field, body
    message: str = error["message"]
    return message


def window_rows(start: str, end: str) -> int:
    series = BundledSource().load("NVDA")
    return len(series.window(date.fromisoformat(start), date.fromisoformat(end)))


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API with small guards: d x r x signals <= 1000, r <= 4 for ec2."""
    server = ApiServer(
        Path(tmp_path_factory.mktemp("home-guarded")),
        env={"SIGNALRISK_LIMITS__MAX_WORK": "1000", "SIGNALRISK_LIMITS__MAX_R_EC2": "4"},
    )
    server.start()
    yield server
    server.stop()
    assert not server.workers(), "workers outlived the API"


@pytest.fixture
def cold(guarded: ApiServer) -> Iterator[ApiServer]:
    """The guarded API with no scale, before and after the test."""
    guarded.terminate()
    yield guarded
    for proc in guarded.workers():
        proc.resume()
    guarded.terminate()


@pytest.fixture
def warm(cold: ApiServer) -> ApiServer:
    """The guarded API with a ready lambda scale of one resource."""
    cold.warm("lambda", 1)
    return cold


# -- invalid_parameter: /warmup -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "allowed"),
    [
        ({"s": "gpu", "r": "1"}, "s", "'lambda' or 'ec2'"),
        ({"s": "LAMBDA", "r": "1"}, "s", "'lambda' or 'ec2'"),
        ({"s": "lambda", "r": "0"}, "r", "from 1 to 64"),
        ({"s": "lambda", "r": 65}, "r", "from 1 to 64"),
        ({"s": "lambda", "r": "-3"}, "r", "from 1 to 64"),
        ({"s": "ec2", "r": "5"}, "r", "from 1 to 4"),  # the configured maximum
        ({"s": "ec2", "r": 0}, "r", "from 1 to 4"),
    ],
)
def test_reject_warmup_out_of_range_names_field_and_range(
    cold: ApiServer, body: dict[str, Any], field: str, allowed: str
) -> None:
    message = assert_error(cold.post("/warmup", body), 422, "invalid_parameter", field)
    assert message.startswith(field) and allowed in message
    assert cold.get("/v1/scale").json()["state"] == "cold"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"s": 3, "r": "1"}, "s"),
        ({"s": ["lambda"], "r": "1"}, "s"),
        ({"s": None, "r": "1"}, "s"),
        ({"r": "1"}, "s"),
        ({"s": "lambda", "r": "three"}, "r"),
        ({"s": "lambda", "r": "1.5"}, "r"),
        ({"s": "lambda", "r": 1.5}, "r"),
        ({"s": "lambda", "r": True}, "r"),
        ({"s": "lambda", "r": None}, "r"),
        ({"s": "lambda", "r": {"n": 1}}, "r"),
        ({"s": "lambda", "r": ""}, "r"),
        ({"s": "lambda"}, "r"),
    ],
)
def test_reject_warmup_wrong_type_names_field(
    cold: ApiServer, body: dict[str, Any], field: str
) -> None:
    message = assert_error(cold.post("/warmup", body), 422, "invalid_parameter", field)
    assert message.startswith(field)
    rule = "'lambda' or 'ec2'" if field == "s" else "an integer from 1 to"
    assert rule in message
    assert cold.get("/v1/scale").json()["state"] == "cold"


# -- invalid_parameter: /analyse ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "allowed"),
    [
        ({"h": "2"}, "h", "from 3 to 748"),
        ({"h": 749}, "h", "from 3 to 748"),
        ({"h": "-101"}, "h", "from 3 to 748"),
        ({"d": "0"}, "d", "from 1 to 10000000"),
        ({"d": 10_000_001}, "d", "from 1 to 10000000"),
        ({"t": "hold"}, "t", "'buy' or 'sell'"),
        ({"t": "SELL"}, "t", "'buy' or 'sell'"),
        ({"p": "0"}, "p", "from 1 to 750"),
        ({"p": 751}, "p", "from 1 to 750"),
        ({"seed": "-1"}, "seed", f"from 0 to {MAX_SEED}"),
        ({"seed": 2**63}, "seed", f"from 0 to {MAX_SEED}"),
        ({"ticker": "../../etc/passwd"}, "ticker", "A-Z, 0-9"),
        ({"ticker": "X" * 16}, "ticker", "1 to 15 characters"),
        ({"start": "2024-06-05", "end": "2024-06-01"}, "start", "not be after end"),
    ],
)
def test_reject_analyse_out_of_range_names_field_and_range(
    cold: ApiServer, change: dict[str, Any], field: str, allowed: str
) -> None:
    response = cold.post("/analyse", {**SMALL, **change})
    message = assert_error(response, 422, "invalid_parameter", field)
    assert field in message and allowed in message


@pytest.mark.parametrize(
    ("change", "field", "rows"),
    [
        ({"start": "2024-06-01", "end": "2024-06-05"}, "start", 3),
        ({"end": "1998-12-31"}, "end", 0),
        ({"start": "2030-01-01", "end": "2030-12-31"}, "start", 0),
    ],
)
def test_reject_analyse_short_window_names_field_and_data_range(
    cold: ApiServer, change: dict[str, Any], field: str, rows: int
) -> None:
    response = cold.post("/analyse", {**SMALL, **change})
    message = assert_error(response, 422, "invalid_parameter", field)
    assert f"holds {rows} rows" in message and "at least 6" in message
    assert "data from 1999-01-22 to 2025-02-11" in message


def test_reject_analyse_h_outside_window_names_window_range(cold: ApiServer) -> None:
    start, end = "2024-01-02", "2024-12-31"
    rows = window_rows(start, end)
    assert 200 < rows < 300
    window = {"start": start, "end": end}
    for h in (2, rows - 2):
        response = cold.post("/analyse", {**SMALL, **window, "h": str(h)})
        message = assert_error(response, 422, "invalid_parameter", "h")
        assert f"h must be an integer from 3 to {rows - 3}" in message
    for p in (0, rows):
        response = cold.post("/analyse", {**SMALL, **window, "h": "5", "p": str(p)})
        message = assert_error(response, 422, "invalid_parameter", "p")
        assert f"p must be an integer from 1 to {rows - 1}" in message
    # The bounds themselves are inside the range: they pass validation (and meet the cold scale).
    edge = {**SMALL, **window, "h": str(rows - 3), "p": str(rows - 1), "d": "1"}
    assert_error(cold.post("/analyse", edge), 409, "not_warm")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"h": "abc"}, "h"),
        ({"h": "101.5"}, "h"),
        ({"h": True}, "h"),
        ({"h": None}, "h"),
        ({"d": 1.5}, "d"),
        ({"d": [10]}, "d"),
        ({"t": 1}, "t"),
        ({"t": None}, "t"),
        ({"p": "seven"}, "p"),
        ({"p": False}, "p"),
        ({"ticker": 5}, "ticker"),
        ({"ticker": ["NVDA"]}, "ticker"),
        ({"start": "2022-02-30"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": 20220101}, "start"),
        ({"end": "2024/01/31"}, "end"),
        ({"seed": "x"}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_reject_analyse_wrong_type_names_field(
    cold: ApiServer, change: dict[str, Any], field: str
) -> None:
    response = cold.post("/analyse", {**SMALL, **change})
    message = assert_error(response, 422, "invalid_parameter", field)
    assert message.startswith(field) and "must be" in message


@pytest.mark.parametrize("missing", ["h", "d", "t", "p"])
def test_reject_analyse_missing_field_names_it(cold: ApiServer, missing: str) -> None:
    body = {k: v for k, v in SMALL.items() if k != missing}
    message = assert_error(cold.post("/analyse", body), 422, "invalid_parameter", missing)
    assert message.startswith(f"{missing} is required")


def test_reject_analyse_bad_input_before_state(cold: ApiServer) -> None:
    """Bad input is reported as such whatever the state; good input meets the state's 409."""
    assert_error(cold.post("/analyse", {**SMALL, "h": "1"}), 422, "invalid_parameter", "h")
    assert_error(cold.post("/analyse", SMALL), 409, "not_warm")


# -- accepted forms -------------------------------------------------------------------------


def test_accept_numbers_as_numeric_strings_everywhere(warm: ApiServer) -> None:
    as_strings = {"h": " 101 ", "d": "10", "t": "sell", "p": "7", "seed": "42"}
    as_numbers = {"h": 101, "d": 10, "t": "sell", "p": 7, "seed": 42}
    results = []
    for body in (as_strings, as_numbers):
        assert warm.post("/analyse", body).status_code == 200
        results.append(warm.get("/get_sig_vars9599").json())
        request = warm.get("/v1/runs/last").json()["request"]
        assert (request["h"], request["d"], request["p"], request["seed"]) == (101, 10, 7, 42)
        assert (request["s"], request["r"]) == ("lambda", 1)
    assert results[0] == results[1] and len(results[0]["var95"]) == 36
    audit = warm.get("/get_audit").json()[-2:]
    for record in audit:
        assert (record["h"], record["d"], record["p"], record["seed"], record["r"]) == (
            101,
            10,
            7,
            42,
            1,
        )
    # /warmup too: r as a string with spaces, or a number, is the same scale (a no-op).
    scale_id = warm.get("/v1/scale").json()["scale_id"]
    for r in (" 1 ", 1, "1"):
        response = warm.post("/warmup", {"s": "lambda", "r": r})
        assert response.status_code == 200 and response.json()["scale_id"] == scale_id


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain", "application/x-www-form-urlencoded"],
)
def test_accept_json_body_whatever_content_type(cold: ApiServer, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"s": "lambda", "r": "1"}).encode()
    response = httpx.post(f"{cold.url}/warmup", content=body, headers=headers, timeout=30)
    assert response.request.headers.get("content-type") == content_type
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "ok"
    cold.wait_for("/scaled_ready", "warm")
    analyse = json.dumps(SMALL).encode()
    response = httpx.post(f"{cold.url}/analyse", content=analyse, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    # ... and a bad value sent that way is still read, and refused for what it is.
    bad = json.dumps({**SMALL, "h": "2"}).encode()
    response = httpx.post(f"{cold.url}/analyse", content=bad, headers=headers, timeout=60)
    assert_error(response, 422, "invalid_parameter", "h")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"s": "lambda", "r": 1',
        b"{'s': 'lambda', 'r': 1}",
        b"s=lambda&r=1",
        b"\xff\xfe\x00",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"s": ' + b"[" * 5000 + b"]" * 5000 + b', "r": 1}',
        b'{"s": "lambda", "r": ' + b"9" * 5000 + b"}",
    ],
    ids=["truncated", "single-quotes", "form", "binary", "deep-array", "deep-value", "long-int"],
)
@pytest.mark.parametrize("path", ["/warmup", "/analyse"])
def test_reject_malformed_json_in_error_shape(cold: ApiServer, path: str, raw: bytes) -> None:
    response = httpx.post(f"{cold.url}{path}", content=raw, timeout=30)
    message = assert_error(response, 422, "invalid_parameter", "body")
    assert "JSON" in message


@pytest.mark.parametrize("raw", [b"[]", b'["lambda", 1]', b'"lambda"', b"3", b"null", b"true"])
@pytest.mark.parametrize("path", ["/warmup", "/analyse"])
def test_reject_non_object_body_in_error_shape(cold: ApiServer, path: str, raw: bytes) -> None:
    response = httpx.post(f"{cold.url}{path}", content=raw, timeout=30)
    message = assert_error(response, 422, "invalid_parameter", "body")
    assert "JSON object" in message


@pytest.mark.parametrize("path", ["/warmup", "/analyse"])
def test_reject_empty_body_names_missing_field(cold: ApiServer, path: str) -> None:
    response = httpx.post(f"{cold.url}{path}", content=b"", timeout=30)
    field = "s" if path == "/warmup" else "h"
    assert "is required" in assert_error(response, 422, "invalid_parameter", field)


# -- 409: not_warm, busy, no_analysis -------------------------------------------------------


def test_reject_cold_scale_calls_not_warm(cold: ApiServer) -> None:
    assert_error(cold.post("/analyse", SMALL), 409, "not_warm")
    assert_error(cold.get("/get_warmup_cost"), 409, "not_warm")
    assert cold.get("/get_endpoints").json() == {}


def test_reject_warmup_terminating_scale_busy(cold: ApiServer) -> None:
    cold.warm("ec2", 1)
    (worker,) = cold.workers()
    worker.suspend()  # the SIGTERM of /terminate stays pending: the scale stays terminating
    try:
        assert cold.get("/terminate").json()["state"] == "terminating"
        for body in ({"s": "ec2", "r": "1"}, {"s": "lambda", "r": "2"}):
            assert_error(cold.post("/warmup", body), 409, "busy")
        assert cold.get("/v1/scale").json()["state"] == "terminating"
    finally:
        worker.resume()
    cold.wait_for("/scaled_terminated", "terminated")
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


def test_reject_results_without_analysis_no_analysis(fresh_api: ApiServer) -> None:
    api = fresh_api
    for path in RESULT_PATHS:  # before any analysis, cold
        assert_error(api.get(path), 409, "no_analysis")
    assert api.get("/get_audit").json() == []
    api.warm("lambda", 1)
    for path in RESULT_PATHS:  # warm, still no analysis
        assert_error(api.get(path), 409, "no_analysis")
    assert api.post("/analyse", SMALL).status_code == 200
    run_id = api.get("/v1/runs/last").json()["run_id"]
    for path in RESULT_PATHS:
        assert api.get(path).status_code == 200, path
    assert api.get("/reset").json()["result"] == "ok"
    for path in RESULT_PATHS:  # after /reset
        assert_error(api.get(path), 409, "no_analysis")
    # /reset forgets the last analysis only: the run and the audit stay, the scale stays warm.
    assert api.get(f"/v1/runs/{run_id}").status_code == 200
    assert [r["run_id"] for r in api.get("/get_audit").json()] == [run_id]
    assert api.get("/scaled_ready").json()["warm"] == "true"
    assert api.get("/get_warmup_cost").status_code == 200
    api.terminate()


# -- unknown_ticker, limit_exceeded ---------------------------------------------------------


@pytest.mark.parametrize("ticker", ["ZZZZ", "zzzz", "BRK.B"])
def test_reject_analyse_unknown_ticker(cold: ApiServer, ticker: str) -> None:
    response = cold.post("/analyse", {**SMALL, "ticker": ticker})
    message = assert_error(response, 422, "unknown_ticker", "ticker")
    assert ticker.upper() in message
    # A known one in any case passes validation and meets the cold scale.
    assert_error(cold.post("/analyse", {**SMALL, "ticker": "nvda"}), 409, "not_warm")


def test_reject_analyse_work_over_limit_limit_exceeded(cold: ApiServer) -> None:
    # 36 sell signals at h=101: d=10000 on one resource is 360000 > 1000.
    response = cold.post("/analyse", {**SMALL, "d": "10000"})
    message = assert_error(response, 422, "limit_exceeded", "d")
    assert "1000" in message and "360000" in message
    cold.warm("lambda", 2)
    # 28 x 2 x 36 = 2016 > 1000 on the two resources of the warm scale; 13 x 2 x 36 = 936 passes.
    assert "2016" in assert_error(
        cold.post("/analyse", {**SMALL, "d": "28"}), 422, "limit_exceeded"
    )
    assert cold.post("/analyse", {**SMALL, "d": "13"}).status_code == 200


# -- not_found, method_not_allowed ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("GET", "/v1/nope"),
        ("GET", "/v1/runs/nope"),
        ("GET", "/v1/runs/nope/chart.png"),
        ("GET", "/warmup/extra"),
    ],
)
def test_reject_unknown_route_or_run_not_found(cold: ApiServer, method: str, path: str) -> None:
    response = httpx.request(method, f"{cold.url}{path}", timeout=30)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/warmup"),
        ("GET", "/warmup"),
        ("PUT", "/analyse"),
        ("GET", "/analyse"),
        ("POST", "/get_audit"),
        ("POST", "/scaled_ready"),
        ("DELETE", "/terminate"),
        ("PATCH", "/v1/scale"),
    ],
)
def test_reject_wrong_method_method_not_allowed(cold: ApiServer, method: str, path: str) -> None:
    response = httpx.request(method, f"{cold.url}{path}", timeout=30)
    message = assert_error(response, 405, "method_not_allowed")
    assert method in message and path in message


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("offset=-1", "offset")],
)
@pytest.mark.parametrize("path", ["/v1/runs", "/v1/audit"])
def test_reject_bad_page_query_names_field(
    cold: ApiServer, path: str, query: str, field: str
) -> None:
    message = assert_error(cold.get(f"{path}?{query}"), 422, "invalid_parameter", field)
    assert message.startswith(field)


# -- a refusal changes nothing --------------------------------------------------------------


def snapshot(api: ApiServer) -> dict[str, Any]:
    return {
        path: (api.get(path).status_code, api.get(path).json())
        for path in (
            "/v1/scale",
            "/get_audit",
            "/v1/audit",
            "/v1/runs",
            "/v1/runs/last",
            "/get_warmup_cost",
            "/get_sig_vars9599",
            "/get_time_cost",
        )
    }


def test_reject_bad_requests_leave_state_and_audit_untouched(warm: ApiServer) -> None:
    assert warm.post("/analyse", SMALL).status_code == 200
    before = snapshot(warm)
    assert before["/v1/scale"][1]["state"] == "ready" and len(before["/get_audit"][1]) >= 1
    refused = [
        ("POST", "/warmup", {"s": "ec2", "r": "5"}),
        ("POST", "/warmup", {"s": "gpu", "r": "1"}),
        ("POST", "/warmup", {"s": "ec2", "r": "x"}),
        ("POST", "/warmup", b"[" * 5000),
        ("POST", "/warmup", b"[1]"),
        ("POST", "/analyse", {**SMALL, "h": "2"}),
        ("POST", "/analyse", {**SMALL, "d": "10000"}),
        ("POST", "/analyse", {**SMALL, "ticker": "ZZZZ"}),
        ("POST", "/analyse", {**SMALL, "seed": "-1"}),
        ("POST", "/analyse", b"{"),
        ("DELETE", "/warmup", None),
        ("POST", "/get_audit", None),
        ("GET", "/nope", None),
        ("GET", "/v1/runs/nope", None),
    ]
    for method, path, body in refused:
        if isinstance(body, bytes):
            response = httpx.request(method, f"{warm.url}{path}", content=body, timeout=30)
        else:
            response = httpx.request(method, f"{warm.url}{path}", json=body, timeout=30)
        assert 400 <= response.status_code < 500, (method, path, response.text)
        assert set(response.json()) == {"error"}
    assert snapshot(warm) == before


# -- access beyond loopback: unauthorized, forbidden ----------------------------------------

FULL, READ = "full-token-" + "x" * 20, "read-token-" + "y" * 20


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[TestClient]:
    """The app in process, called from a non-loopback address, with both tokens configured."""
    settings = Settings(home=tmp_path / "home", token=FULL, read_token=READ)
    with TestClient(create_app(settings), client=("203.0.113.9", 5000)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_allow_remote_health_without_token(remote: TestClient) -> None:
    response = remote.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong"),
        bearer(FULL + "x"),
        {"Authorization": FULL},
        {"Authorization": f"Basic {FULL}"},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "longer", "no-scheme", "basic", "empty"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/get_audit"),
        ("GET", "/scaled_ready"),
        ("GET", "/v1/scale"),
        ("POST", "/warmup"),
        ("POST", "/analyse"),
        ("GET", "/reset"),
        ("GET", "/terminate"),
    ],
)
def test_reject_remote_call_without_valid_token_unauthorized(
    remote: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    body = {"s": "lambda", "r": "1"} if path == "/warmup" else SMALL
    response = remote.request(method, path, headers=headers, json=body)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_allow_remote_read_token_reads_results(remote: TestClient) -> None:
    for path in ("/get_audit", "/scaled_ready", "/scaled_terminated", "/v1/scale", "/v1/runs"):
        assert remote.get(path, headers=bearer(READ)).status_code == 200, path
    assert remote.get("/get_audit", headers=bearer(READ)).json() == []
    # A result endpoint answers as it would on loopback (no analysis yet): past access control.
    response = remote.get("/get_tot_profit_loss", headers=bearer(READ))
    assert_error(response, 409, "no_analysis")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/warmup"), ("POST", "/analyse"), ("GET", "/reset"), ("POST", "/terminate")],
)
def test_reject_remote_read_token_writes_forbidden(
    remote: TestClient, method: str, path: str
) -> None:
    body = {"s": "lambda", "r": "1"} if path == "/warmup" else SMALL
    response = remote.request(method, path, headers=bearer(READ), json=body)
    assert_error(response, 403, "forbidden")
    # Nothing was started.
    assert remote.get("/v1/scale", headers=bearer(FULL)).json()["state"] == "cold"


def test_allow_remote_full_token_everything(remote: TestClient) -> None:
    for path in ("/get_audit", "/v1/scale", "/scaled_terminated"):
        assert remote.get(path, headers=bearer(FULL)).status_code == 200, path
    assert remote.get("/reset", headers=bearer(FULL)).json()["result"] == "ok"
    assert remote.post("/terminate", headers=bearer(FULL)).json()["result"] == "ok"
    # A write with the full token gets past access control to validation.
    response = remote.post("/warmup", headers=bearer(FULL), json={"s": "gpu", "r": "1"})
    assert_error(response, 422, "invalid_parameter", "s")
    response = remote.post("/analyse", headers=bearer(FULL), json=SMALL)
    assert_error(response, 409, "not_warm")


def test_allow_loopback_without_token(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", token=FULL, read_token=READ)
    with TestClient(create_app(settings)) as client:  # client host "testclient": loopback
        assert client.get("/get_audit").status_code == 200
        assert client.get("/reset").json()["result"] == "ok"


def test_reject_remote_unknown_route_not_found_before_access(remote: TestClient) -> None:
    assert_error(remote.get("/nope"), 404, "not_found")
