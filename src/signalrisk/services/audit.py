"""The audit trail (SPEC §5): one immutable JSON object per run in the object store.

Keys are ``audit/<UTC time>_<run id>.json``: one object per run, created with a conditional
write (never overwritten, never a read-modify-write of a shared file), and listed in key order,
which is time order. Records never change once written, so readers may cache them by key.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from signalrisk.storage.base import ObjectStore

PREFIX = "audit/"

AUDIT_REQUEST_FIELDS = (
    "s",
    "r",
    "h",
    "d",
    "t",
    "p",
    "ticker",
    "start",
    "end",
    "seed",
    "platform",
    "signals",
    "data_sha256",
)
"""The fields of a record that the run's request (as resolved against the data) supplies."""

AUDIT_FIELDS = (
    *AUDIT_REQUEST_FIELDS,
    "profit_loss",
    "av95",
    "av99",
    "time",
    "cost",
    "run_id",
    "timestamp",
    "status",
    "estimate",
    "basis",
    "version",
)
"""Every field of SPEC §5 that a record must carry."""


def audit_key(run_id: str, started: float) -> str:
    """The one key of a run's record: its start time (so keys sort oldest first) and its id.

    A run has exactly one key, known from its start, so a second attempt to write its record
    (a retry, a recovery) can only ever find it taken, never add a duplicate.
    """
    stamp = datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{PREFIX}{stamp}_{run_id}.json"


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class AuditTrail:
    """Writes and reads audit records; keeps an in-process cache of the immutable records."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any], started: float) -> str:
        """Create the run's record under its key; raises AlreadyExists rather than overwrite."""
        missing = [f for f in AUDIT_FIELDS if f not in record]
        if missing:
            raise ValueError(f"audit record lacks {missing}")
        key = audit_key(str(record["run_id"]), started)
        self.store.create(key, json.dumps(record, sort_keys=True).encode())
        with self._lock:
            self._cache[key] = record
        return key

    def _read(self, key: str) -> dict[str, Any]:
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        record: dict[str, Any] = json.loads(self.store.get(key))
        with self._lock:
            self._cache[key] = record
        return record

    def keys(self) -> list[str]:
        return [k for k in self.store.list(PREFIX) if k.endswith(".json")]

    def records(self, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Records oldest first, optionally a page of them."""
        keys = self.keys()
        page = keys[offset:] if limit is None else keys[offset : offset + limit]
        return [self._read(k) for k in page]
