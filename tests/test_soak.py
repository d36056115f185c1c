"""The bounded soak: 30 seconds of mixed reads and analyses against a real API process.

``make soak`` runs the same load for minutes (``bench/soak.py``); this is its smoke version in
``make test``: no error, no lost record, and memory that does not run away.
"""

from __future__ import annotations

from bench.soak import soak


def test_soak_30s_mixed_load_has_no_error_no_lost_record_and_flat_memory() -> None:
    report = soak(30.0, readers=4)
    print(report.summary())
    assert report.analyses >= 10 and report.reads >= 1000, report.summary()
    assert report.errors == [], report.summary()
    assert report.lost_records == 0, report.summary()
    assert report.memory_flat, report.summary()
