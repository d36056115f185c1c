"""Request and response bodies. Numbers are accepted as numbers or numeric strings."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, str):
        return value.strip()
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]


class WarmupRequest(BaseModel):
    """``s``: the service; ``r``: how many parallel resources."""

    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"s": "lambda", "r": "3"}]}
    )
    s: str = Field(description="'lambda' or 'ec2'")
    r: Int = Field(description="parallel resources, from 1 to the configured maximum")


class AnalyseRequest(BaseModel):
    """The analysis: history ``h``, shots ``d`` per resource, side ``t``, horizon ``p``."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"h": "101", "d": "10000", "t": "sell", "p": "7"}]},
    )
    h: Int = Field(description="days of history for mean/std, 3 to (window rows - 3)")
    d: Int = Field(description="shots per resource, 1 to the configured maximum")
    t: str = Field(description="'buy' or 'sell'")
    p: Int = Field(description="days after the signal for profit/loss, 1 to (window rows - 1)")
    ticker: str | None = Field(None, description="default NVDA")
    start: date | None = Field(None, description="first day of the window (default end - 1094)")
    end: date | None = Field(None, description="last day of the window (default: the data's last)")
    seed: Int | None = Field(None, description="random seed; generated and recorded if absent")


class Ok(BaseModel):
    result: str = "ok"
    model_config = ConfigDict(extra="allow")


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
