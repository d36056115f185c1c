"""Request plumbing: the services, the JSON body whatever its Content-Type, and access.

Access (SPEC §2) plugs in here, in one place: on loopback the API is open, as the source system
was; beyond it a bearer token is needed (the full one, or the read-only one for reads), unless
the operator opted into anonymous access. Behind a reverse proxy on the same host every caller
looks local, so ``trust_loopback=false`` demands the token there too. Tokens are compared in
constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from signalrisk.core.config import Settings
from signalrisk.core.errors import Forbidden, InvalidParameter, Unauthorized
from signalrisk.services.facade import Facade

Model = TypeVar("Model", bound=BaseModel)
Role = Literal["read", "write"]


async def facade(request: Request) -> Facade:
    service: Facade = request.app.state.facade
    return service


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def check_access(settings: Settings, request: Request, role: Role) -> None:
    """Raise Unauthorized or Forbidden unless this caller may do ``role``."""
    if settings.trust_loopback and _is_loopback(request.client.host if request.client else None):
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        if _same(token, settings.token):
            return
        if _same(token, settings.read_token):
            if role == "read":
                return
            raise Forbidden("the read-only token may not do this (it spends money)")
        raise Unauthorized("the bearer token is not valid")
    if settings.allow_anonymous:
        return
    raise Unauthorized("this call needs Authorization: Bearer <token>")


def require(role: Role) -> Callable[[Request], Awaitable[None]]:
    # async: it does no I/O, and a sync dependency would cost a thread-pool hop per request.
    async def dependency(request: Request) -> None:
        check_access(request.app.state.facade.ctx.settings, request, role)

    return dependency


ReadAccess = Depends(require("read"))
WriteAccess = Depends(require("write"))


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object whatever the Content-Type; an empty body is ``{}``."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"the body is not valid JSON: {exc}", field="body") from exc
    except RecursionError as exc:  # arrays or objects nested past the parser's depth
        raise InvalidParameter(
            "the body is not valid JSON: nested too deeply", field="body"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidParameter("the body must be a JSON object", field="body")
    return data


def body_of(model: type[Model]) -> Callable[..., Any]:
    """A dependency that validates the JSON body as ``model`` (errors in the one shape)."""

    async def dependency(request: Request) -> Model:
        data = await json_object(request)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from exc

    return dependency


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON request body."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": model.model_json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        }
    }
