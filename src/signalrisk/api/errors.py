"""The one error body, ``{"error": {"code", "message", "field"}}``, for every failure.

HTTP statuses are chosen here and nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
}

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
    "offset": "an integer >= 0",
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
    return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected failure", exc_info=exc, extra={"path": request.url.path})
    return JSONResponse(error_body("internal", "internal error; it has been logged"), 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.SignalRiskError, _signalrisk_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
