"""The storage function (AWS Lambda handler): the audit bucket behind one function.

The bucket is ``SIGNALRISK_BUCKET``. Actions, the first two as in the source system::

    {"action": "write", "key": k, "body": {...} | "text", "content_type"?: ...}
    {"action": "write", "key": k, "body_b64": "...", "content_type"?: ...}
        -> {"result": "ok"} | {"result": "exists"}      (conditional create, never overwrites)
    {"action": "read", "prefix"?: "audit/", "cursor"?: c, "limit"?: n}
        -> {"items": [{"key": k, "body": <JSON value or text>}...], "cursor": <next> | null}
    {"action": "put", "key": k, "body_b64": "...", "content_type": "image/png"} -> {"result": "ok"}
    {"action": "get", "key": k, "offset"?: 0}
        -> {"body_b64": "...", "size": n, "next_offset": <int> | null} | {"result": "not_found"}
    {"action": "list", "prefix"?: "", "cursor"?: c, "limit"?: n} -> {"keys": [...], "cursor": ...}
    {"action": "url", "key": k, "expiry_s": 3600} -> {"url": "https://..."}

Lambda caps a synchronous answer at 6 MB, so answers are paged: ``read`` stops adding items once
its JSON reaches :data:`PAGE_BUDGET` bytes (an item that alone is bigger comes back as
``{"key", "size", "too_large": true}``; fetch it with ``get``), and ``get`` returns at most
:data:`GET_CHUNK` raw bytes per call. Pass the answer's ``cursor`` (``next_offset``) back to go
on; ``null`` means done. A bad payload raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from signalrisk.core.errors import AlreadyExists, NotFound, StorageError
from signalrisk.storage.base import validate_key, validate_prefix
from signalrisk.storage.lambda_store import read_item
from signalrisk.storage.s3 import MAX_PRESIGN_EXPIRY_S, S3Store

PAGE_BUDGET = 4_000_000
"""Bytes of JSON after which ``read`` stops adding items (Lambda's answer limit is 6 MB)."""

GET_CHUNK = 3 * 1024 * 1024
"""Raw bytes per ``get`` answer: 4 MiB once base64-encoded."""

DEFAULT_READ_PREFIX = "audit/"
MAX_LIMIT = 1000
_FETCH_BATCH = 8  # bodies fetched concurrently by ``read``


_KINDS = {str: "a string", int: "an integer"}


def _field(event: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = event.get(name)
    if value is None:
        value = default
    if not isinstance(value, kind) or isinstance(value, bool):  # JSON true is not 1
        raise ValueError(f"{name} must be {_KINDS.get(kind, kind.__name__)}")
    return value


def _key(event: dict[str, Any], name: str = "key") -> str:
    key = _field(event, name, str)
    try:
        return validate_key(key)
    except StorageError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def _prefix(event: dict[str, Any], default: str) -> str:
    prefix = _field(event, "prefix", str, default)
    try:
        return validate_prefix(prefix)
    except StorageError as exc:
        raise ValueError(f"prefix: {exc}") from exc


def _cursor(event: dict[str, Any]) -> str | None:
    return None if event.get("cursor") is None else _key(event, "cursor")


def _int(event: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = _field(event, name, int, default)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return int(value)


def _b64(event: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(_field(event, "body_b64", str), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"body_b64 is not valid base64: {exc}") from exc


def _write_body(event: dict[str, Any]) -> bytes:
    if ("body" in event) == ("body_b64" in event):
        raise ValueError("body: give exactly one of body (a JSON object or a string) or body_b64")
    if "body_b64" in event:
        return _b64(event)
    body = event["body"]
    if isinstance(body, dict):
        return json.dumps(body, sort_keys=True).encode()
    if isinstance(body, str):
        return body.encode()
    raise ValueError("body must be a JSON object or a string")


def _body_or_none(store: S3Store) -> Callable[[str], bytes | None]:
    def body(key: str) -> bytes | None:
        try:
            return store.get(key)
        except NotFound:
            return None

    return body


def _read(store: S3Store, event: dict[str, Any]) -> dict[str, Any]:
    prefix = _prefix(event, DEFAULT_READ_PREFIX)
    limit = _int(event, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    keys, cursor = store.list_page(prefix, start_after=_cursor(event), limit=limit)
    items: list[dict[str, Any]] = []
    used = 2  # the brackets of the list
    with ThreadPoolExecutor(max_workers=_FETCH_BATCH) as pool:
        for start in range(0, len(keys), _FETCH_BATCH):
            batch = keys[start : start + _FETCH_BATCH]
            for key, data in zip(batch, pool.map(_body_or_none(store), batch), strict=True):
                if data is None:  # gone since it was listed
                    continue
                item = read_item(key, data)
                size = len(json.dumps(item)) + 2  # ", " separator
                if size > PAGE_BUDGET:
                    item = {"key": key, "size": len(data), "too_large": True}
                    size = len(json.dumps(item)) + 2
                if items and used + size > PAGE_BUDGET:
                    return {"items": items, "cursor": items[-1]["key"]}
                items.append(item)
                used += size
    return {"items": items, "cursor": cursor}


def _get(store: S3Store, event: dict[str, Any]) -> dict[str, Any]:
    key = _key(event)
    offset = _int(event, "offset", 0, 0, 2**62)
    try:
        data, size = store.read_range(key, offset, GET_CHUNK)
    except NotFound:
        return {"result": "not_found", "key": key}
    end = offset + len(data)
    return {
        "body_b64": base64.b64encode(data).decode(),
        "size": size,
        "next_offset": end if end < size else None,
    }


def handle(event: dict[str, Any], store: S3Store) -> dict[str, Any]:
    """Carry out one action on ``store``; raises ValueError on a bad payload."""
    if not isinstance(event, dict):
        raise ValueError("event must be a JSON object")
    action = event.get("action")
    if action == "write":
        key, data = _key(event), _write_body(event)
        text = isinstance(event.get("body"), str)
        default_type = "text/plain; charset=utf-8" if text else "application/json"
        content_type = _field(event, "content_type", str, default_type)
        try:
            store.create(key, data, content_type=content_type)
        except AlreadyExists:
            return {"result": "exists"}
        return {"result": "ok"}
    if action == "read":
        return _read(store, event)
    if action == "put":
        key, data = _key(event), _b64(event)
        store.put(key, data, content_type=_field(event, "content_type", str))
        return {"result": "ok"}
    if action == "get":
        return _get(store, event)
    if action == "list":
        limit = _int(event, "limit", MAX_LIMIT, 1, MAX_LIMIT)
        keys, cursor = store.list_page(_prefix(event, ""), start_after=_cursor(event), limit=limit)
        return {"keys": keys, "cursor": cursor}
    if action == "url":
        key = _key(event)
        expiry = _int(event, "expiry_s", 3600, 1, MAX_PRESIGN_EXPIRY_S)
        return {"url": store.presigned_url(key, expiry)}
    raise ValueError("action must be one of write, read, put, get, list, url")


_stores: dict[str, S3Store] = {}


def store_from_environment() -> S3Store:
    """The bucket named by ``SIGNALRISK_BUCKET``, kept across warm invocations."""
    bucket = os.environ.get("SIGNALRISK_BUCKET", "")
    if not bucket:
        raise StorageError("SIGNALRISK_BUCKET is not set: the storage function has no bucket")
    if bucket not in _stores:
        _stores[bucket] = S3Store(bucket)
    return _stores[bucket]


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point: ``signalrisk.workers.storage.handler``."""
    return handle(event, store_from_environment())
