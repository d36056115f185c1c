"""The object store interface shared by every storage provider (audit records, charts).

Keys are '/'-separated relative paths whose segments use only ``[A-Za-z0-9._-]``; ``.`` and
``..`` segments, empty segments and absolute paths are refused with :class:`StorageError`.
"""

from __future__ import annotations

import builtins
import re
from typing import Protocol, runtime_checkable

from signalrisk.core.errors import StorageError

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a valid object key, else raise :class:`StorageError`."""
    if not isinstance(key, str) or not key:
        raise StorageError(f"invalid object key {key!r}: empty")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment):
            raise StorageError(
                f"invalid object key {key!r}: segments must be non-empty [A-Za-z0-9._-], "
                "not '.' or '..', and the key must be relative"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is empty or a valid key with an optional trailing '/'."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


@runtime_checkable
class ObjectStore(Protocol):
    """A flat store of immutable records and replaceable blobs, addressed by key.

    Every write is atomic: a reader sees either no object or a whole one, never part of one.
    Provider-specific failures are translated at the provider's boundary into
    :class:`~signalrisk.core.errors.StorageError` (or one of its subclasses).
    """

    name: str
    """The provider's registry name, e.g. ``"local"``."""

    def create(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        """Create ``key`` holding ``data``, only if no object has that key yet.

        A real conditional create, safe with many processes writing at once: exactly one of
        several concurrent creates of the same key succeeds. Raises ``AlreadyExists`` if the key
        is taken (the existing object is never touched), ``StorageError`` on any other failure.
        """
        ...

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write ``key`` atomically, replacing any existing object (used for chart images only).

        Raises ``StorageError`` on failure.
        """
        ...

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``; raises ``NotFound`` if there is none."""
        ...

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Return every key that starts with ``prefix``, sorted ascending (lexicographic)."""
        ...

    def exists(self, key: str) -> bool:
        """Return whether an object is stored under ``key``."""
        ...
