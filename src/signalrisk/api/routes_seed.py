"""The source system's 15 endpoints, with its request and response shapes (SPEC §2).

Their OpenAPI examples (``/docs``) are in ``signalrisk.api.examples``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from signalrisk.api import examples as ex
from signalrisk.api import schemas
from signalrisk.api.deps import ReadAccess, WriteAccess, body_of, facade
from signalrisk.core.errors import Busy
from signalrisk.services.analysis import AnalysisRequest
from signalrisk.services.facade import Facade

router = APIRouter(tags=["seed"])


def _flag(value: bool) -> str:
    return "true" if value else "false"


@router.post(
    "/warmup",
    response_model=schemas.WarmupAnswer,
    dependencies=[WriteAccess],
    summary="Warm up r resources of a service",
    openapi_extra=ex.request_body(schemas.WarmupRequest, ex.WARMUP_BODIES),
    responses=ex.responses(ex.answer(ex.WARMUP), *ex.WARMUP_ERRORS),
)
def warmup(
    request: Request,
    body: schemas.WarmupRequest = Depends(body_of(schemas.WarmupRequest)),  # noqa: B008
    app: Facade = Depends(facade),  # noqa: B008
) -> dict[str, Any]:
    """Start warming ``r`` resources of ``s``; returns at once while the warm-up goes on.

    The same ``s`` and ``r`` again is a no-op; another ``s`` or ``r`` replaces a ready scale
    (terminating it first) and is 409 ``busy`` while one is warming, analysing or terminating.
    Poll ``/scaled_ready`` until it says ``"true"``.
    """
    view = app.scales.warmup(body.s, body.r)
    request.app.state.driver.wake()
    return {"result": "ok", "state": view.state, "scale_id": view.id}


@router.get(
    "/scaled_ready",
    response_model=schemas.Warm,
    dependencies=[ReadAccess],
    summary="Whether the scale is warm",
    responses=ex.responses(ex.answer(ex.SCALED_READY), *ex.READ),
)
def scaled_ready(app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """``"true"`` once every resource of the scale is warm and alive (also while it analyses);
    ``"false"`` before, while terminating, and while a dead resource awaits replacement."""
    return {"warm": _flag(app.scales.scaled_ready())}


@router.get(
    "/get_warmup_cost",
    response_model=schemas.CostAnswer,
    dependencies=[ReadAccess],
    summary="Billable time and cost of the warm-up",
    responses=ex.responses(ex.answer(ex.WARMUP_COST), *ex.WARMUP_COST_ERRORS),
)
def get_warmup_cost(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Billable time (seconds, summed over resources) and cost (USD) of the warm-up; 409
    ``not_warm`` before one has completed. ``basis`` says what the figures rest on
    (``local-simulated``: what the same job would cost on AWS)."""
    cost = app.scales.warmup_cost()
    return {
        "billable_time": cost.billable_s,
        "cost": cost.usd,
        "estimate": cost.estimate,
        "basis": cost.basis,
    }


@router.get(
    "/get_endpoints",
    dependencies=[ReadAccess],
    summary="The endpoints made available at warm-up",
    responses=ex.responses(ex.answer(ex.ENDPOINTS), *ex.READ),
)
def get_endpoints(request: Request, app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """Each endpoint made available at warm-up, with a curl command that invokes it: for
    lambda on the local platform the API's own invoke URL of the compute function, for ec2
    each worker's URL. ``{}`` before any warm-up."""
    return app.scales.endpoints(str(request.base_url))


@router.post(
    "/analyse",
    response_model=schemas.AnalyseAnswer,
    dependencies=[WriteAccess],
    summary="Run an analysis on the warm scale",
    openapi_extra=ex.request_body(schemas.AnalyseRequest, ex.ANALYSE_BODIES),
    responses=ex.responses(ex.answer(ex.ANALYSE, links=ex.ANALYSE_LINKS), *ex.ANALYSE_ERRORS),
)
def analyse(
    body: schemas.AnalyseRequest = Depends(body_of(schemas.AnalyseRequest)),  # noqa: B008
    app: Facade = Depends(facade),  # noqa: B008
) -> dict[str, Any]:
    """Run the analysis on the warm scale; answers when it has finished.

    Finds the ``t`` signals in the window, estimates each one's 95% and 99% VaR from ``d``
    shots on each of the ``r`` resources, and its profit/loss ``p`` days later. Bad input is
    422 whatever the scale's state; then 409 ``not_warm`` unless the scale is ready.
    """
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


@router.get(
    "/get_sig_vars9599",
    response_model=schemas.SigVars,
    dependencies=[ReadAccess],
    summary="Per-signal 95% and 99% VaR",
    responses=ex.responses(ex.answer(ex.SIG_VARS), *ex.RESULT_ERRORS),
)
async def get_sig_vars9599(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Per-signal 95% and 99% VaR of the last analysis, in date order: the 5th and 1st
    percentiles of simulated one-day returns (negative numbers), averaged over the r
    resources."""
    result = app.runs.last().result or {}
    return {"var95": result["var95"], "var99": result["var99"]}


@router.get(
    "/get_avg_vars9599",
    response_model=schemas.AvgVars,
    dependencies=[ReadAccess],
    summary="Average 95% and 99% VaR",
    responses=ex.responses(ex.answer(ex.AVG_VARS), *ex.RESULT_ERRORS),
)
async def get_avg_vars9599(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Averages of the per-signal VaRs of the last analysis (null with no signals)."""
    result = app.runs.last().result or {}
    return {"var95": result["av95"], "var99": result["av99"]}


@router.get(
    "/get_sig_profit_loss",
    response_model=schemas.SigProfitLoss,
    dependencies=[ReadAccess],
    summary="Per-signal profit/loss",
    responses=ex.responses(ex.answer(ex.SIG_PROFIT_LOSS), *ex.RESULT_ERRORS),
)
async def get_sig_profit_loss(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Per-signal profit/loss ``p`` days later, per share in price units, aligned with the VaR
    lists (sell: ``Close[i] - Close[i+p]``; null where ``i+p`` is past the window's end)."""
    return {"profit_loss": (app.runs.last().result or {})["profit_loss"]}


@router.get(
    "/get_tot_profit_loss",
    response_model=schemas.TotProfitLoss,
    dependencies=[ReadAccess],
    summary="Total profit/loss",
    responses=ex.responses(ex.answer(ex.TOT_PROFIT_LOSS), *ex.RESULT_ERRORS),
)
async def get_tot_profit_loss(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Sum of the non-null per-signal profit/loss values (0.0 with none)."""
    return {"profit_loss": (app.runs.last().result or {})["total_profit_loss"]}


@router.get(
    "/get_chart_url",
    response_model=schemas.ChartUrl,
    dependencies=[ReadAccess],
    summary="URL of the VaR chart",
    responses=ex.responses(ex.answer(ex.CHART_URL), *ex.RESULT_ERRORS, ex.CHART_STORE_DOWN),
)
async def get_chart_url(request: Request, app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """Absolute URL of the last analysis's chart (a PNG): the API's own
    ``/v1/runs/{run_id}/chart.png``, or a presigned object URL where the store has them."""
    run = app.runs.last()
    api_url = str(request.url_for("run_chart", run_id=run.id))
    if not app.charts.presigns:
        return {"url": api_url}  # served by the API, drawn when first fetched
    # A presigned URL needs the chart in the bucket first: drawing it is work for a thread.
    return {"url": await run_in_threadpool(app.charts.url, run.id, api_url)}


@router.get(
    "/get_time_cost",
    response_model=schemas.TimeCost,
    dependencies=[ReadAccess],
    summary="Billable time and cost of the analysis",
    responses=ex.responses(ex.answer(ex.TIME_COST), *ex.RESULT_ERRORS),
)
async def get_time_cost(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """Billable time (seconds, summed over resources) and cost (USD) of the last analysis."""
    result = app.runs.last().result or {}
    return {
        "time": result["time"],
        "cost": result["cost"],
        "estimate": result["estimate"],
        "basis": result["basis"],
    }


@router.get(
    "/get_audit",
    dependencies=[ReadAccess],
    summary="The audit trail",
    responses=ex.responses(
        ex.answer(ex.AUDIT, model=list[schemas.AuditRecord]), *ex.READ, ex.STORE_DOWN
    ),
)
async def get_audit(app: Facade = Depends(facade)) -> list[dict[str, Any]]:  # noqa: B008
    """Every past run's audit record (SPEC §5), oldest first; ``/v1/audit`` pages them."""
    return app.runs.audit.records()


def _reset(app: Facade) -> dict[str, str]:
    if app.scales.current().state == "analysing":
        raise Busy("an analysis is running; reset when it has finished")
    app.runs.reset()
    return {"result": "ok"}


@router.get(
    "/reset",
    response_model=schemas.Ok,
    dependencies=[WriteAccess],
    summary="Forget the last analysis",
    responses=ex.responses(ex.answer(ex.RESET), *ex.RESET_ERRORS),
)
def reset(app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """Forget the last analysis (the result endpoints answer 409 ``no_analysis`` until the
    next); the warm scale, the runs and the audit trail stay. Also takes POST."""
    return _reset(app)


@router.post(
    "/reset",
    response_model=schemas.Ok,
    dependencies=[WriteAccess],
    summary="Forget the last analysis (POST)",
    responses=ex.responses(ex.answer(ex.RESET), *ex.RESET_ERRORS),
)
def reset_post(app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """The same as ``GET /reset``: clients that send every call as a POST work unchanged."""
    return _reset(app)


def _terminate(request: Request, app: Facade) -> dict[str, str]:
    view = app.scales.terminate()
    request.app.state.driver.wake()
    return {"result": "ok", "state": view.state}


@router.get(
    "/terminate",
    response_model=schemas.TerminateAnswer,
    dependencies=[WriteAccess],
    summary="Scale down to zero",
    responses=ex.responses(ex.answer(ex.TERMINATE), *ex.TERMINATE_ERRORS),
)
def terminate(request: Request, app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """Scale down to zero; a new /warmup is needed afterwards. Poll ``/scaled_terminated``
    until it says ``"true"``. Also takes POST."""
    return _terminate(request, app)


@router.post(
    "/terminate",
    response_model=schemas.TerminateAnswer,
    dependencies=[WriteAccess],
    summary="Scale down to zero (POST)",
    responses=ex.responses(ex.answer(ex.TERMINATE), *ex.TERMINATE_ERRORS),
)
def terminate_post(request: Request, app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """The same as ``GET /terminate``: clients that send every call as a POST work unchanged."""
    return _terminate(request, app)


@router.get(
    "/scaled_terminated",
    response_model=schemas.Terminated,
    dependencies=[ReadAccess],
    summary="Whether every resource has stopped",
    responses=ex.responses(ex.answer(ex.SCALED_TERMINATED), *ex.READ),
)
def scaled_terminated(app: Facade = Depends(facade)) -> dict[str, str]:  # noqa: B008
    """``"true"`` once every resource has stopped (and before any warm-up)."""
    return {"terminated": _flag(app.scales.scaled_terminated())}
