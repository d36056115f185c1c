"""The contract every ObjectStore provider must pass; subclass it with a ``store`` fixture.

Pattern: fsspec/tests/abstract. A provider test module does::

    class TestMyStore(ObjectStoreContract):
        @pytest.fixture
        def store(self, tmp_path: Path) -> ObjectStore:
            return MyStore(...)
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.synchronize import Barrier as ProcessBarrier

import pytest

from signalrisk.core.errors import AlreadyExists, NotFound, StorageError
from signalrisk.storage.base import ObjectStore

BAD_KEYS = ["", "/abs.json", "../up.json", "a/../b.json", "a//b.json", "a/./b.json", "a/", "sp ace"]
BAD_KEYS += ["a\\b.json", "é.json", "a/b?.json"]


def record(writer: str, index: int, size: int = 64) -> bytes:
    """A payload that names its writer, padded to ``size`` bytes so a torn write shows."""
    head = f'{{"writer": "{writer}", "index": {index}}}'.encode()
    return head + b" " * max(0, size - len(head))


def create_records(store: ObjectStore, writer: str, count: int, barrier: ProcessBarrier) -> None:
    """Child-process body: create ``count`` distinct records after all writers are ready."""
    barrier.wait(timeout=30)
    for index in range(count):
        store.create(f"audit/{writer}-{index:03d}.json", record(writer, index))


class ObjectStoreContract:
    """Behaviour shared by every ObjectStore provider."""

    def test_implements_protocol_store(self, store: ObjectStore) -> None:
        assert isinstance(store, ObjectStore)
        assert store.name

    def test_create_object_round_trips(self, store: ObjectStore) -> None:
        store.create("audit/run-1.json", b'{"a": 1}')
        assert store.get("audit/run-1.json") == b'{"a": 1}'
        assert store.exists("audit/run-1.json")

    def test_create_object_existing_key_raises_and_keeps_original(self, store: ObjectStore) -> None:
        store.create("audit/run-1.json", b"original")
        with pytest.raises(AlreadyExists):
            store.create("audit/run-1.json", b"intruder")
        assert store.get("audit/run-1.json") == b"original"

    def test_create_object_after_put_raises(self, store: ObjectStore) -> None:
        store.put("charts/a.png", b"png")
        with pytest.raises(AlreadyExists):
            store.create("charts/a.png", b"other")
        assert store.get("charts/a.png") == b"png"

    def test_put_object_replaces_existing(self, store: ObjectStore) -> None:
        store.put("charts/latest.png", b"first", content_type="image/png")
        store.put("charts/latest.png", b"second", content_type="image/png")
        assert store.get("charts/latest.png") == b"second"

    def test_get_object_missing_raises_not_found(self, store: ObjectStore) -> None:
        with pytest.raises(NotFound):
            store.get("audit/missing.json")
        assert not store.exists("audit/missing.json")

    def test_get_object_empty_payload_round_trips(self, store: ObjectStore) -> None:
        store.create("empty.json", b"")
        assert store.get("empty.json") == b""

    def test_list_keys_sorted_and_filtered_by_prefix(self, store: ObjectStore) -> None:
        for key in [
            "audit/b.json",
            "charts/x.png",
            "audit/a.json",
            "auditx.json",
            "audit/c/d.json",
        ]:
            store.create(key, b"{}")
        assert store.list() == sorted(
            ["audit/a.json", "audit/b.json", "audit/c/d.json", "auditx.json", "charts/x.png"]
        )
        assert store.list("audit/") == ["audit/a.json", "audit/b.json", "audit/c/d.json"]
        assert store.list("audit") == [
            "audit/a.json",
            "audit/b.json",
            "audit/c/d.json",
            "auditx.json",
        ]
        assert store.list("audit/a") == ["audit/a.json"]
        assert store.list("nothing/") == []

    def test_list_keys_empty_store_returns_empty(self, store: ObjectStore) -> None:
        assert store.list() == []

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_create_object_bad_key_rejected(self, store: ObjectStore, key: str) -> None:
        with pytest.raises(StorageError):
            store.create(key, b"{}")
        with pytest.raises(StorageError):
            store.put(key, b"{}")
        with pytest.raises(StorageError):
            store.get(key)

    def test_list_keys_bad_prefix_rejected(self, store: ObjectStore) -> None:
        with pytest.raises(StorageError):
            store.list("../")

    def test_create_objects_concurrent_processes_lose_nothing(self, store: ObjectStore) -> None:
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(2)
        writers = ["p0", "p1"]
        processes = [
            context.Process(target=create_records, args=(store, writer, 25, barrier))
            for writer in writers
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        assert [process.exitcode for process in processes] == [0, 0]
        expected = sorted(f"audit/{w}-{i:03d}.json" for w in writers for i in range(25))
        assert store.list("audit/") == expected
        for writer in writers:
            for index in range(25):
                key = f"audit/{writer}-{index:03d}.json"
                assert store.get(key) == record(writer, index)

    def test_create_object_same_key_concurrent_threads_one_wins(self, store: ObjectStore) -> None:
        key = "audit/contested.json"
        payloads = [record(f"t{n}", n, size=256 * 1024) for n in range(20)]
        barrier = threading.Barrier(len(payloads))
        outcomes: list[str] = [""] * len(payloads)

        def attempt(n: int) -> None:
            barrier.wait(timeout=30)
            try:
                store.create(key, payloads[n])
                outcomes[n] = "created"
            except AlreadyExists:
                outcomes[n] = "exists"

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(len(payloads))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert outcomes.count("created") == 1
        assert outcomes.count("exists") == len(payloads) - 1
        assert store.get(key) == payloads[outcomes.index("created")]
        assert store.list("audit/") == [key]
