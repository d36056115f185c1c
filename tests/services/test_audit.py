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
    trail.write(record("b"), started=2_000_000_000.0)
    trail.write(record("a"), started=1_000_000_000.5)
    trail.write(record("c"), started=2_000_000_000.25)
    assert [r["run_id"] for r in trail.records()] == ["a", "b", "c"]
    assert [r["run_id"] for r in trail.records(offset=1, limit=1)] == ["b"]


def test_write_audit_record_twice_refused_and_original_kept(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path)
    trail = AuditTrail(store)
    key = trail.write(record("x", profit_loss=1.5), started=1_700_000_000.0)
    with pytest.raises(AlreadyExists):
        trail.write(record("x", profit_loss=-9.0), started=1_700_000_000.0)
    assert json.loads(store.get(key))["profit_loss"] == 1.5


def test_write_audit_record_missing_fields_refused(tmp_path: Path) -> None:
    trail = AuditTrail(LocalDirectoryStore(tmp_path))
    incomplete = record("y")
    del incomplete["data_sha256"]
    with pytest.raises(ValueError, match="data_sha256"):
        trail.write(incomplete, started=1.0)
    assert trail.records() == []


def test_read_audit_records_written_by_another_process(tmp_path: Path) -> None:
    LocalDirectoryStore(tmp_path).create(
        "audit/20240101T000000.000000Z_z.json", json.dumps(record("z")).encode()
    )
    assert [r["run_id"] for r in AuditTrail(LocalDirectoryStore(tmp_path)).records()] == ["z"]


def test_repair_audit_writes_missing_record_once(tmp_path: Path) -> None:
    """A run ended in the database whose process died before writing its record."""
    from signalrisk.core.config import Settings
    from signalrisk.db.models import RunRow
    from signalrisk.services.audit import audit_key
    from signalrisk.services.facade import Facade

    facade = Facade(Settings(home=tmp_path, background_driver=False))
    facade.ctx.db.migrate()
    try:
        request = {
            "s": "ec2",
            "r": 2,
            "h": 101,
            "d": 1000,
            "t": "sell",
            "p": 7,
            "ticker": "NVDA",
            "start": "2022-02-14",
            "end": "2025-02-11",
            "seed": 9,
            "platform": "local",
            "signals": 36,
            "data_sha256": "ab",
        }
        with facade.ctx.db.session() as session:
            session.add(
                RunRow(
                    id="r1",
                    scale_id=None,
                    status="ok",
                    created_at=1_700_000_000.0,
                    finished_at=1_700_000_001.0,
                    request=request,
                    result={
                        "total_profit_loss": -1.5,
                        "av95": -0.05,
                        "av99": -0.07,
                        "time": 0.1,
                        "cost": 1e-6,
                    },
                    audit_key=audit_key("r1", 1_700_000_000.0),
                )
            )
        assert facade.runs.audit.records() == []
        assert facade.runs.repair_audit() == 1
        (record,) = facade.runs.audit.records()
        assert (record["run_id"], record["status"], record["profit_loss"]) == ("r1", "ok", -1.5)
        assert facade.runs.repair_audit() == 0
        assert len(facade.runs.audit.records()) == 1
    finally:
        facade.close()
