"""The Lambda store: the audit bucket reached through the deployed storage function.

Each operation is one synchronous ``lambda.invoke`` of :mod:`signalrisk.workers.storage`;
answers that could outgrow Lambda's 6 MB payload limit (``list``, ``read``, ``get``) come in
pages that this store follows. botocore errors and the function's own failures are translated
here, once, into :class:`~signalrisk.core.errors.StorageError`.
"""

from __future__ import annotations

import base64
import builtins
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from signalrisk.core.errors import AlreadyExists, NotFound, StorageError
from signalrisk.storage.base import validate_key, validate_prefix
from signalrisk.storage.s3 import ProcessClient

MAX_REQUEST_BYTES = 6 * 1024 * 1024
"""Lambda refuses synchronous requests over 6 MB: a write's body must fit, base64-encoded."""


def read_item(key: str, data: bytes) -> dict[str, Any]:
    """An item of the ``read`` action: ``{"key", "body"}`` with the JSON value when ``data`` is
    JSON, else its text; ``{"key", "body_b64"}`` when it is not UTF-8."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return {"key": key, "body_b64": base64.b64encode(data).decode()}
    try:
        return {"key": key, "body": json.loads(text)}
    except ValueError:
        return {"key": key, "body": text}


class LambdaStore:
    """An :class:`~signalrisk.storage.base.ObjectStore` behind the storage Lambda function.

    ``create`` is the function's ``write`` action (a conditional create in S3: ``"exists"``
    raises ``AlreadyExists``); ``get`` a missing key (``"not_found"``) raises ``NotFound``; a
    ``FunctionError`` in the answer raises ``StorageError`` naming the function. Bodies travel
    base64-encoded, so ``create``/``put`` take at most about 4.5 MB.

    Without ``client``, one is made from the environment on first use in each process (see
    :func:`~signalrisk.storage.s3.new_client`); an injected ``client`` is used as is.
    """

    name = "lambda"

    def __init__(self, function_name: str, client: Any | None = None) -> None:
        if not function_name:
            raise StorageError("LambdaStore needs a function name")
        self.function_name = function_name
        self._client = ProcessClient("lambda", client)

    def __repr__(self) -> str:
        return f"LambdaStore(function_name={self.function_name!r})"

    @property
    def client(self) -> Any:
        """The boto3 Lambda client: the injected one, or this process's own."""
        return self._client.get()

    def create(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        answer = self.invoke(
            {
                "action": "write",
                "key": validate_key(key),
                "body_b64": base64.b64encode(data).decode(),
                "content_type": content_type,
            }
        )
        if answer.get("result") == "exists":
            raise AlreadyExists(f"object {key!r} already exists")
        self._expect_ok(answer, "create", key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        answer = self.invoke(
            {
                "action": "put",
                "key": validate_key(key),
                "body_b64": base64.b64encode(data).decode(),
                "content_type": content_type,
            }
        )
        self._expect_ok(answer, "write", key)

    def get(self, key: str) -> bytes:
        validate_key(key)
        chunks: builtins.list[bytes] = []
        offset: int | None = 0
        while offset is not None:
            answer = self.invoke({"action": "get", "key": key, "offset": offset})
            if answer.get("result") == "not_found":
                raise NotFound(f"no object {key!r}")
            try:
                chunks.append(base64.b64decode(answer["body_b64"], validate=True))
                next_offset = answer.get("next_offset")
            except (KeyError, TypeError, ValueError) as exc:
                raise self._unexpected("read", key, answer) from exc
            if next_offset is not None and (
                not isinstance(next_offset, int) or next_offset <= offset
            ):
                raise self._unexpected("read", key, answer)
            offset = next_offset
        return b"".join(chunks)

    def list(self, prefix: str = "") -> builtins.list[str]:
        validate_prefix(prefix)
        keys: builtins.list[str] = []
        cursor: str | None = None
        while True:
            answer = self.invoke({"action": "list", "prefix": prefix, "cursor": cursor})
            page, cursor = answer.get("keys"), answer.get("cursor")
            if not isinstance(page, builtins.list) or not isinstance(cursor, str | None):
                raise self._unexpected("list", prefix, answer)
            keys.extend(str(key) for key in page)
            if cursor is None:
                return sorted(keys)

    def exists(self, key: str) -> bool:
        # The key sorts first among the keys it prefixes: one listed key answers the question.
        answer = self.invoke({"action": "list", "prefix": validate_key(key), "limit": 1})
        return answer.get("keys") == [key]

    def presigned_url(self, key: str, expiry_s: int) -> str:
        """A URL that GETs ``key`` without credentials for ``expiry_s`` seconds, signed by the
        function (so it carries the function's own, possibly temporary, credentials)."""
        answer = self.invoke({"action": "url", "key": validate_key(key), "expiry_s": expiry_s})
        url = answer.get("url")
        if not isinstance(url, str):
            raise self._unexpected("sign a URL for", key, answer)
        return url

    def read(self, prefix: str = "audit/") -> builtins.list[dict[str, Any]]:
        """Every object under ``prefix`` as ``{"key", "body"}`` (the JSON value or the text),
        through the function's paged ``read`` action: few invocations for many small records."""
        validate_prefix(prefix)
        items: builtins.list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            answer = self.invoke({"action": "read", "prefix": prefix, "cursor": cursor})
            page, cursor = answer.get("items"), answer.get("cursor")
            if not isinstance(page, builtins.list) or not isinstance(cursor, str | None):
                raise self._unexpected("read", prefix, answer)
            items.extend(self._resolve(item) for item in page)
            if cursor is None:
                return items

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Invoke the function synchronously with ``payload`` and return its JSON answer."""
        request = json.dumps(payload).encode()
        if len(request) > MAX_REQUEST_BYTES:
            raise StorageError(
                f"request of {len(request)} bytes is over Lambda's {MAX_REQUEST_BYTES} byte limit"
            )
        try:
            response = self.client.invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                Payload=request,
            )
            raw = response["Payload"].read()
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(
                f"cannot invoke storage function {self.function_name!r}: {exc}"
            ) from exc
        try:
            answer = json.loads(raw) if raw else None
        except ValueError as exc:
            raise StorageError(
                f"storage function {self.function_name!r} answered with invalid JSON"
            ) from exc
        if response.get("FunctionError"):
            detail: object = answer
            if isinstance(answer, dict):  # Lambda's {"errorType", "errorMessage", ...}
                detail = f"{answer.get('errorType', 'Error')}: {answer.get('errorMessage', '')}"
            raise StorageError(f"storage function {self.function_name!r} failed: {detail}")
        if not isinstance(answer, dict):
            raise StorageError(
                f"storage function {self.function_name!r} answered {answer!r}, not an object"
            )
        return answer

    def _resolve(self, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise self._unexpected("read", "", {"items": [item]})
        key: str = item["key"]
        if "body" in item:
            return {"key": key, "body": item["body"]}
        if "body_b64" in item:
            try:
                return read_item(key, base64.b64decode(item["body_b64"], validate=True))
            except (TypeError, ValueError) as exc:
                raise self._unexpected("read", key, {"items": [item]}) from exc
        return read_item(key, self.get(key))  # too big for a page: fetched in chunks

    def _expect_ok(self, answer: dict[str, Any], action: str, key: str) -> None:
        if answer.get("result") != "ok":
            raise self._unexpected(action, key, answer)

    def _unexpected(self, action: str, key: str, answer: dict[str, Any]) -> StorageError:
        shown = json.dumps(answer)[:200]
        return StorageError(
            f"cannot {action} {key!r}: storage function {self.function_name!r} answered {shown}"
        )
