"""A store that fails on write (reliability, item 3): the audit record of a finished analysis.

The contract (``signalrisk.services.runs``): the run's results are committed in the database
before its record is written, so when the store does not take the record, ``/analyse``
answers 503 ``storage_error`` saying that the analysis finished, its results are stored and
its record will be written; the run shows an ``[audit pending]`` note under
``/v1/runs/{id}``; the record is written later exactly once, as it would have been, by the
heartbeat or at the next start; and no part of a record is ever visible in the store.

The faults are real: S3 behind a TCP link that the test takes down (connections refused) or
makes cut every upload in the middle of its body; a local directory made immutable
(``chattr +i``, which binds root too, unlike permissions).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import boto3
import httpx
import pytest

from signalrisk.core.config import AwsSettings, Settings
from signalrisk.services.audit import AUDIT_FIELDS, audit_key
from signalrisk.services.runs import AUDIT_PENDING
from tests.api.test_aws_workflow import InProcessApi
from tests.infra.lambda_shim import LambdaShim
from tests.infra.moto import MotoServer
from tests.infra.seaweed import SeaweedServer
from tests.server import free_port

ANALYSIS = {"h": "101", "d": "1000", "t": "sell", "p": "7", "seed": "77"}
LinkMode = Literal["up", "down", "cut_uploads", "lose_answers"]


class Link:
    """A TCP proxy on 127.0.0.1 in front of a server, which the test can break.

    ``up``: bytes flow both ways. ``down``: the port refuses connections and open ones are
    closed (the server is unreachable). ``cut_uploads``: requests flow, but the body of a PUT
    under ``audit/`` is cut after ``CUT_AFTER`` bytes: the server gets the headers and the
    start of the body, then the connection drops both ways. ``lose_answers``: such a PUT
    reaches the server whole, but the connection drops as its answer comes back (the write
    happened; the writer cannot know). ``cuts`` and ``lost`` count them.
    """

    CUT_AFTER = 16

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mode: LinkMode = "up"
        self.cuts = 0
        self.lost = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def set(self, mode: LinkMode) -> None:
        self.mode = mode
        if mode == "down":
            self._close_all()
        elif self._listener is None:
            self._listen()

    def close(self) -> None:
        self._close_all()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _close_all(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        for sock in [s for s in (listener,) if s is not None] + list(sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: down
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, server}
            upload = threading.Event()  # an audit upload whose answer is to be lost
            threading.Thread(
                target=self._upstream, args=(client, server, upload), daemon=True
            ).start()
            threading.Thread(
                target=self._downstream, args=(server, client, upload), daemon=True
            ).start()

    def _upstream(
        self, client: socket.socket, server: socket.socket, upload: threading.Event
    ) -> None:
        """Client to server, cutting audit uploads in ``cut_uploads`` mode."""
        owed = 0  # body bytes still to let through before the cut; 0 when not cutting
        cutting = False
        try:
            while data := client.recv(65536):
                if self.mode == "lose_answers" and _is_audit_upload(data):
                    upload.set()
                if cutting:
                    server.sendall(data[:owed])
                    owed -= min(owed, len(data))
                    if not owed:
                        break
                    continue
                if self.mode == "cut_uploads" and _is_audit_upload(data):
                    head, sep, body = data.partition(b"\r\n\r\n")
                    server.sendall(head + sep + body[: self.CUT_AFTER])
                    owed = max(0, self.CUT_AFTER - len(body))
                    cutting = True
                    self.cuts += 1
                    if not owed:
                        break
                    continue
                server.sendall(data)
        except OSError:
            pass
        self._drop(client, server)

    def _downstream(
        self, server: socket.socket, client: socket.socket, upload: threading.Event
    ) -> None:
        """Server to client, losing the answer to an audit upload in ``lose_answers`` mode."""
        try:
            while data := server.recv(65536):
                if upload.is_set() and not data.startswith(b"HTTP/1.1 100"):
                    self.lost += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        self._drop(server, client)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._open.discard(sock)


def _is_audit_upload(data: bytes) -> bool:
    request_line = data.split(b"\r\n", 1)[0]
    return request_line.startswith(b"PUT ") and b"/audit/" in request_line


def wait_for(check: Any, timeout_s: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def warm(http: httpx.Client) -> None:
    assert http.post("/warmup", json={"s": "lambda", "r": "2"}).status_code == 200
    wait_for(lambda: http.get("/scaled_ready").json()["warm"] == "true", what="ready")


def analyse(http: httpx.Client) -> tuple[httpx.Response, str]:
    """POST /analyse; the answer and the id of the run it made."""
    response = http.post("/analyse", json=ANALYSIS)
    run_id: str = http.get("/v1/runs", params={"limit": 1000}).json()["items"][-1]["run_id"]
    return response, run_id


def assert_audit_pending(http: httpx.Client, response: httpx.Response, run_id: str) -> None:
    """The answer and the state of a run that succeeded but whose record was not written."""
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "storage_error"
    assert f"the analysis finished and its results are stored (run {run_id}" in error["message"]
    assert "do not run it again" in error["message"]
    run = http.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "ok" and run["error"].startswith(AUDIT_PENDING), run
    assert http.get("/v1/runs/last").json()["run_id"] == run_id  # its results are served
    assert http.get("/get_sig_vars9599").json()["var95"] == [i["var95"] for i in run["items"]]
    assert http.get("/v1/scale").json()["state"] == "ready"


def assert_written_once(http: httpx.Client, run_ids: list[str]) -> list[dict[str, Any]]:
    """Every run's record, once, complete, with the timestamp of the run's end."""
    audit = http.get("/get_audit")
    assert audit.status_code == 200, audit.text
    records = [a for a in audit.json() if a["run_id"] in run_ids]
    assert sorted(a["run_id"] for a in records) == sorted(run_ids)
    for record in records:
        run = http.get(f"/v1/runs/{record['run_id']}").json()
        assert run["error"] is None and "error" not in record, run
        assert set(AUDIT_FIELDS) <= set(record) and record["status"] == "ok"
        ended = datetime.fromtimestamp(run["finished_at"], UTC).isoformat()
        assert record["timestamp"] == ended.replace("+00:00", "Z")
        assert record["profit_loss"] == run["total_profit_loss"]
    return records


# -- S3 -----------------------------------------------------------------------------------------


@pytest.fixture
def s3_link(
    aws: MotoServer,
    lambda_shim: LambdaShim,
    seaweed_server: SeaweedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[httpx.Client, Link, Any, str]]:
    """An API on platform aws whose audit bucket is on a real S3 server (SeaweedFS) reached
    through a :class:`Link`; the test's own S3 client, and the bucket."""
    bucket = f"signalrisk-audit-store-faults-{time.time_ns()}"
    link = Link(seaweed_server.url)
    link.set("up")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, seaweed_server.env()[name])  # moto accepts any credentials
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    direct = boto3.session.Session().client("s3", endpoint_url=seaweed_server.url)
    direct.create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", link.url)
    # The AWS chain's own retry settings: one retry, so that a store call fails in about 1 s.
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    settings = Settings(
        platform="aws",
        home=tmp_path / "home",
        heartbeat_interval_s=0.5,
        aws=AwsSettings(bucket=bucket, deployment="storetest"),
    )
    api = InProcessApi(settings)
    api.start()
    http = httpx.Client(base_url=api.url, timeout=60)
    try:
        yield http, link, direct, bucket
    finally:
        http.close()
        api.stop()
        link.close()


def test_audit_store_failing_writes_leaves_no_partial_record_and_writes_each_once(
    s3_link: tuple[httpx.Client, Link, Any, str],
) -> None:
    http, link, direct, bucket = s3_link

    def stored() -> list[str]:
        answer = direct.list_objects_v2(Bucket=bucket, Prefix="audit/")
        return sorted(o["Key"] for o in answer.get("Contents", []))

    warm(http)
    first, first_id = analyse(http)
    assert first.status_code == 200, first.text
    first_keys = stored()
    assert len(first_keys) == 1

    link.set("down")  # S3 unreachable: connections refused
    down, down_id = analyse(http)
    assert_audit_pending(http, down, down_id)
    assert "Could not connect to the endpoint URL" in down.json()["error"]["message"]
    listing = http.get("/get_audit")  # the audit trail cannot be read either: 503, not 500
    assert listing.status_code == 503, listing.text
    assert listing.json()["error"]["code"] == "storage_error"
    assert f"cannot list s3://{bucket}/audit/" in listing.json()["error"]["message"]

    link.set("cut_uploads")  # S3 answers, but every upload of a record dies mid-body
    cut, cut_id = analyse(http)
    assert_audit_pending(http, cut, cut_id)
    assert link.cuts >= 2  # the write, and botocore's retry of it
    # Some uploads were cut half-way (the heartbeat retries the first pending run too):
    # nothing of them is visible, the audit trail still lists the one record.
    pending_keys = {
        audit_key(run_id, http.get(f"/v1/runs/{run_id}").json()["created_at"])
        for run_id in (down_id, cut_id)
    }
    assert stored() == first_keys
    assert [a["run_id"] for a in http.get("/get_audit").json()] == [first_id]

    link.set("lose_answers")  # the record reaches S3, but its writer never hears so
    lost, lost_id = analyse(http)
    assert_audit_pending(http, lost, lost_id)
    assert link.lost >= 2  # the write, and botocore's retry of it (refused: the key is taken)
    lost_key = audit_key(lost_id, http.get(f"/v1/runs/{lost_id}").json()["created_at"])
    assert lost_key in stored()  # whole: its body parses (checked below)
    pending_keys.add(lost_key)

    link.set("up")  # the store is back: the next heartbeats write the pending records
    wait_for(
        lambda: all(
            http.get(f"/v1/runs/{run_id}").json()["error"] is None
            for run_id in (down_id, cut_id, lost_id)
        ),
        timeout_s=15,
        what="the pending records written",
    )
    records = assert_written_once(http, [first_id, down_id, cut_id, lost_id])
    assert set(stored()) == set(first_keys) | pending_keys
    time.sleep(1.2)  # two more heartbeats: nothing is written twice
    assert set(stored()) == set(first_keys) | pending_keys
    for key in pending_keys:  # whole records, as the API reads them
        body = json.loads(direct.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert body == next(r for r in records if r["run_id"] == body["run_id"])


# -- a local directory ----------------------------------------------------------------------------


@contextlib.contextmanager
def immutable(directory: Path) -> Iterator[None]:
    """``chattr +i``: nothing may be created in ``directory``, by root either."""
    subprocess.run(["chattr", "+i", str(directory)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_audit_directory_refusing_writes_then_record_written_at_next_start(
    tmp_path: Path,
) -> None:
    if subprocess.run(["which", "chattr"], capture_output=True).returncode:
        pytest.skip("chattr is not installed")
    home = tmp_path / "home"
    settings = Settings(home=home, heartbeat_interval_s=0.5)
    api = InProcessApi(settings)
    api.start()
    http = httpx.Client(base_url=api.url, timeout=60)
    audit_dir = home / "store" / "audit"
    try:
        warm(http)
        first, first_id = analyse(http)
        assert first.status_code == 200, first.text
        (first_key,) = (p.name for p in audit_dir.iterdir())
        with immutable(audit_dir):
            refused, refused_id = analyse(http)
            assert_audit_pending(http, refused, refused_id)
            assert "Operation not permitted" in refused.json()["error"]["message"]
            time.sleep(1.2)  # heartbeats retry, and fail: still pending, nothing half-written
            assert http.get(f"/v1/runs/{refused_id}").json()["error"].startswith(AUDIT_PENDING)
            # Nothing half-written: no temporary file, no partial record, the first one alone.
            assert [p.name for p in audit_dir.iterdir()] == [first_key]
            http.close()
            api.stop()  # the service stops with the record still pending
        later = InProcessApi(settings.model_copy(update={"heartbeat_interval_s": 600.0}))
        later.start()  # the store takes writes again: the start writes the record
        http = httpx.Client(base_url=later.url, timeout=60)
        try:
            assert len(list(audit_dir.iterdir())) == 2
            assert_written_once(http, [first_id, refused_id])
        finally:
            later.stop()
    finally:
        http.close()
        api.stop()
