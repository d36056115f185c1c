"""The local directory store against the ObjectStore contract, plus its own details."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalrisk.core.errors import AlreadyExists, InternalError, StorageError
from signalrisk.storage.base import ObjectStore
from signalrisk.storage.localdir import LocalDirectoryStore
from signalrisk.storage.registry import object_store

from .contract import ObjectStoreContract


class TestLocalDirectoryStore(ObjectStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ObjectStore:
        return LocalDirectoryStore(tmp_path / "store")

    def test_create_object_leaves_no_temp_files(self, store: ObjectStore, tmp_path: Path) -> None:
        store.create("audit/a.json", b"{}")
        store.put("charts/a.png", b"png")
        with pytest.raises(AlreadyExists):
            store.create("audit/a.json", b"{}")
        names = [p.name for p in (tmp_path / "store").rglob("*") if p.is_file()]
        assert sorted(names) == ["a.json", "a.png"]

    def test_list_keys_ignores_temp_files(self, store: ObjectStore, tmp_path: Path) -> None:
        store.create("audit/a.json", b"{}")
        (tmp_path / "store" / "audit" / ".tmp-abc").write_bytes(b"partial")
        assert store.list() == ["audit/a.json"]

    def test_create_object_reserved_temp_segment_rejected(self, store: ObjectStore) -> None:
        with pytest.raises(StorageError):
            store.create("audit/.tmp-x.json", b"{}")


def test_object_store_local_name_builds_store(tmp_path: Path) -> None:
    store = object_store("local", root=tmp_path)
    assert isinstance(store, LocalDirectoryStore)
    assert store.name == "local"


def test_object_store_unknown_name_lists_valid_names() -> None:
    with pytest.raises(InternalError, match="local"):
        object_store("nope")
