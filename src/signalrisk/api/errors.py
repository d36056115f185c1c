"""The one error body, ``{"error": {"code", "message", "field"}}``, for every failure.

HTTP statuses are chosen here and nowhere else.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from signalrisk.api.schemas import ErrorBody
from signalrisk.core import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.SignalRiskError], int] = {
    errors.InvalidParameter: 422,
    errors.LimitExceeded: 422,
    errors.UnknownTicker: 422,
    errors.NotWarm: 409,
    errors.Busy: 409,
    errors.NoAnalysis: 409,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    # An outside system failed, not this service: the compute (a worker, the function) as a
    # bad gateway; the store as unavailable (the analysis itself may have succeeded).
    errors.ComputeError: 502,
    errors.StorageError: 503,
}

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

FIELD_RULES = {
    "s": "'lambda' or 'ec2'",
    "r": "an integer from 1 to the configured maximum for the service",
    "h": "an integer from 3 to (window rows - 3)",
    "d": "an integer from 1 to the configured maximum per resource",
    "t": "'buy' or 'sell'",
    "p": "an integer from 1 to (window rows - 1)",
    "ticker": "a ticker symbol such as NVDA",
    "start": "an ISO date (YYYY-MM-DD)",
    "end": "an ISO date (YYYY-MM-DD)",
    "seed": "an integer from 0 to 2^63 - 1",
    "offset": "an integer from 0 to 2^63 - 1",
    "limit": "an integer from 1 to 1000",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def status_of(exc: errors.SignalRiskError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def _signalrisk_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.SignalRiskError)
    status = status_of(exc)
    if status >= 500:
        log.error("request failed: %s", exc.message, exc_info=exc, extra={"path": request.url.path})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(exc.code, exc.message, exc.field), status, headers=headers)


def validation_message(error: dict[str, Any]) -> tuple[str, str]:
    """A pydantic error as (field, message naming the field and what it accepts)."""
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    field = loc[-1] if loc else "body"
    rule = FIELD_RULES.get(field)
    if error.get("type") == "missing":
        return field, f"{field} is required: {rule or 'a value'}"
    got = error.get("input")
    detail = f"{field} must be {rule}" if rule else f"{field}: {error.get('msg')}"
    return field, f"{detail} (got {got!r})" if got is not None else detail


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [validation_message(dict(e)) for e in exc.errors()]
    field, message = problems[0] if problems else ("body", "invalid request")
    if len(problems) > 1:
        message += "; " + "; ".join(m for _, m in problems[1:])
    return JSONResponse(error_body("invalid_parameter", message, field), 422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        body = error_body("not_found", f"no route {request.method} {request.url.path}")
    elif exc.status_code == 405:
        body = error_body(
            "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
        )
    elif exc.status_code == 413:
        body = error_body("limit_exceeded", "the request body is too large")
    else:
        body = error_body(
            "internal" if exc.status_code >= 500 else "invalid_parameter", str(exc.detail)
        )
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405 and (allow := allowed_methods(request)):
        headers = {**(headers or {}), "Allow": allow}
    return JSONResponse(body, exc.status_code, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route of this path takes. Starlette's 405 lists only the methods of
    the first route that matched the path; /reset and /terminate take GET and POST by two."""
    allowed = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected failure", exc_info=exc, extra={"path": request.url.path})
    return JSONResponse(error_body("internal", "internal error; it has been logged"), 500)


ErrorExample = errors.SignalRiskError | tuple[int, errors.SignalRiskError]
"""An error as a handler raises it, or paired with its status when that is chosen outside
``STATUS`` (413 by the body size limit)."""


def error_responses(*examples: ErrorExample) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the errors an operation can answer, each with an example.

    An example is an error as the code raises it: its status is the one ``status_of`` gives it
    and its body the one ``error_body`` writes, so the documentation and the handlers cannot
    disagree on either. A 500 is documented as ``default``: any status without an entry of its
    own (405 for another method, say) answers in the same shape.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    codes: dict[int | str, list[str]] = {}
    for example in examples:
        status, exc = example if isinstance(example, tuple) else (status_of(example), example)
        key: int | str = "default" if status == 500 else status
        entry = responses.setdefault(
            key, {"model": ErrorBody, "content": {"application/json": {"examples": {}}}}
        )
        named: dict[str, Any] = entry["content"]["application/json"]["examples"]
        name = base = f"{exc.code} ({exc.field})" if exc.field else exc.code
        while name in named:
            name = f"{base} #{len(named) + 1}"
        named[name] = {
            "summary": exc.message,
            "value": error_body(exc.code, exc.message, exc.field),
        }
        codes.setdefault(key, [])
        if exc.code not in codes[key]:
            codes[key].append(exc.code)
    for key, entry in responses.items():
        listed = ", ".join(codes[key])
        entry["description"] = (
            f"{HTTPStatus(key).phrase}: {listed}"
            if isinstance(key, int)
            else f"500 {listed}: an unexpected failure, logged (never a disguised 4xx); any"
            " other status without an entry of its own answers in the same shape"
        )
    return responses


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.SignalRiskError, _signalrisk_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
