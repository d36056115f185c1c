"""The REPORT line of Lambda's log tail: real-format lines, as AWS writes them."""

from __future__ import annotations

import pytest

from signalrisk.compute.lambda_report import LambdaReport, parse_report
from signalrisk.core.errors import ComputeError

# A cold start written under the INIT billing of August 2025: Billed = ceil(Duration + Init).
COLD_2025 = (
    "REPORT RequestId: bf5f58db-ef7d-4cb2-b3c6-266eba1bbedb\tDuration: 395.99 ms\t"
    "Billed Duration: 662 ms\tMemory Size: 512 MB\tMax Memory Used: 301 MB\t"
    "Init Duration: 265.72 ms\t"
)
# A cold start written before it: INIT reported but not in Billed Duration.
COLD_BEFORE = (
    "REPORT RequestId: 3b1e5c4e-8c0a-4a43-9d3f-0c6f1e2a9b11\tDuration: 102.25 ms\t"
    "Billed Duration: 103 ms\tMemory Size: 1024 MB\tMax Memory Used: 75 MB\t"
    "Init Duration: 240.11 ms\t"
)
WARM = (
    "REPORT RequestId: f949935c-0f0e-4718-9976-9df42585adb5\tDuration: 2.05 ms\t"
    "Billed Duration: 3 ms\tMemory Size: 1152 MB\tMax Memory Used: 76 MB\t"
)
XRAY = (
    "XRAY TraceId: 1-5e1b4151-43a0913a12345678901234567\tSegmentId: 4f6b6ea45cd2d5f6\t"
    "Sampled: true\t"
)


def test_parse_report_reads_every_field_of_a_warm_invocation() -> None:
    assert parse_report(WARM + "\n") == LambdaReport(
        request_id="f949935c-0f0e-4718-9976-9df42585adb5",
        duration_ms=2.05,
        billed_ms=3.0,
        memory_mb=1152,
        max_memory_mb=76,
        init_ms=None,
    )
    assert parse_report(WARM).billed_total_ms == 3.0


def test_parse_report_counts_init_once_when_billed_duration_includes_it() -> None:
    report = parse_report(COLD_2025 + "\n")
    assert report.init_ms == pytest.approx(265.72)
    assert report.billed_ms == 662.0
    assert report.billed_total_ms == 662.0  # ceil(395.99 + 265.72): already in Billed Duration


def test_parse_report_adds_init_when_billed_duration_leaves_it_out() -> None:
    report = parse_report(COLD_BEFORE)
    assert report.billed_ms == 103.0
    assert report.billed_total_ms == 343.0  # ceil(102.25 + 240.11)


def test_parse_report_reads_the_line_before_an_xray_line() -> None:
    report = parse_report(f"{COLD_2025}\n{XRAY}\n")
    assert report.request_id == "bf5f58db-ef7d-4cb2-b3c6-266eba1bbedb"
    assert report.memory_mb == 512
    assert report.max_memory_mb == 301


def test_parse_report_finds_the_report_at_the_end_of_a_multiline_tail() -> None:
    rid = "3b1e5c4e-8c0a-4a43-9d3f-0c6f1e2a9b11"
    tail = "\n".join(
        [
            "ed: 13 ms",  # the 4 KB tail can start in the middle of a line
            f"START RequestId: {rid} Version: $LATEST",
            f"2025-03-01T10:00:00.000Z\t{rid}\tINFO\tREPORT is only a word here",
            f"END RequestId: {rid}",
            COLD_BEFORE,
            XRAY,
            "",
        ]
    )
    report = parse_report(tail)
    assert report.request_id == rid
    assert report.duration_ms == pytest.approx(102.25)


def test_parse_report_ignores_fields_it_does_not_know() -> None:
    line = WARM + "Status: error\tError Type: Runtime.ExitError\t"
    assert parse_report(line).billed_ms == 3.0


def test_parse_report_without_report_line_is_a_clear_error() -> None:
    tail = "START RequestId: x Version: $LATEST\nEND RequestId: x\n"
    with pytest.raises(ComputeError, match="no REPORT line"):
        parse_report(tail)
    with pytest.raises(ComputeError, match="no REPORT line"):
        parse_report("")


def test_parse_report_with_a_field_missing_is_a_clear_error() -> None:
    line = "REPORT RequestId: x\tDuration: 1.00 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t"
    with pytest.raises(ComputeError, match="malformed Lambda REPORT line"):
        parse_report(line)
