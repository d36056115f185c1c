"""Audit records written at once by several processes, each with several threads, through the
API's own path (``AuditTrail.write`` on the store that ``object_store`` builds), on every store:
no record is lost, none is written twice or torn, and none is ever overwritten (SPEC §5).

The contract's own concurrency test (``contract.py``) creates raw objects from two forked
processes; this one goes through the audit trail, from freshly spawned interpreters (each
builds its store and its client from the environment, as an API process does) and makes every
run's record contended: both processes write every run (each in an order of its own), as the
request that ran it and a recovery in another API process both may, so that distinct records
are created at once and each key also has a second writer landing on it.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from signalrisk.core.errors import AlreadyExists
from signalrisk.services.audit import AUDIT_FIELDS, AuditTrail, audit_key
from signalrisk.storage.registry import object_store
from signalrisk.storage.s3 import new_client
from tests.infra.lambda_shim import LambdaShim
from tests.infra.moto import MotoServer
from tests.infra.seaweed import SeaweedServer

RUNS = 50
PROCESSES = 2
THREADS = 5  # per process: 10 writers at once
STARTED = 1_764_000_000.0
STORAGE_FUNCTION = "signalrisk-storage"

StoreSpec = tuple[str, dict[str, Any]]  # registry name and arguments, rebuilt in each process


def run_id(index: int) -> str:
    return f"run{index:02d}"


def started(index: int) -> float:
    """Start times that collide in fives: keys then differ only by run id."""
    return STARTED + (index // 5) * 1e-6


def audit_record(index: int, writer: str) -> dict[str, Any]:
    """A complete record naming its writer, padded so that a torn or mixed write shows."""
    base: dict[str, Any] = {field: None for field in AUDIT_FIELDS}
    return {
        **base,
        "run_id": run_id(index),
        "s": "lambda",
        "r": 3,
        "h": 101,
        "d": 10000,
        "t": "sell",
        "p": 7,
        "status": "ok",
        "timestamp": "2025-11-24T00:00:00Z",
        "writer": writer,
        "padding": writer * 2048,
    }


def write_every_run(spec: StoreSpec, writer: str, barrier: Barrier, answers: Queue[Any]) -> None:
    """Child-process body: write the record of every run, from a pool of threads, and report
    ``{run id: "created" | "exists" | error}``."""
    name, kwargs = spec
    trail = AuditTrail(object_store(name, **kwargs))
    # Each writer goes through the runs in an order of its own: at any moment the processes
    # create different records, and meet on the same one now and then, whoever is first.
    order = list(range(RUNS))
    random.Random(writer).shuffle(order)

    def write(index: int) -> tuple[str, str]:
        try:
            trail.write(audit_record(index, writer), started(index))
        except AlreadyExists:
            return run_id(index), "exists"
        except Exception as exc:
            return run_id(index), f"error: {exc!r}"
        return run_id(index), "created"

    with ThreadPoolExecutor(THREADS) as pool:
        # Clients and connections made before the start, so neither process has a head start.
        list(pool.map(lambda _: trail.keys(), range(THREADS)))
        barrier.wait(timeout=60)
        outcomes = dict(pool.map(write, order))
    answers.put((writer, outcomes))


class AuditConcurrencyContract:
    """Subclass with a ``store_spec`` fixture: ``(registry name, arguments)`` of an empty store."""

    def test_write_audit_records_concurrent_processes_lose_none_overwrite_none(
        self, store_spec: StoreSpec
    ) -> None:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(PROCESSES)
        answers = context.Queue()
        writers = [f"w{n}" for n in range(PROCESSES)]
        processes = [
            context.Process(target=write_every_run, args=(store_spec, w, barrier, answers))
            for w in writers
        ]
        clock = time.perf_counter()
        for process in processes:
            process.start()
        try:
            reports = dict(answers.get(timeout=120) for _ in processes)
            for process in processes:
                process.join(30)
        finally:
            for process in processes:
                if process.is_alive():
                    process.kill()
        elapsed = time.perf_counter() - clock
        assert [p.exitcode for p in processes] == [0] * PROCESSES

        # Every attempt ended in a create or a refusal; each run was created exactly once.
        creator: dict[str, str] = {}
        for writer, outcomes in reports.items():
            assert sorted(outcomes) == [run_id(i) for i in range(RUNS)]
            errors = {run: o for run, o in outcomes.items() if o not in ("created", "exists")}
            assert errors == {}, errors
            for run, outcome in outcomes.items():
                if outcome == "created":
                    assert run not in creator, f"{run} created twice"
                    creator[run] = writer
        assert sorted(creator) == [run_id(i) for i in range(RUNS)]

        # A fresh reader (no cache) lists every record once, oldest first, each one whole and
        # exactly as its creator wrote it: the refused writer overwrote nothing.
        name, kwargs = store_spec
        store = object_store(name, **kwargs)
        trail = AuditTrail(store)
        expected_keys = [audit_key(run_id(i), started(i)) for i in range(RUNS)]
        assert trail.keys() == sorted(expected_keys)
        records = trail.records()
        assert len(records) == RUNS
        by_run = {record["run_id"]: record for record in records}
        assert len(by_run) == RUNS
        for index in range(RUNS):
            run = run_id(index)
            assert by_run[run] == audit_record(index, creator[run])
        assert [r["run_id"] for r in records] == sorted(by_run, key=lambda r: int(r[3:]))

        # A later second write of an existing run is refused and changes nothing.
        key = expected_keys[0]
        before = store.get(key)
        with pytest.raises(AlreadyExists):
            trail.write(audit_record(0, "late"), started(0))
        assert store.get(key) == before
        assert json.loads(before)["writer"] == creator[run_id(0)]
        assert len(trail.keys()) == RUNS
        print(
            f"\n{name}: {PROCESSES * RUNS} writes from {PROCESSES} processes x {THREADS} "
            f"threads: {len(creator)} created, {PROCESSES * RUNS - len(creator)} refused, "
            f"0 lost, in {elapsed:.2f} s; created by writer: "
            f"{ {w: list(creator.values()).count(w) for w in writers} }"
        )


class TestAuditOnLocalDirectory(AuditConcurrencyContract):
    @pytest.fixture
    def store_spec(self, tmp_path: Path) -> StoreSpec:
        return "local", {"root": str(tmp_path / "store")}


class TestAuditOnS3Moto(AuditConcurrencyContract):
    @pytest.fixture
    def store_spec(self, aws: MotoServer) -> StoreSpec:
        bucket = f"signalrisk-audit-{uuid.uuid4().hex[:12]}"
        new_client("s3").create_bucket(Bucket=bucket)
        return "s3", {"bucket": bucket}


class TestAuditOnS3Seaweed(AuditConcurrencyContract):
    @pytest.fixture
    def store_spec(self, seaweed: SeaweedServer) -> StoreSpec:
        bucket = f"signalrisk-audit-{uuid.uuid4().hex[:12]}"
        new_client("s3").create_bucket(Bucket=bucket)
        return "s3", {"bucket": bucket}


class TestAuditThroughStorageLambda(AuditConcurrencyContract):
    """The storage function run for real (awslambdaric environments of the Lambda shim) in
    front of moto's S3."""

    @pytest.fixture
    def store_spec(self, aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreSpec]:
        bucket = f"signalrisk-audit-{uuid.uuid4().hex[:12]}"
        new_client("s3").create_bucket(Bucket=bucket)
        shim = LambdaShim(concurrency_limit=PROCESSES * THREADS + 2)
        shim.register(
            STORAGE_FUNCTION,
            "signalrisk.workers.storage.handler",
            env={**aws.env(), "SIGNALRISK_BUCKET": bucket},
        )
        shim.start()
        try:
            monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", shim.url)
            yield "lambda", {"function_name": STORAGE_FUNCTION}
        finally:
            shim.stop()
