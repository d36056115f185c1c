"""The OpenAPI examples: every request body, answer and error that ``/docs`` shows.

The figures are those of one real run on the local platform: bundled NVDA, default window
(2022-02-14 .. 2025-02-11, 751 rows), ``t=sell h=101 d=10000 p=7``, lambda ``r=3``, seed 42:
36 signals, total P/L -39.763, VaR as negative one-day returns. Errors are built as the code
raises them (``signalrisk.api.errors.error_responses`` gives each its status and body), and
validation messages come from the validation itself. ``tests/api/test_openapi.py`` replays a
workflow and checks these examples against the real answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError

from signalrisk import __version__
from signalrisk.api import limits
from signalrisk.api.deps import openapi_body
from signalrisk.api.errors import ErrorExample, error_responses, validation_message
from signalrisk.api.schemas import AnalyseRequest, WarmupRequest
from signalrisk.core.config import Limits, PriceTable
from signalrisk.core.errors import (
    Busy,
    ComputeError,
    Forbidden,
    InternalError,
    InvalidParameter,
    LimitExceeded,
    NoAnalysis,
    NotFound,
    NotWarm,
    StorageError,
    Unauthorized,
    UnknownTicker,
)
from signalrisk.services.runs import audit_pending_message

API = "http://127.0.0.1:8000"
RUN_ID = "5d0c3b9e7a41f286"
SCALE_ID = "9b1f4c2e8d7a4e6f8a3c5b0d2e1f7a94"
UNKNOWN_RUN = "0000000000000000"
LIMITS, PRICES = Limits(), PriceTable()


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split()]


# -- helpers that assemble ``responses=`` and ``openapi_extra=`` ---------------------------


def named(**values: tuple[str, Any]) -> dict[str, dict[str, Any]]:
    """Named OpenAPI examples: ``name=(summary, value)``."""
    return {name.replace("_", " "): {"summary": s, "value": v} for name, (s, v) in values.items()}


def request_body(model: type[BaseModel], examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body, with named examples."""
    extra = openapi_body(model)
    extra["requestBody"]["content"]["application/json"]["examples"] = examples
    return extra


def answer(
    example: Any = None,
    *,
    examples: dict[str, dict[str, Any]] | None = None,
    model: Any = None,
    media_type: str = "application/json",
    schema: dict[str, Any] | None = None,
    description: str = "Successful Response",
    links: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The 200 entry: its example(s), and ``model`` (or ``schema``) when the route does not
    declare its own: such a route sends its answer as produced, and this documents it.
    ``links``: OpenAPI links from this answer to the operations that take a value of it."""
    content: dict[str, Any] = {} if schema is None else {"schema": schema}
    if examples:
        content["examples"] = examples
    elif example is not None:
        content["example"] = example
    entry: dict[str, Any] = {"description": description, "content": {media_type: content}}
    if model is not None:
        entry["model"] = model
    if links:
        entry["links"] = links
    return entry


def responses(ok: dict[str, Any], *errors: ErrorExample) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: its 200 ``ok`` and the errors it can answer."""
    return {200: ok, **error_responses(*errors)}


def keep_null_examples(app: FastAPI, *routers: APIRouter) -> None:
    """Make ``app.openapi()`` keep the nulls of the examples of ``routers``' routes.

    FastAPI drops every None from the document it generates, keys of examples included
    (fastapi/fastapi#5559), so a documented ``"error": null`` would vanish from ``/docs``. This
    puts the examples back as the routes declare them, once, after FastAPI has built the
    document. The routers must be included without a further prefix, as ``create_app`` does.
    """
    build: Callable[[], dict[str, Any]] = app.openapi
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            paths = build()["paths"]
            for route in routes:
                for method in route.methods or ():
                    operation = paths.get(route.path_format, {}).get(method.lower())
                    if operation is not None:
                        _restore_examples(operation, route)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _restore_examples(operation: dict[str, Any], route: APIRoute) -> None:
    declared = [(operation["responses"][str(k)], v) for k, v in route.responses.items()]
    body = (route.openapi_extra or {}).get("requestBody")
    if body is not None:
        declared.append((operation["requestBody"], body))
    for target, source in declared:
        for media_type, content in source.get("content", {}).items():
            for key in ("example", "examples"):
                if key in content:
                    target["content"][media_type][key] = jsonable_encoder(content[key])


def _invalid(model: type[BaseModel], body: dict[str, Any]) -> InvalidParameter:
    """The error the API answers for ``body`` (one bad field), from the validation itself."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        field, message = validation_message(dict(exc.errors()[0]))
        return InvalidParameter(message, field=field)
    raise AssertionError(f"{body} is valid")


def _invalid_query(name: str, got: str) -> InvalidParameter:
    field, message = validation_message({"loc": ("query", name), "input": got, "msg": ""})
    return InvalidParameter(message, field=field)


# -- access and failures, shared by every route ---------------------------------------------

NO_TOKEN = Unauthorized("this call needs Authorization: Bearer <token>")
BAD_TOKEN = Unauthorized("the bearer token is not valid")
READ_ONLY = Forbidden("the read-only token may not do this (it spends money)")
UNEXPECTED = InternalError("internal error; it has been logged")

READ: tuple[ErrorExample, ...] = (NO_TOKEN, BAD_TOKEN, UNEXPECTED)
WRITE: tuple[ErrorExample, ...] = (NO_TOKEN, BAD_TOKEN, READ_ONLY, UNEXPECTED)

NOT_JSON = InvalidParameter(
    "the body is not valid JSON: Expecting property name enclosed in double quotes:"
    " line 1 column 2 (char 1)",
    field="body",
)
NOT_OBJECT = InvalidParameter("the body must be a JSON object", field="body")
TOO_LARGE: ErrorExample = (limits.TOO_LARGE, limits.body_too_large(LIMITS.max_body_bytes))
BODY: tuple[ErrorExample, ...] = (NOT_JSON, NOT_OBJECT, TOO_LARGE)

NO_ANALYSIS = NoAnalysis("no analysis yet (or /reset since); POST /analyse first")
WORKER_DOWN = ComputeError("worker http://127.0.0.1:41873 did not answer: ReadTimeout('timed out')")
STORE_DOWN = StorageError(
    f"cannot read object 'audit/20250212T110002.180000Z_{RUN_ID}.json':"
    " [Errno 13] Permission denied"
)
AUDIT_NOT_WRITTEN = StorageError(
    audit_pending_message(
        RUN_ID,
        "cannot create s3://signalrisk-audit-123456789012/audit/20250212T110002.180000Z_"
        f'{RUN_ID}.json: Could not connect to the endpoint URL: "https://signalrisk-audit-'
        f'123456789012.s3.amazonaws.com/audit/20250212T110002.180000Z_{RUN_ID}.json"',
    )
)
CHART_STORE_DOWN = StorageError(
    f"cannot read object 'charts/{RUN_ID}.png': [Errno 13] Permission denied"
)
NO_RUN = NotFound(f"no run {UNKNOWN_RUN}")

HEALTH = {"status": "ok", "version": __version__}
HEALTH_RESPONSES = responses(answer(HEALTH), UNEXPECTED)
"""For ``/health`` in ``app.py``: open to all, so no 401."""

# -- /warmup ---------------------------------------------------------------------------------

WARMUP_BODIES = named(
    source_client=(
        "numbers as strings, as the source system's client sends",
        {"s": "lambda", "r": "3"},
    ),
    numbers=("numbers as numbers", {"s": "lambda", "r": 3}),
)
WARMUP = {"result": "ok", "state": "warming", "scale_id": SCALE_ID}
WARMUP_ERRORS: tuple[ErrorExample, ...] = (
    InvalidParameter("s must be 'lambda' or 'ec2'", field="s"),
    InvalidParameter(
        f"r must be an integer from 1 to {LIMITS.max_r_lambda} for lambda (the configured"
        " maximum, limits.max_r_lambda)",
        field="r",
    ),
    _invalid(WarmupRequest, {"s": "lambda", "r": "three"}),
    _invalid(WarmupRequest, {"s": "lambda"}),
    *BODY,
    LimitExceeded(
        "r=64 needs 64 concurrent executions of Lambda function 'signalrisk-compute', but the"
        " account allows 10; lower r or ask AWS for a higher concurrency quota",
        field="r",
    ),
    Busy("a different warm-up is in progress; terminate it first"),
    Busy("the scale is analysing; try again when it is done"),
    *WRITE,
)

SCALED_READY = {"warm": "true"}
WARMUP_COST_ERRORS: tuple[ErrorExample, ...] = (
    NotWarm("no warm-up has completed; POST /warmup and wait for /scaled_ready"),
    *READ,
)
WARMUP_COST = {
    "billable_time": 0.782,
    "cost": 1.36333594e-05,
    "estimate": True,
    "basis": "local-simulated",
}
ENDPOINT = f"{API}/v1/functions/compute/invocations"
ENDPOINTS = {
    ENDPOINT: "curl -sS -X POST -H 'Content-Type: application/json' -d"
    f""" '{{"mean": 0.001, "std": 0.02, "shots": 10000}}' {ENDPOINT}"""
}

# -- /analyse --------------------------------------------------------------------------------

ANALYSE_BODIES = named(
    source_client=(
        "numbers as strings, as the source system's client sends",
        {"h": "101", "d": "10000", "t": "sell", "p": "7"},
    ),
    window_and_seed=(
        "the same with its ticker, window and seed spelled out",
        {
            "h": 101,
            "d": 10000,
            "t": "sell",
            "p": 7,
            "ticker": "NVDA",
            "start": "2022-02-14",
            "end": "2025-02-11",
            "seed": 42,
        },
    ),
)
ANALYSE = {"result": "ok", "run_id": RUN_ID}
ANALYSE_LINKS = {
    name: {
        "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/get",
        "parameters": {"run_id": "$response.body#/run_id"},
        "description": f"{what} of the run this analysis made",
    }
    for name, path, what in (
        ("Run", "/v1/runs/{run_id}", "The details"),
        ("SignalsCsv", "/v1/runs/{run_id}/signals.csv", "The signals as CSV"),
        ("Chart", "/v1/runs/{run_id}/chart.png", "The VaR chart"),
    )
}
"""``POST /analyse`` -> the ``GET /v1/runs/{run_id}...`` operations, by JSON pointer."""
_MAX_SIGNALS = 412  # a 26-year window of NVDA at h=101
ANALYSE_ERRORS: tuple[ErrorExample, ...] = (
    InvalidParameter("h must be an integer from 3 to 748 (window rows - 3)", field="h"),
    InvalidParameter("p must be an integer from 1 to 750 (window rows - 1)", field="p"),
    InvalidParameter(
        f"d must be an integer from 1 to {LIMITS.max_d} (the configured maximum per resource,"
        " limits.max_d)",
        field="d",
    ),
    InvalidParameter("t must be 'buy' or 'sell'", field="t"),
    InvalidParameter("start must not be after end", field="start"),
    _invalid(AnalyseRequest, {"h": "101", "t": "sell", "p": "7"}),
    _invalid(AnalyseRequest, {"h": "abc", "d": "10000", "t": "sell", "p": "7"}),
    *BODY,
    UnknownTicker(
        "no prices for ZZZZ; known tickers: AAPL, GOOG, MSFT, NVDA, QQQ, SPY", field="ticker"
    ),
    LimitExceeded(
        f"d x r x signals = {LIMITS.max_d} x 64 x {_MAX_SIGNALS} ="
        f" {LIMITS.max_d * 64 * _MAX_SIGNALS} exceeds the limit max_work = {LIMITS.max_work}"
        f" (SIGNALRISK_LIMITS__MAX_WORK); with r = 64 and {_MAX_SIGNALS} signals, d may be at"
        f" most {LIMITS.max_work // (64 * _MAX_SIGNALS)}",
        field="d",
    ),
    NotWarm("the scale is cold; POST /warmup and wait for /scaled_ready"),
    Busy("an analysis is already running"),
    *WRITE,
    WORKER_DOWN,
    AUDIT_NOT_WRITTEN,
)

# -- the results of the last analysis (seed 42) -----------------------------------------------

DATES = ("2022-08-30", "2022-08-31", "2022-09-01")  # the first 3 of the 36 signals
VAR95 = _floats(
    "-0.0716 -0.0705 -0.0706 -0.0720 -0.0718 -0.0710 -0.0640 -0.0620 -0.0609 -0.0604 -0.0612"
    " -0.0614 -0.0613 -0.0564 -0.0583 -0.0542 -0.0515 -0.0478 -0.0460 -0.0481 -0.0499 -0.0533"
    " -0.0400 -0.0411 -0.0386 -0.0294 -0.0307 -0.0484 -0.0512 -0.0512 -0.0515 -0.0594 -0.0566"
    " -0.0538 -0.0545 -0.0438"
)
VAR99 = _floats(
    "-0.0980 -0.0981 -0.0983 -0.1010 -0.1002 -0.0998 -0.0896 -0.0877 -0.0871 -0.0851 -0.0873"
    " -0.0867 -0.0855 -0.0820 -0.0848 -0.0787 -0.0751 -0.0688 -0.0673 -0.0711 -0.0726 -0.0765"
    " -0.0574 -0.0587 -0.0544 -0.0441 -0.0452 -0.0714 -0.0764 -0.0737 -0.0733 -0.0867 -0.0818"
    " -0.0768 -0.0778 -0.0639"
)
PROFIT_LOSS = _floats(
    "1.081 0.589 0.806 0.519 0.536 0.701 -0.381 0.038 -1.514 -1.530 2.831 2.535 1.651 -2.659"
    " -0.267 -0.627 -0.579 -1.391 -2.348 -2.198 -3.491 -3.765 0.940 0.607 1.210 -9.660 -14.807"
    " -10.170 4.930 11.830 -1.240 -8.030 -9.040 9.900 4.390 -11.160"
)
AV95, AV99, TOTAL_PL, AVG_PL = -0.05485, -0.07842, -39.763, -1.10453
TIME, COST = 0.63, 1.1100021e-05

SIG_VARS = {"var95": VAR95, "var99": VAR99}
AVG_VARS = {"var95": AV95, "var99": AV99}
SIG_PROFIT_LOSS = {"profit_loss": PROFIT_LOSS}
TOT_PROFIT_LOSS = {"profit_loss": TOTAL_PL}
CHART_URL = {"url": f"{API}/v1/runs/{RUN_ID}/chart.png"}
TIME_COST = {"time": TIME, "cost": COST, "estimate": True, "basis": "local-simulated"}
RESULT_ERRORS: tuple[ErrorExample, ...] = (NO_ANALYSIS, *READ)

REQUEST_AS_RUN = {
    "s": "lambda",
    "r": 3,
    "h": 101,
    "d": 10000,
    "t": "sell",
    "p": 7,
    "ticker": "NVDA",
    "start": "2022-02-14",
    "end": "2025-02-11",
    "seed": 42,
    "platform": "local",
    "signals": 36,
    "data_sha256": "43915c8069dbe45e9c55d15b91d194a0f294ae2e91ed92c516fe05e1d8a2cf2f",
}
AUDIT_RECORD = {
    **REQUEST_AS_RUN,
    "profit_loss": TOTAL_PL,
    "av95": AV95,
    "av99": AV99,
    "time": TIME,
    "cost": COST,
    "run_id": RUN_ID,
    "timestamp": "2025-02-12T11:00:02.424666Z",
    "status": "ok",
    "estimate": True,
    "basis": "local-simulated",
    "version": __version__,
}
AUDIT = [AUDIT_RECORD]

# -- /reset, /terminate ------------------------------------------------------------------------

RESET = {"result": "ok"}
RESET_ERRORS: tuple[ErrorExample, ...] = (
    Busy("an analysis is running; reset when it has finished"),
    *WRITE,
)
TERMINATE = {"result": "ok", "state": "terminating"}
TERMINATE_ERRORS: tuple[ErrorExample, ...] = (
    Busy("an analysis is running; terminate when it has finished"),
    *WRITE,
)
SCALED_TERMINATED = {"terminated": "true"}

# -- /v1 ---------------------------------------------------------------------------------------

INFO = {
    "version": __version__,
    "platform": "local",
    "services": {
        "lambda": {"max_r": LIMITS.max_r_lambda},
        "ec2": {"max_r": LIMITS.max_r_ec2},
    },
    "limits": LIMITS.model_dump(),
    "default_ticker": "NVDA",
    "window_days": 1094,
    "tickers": [
        {
            "ticker": "NVDA",
            "first": "1999-01-22",
            "last": "2025-02-11",
            "default_start": "2022-02-13",
            "rows": 6555,
        },
        {
            "ticker": "SPY",
            "first": "2010-01-04",
            "last": "2024-12-30",
            "default_start": "2022-01-01",
            "rows": 3773,
        },
    ],
    "prices": PRICES.model_dump(),
}

_COST = {"billable_s": 0.782, "usd": 1.36333594e-05, "estimate": True, "basis": "local-simulated"}
SCALE = {
    "scale_id": SCALE_ID,
    "service": "lambda",
    "r": 3,
    "state": "ready",
    "platform": "local",
    "requested_at": 1739357990.1646223,
    "ready_at": 1739357990.5973015,
    "error": None,
    "warmup": _COST,
    "cost_to_date": _COST,
    "resources": [
        {
            "id": f"lambda-{SCALE_ID[:8]}-{k}" + ("-5e0c2a" if k == 1 else ""),
            "index": k,
            "state": "ready",
            "address": f"http://127.0.0.1:{36035 + k if k != 1 else 41217}",
            "pid": 29688 + k if k != 1 else 30112,
        }
        for k in range(3)
    ],
    # Worker 1 died at 18:20:04; its replacement was ready 0.4 s later.
    "replacements": [
        {
            "index": 1,
            "resource": f"lambda-{SCALE_ID[:8]}-1",
            "died_at": 1739358004.0127,
            "replaced_at": 1739358004.0311,
            "replaced_by": f"lambda-{SCALE_ID[:8]}-1-5e0c2a",
            "ready_at": 1739358004.4388,
            "error": None,
        }
    ],
}

RUN = {
    "run_id": RUN_ID,
    "status": "ok",
    "created_at": 1739358002.18068,
    "finished_at": 1739358002.4246663,
    "request": REQUEST_AS_RUN,
    "error": None,
    "signals": 36,
    "excluded_signals": 15,
    "av95": AV95,
    "av99": AV99,
    "total_profit_loss": TOTAL_PL,
    "avg_profit_loss": AVG_PL,
    "time": TIME,
    "cost": COST,
    "estimate": True,
    "basis": "local-simulated",
    "chart_path": f"/v1/runs/{RUN_ID}/chart.png",
}
RUNS = {"offset": 0, "limit": 100, "items": [RUN]}
_ITEMS = [  # position, mean, std, se95, se99, bias95, bias99 of the first 3 signals
    (136, -0.00410545, 0.0410067, 0.000500302, 0.000883852, -1.70449e-05, -6.8002e-05),
    (137, -0.00372848, 0.040671, 0.000496206, 0.000876616, -1.69053e-05, -6.74452e-05),
    (138, -0.00388874, 0.0407201, 0.000496806, 0.000877675, -1.69258e-05, -6.75268e-05),
]
_SPREAD = ((0.000533936, 0.00134548), (0.000102954, 0.000950712), (0.000461577, 0.000868738))
RUN_DETAIL = {
    **RUN,
    "items": [
        {
            "date": DATES[j],
            "position": position,
            "mean": mean,
            "std": std,
            "var95": VAR95[j],
            "var99": VAR99[j],
            "se95": se95,
            "se99": se99,
            "bias95": bias95,
            "bias99": bias99,
            "spread95": _SPREAD[j][0],
            "spread99": _SPREAD[j][1],
            "profit_loss": PROFIT_LOSS[j],
        }
        for j, (position, mean, std, se95, se99, bias95, bias99) in enumerate(_ITEMS)
    ],
    "var95_by_resource": [
        [-0.0713, -0.0704, -0.0697],
        [-0.0727, -0.0704, -0.0709],
        [-0.0709, -0.0707, -0.0712],
    ],
    "var99_by_resource": [
        [-0.0983, -0.0980, -0.0986],
        [-0.1003, -0.0966, -0.0996],
        [-0.0956, -0.0998, -0.0966],
    ],
    "batches": [
        {
            "resource_id": f"lambda-{SCALE_ID[:8]}-{k}",
            "resource_index": k,
            "pid": 29688 + k,
            "started": 1739358002.19 + 0.001 * k,
            "finished": 1739358002.39 + 0.015 * k,
            "billed_ms": 194.0 + 15.0 * k,
        }
        for k in range(3)
    ],
    "wall_s": 0.2405,
    "data_sha256": REQUEST_AS_RUN["data_sha256"],
    "faults": [],
}
RUN_DETAIL_NOTE = (
    "The example shows the first 3 of the run's 36 signals (``items``, and each resource's"
    " list in ``var95_by_resource`` / ``var99_by_resource``)."
)
RUN_ERRORS: tuple[ErrorExample, ...] = (NO_RUN, *READ)
PAGE_ERRORS: tuple[ErrorExample, ...] = (
    _invalid_query("limit", "0"),
    _invalid_query("offset", "-1"),
    *READ,
)
AUDIT_PAGE = {"offset": 0, "limit": 100, "total": 1, "items": AUDIT}

SIGNALS_CSV = (
    "date,position,mean,std,var95,var99,se95,se99,spread95,spread99,profit_loss\n"
    "2022-08-30,136,-0.004105452272608008,0.04100668252529458,-0.07161270508918496,"
    "-0.09803820175254474,0.000500301775213836,0.0008838518678723194,0.00053393563226468,"
    "0.0013454756925183858,1.0810003280639648\n"
)
CHART_ERRORS: tuple[ErrorExample, ...] = (
    NO_RUN,
    NotFound(f"run {RUN_ID} has no results to chart"),
    *READ,
    CHART_STORE_DOWN,
)

COMPUTE_BODIES = named(
    one_signal=(
        "one signal, as the source system's function takes it",
        {
            "mean": 0.001,
            "std": 0.02,
            "shots": 10000,
        },
    ),
    batch=(
        "a batch of signals with a seed and a stream",
        {
            "mean": [-0.00410545, -0.00372848, -0.00388874],
            "std": [0.0410067, 0.040671, 0.0407201],
            "shots": 10000,
            "seed": 42,
            "resource_index": 1,
        },
    ),
    warm_up=("only load the code and say who ran it", {"warmup": True}),
)
_WHO = {"resource_id": f"lambda-{SCALE_ID[:8]}-1", "pid": 29689, "started": 1739358010.2690153}
COMPUTE = named(
    one_signal=(
        "one signal: a number each",
        {
            "var95": -0.0328,
            "var99": -0.0463,
            "seed": 3551334943101783785,
            "resource_index": 0,
            **_WHO,
            "finished": 1739358010.2693489,
            "duration_ms": 0.33,
        },
    ),
    batch=(
        "a batch: a list each, in the payload's order",
        {
            "var95": [-0.0709, -0.0707, -0.0712],
            "var99": [-0.0956, -0.0998, -0.0966],
            "seed": 42,
            "resource_index": 1,
            **_WHO,
            "finished": 1739358010.2701,
            "duration_ms": 1.08,
        },
    ),
    warm_up=("a warm-up call", {"warm": True, **_WHO, "duration_ms": 0.0}),
)
COMPUTE_ERRORS: tuple[ErrorExample, ...] = (
    InvalidParameter("compute handler error: mean must hold finite numbers"),
    *BODY,
    NotFound("this platform's compute function is invoked at its own URL"),
    NotWarm("no ready lambda scale; POST /warmup with s=lambda first"),
    NotWarm("no live resource in the scale"),
    *WRITE,
    WORKER_DOWN,
)
