"""The local directory store: one file per key under a root directory (the local platform)."""

from __future__ import annotations

import builtins
import contextlib
import os
import tempfile
from pathlib import Path

from signalrisk.core.errors import AlreadyExists, NotFound, StorageError
from signalrisk.storage.base import validate_key, validate_prefix

_TMP_PREFIX = ".tmp-"


class LocalDirectoryStore:
    """An :class:`~signalrisk.storage.base.ObjectStore` on a local directory.

    ``create`` writes a temporary file in the target directory, fsyncs it and hard-links it to
    the final name: ``link(2)`` fails if the name is taken, so the create is conditional and
    atomic across processes. ``put`` renames a temporary file over the target. Temporary files
    start with ``.tmp-``; keys may not contain such segments and ``list`` skips them.
    """

    name = "local"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalDirectoryStore(root={str(self.root)!r})"

    def create(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        target = self._path(key)
        tmp = self._write_temp(target, data)
        try:
            os.link(tmp, target)
        except FileExistsError as exc:
            raise AlreadyExists(f"object {key!r} already exists") from exc
        except OSError as exc:
            raise StorageError(f"cannot create object {key!r}: {exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        _fsync_directory(target.parent)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        target = self._path(key)
        tmp = self._write_temp(target, data)
        try:
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise StorageError(f"cannot write object {key!r}: {exc}") from exc
        _fsync_directory(target.parent)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"no object {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read object {key!r}: {exc}") from exc

    def list(self, prefix: str = "") -> builtins.list[str]:
        validate_prefix(prefix)
        # Walk only the deepest directory the prefix names, then filter by string prefix.
        start = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        keys: builtins.list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(_TMP_PREFIX)]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for filename in filenames:
                if filename.startswith(_TMP_PREFIX):
                    continue
                key = filename if rel == "." else f"{rel}/{filename}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _path(self, key: str) -> Path:
        validate_key(key)
        parts = key.split("/")
        if any(part.startswith(_TMP_PREFIX) for part in parts):
            raise StorageError(f"invalid object key {key!r}: '{_TMP_PREFIX}' segments are reserved")
        return self.root.joinpath(*parts)

    def _write_temp(self, target: Path, data: bytes) -> Path:
        """Write ``data`` to a fsynced temporary file next to ``target`` and return its path."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        except OSError as exc:
            raise StorageError(f"cannot write under {target.parent}: {exc}") from exc
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), 0o644)
                os.fsync(fh.fileno())
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise StorageError(f"cannot write {tmp}: {exc}") from exc
        return tmp


def _fsync_directory(directory: Path) -> None:
    """Persist a new directory entry, so a finished write survives a crash."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the data itself is already synced
    finally:
        os.close(fd)
