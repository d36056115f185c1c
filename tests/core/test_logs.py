"""Structured log lines carry their run, even from the dispatch pool's threads."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from signalrisk.core.logs import JsonFormatter, TextFormatter, bind_run, in_run_context


@pytest.fixture
def captured() -> list[logging.LogRecord]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("signalrisk.test_logs")
    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)


def test_run_reaches_lines_logged_in_pool_threads(captured: list[logging.LogRecord]) -> None:
    log = logging.getLogger("signalrisk.test_logs")

    def batch(k: int) -> None:
        log.warning("batch failed", extra={"resource": f"r{k}"})

    with bind_run("run-1"), ThreadPoolExecutor(4) as pool:
        list(pool.map(in_run_context(batch), range(8)))
    log.info("after the run")
    lines = [json.loads(JsonFormatter().format(r)) for r in captured]
    assert [line["run"] for line in lines[:8]] == ["run-1"] * 8
    assert sorted(line["resource"] for line in lines[:8]) == [f"r{k}" for k in range(8)]
    assert "run" not in lines[8]  # a line outside the run carries none


def test_text_lines_end_with_their_context(captured: list[logging.LogRecord]) -> None:
    log = logging.getLogger("signalrisk.test_logs")
    with bind_run("run-2"):
        log.info("scale ready", extra={"scale": "s9"})
    line = TextFormatter().format(captured[0])
    assert line.endswith("INFO signalrisk.test_logs scale ready scale=s9 run=run-2")


def test_json_line_keeps_the_traceback(captured: list[logging.LogRecord]) -> None:
    log = logging.getLogger("signalrisk.test_logs")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("request failed", extra={"path": "/analyse"})
    entry = json.loads(JsonFormatter().format(captured[0]))
    assert entry["level"] == "ERROR" and entry["path"] == "/analyse"
    assert "ValueError: boom" in entry["traceback"]
