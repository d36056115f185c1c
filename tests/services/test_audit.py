"""The audit trail: one immutable object per run, listed oldest first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from signalrisk.core.errors import AlreadyExists
from signalrisk.services.audit import AUDIT_FIELDS, AuditTrail
from signalrisk.storage.localdir import LocalDirectoryStore


def record(run_id: str, **extra: Any) -> dict[str, Any]:
    base = {field: None for field in AUDIT_FIELDS}
    return {**base, "run_id": run_id, "s": "lambda", "r": 3, **extra}


def test_list_audit_records_oldest_first(tmp_path: Path) -> None:
    trail = AuditTrail(LocalDirectoryStore(tmp_path))
    trail.write(record("b"), finished=2_000_000_000.0)
    trail.write(record("a"), finished=1_000_000_000.5)
    trail.write(record("c"), finished=2_000_000_000.25)
    assert [r["run_id"] for r in trail.records()] == ["a", "b", "c"]
    assert [r["run_id"] for r in trail.records(offset=1, limit=1)] == ["b"]


def test_write_audit_record_twice_refused_and_original_kept(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path)
    trail = AuditTrail(store)
    key = trail.write(record("x", profit_loss=1.5), finished=1_700_000_000.0)
    with pytest.raises(AlreadyExists):
        trail.write(record("x", profit_loss=-9.0), finished=1_700_000_000.0)
    assert json.loads(store.get(key))["profit_loss"] == 1.5


def test_write_audit_record_missing_fields_refused(tmp_path: Path) -> None:
    trail = AuditTrail(LocalDirectoryStore(tmp_path))
    incomplete = record("y")
    del incomplete["data_sha256"]
    with pytest.raises(ValueError, match="data_sha256"):
        trail.write(incomplete, finished=1.0)
    assert trail.records() == []


def test_read_audit_records_written_by_another_process(tmp_path: Path) -> None:
    LocalDirectoryStore(tmp_path).create(
        "audit/20240101T000000.000000Z_z.json", json.dumps(record("z")).encode()
    )
    assert [r["run_id"] for r in AuditTrail(LocalDirectoryStore(tmp_path)).records()] == ["z"]
