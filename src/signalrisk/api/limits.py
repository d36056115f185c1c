"""The request body size limit (``limits.max_body_bytes``), enforced before any body is parsed.

:class:`BodySizeLimit` is pure ASGI middleware, so that a bodiless request (every hot GET) costs
one scan of its headers and nothing else. A request whose declared ``Content-Length`` is over
the limit is refused before a byte of it is read. Any other request with a body is read here,
counting bytes whatever it declared (chunked, no length, or a length that lies), up to the
limit, and handed on whole; past the limit it is refused there and then. The bodies this API
takes are small JSON objects that are read whole anyway, so reading them here costs nothing
more.

The answer is the one error shape, ``limit_exceeded`` on the field ``body``, with status 413
(Content Too Large) rather than the 422 of the other limits: 413 is the status that proxies,
load balancers and HTTP clients understand as "too large, do not retry as is", and it is what
a proxy in front of the API answers for the same thing. The connection is closed after it, so
the rest of an oversized body is never read.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signalrisk.api.errors import error_body
from signalrisk.core.errors import LimitExceeded

TOO_LARGE = 413


def body_too_large(max_bytes: int) -> LimitExceeded:
    """The error a body over ``max_bytes`` gets (answered with ``TOO_LARGE``)."""
    return LimitExceeded(
        f"the request body is larger than the limit max_body_bytes = {max_bytes} bytes"
        " (SIGNALRISK_LIMITS__MAX_BODY_BYTES)",
        field="body",
    )


class _TooLarge(Exception):
    """The body went past the limit."""


class _Disconnected(Exception):
    """The client disconnected before the end of its body."""


class BodySizeLimit:
    """Refuse a request body over ``max_bytes`` with 413 ``limit_exceeded``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        error = body_too_large(max_bytes)
        body = json.dumps(error_body(error.code, error.message, error.field)).encode()
        self._start: Message = {
            "type": "http.response.start",
            "status": TOO_LARGE,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
        self._body: Message = {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None and not chunked:
            length = int(declared) if declared.isdigit() else None
            if length == 0:
                await self.app(scope, receive, send)
                return
            if length is not None and length > self.max_bytes:
                await self._refuse(send)
                return
        elif not chunked and scope.get("http_version", "1.1") in ("1.0", "1.1"):
            # HTTP/1 with neither header has no body (RFC 9112 §6.3): the hot GETs.
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except _TooLarge:
            await self._refuse(send)
            return
        except _Disconnected:
            return  # the client went away before its body ended: nobody to answer
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        """The whole body, counted as it arrives."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, send: Send) -> None:
        await send(self._start)
        await send(self._body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` in one message, then whatever the server sends next
    (the disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
