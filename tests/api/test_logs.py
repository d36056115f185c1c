"""The API's log, as JSON lines, can be followed by run id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import ApiServer


@pytest.fixture
def json_api(tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path / "home", env={"SIGNALRISK_LOG_FORMAT": "json"})
    server.start()
    yield server
    server.stop()


def test_api_logs_json_lines_keyed_by_run_id(json_api: ApiServer) -> None:
    json_api.warm("lambda", 2)
    response = json_api.post("/analyse", {"h": 101, "d": 1000, "t": "sell", "p": 7})
    run_id = response.json()["run_id"]
    json_api.terminate()
    entries = []
    for line in json_api.log.read_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    assert entries, "no JSON log line"
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    of_run = [e for e in entries if e.get("run") == run_id]
    assert any(e["message"] == "analysis finished" and e["status"] == "ok" for e in of_run)
    assert any(e["logger"] == "uvicorn.access" for e in entries)  # uvicorn's lines too
