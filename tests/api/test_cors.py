"""CORS is closed by default: no page of another origin may drive the API from a browser."""

from __future__ import annotations

import httpx

from tests.server import ApiServer


def test_no_cross_origin_headers_on_reads_or_preflights(api: ApiServer) -> None:
    origin = {"Origin": "https://evil.example"}
    read = api.get("/v1/scale", headers=origin)
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers
    options = httpx.options(
        f"{api.url}/warmup", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert options.status_code == 405
    assert "access-control-allow-origin" not in options.headers
    assert "access-control-allow-methods" not in options.headers
