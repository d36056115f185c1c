"""The source system's 15 endpoints, with its request and response shapes (SPEC §2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from signalrisk.api import schemas
from signalrisk.api.deps import ReadAccess, WriteAccess, body_of, facade, openapi_body
from signalrisk.core.errors import Busy
from signalrisk.services.analysis import AnalysisRequest
from signalrisk.services.facade import Facade

router = APIRouter(tags=["seed"])


def _flag(value: bool) -> str:
    return "true" if value else "false"


@router.post(
    "/warmup",
    response_model=schemas.Ok,
    dependencies=[WriteAccess],
    openapi_extra=openapi_body(schemas.WarmupRequest),
)
def warmup(
    request: Request,
    body: schemas.WarmupRequest = Depends(body_of(schemas.WarmupRequest)),  # noqa: B008
    app: Facade = Depends(facade),  # noqa: B008
) -> dict[str, Any]:
    """Start warming ``r`` resources of ``s``; returns at once while the warm-up goes on."""
    view = app.scales.warmup(body.s, body.r)
    request.app.state.driver.wake()
    return {"result": "ok", "state": view.state, "scale_id": view.id}


@router.get("/scaled_ready", response_model=schemas.Warm, dependencies=[ReadAccess])
def scaled_ready(app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """``"true"`` once every resource of the scale is warm and alive."""
    return {"warm": _flag(app.scales.scaled_ready())}


@router.get("/get_warmup_cost", response_model=schemas.CostAnswer, dependencies=[ReadAccess])
def get_warmup_cost(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Billable time (s) and cost (USD) of the warm-up; 409 not_warm before one completed."""
    cost = app.scales.warmup_cost()
    return {
        "billable_time": cost.billable_s,
        "cost": cost.usd,
        "estimate": cost.estimate,
        "basis": cost.basis,
    }


@router.get("/get_endpoints", dependencies=[ReadAccess])
def get_endpoints(request: Request, app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """Each endpoint made available at warm-up, with a curl command that invokes it."""
    return app.scales.endpoints(str(request.base_url))


@router.post(
    "/analyse",
    response_model=schemas.Ok,
    dependencies=[WriteAccess],
    openapi_extra=openapi_body(schemas.AnalyseRequest),
)
def analyse(
    body: schemas.AnalyseRequest = Depends(body_of(schemas.AnalyseRequest)),  # noqa: B008
    app: Facade = Depends(facade),  # noqa: B008
) -> dict[str, Any]:
    """Run the analysis on the warm scale; answers when it has finished."""
    run_id = app.analyses.analyse(
        AnalysisRequest(
            h=body.h,
            d=body.d,
            t=body.t,
            p=body.p,
            ticker=body.ticker,
            start=body.start,
            end=body.end,
            seed=body.seed,
        )
    )
    return {"result": "ok", "run_id": run_id}


# The result endpoints below are async: they read one small row and a cached run, which is
# quicker on the event loop than a hop through the thread pool (they are the hot GETs).


@router.get("/get_sig_vars9599", response_model=schemas.SigVars, dependencies=[ReadAccess])
async def get_sig_vars9599(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Per-signal 95% and 99% VaR, in date order."""
    result = app.runs.last().result or {}
    return {"var95": result["var95"], "var99": result["var99"]}


@router.get("/get_avg_vars9599", response_model=schemas.AvgVars, dependencies=[ReadAccess])
async def get_avg_vars9599(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Averages of the per-signal VaRs (null with no signals)."""
    result = app.runs.last().result or {}
    return {"var95": result["av95"], "var99": result["av99"]}


@router.get("/get_sig_profit_loss", response_model=schemas.SigProfitLoss, dependencies=[ReadAccess])
async def get_sig_profit_loss(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Per-signal profit/loss p days later (null past the window's end)."""
    return {"profit_loss": (app.runs.last().result or {})["profit_loss"]}


@router.get("/get_tot_profit_loss", response_model=schemas.TotProfitLoss, dependencies=[ReadAccess])
async def get_tot_profit_loss(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Sum of the non-null profit/loss values."""
    return {"profit_loss": (app.runs.last().result or {})["total_profit_loss"]}


@router.get("/get_chart_url", response_model=schemas.ChartUrl, dependencies=[ReadAccess])
async def get_chart_url(request: Request, app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """Absolute URL of the last analysis's chart (a PNG)."""
    run = app.runs.last()
    api_url = str(request.url_for("run_chart", run_id=run.id))
    if not app.charts.presigns:
        return {"url": api_url}  # served by the API, drawn when first fetched
    # A presigned URL needs the chart in the bucket first: drawing it is work for a thread.
    return {"url": await run_in_threadpool(app.charts.url, run.id, api_url)}


@router.get("/get_time_cost", response_model=schemas.TimeCost, dependencies=[ReadAccess])
async def get_time_cost(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Billable time (s) and cost (USD) of the last analysis."""
    result = app.runs.last().result or {}
    return {
        "time": result["time"],
        "cost": result["cost"],
        "estimate": result["estimate"],
        "basis": result["basis"],
    }


@router.get("/get_audit", dependencies=[ReadAccess])
async def get_audit(app: Facade = Depends(facade)) -> list[dict[str, Any]]:  # noqa: B008
    """Every past run, oldest first."""
    return app.runs.audit.records()


def _reset(app: Facade) -> dict[str, str]:
    if app.scales.current().state == "analysing":
        raise Busy("an analysis is running; reset when it has finished")
    app.runs.reset()
    return {"result": "ok"}


@router.get("/reset", response_model=schemas.Ok, dependencies=[WriteAccess])
def reset(app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """Forget the last analysis; the warm scale stays."""
    return _reset(app)


@router.post(
    "/reset", response_model=schemas.Ok, dependencies=[WriteAccess], include_in_schema=False
)
def reset_post(app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    return _reset(app)


def _terminate(request: Request, app: Facade) -> dict[str, str]:
    view = app.scales.terminate()
    request.app.state.driver.wake()
    return {"result": "ok", "state": view.state}


@router.get("/terminate", response_model=schemas.Ok, dependencies=[WriteAccess])
def terminate(request: Request, app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """Scale down to zero; a new /warmup is needed afterwards."""
    return _terminate(request, app)


@router.post(
    "/terminate", response_model=schemas.Ok, dependencies=[WriteAccess], include_in_schema=False
)
def terminate_post(request: Request, app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    return _terminate(request, app)


@router.get("/scaled_terminated", response_model=schemas.Terminated, dependencies=[ReadAccess])
def scaled_terminated(app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """``"true"`` once every resource has stopped."""
    return {"terminated": _flag(app.scales.scaled_terminated())}
