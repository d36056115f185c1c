"""The S3 store: one object per key in a bucket (the aws platform), on boto3.

The client comes from the standard AWS chain (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``,
credentials, ...), so an emulator or an S3-compatible server needs no code change. botocore
errors are translated here, once, into signalrisk errors.
"""

from __future__ import annotations

import builtins
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from signalrisk.core.errors import AlreadyExists, NotFound, StorageError
from signalrisk.storage.base import validate_key, validate_prefix

MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600
"""SigV4 presigned URLs live at most seven days."""

_MISSING_CODES = {"NoSuchKey", "NotFound", "404"}
_TAKEN_CODES = {"PreconditionFailed", "412"}
_CONFLICT_CODES = {"ConditionalRequestConflict", "409"}
_BEYOND_END_CODES = {"InvalidRange", "416"}
# S3 answers 409 while another conditional write of the same key is in flight; AWS advises a
# retry, which then meets the winner (412) or, if that writer failed, succeeds.
_CONFLICT_RETRIES = (0.05, 0.1, 0.2, 0.4)


_loader_lock = threading.Lock()
_shared_loader: list[Any] = []


def new_client(service: str, **options: Any) -> Any:
    """A boto3 client for ``service`` configured from the environment as it is now, with
    ``options`` for ``boto3.client`` (e.g. ``endpoint_url``, ``config``).

    boto3's default session resolves credentials once and keeps them, so each client gets a
    session of its own; the sessions share one model loader, which makes that cheap (~10 ms).
    Raises ``StorageError`` if the client cannot be configured (e.g. no region).
    """
    session = botocore.session.get_session()
    with _loader_lock:
        if _shared_loader:
            session.register_component("data_loader", _shared_loader[0])
        else:
            _shared_loader.append(session.get_component("data_loader"))
    try:
        return boto3.session.Session(botocore_session=session).client(service, **options)
    except BotoCoreError as exc:
        raise StorageError(f"cannot configure the {service} client: {exc}") from exc


class ProcessClient:
    """An injected client, or one made lazily for each process that uses it (a client's
    pooled connections must not be shared by forked processes)."""

    def __init__(self, service: str, client: Any | None) -> None:
        self._service = service
        self._injected = client
        self._client: Any = None
        self._pid = -1
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._injected is not None:
            return self._injected
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = new_client(self._service)
                self._pid = os.getpid()
            return self._client


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is(exc: ClientError, codes: set[str]) -> bool:
    """Whether S3's error code is one of ``codes``; the status stands in for a code only when
    there is none (HEAD answers have no body: their "code" is the status)."""
    code = _code(exc)
    if code and not code.isdigit():
        return code in codes
    return (code or str(_status(exc))) in codes


class S3Store:
    """An :class:`~signalrisk.storage.base.ObjectStore` on an S3 bucket.

    ``create`` is ``PutObject`` with ``If-None-Match: *``, which S3 evaluates atomically: a
    412 ``PreconditionFailed`` (or a 409 ``ConditionalRequestConflict`` that persists after
    short retries) means another writer holds the key and raises ``AlreadyExists``.
    ``prefix`` (a valid key prefix; a trailing '/' is added) scopes every key to a folder.

    Without ``client``, one is made from the environment (see :func:`new_client`) on first
    use in each process, so a store may be handed to forked workers. An injected ``client`` is
    used as is.
    """

    name = "s3"

    def __init__(self, bucket: str, prefix: str = "", client: Any | None = None) -> None:
        if not bucket:
            raise StorageError("S3Store needs a bucket name")
        validate_prefix(prefix)
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
        self._client = ProcessClient("s3", client)

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client: the injected one, or this process's own."""
        return self._client.get()

    def create(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        name = self._name(key)
        for delay in (*_CONFLICT_RETRIES, None):
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=name,
                    Body=data,
                    ContentType=content_type,
                    IfNoneMatch="*",
                )
                return
            except ClientError as exc:
                if _is(exc, _TAKEN_CODES):
                    raise AlreadyExists(f"object {key!r} already exists") from exc
                if not _is(exc, _CONFLICT_CODES):
                    raise self._error("create", key, exc) from exc
                if delay is None:
                    raise AlreadyExists(
                        f"object {key!r} is being created by another writer"
                    ) from exc
                time.sleep(delay)
            except BotoCoreError as exc:
                raise self._error("create", key, exc) from exc

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        name = self._name(key)
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=name, Body=data, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("write", key, exc) from exc

    def get(self, key: str) -> bytes:
        with self._translated("read", key):
            answer = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
            body: bytes = answer["Body"].read()
        return body

    def read_range(self, key: str, offset: int, length: int) -> tuple[bytes, int]:
        """Return up to ``length`` bytes of ``key`` from ``offset`` and the object's full size.

        Raises ``NotFound`` if there is no such object. An ``offset`` at or past the end gives
        ``b""``.
        """
        if offset < 0 or length < 1:
            raise StorageError(f"invalid range offset={offset} length={length}")
        name = self._name(key)
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=name, Range=f"bytes={offset}-{offset + length - 1}"
            )
            body: bytes = answer["Body"].read()
        except ClientError as exc:
            if _is(exc, _MISSING_CODES):
                raise NotFound(f"no object {key!r}") from exc
            if not _is(exc, _BEYOND_END_CODES):
                raise self._error("read", key, exc) from exc
            return b"", self._size(key, name)
        except BotoCoreError as exc:
            raise self._error("read", key, exc) from exc
        content_range = str(answer.get("ContentRange") or "")
        if "/" in content_range:  # "bytes 0-99/1234"
            return body, int(content_range.rsplit("/", 1)[1])
        # No Content-Range: the whole object came back (the range was ignored or it is empty).
        return body[offset : offset + length], len(body)

    def _size(self, key: str, name: str) -> int:
        with self._translated("inspect", key):
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        return int(head["ContentLength"])

    def list(self, prefix: str = "") -> builtins.list[str]:
        validate_prefix(prefix)
        start = len(self.prefix)
        keys: builtins.list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                keys.extend(str(item["Key"])[start:] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", prefix, exc) from exc
        return sorted(keys)

    def list_page(
        self, prefix: str = "", start_after: str | None = None, limit: int = 1000
    ) -> tuple[builtins.list[str], str | None]:
        """Return up to ``limit`` keys after ``start_after`` (ascending) and the next cursor.

        The cursor is the last key returned when more keys follow, else ``None``.
        """
        validate_prefix(prefix)
        if start_after is not None:
            validate_key(start_after)
        if not 1 <= limit <= 1000:
            raise StorageError(f"list limit must be between 1 and 1000, not {limit}")
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.prefix + prefix,
            "MaxKeys": limit,
        }
        if start_after is not None:
            params["StartAfter"] = self.prefix + start_after
        try:
            answer = self.client.list_objects_v2(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", prefix, exc) from exc
        start = len(self.prefix)
        keys = sorted(str(item["Key"])[start:] for item in answer.get("Contents", []))
        more = bool(answer.get("IsTruncated")) and bool(keys)
        return keys, (keys[-1] if more else None)

    def exists(self, key: str) -> bool:
        try:
            self._size(key, self._name(key))
        except NotFound:
            return False
        return True

    def presigned_url(self, key: str, expiry_s: int) -> str:
        """A URL that GETs ``key`` without credentials for ``expiry_s`` seconds (1 s to 7 days).

        Signing is local: the URL is returned whether or not the object exists yet.
        """
        name = self._name(key)
        if not 1 <= expiry_s <= MAX_PRESIGN_EXPIRY_S:
            raise StorageError(f"expiry_s must be between 1 and {MAX_PRESIGN_EXPIRY_S}")
        try:
            url: str = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": name},
                ExpiresIn=expiry_s,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("sign a URL for", key, exc) from exc
        return url

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    @contextmanager
    def _translated(self, action: str, key: str) -> Iterator[None]:
        """botocore errors of one call as signalrisk's: a missing object is NotFound, any other
        failure a StorageError naming the action and the object."""
        try:
            yield
        except ClientError as exc:
            if _is(exc, _MISSING_CODES):
                raise NotFound(f"no object {key!r}") from exc
            raise self._error(action, key, exc) from exc
        except BotoCoreError as exc:
            raise self._error(action, key, exc) from exc

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        detail = f"{_code(exc)}: {exc}" if isinstance(exc, ClientError) else str(exc)
        return StorageError(f"cannot {action} s3://{self.bucket}/{self.prefix}{key}: {detail}")
