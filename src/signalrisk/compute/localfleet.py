"""A fleet of local worker processes standing in for EC2 instances.

Each instance has a record ``<home>/instances/<id>.json`` (its pid, port and tags), written
before the process starts serving; the records are this fleet's control plane, the way EC2's
API is on AWS.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path

from signalrisk.compute.fleet import Instance, InstanceState
from signalrisk.compute.localproc import is_alive, spawn_worker, stop_worker


class LocalProcessFleet:
    """Instances are worker processes on 127.0.0.1, each with its own port."""

    def __init__(self, home: Path, idle_timeout_s: float = 300.0) -> None:
        self.root = Path(home) / "instances"
        self.log_dir = Path(home) / "logs"
        self.idle_timeout_s = idle_timeout_s

    def _record_path(self, instance_id: str) -> Path:
        if not instance_id.startswith("i-") or not instance_id[2:].isalnum():
            raise ValueError(f"not an instance id: {instance_id!r}")
        return self.root / f"{instance_id}.json"

    def _write(self, instance_id: str, record: dict[str, object]) -> None:
        """Replace the record atomically. The temporary name is unique to this write: two
        threads (the driver and a status request) may terminate the same instance at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._record_path(instance_id)
        descriptor, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{instance_id}.", suffix=".tmp")
        with os.fdopen(descriptor, "w") as file:
            file.write(json.dumps(record))
        os.replace(tmp, path)

    def _read(self, instance_id: str) -> dict[str, object] | None:
        try:
            data: dict[str, object] = json.loads(self._record_path(instance_id).read_text())
        except FileNotFoundError:
            return None
        return data

    def run(self, count: int, tags: dict[str, str], secret: str) -> list[str]:
        ids = [f"i-{secrets.token_hex(9)[:17]}" for _ in range(count)]
        for instance_id in ids:
            self._write(instance_id, {"id": instance_id, "tags": tags, "launched": time.time()})
        for instance_id in ids:
            worker = spawn_worker(
                instance_id,
                tags.get("signalrisk:scale", ""),
                secret,
                self.idle_timeout_s,
                self.log_dir,
            )
            self._write(
                instance_id,
                {
                    "id": instance_id,
                    "tags": tags,
                    "launched": time.time(),
                    "pid": worker.pid,
                    "create_time": worker.create_time,
                    "port": worker.port,
                },
            )
        return ids

    def describe(self, ids: list[str]) -> list[Instance]:
        out = []
        for instance_id in ids:
            record = self._read(instance_id)
            pid = record.get("pid") if record else None
            ctime = record.get("create_time") if record else None
            pid_i = int(pid) if isinstance(pid, int) else None
            ctime_f = float(ctime) if isinstance(ctime, (int, float)) else None
            if record is None:
                out.append(Instance(instance_id, "terminated", None))
            elif pid_i is None:
                out.append(Instance(instance_id, "pending", None))
            elif is_alive(pid_i, ctime_f):
                state: InstanceState = "shutting-down" if record.get("terminating") else "running"
                out.append(
                    Instance(
                        instance_id, state, f"http://127.0.0.1:{record['port']}", pid_i, ctime_f
                    )
                )
            else:
                out.append(Instance(instance_id, "terminated", None, pid_i, ctime_f))
        return out

    def find(self, tags: dict[str, str]) -> list[str]:
        found = []
        for path in sorted(self.root.glob("i-*.json")):
            record = self._read(path.stem)
            record_tags = record.get("tags") if record else None
            if not isinstance(record_tags, dict):
                continue
            if all(record_tags.get(k) == v for k, v in tags.items()):
                found.append(path.stem)
        return [i.id for i in self.describe(found) if i.state != "terminated"]

    def terminate(self, ids: list[str]) -> None:
        for instance_id in ids:
            record = self._read(instance_id)
            if record is None:
                continue
            record["terminating"] = True
            self._write(instance_id, record)
            pid, ctime = record.get("pid"), record.get("create_time")
            stop_worker(
                int(pid) if isinstance(pid, int) else None,
                float(ctime) if isinstance(ctime, (int, float)) else None,
            )
