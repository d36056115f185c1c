"""``signalrisk serve`` refuses to face strangers without a token, unless told to (SPEC §2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.server import ApiServer, free_port


def serve(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALRISK_")}
    return subprocess.run(
        [sys.executable, "-m", "signalrisk.cli", "serve", "--port", str(free_port()), *args],
        env={**clean, "SIGNALRISK_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuse_public_address_without_token(tmp_path: Path) -> None:
    # It exits before binding anything, so this test never listens beyond loopback.
    done = serve(tmp_path, "--host", "0.0.0.0")
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 (beyond loopback) without a token" in done.stderr
    assert "SIGNALRISK_TOKEN" in done.stderr and "SIGNALRISK_ALLOW_ANONYMOUS" in done.stderr


def test_refuse_untrusted_loopback_without_token(tmp_path: Path) -> None:
    done = serve(tmp_path, "--host", "127.0.0.1", SIGNALRISK_TRUST_LOOPBACK="false")
    assert done.returncode == 2
    assert "refusing to serve on 127.0.0.1 without a token" in done.stderr


def test_anonymous_opt_in_serves_everyone_with_a_warning(tmp_path: Path) -> None:
    server = ApiServer(
        tmp_path / "home",
        env={"SIGNALRISK_TRUST_LOOPBACK": "false", "SIGNALRISK_ALLOW_ANONYMOUS": "1"},
    )
    server.start()
    try:
        assert server.get("/v1/scale").status_code == 200  # no token needed
        assert "anonymous access is enabled" in server.log.read_text()
    finally:
        server.stop()


def test_untrusted_loopback_demands_the_token(tmp_path: Path) -> None:
    server = ApiServer(
        tmp_path / "home",
        env={"SIGNALRISK_TRUST_LOOPBACK": "false", "SIGNALRISK_TOKEN": "sesame"},
    )
    server.start()
    try:
        assert server.get("/v1/scale").status_code == 401
        ok = server.get("/v1/scale", headers={"Authorization": "Bearer sesame"})
        assert ok.status_code == 200
        assert server.get("/health").status_code == 200  # the probe stays open
    finally:
        server.stop()
