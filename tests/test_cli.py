"""The command line: ``cleanup`` finds and stops what a crashed API left running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from tests.server import ApiServer


def test_cleanup_after_crash_stops_every_worker(tmp_path: Path) -> None:
    api = ApiServer(tmp_path / "home")
    api.start()
    try:
        api.warm("ec2", 2)
        api.post("/warmup", {"s": "lambda", "r": "2"})  # replaces: a second set of workers
        api.wait_for("/scaled_ready", "warm")
        pids = [p.pid for p in api.workers()]
        assert len(pids) == 2
        api.kill()  # a crash: the workers keep running, the database says "ready"
        assert all(psutil.pid_exists(pid) for pid in pids)
        done = subprocess.run(
            [sys.executable, "-m", "signalrisk", "cleanup"],
            env={**os.environ, "SIGNALRISK_HOME": str(api.home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "terminated 1 scale(s)" in done.stdout
        assert api.workers() == []
        api.start()
        assert api.get("/v1/scale").json()["state"] == "cold"
        assert api.get("/scaled_terminated").json() == {"terminated": "true"}
    finally:
        api.stop()
