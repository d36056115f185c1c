"""Request and response bodies. Numbers are accepted as numbers or numeric strings.

The seed's answers (``Ok`` ... ``ChartUrl``) are the routes' ``response_model``. The richer
answers below them (``ScaleAnswer`` ... ``ComputeAnswer``) document responses that the routes
send as they produce them: a validating model would coerce (an int to a float), and the audit
records are stored data that the service serves as stored. ``tests/api/test_openapi.py`` checks
real answers against these documented schemas instead.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from signalrisk.core.config import Limits, PriceTable
from signalrisk.services.states import State

INTEGER_TEXT = r"^[ \t\n\r]*[+-]?[0-9]+[ \t\n\r]*$"
"""A string of an integer, as documented and as accepted: no '1_000', '5.0' or other digits."""


def _integer(value: Any) -> Any:
    """What pydantic's int then takes: a number, or a string that is exactly an integer."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, str):
        if not re.fullmatch(INTEGER_TEXT, value):
            raise ValueError("not an integer")
        return value.strip(" \t\n\r")
    return value


def _int_schema(minimum: int | None = None, maximum: int | None = None) -> WithJsonSchema:
    """An integer or a string of one. Bounds that never change are documented on the integer;
    those that depend on configuration or on the data window are in the field's description
    (a value outside them is 422 ``invalid_parameter`` naming the field and its range)."""
    number: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        number["minimum"] = minimum
    if maximum is not None:
        number["maximum"] = maximum
    return WithJsonSchema(
        {
            "anyOf": [number, {"type": "string", "pattern": INTEGER_TEXT}],
            "description": "an integer, or a string of one (as the source client sends)",
        }
    )


IntFrom1 = Annotated[int, BeforeValidator(_integer), _int_schema(1)]
IntFrom3 = Annotated[int, BeforeValidator(_integer), _int_schema(3)]
Seed = Annotated[int, BeforeValidator(_integer), _int_schema(0, 2**63 - 1)]

Service = Literal["lambda", "ec2"]
Basis = Literal["lambda-report", "list-price", "local-simulated"]
ResourceState = Literal["starting", "ready", "dead", "terminating", "terminated"]
ErrorCode = Literal[
    "invalid_parameter",
    "limit_exceeded",
    "unknown_ticker",
    "not_warm",
    "busy",
    "no_analysis",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "internal",
    "compute_error",
    "storage_error",
]


class WarmupRequest(BaseModel):
    """``s``: the service; ``r``: how many parallel resources."""

    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"s": "lambda", "r": "3"}]}
    )
    s: str = Field(description="'lambda' or 'ec2'", json_schema_extra={"enum": ["lambda", "ec2"]})
    r: IntFrom1 = Field(description="parallel resources, from 1 to the configured maximum")


class AnalyseRequest(BaseModel):
    """The analysis: history ``h``, shots ``d`` per resource, side ``t``, horizon ``p``."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"h": "101", "d": "10000", "t": "sell", "p": "7"}]},
    )
    h: IntFrom3 = Field(description="days of history for mean/std, 3 to (window rows - 3)")
    d: IntFrom1 = Field(description="shots per resource, 1 to the configured maximum")
    t: str = Field(description="'buy' or 'sell'", json_schema_extra={"enum": ["buy", "sell"]})
    p: IntFrom1 = Field(description="days after the signal for profit/loss, 1 to (window rows - 1)")
    ticker: str | None = Field(None, description="default NVDA")
    start: date | None = Field(None, description="first day of the window (default end - 1094)")
    end: date | None = Field(None, description="last day of the window (default: the data's last)")
    seed: Seed | None = Field(None, description="random seed; generated and recorded if absent")


# -- the seed's answers (response models) --------------------------------------------------


class Ok(BaseModel):
    result: str = "ok"
    model_config = ConfigDict(extra="allow")


class WarmupAnswer(Ok):
    """The warm-up has started (or was already under way for the same ``s`` and ``r``)."""

    state: str = Field(description="the scale's state: warming, or ready if it already was")
    scale_id: str | None = Field(description="the scale's id, as under /v1/scale")


class AnalyseAnswer(Ok):
    """The analysis has finished; its details are at ``/v1/runs/{run_id}``."""

    run_id: str


class TerminateAnswer(Ok):
    """Termination has started; poll ``/scaled_terminated``."""

    state: str = Field(description="the scale's state: terminating, or cold if there was none")


class Warm(BaseModel):
    warm: str = Field(description='"true" or "false"')


class Terminated(BaseModel):
    terminated: str = Field(description='"true" or "false"')


class CostAnswer(BaseModel):
    billable_time: float
    cost: float
    estimate: bool
    basis: str


class TimeCost(BaseModel):
    time: float
    cost: float
    estimate: bool
    basis: str


class SigVars(BaseModel):
    var95: list[float]
    var99: list[float]


class AvgVars(BaseModel):
    var95: float | None
    var99: float | None


class SigProfitLoss(BaseModel):
    profit_loss: list[float | None]


class TotProfitLoss(BaseModel):
    profit_loss: float


class ChartUrl(BaseModel):
    url: str


# -- the one error body -------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: ErrorCode = Field(description="stable; the HTTP status follows from it")
    message: str = Field(description="what went wrong, and for a bad field its allowed range")
    field: str | None = Field(None, description="the input at fault; absent when none is")


class ErrorBody(BaseModel):
    """Every failure, whatever its status: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail


# -- documented answers (sent as produced) -------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # SPEC §2: extra keys are allowed


class CostFigures(_Open):
    """Billable seconds (summed over resources) and US dollars, with what they rest on."""

    billable_s: float
    usd: float
    estimate: bool
    basis: Basis


class ResourceView(_Open):
    id: str
    index: int
    state: ResourceState
    address: str | None = Field(description="a worker's base URL; null for a pure function")
    pid: int | None = Field(description="the local worker's process id; null on AWS")


class ReplacementView(_Open):
    """A resource that died while its scale was ready, and the resource that replaced it."""

    index: int = Field(description="the index (batch) of both")
    resource: str = Field(description="the dead resource")
    died_at: float | None = Field(description="epoch seconds: when it was seen dead")
    replaced_at: float = Field(description="epoch seconds: when its replacement was started")
    replaced_by: str | None = Field(
        description="the new resource; null while it is launched, or if the launch failed"
    )
    ready_at: float | None = Field(description="epoch seconds: when the new one became ready")
    error: str | None = Field(description="why no replacement was launched, if so")


class ScaleAnswer(_Open):
    """The current scale (``state`` cold and ``r`` 0 when there is none)."""

    scale_id: str | None
    service: Service | None
    r: int
    state: State
    platform: str
    requested_at: float | None = Field(description="epoch seconds")
    ready_at: float | None = Field(description="epoch seconds")
    error: str | None = Field(description="why the scale failed, if it did")
    warmup: CostFigures | None = Field(description="the warm-up's cost, once it is ready")
    cost_to_date: CostFigures | None = Field(description="idle time included")
    resources: list[ResourceView] = Field(
        description="the r resources, by index; a replaced one is in replacements, and an index"
        " whose replacement could not be launched yet has none"
    )
    replacements: list[ReplacementView] = Field(
        description="dead resources replaced while the scale was ready, oldest first"
    )


class ServiceInfo(_Open):
    max_r: int


class TickerInfo(_Open):
    ticker: str
    first: date
    last: date
    default_start: date = Field(description="the default window's first day: last - window_days")
    rows: int


class InfoAnswer(_Open):
    """What this deployment offers."""

    version: str
    platform: str
    services: dict[str, ServiceInfo]
    limits: Limits
    default_ticker: str
    window_days: int
    tickers: list[TickerInfo]
    prices: PriceTable


class RunRequest(_Open):
    """The request as run: resolved against the data (window, ticker) with the effective seed."""

    s: Service
    r: int
    h: int
    d: int
    t: Literal["buy", "sell"]
    p: int
    ticker: str
    start: str | None
    end: str | None
    seed: int
    platform: str
    signals: int
    data_sha256: str


class RunSummary(_Open):
    """One run. The figures are null while it runs, and for a failed run."""

    run_id: str
    status: Literal["running", "ok", "failed"]
    created_at: float = Field(description="epoch seconds")
    finished_at: float | None
    request: RunRequest
    error: str | None
    signals: int
    excluded_signals: int | None = Field(description="signals with i < h, left out of the lists")
    av95: float | None
    av99: float | None
    total_profit_loss: float | None
    avg_profit_loss: float | None
    time: float | None = Field(description="billable seconds of the analysis")
    cost: float | None = Field(description="US dollars")
    estimate: bool | None
    basis: Basis | None
    chart_path: str | None


class SignalDetail(_Open):
    """One signal: where it is, its return statistics, its VaR and how precise that VaR is."""

    date: str | None
    position: int | None = Field(description="row of the window (the third candle)")
    mean: float | None = Field(description="mean of the h-1 returns before the signal")
    std: float | None = Field(description="their sample standard deviation (ddof=1)")
    var95: float | None
    var99: float | None
    se95: float | None = Field(description="standard error: 2.113 std / sqrt(d r)")
    se99: float | None = Field(description="standard error: 3.733 std / sqrt(d r)")
    bias95: float | None = Field(description="about -4.2 std / d")
    bias99: float | None = Field(description="about -16.6 std / d")
    spread95: float | None = Field(description="std of the r estimates / sqrt(r); null if r = 1")
    spread99: float | None = Field(description="std of the r estimates / sqrt(r); null if r = 1")
    profit_loss: float | None = Field(description="null where i + p is past the window")


class Batch(_Open):
    resource_id: str
    resource_index: int
    pid: int | None
    started: float
    finished: float
    billed_ms: float


class RunDetail(RunSummary):
    """A run with its per-signal details (the keys below are there once it has results)."""

    items: list[SignalDetail] | None = None
    var95_by_resource: list[list[float]] | None = Field(None, description="r lists, one a signal")
    var99_by_resource: list[list[float]] | None = None
    batches: list[Batch] | None = None
    wall_s: float | None = None
    data_sha256: str | None = None


class RunsPage(_Open):
    offset: int
    limit: int
    items: list[RunSummary]


class AuditRecord(RunRequest):
    """One run's audit record (SPEC §5), written when it ended and never changed: the request
    as run, then its outcome."""

    profit_loss: float | None = Field(description="total P/L")
    av95: float | None
    av99: float | None
    time: float | None
    cost: float | None
    run_id: str
    timestamp: str = Field(description="ISO-8601 UTC")
    status: Literal["ok", "failed"]
    estimate: bool
    basis: Basis
    version: str
    error: str | None = Field(None, description="why it failed; absent for a run that succeeded")


class AuditPage(_Open):
    offset: int
    limit: int
    total: int
    items: list[AuditRecord]


def _handler_int(minimum: int, maximum: int) -> WithJsonSchema:
    """An integer, or a string that the compute function reads as one (or refuses: 422)."""
    number = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return WithJsonSchema({"anyOf": [number, {"type": "string"}]})


_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string"}]}
HandlerNumbers = Annotated[
    Any, WithJsonSchema({"anyOf": [*_NUMBER["anyOf"], {"type": "array", "items": _NUMBER}]})
]
Shots = Annotated[Any, _handler_int(1, 10_000_000)]
HandlerSeed = Annotated[Any, _handler_int(0, 2**63 - 1)]
ResourceIndex = Annotated[Any, _handler_int(0, 1_000_000)]


class ComputeCall(_Open):
    """One signal (numbers) or a batch (lists of the same length) to compute. A number may be
    a string of one; the function reads it, and refuses what is not one (422)."""

    mean: HandlerNumbers = Field(description="mean daily return(s), finite")
    std: HandlerNumbers = Field(description="standard deviation(s), finite and >= 0")
    shots: Shots = Field(description="draws per signal")
    seed: HandlerSeed | None = Field(None, description="drawn and returned if absent or null")
    resource_index: ResourceIndex = Field(0, description="selects the random stream")
    warmup: Literal[False] | None = Field(None, description="absent, null or false")


class WarmupCall(_Open):
    """Only load the code and say who ran it; nothing else in the payload is read."""

    warmup: Literal[True]


class ComputePayload(_Open):
    """The compute function's payload: a warm-up call, or a call to compute."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "title": cls.__name__,
            "description": cls.__doc__,
            "anyOf": [WarmupCall.model_json_schema(), ComputeCall.model_json_schema()],
        }


class ComputeAnswer(_Open):
    """VaR per signal (a number for one signal, a list for a batch), and who computed it."""

    var95: float | list[float] | None = Field(None, description="absent for a warm-up call")
    var99: float | list[float] | None = Field(None, description="absent for a warm-up call")
    seed: int | None = Field(None, description="absent for a warm-up call")
    resource_index: int | None = Field(None, description="absent for a warm-up call")
    warm: bool | None = Field(None, description="true, only for a warm-up call")
    resource_id: str
    pid: int
    started: float
    finished: float | None = Field(None, description="absent for a warm-up call")
    duration_ms: float
