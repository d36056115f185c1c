"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries on 127.0.0.1.

``initdb`` makes a throw-away cluster in a fresh temporary directory and ``postgres`` serves it
on a free loopback port, TCP only (no Unix socket), with durability off (``fsync``,
``synchronous_commit`` and ``full_page_writes``): a crash loses nothing a test needs, and
start-up takes well under a second. PostgreSQL refuses to run as root, so when the tests run as
root both programs run as the ``postgres`` system user that the Debian package creates
(``subprocess`` switches user before ``exec``: the process started *is* the postmaster).

The binaries are looked up in ``$SIGNALRISK_TEST_PG_BINDIR``, then in the newest
``/usr/lib/postgresql/<version>/bin`` (Debian's layout), then on ``PATH``. Install them with
``apt-get install -y postgresql`` (the server package; nothing is configured or started by it
that these tests use).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"
SYSTEM_USER = "postgres"  # who runs the server when the tests run as root


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or a user to run them as root) are missing."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``postgres``; raises PostgresUnavailable."""
    candidates: list[Path] = []
    if configured := os.environ.get("SIGNALRISK_TEST_PG_BINDIR"):
        candidates.append(Path(configured))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: _version_key(p.parent.name), reverse=True)
    if found := shutil.which("initdb"):
        candidates.append(Path(found).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (initdb, postgres): "
        "apt-get install -y postgresql, or set SIGNALRISK_TEST_PG_BINDIR"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """``start``/``stop`` a throw-away PostgreSQL cluster; ``create_database`` for each test.

    ``url(database)`` is the SQLAlchemy URL (psycopg 3 driver) of a database on it.
    """

    def __init__(self) -> None:
        self.port = 0
        self.directory: Path | None = None
        self.version = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> None:
        bindir = find_bindir()
        self._run_as = self._user_switch()
        # Not under pytest's own temporary directory: that one is private to root (0700), and
        # the server user must be able to reach its data directory.
        self.directory = Path(tempfile.mkdtemp(prefix="signalrisk-pg-"))
        atexit.register(self.stop)  # never outlive the test run
        if self._run_as:
            os.chown(self.directory, self._run_as["user"], self._run_as["group"])
        data = self.directory / "data"
        initdb = [
            str(bindir / "initdb"),
            f"--pgdata={data}",
            f"--username={SUPERUSER}",
            "--auth=trust",  # loopback only, throw-away data
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        done = subprocess.run(initdb, capture_output=True, check=False, **self._run_as)
        if done.returncode:
            raise RuntimeError(f"initdb failed:\n{done.stdout.decode()}{done.stderr.decode()}")
        self.version = (data / "PG_VERSION").read_text().strip()
        last_error = ""
        for _ in range(3):  # the free port may be taken before the server binds it: try again
            if self._launch(bindir, data, timeout_s):
                return
            last_error = self.log_tail()
            self._halt()
        raise RuntimeError(f"postgres did not start; its log ends with:\n{last_error}")

    def _launch(self, bindir: Path, data: Path, timeout_s: float) -> bool:
        assert self.directory is not None
        self.port = _free_port()
        args = [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            "",  # no Unix socket: nothing is written outside the temporary directory
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",  # two API processes, each with a pool, plus the tests
        ]
        with (self.directory / "postgres.log").open("ab") as log:
            if self._run_as:
                os.fchown(log.fileno(), self._run_as["user"], self._run_as["group"])
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal is for pytest, not for it
                **self._run_as,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            with contextlib.suppress(Exception):
                self.execute("SELECT 1")
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the server (fast shutdown, then kill) and remove its files; idempotent."""
        self._halt()
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def _halt(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 10.0)):
            # SIGINT is PostgreSQL's "fast" shutdown: sessions are ended, then it exits.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    @staticmethod
    def _user_switch() -> dict[str, Any]:
        """``subprocess`` arguments that run a program as the server user, when we are root."""
        if os.geteuid() != 0:
            return {}
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError as exc:
            raise PostgresUnavailable(
                f"running as root, and there is no {SYSTEM_USER!r} user to run PostgreSQL as "
                "(apt-get install -y postgresql creates it)"
            ) from exc
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def log_tail(self, lines: int = 30) -> str:
        if self.directory is None:
            return ""
        with contextlib.suppress(OSError):
            text = (self.directory / "postgres.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    # -- databases ---------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement in autocommit mode; the rows it returns, if any."""
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=2) as connection:
            cursor = connection.execute(sql)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description else []

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        self.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending its connections first (PostgreSQL 13+)."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
