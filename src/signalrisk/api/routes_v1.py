"""Richer results: the scale, runs by id with dates and per-signal details, the paged audit.

These routes send their answers as produced; ``responses=`` documents each one with a model
from ``signalrisk.api.schemas`` and an example from ``signalrisk.api.examples``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from signalrisk import __version__
from signalrisk.api import examples as ex
from signalrisk.api import schemas
from signalrisk.api.deps import ReadAccess, WriteAccess, facade, json_object
from signalrisk.db.models import RunRow
from signalrisk.services.export import signals_csv
from signalrisk.services.facade import Facade

router = APIRouter(prefix="/v1", tags=["v1"])
MAX_OFFSET = 2**63 - 1  # the largest OFFSET the databases take (a signed 64-bit integer)


def run_json(row: RunRow, detail: bool) -> dict[str, Any]:
    res = row.result or {}
    out: dict[str, Any] = {
        "run_id": row.id,
        "status": row.status,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "request": row.request,
        "error": row.error,
        "signals": len(res.get("dates", [])),
        "excluded_signals": res.get("excluded_signals"),
        "av95": res.get("av95"),
        "av99": res.get("av99"),
        "total_profit_loss": res.get("total_profit_loss"),
        "avg_profit_loss": res.get("avg_profit_loss"),
        "time": res.get("time"),
        "cost": res.get("cost"),
        "estimate": res.get("estimate"),
        "basis": res.get("basis"),
        "chart_path": f"/v1/runs/{row.id}/chart.png" if row.result is not None else None,
    }
    if detail and res:
        # Per signal: where it is, its statistics, its VaR, and how precise that VaR is
        # (formula standard error and bias, and the spread of the r estimates).
        per_signal = {
            "date": "dates",
            "position": "positions",
            "mean": "mean",
            "std": "std",
            "var95": "var95",
            "var99": "var99",
            "se95": "se95",
            "se99": "se99",
            "bias95": "bias95",
            "bias99": "bias99",
            "spread95": "spread95",
            "spread99": "spread99",
            "profit_loss": "profit_loss",
        }
        n = len(res.get("dates", []))
        columns = {name: res.get(key) or [None] * n for name, key in per_signal.items()}
        out["items"] = [{name: columns[name][j] for name in per_signal} for j in range(n)]
        out["var95_by_resource"] = res.get("var95_by_resource")
        out["var99_by_resource"] = res.get("var99_by_resource")
        out["batches"] = res.get("batches")
        out["faults"] = res.get("faults", [])  # failed attempts at a batch, each retried elsewhere
        out["wall_s"] = res.get("wall_s")
        out["data_sha256"] = res.get("data_sha256")
    return out


@router.get(
    "/info",
    dependencies=[ReadAccess],
    summary="What this deployment offers",
    responses=ex.responses(ex.answer(ex.INFO, model=schemas.InfoAnswer), *ex.READ),
)
def info(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """What this deployment offers: platform, services and their maximum r, limits, the
    tickers with their date ranges and default windows, and the prices costs are based on."""
    settings = app.ctx.settings
    tickers = []
    for name in app.ctx.prices.tickers():
        series = app.ctx.prices.load(name)
        tickers.append(
            {
                "ticker": name,
                "first": series.first_date,
                "last": series.last_date,
                "default_start": series.last_date - timedelta(days=settings.window_days),
                "rows": len(series),
            }
        )
    return {
        "version": __version__,
        "platform": settings.platform,
        "services": {s: {"max_r": settings.limits.max_r(s)} for s in ("lambda", "ec2")},
        "limits": settings.limits.model_dump(),
        "default_ticker": settings.default_ticker,
        "window_days": settings.window_days,
        "tickers": tickers,
        "prices": settings.prices.model_dump(),
    }


@router.get(
    "/scale",
    dependencies=[ReadAccess],
    summary="The current scale",
    responses=ex.responses(ex.answer(ex.SCALE, model=schemas.ScaleAnswer), *ex.READ),
)
def scale(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """The current scale: state, resources and their states, the warm-up cost and the cost
    to date (idle time included). ``state`` is ``cold`` and ``r`` 0 when there is none.

    A resource that dies while the scale is ready is replaced by a new one of the same index
    (at most ``max_replacements`` times per scale); ``replacements`` lists each, and the cost
    to date includes them. ``/get_warmup_cost`` keeps reporting the original warm-up."""
    view = app.scales.current()
    return {
        "scale_id": view.id,
        "service": view.service,
        "r": view.r,
        "state": view.state,
        "platform": app.ctx.settings.platform,
        "requested_at": view.requested_at,
        "ready_at": view.ready_at,
        "error": view.error,
        "warmup": view.warmup.as_dict() if view.warmup else None,
        "cost_to_date": to_date.as_dict() if (to_date := app.scales.cost_to_date(view)) else None,
        "resources": [
            {"id": r.id, "index": r.index, "state": r.state, "address": r.address, "pid": r.pid}
            for r in view.resources
        ],
        "replacements": [asdict(replacement) for replacement in view.replacements],
    }


@router.get(
    "/runs",
    dependencies=[ReadAccess],
    summary="Runs, a page at a time",
    responses=ex.responses(ex.answer(ex.RUNS, model=schemas.RunsPage), *ex.PAGE_ERRORS),
)
def runs(
    app: Facade = Depends(facade),  # noqa: B008
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Runs, oldest first, a page at a time (failed and running ones too), without their
    per-signal details."""
    return {
        "offset": offset,
        "limit": limit,
        "items": [run_json(r, detail=False) for r in app.runs.runs(offset, limit)],
    }


@router.get(
    "/runs/last",
    dependencies=[ReadAccess],
    summary="The last analysis in detail",
    responses=ex.responses(
        ex.answer(ex.RUN_DETAIL, model=schemas.RunDetail, description=ex.RUN_DETAIL_NOTE),
        *ex.RESULT_ERRORS,
    ),
)
def last_run(app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """The last analysis (the one the seed's result endpoints report), with its per-signal
    details."""
    return run_json(app.runs.last(), detail=True)


@router.get(
    "/runs/{run_id}",
    dependencies=[ReadAccess],
    summary="One run in detail",
    responses=ex.responses(
        ex.answer(ex.RUN_DETAIL, model=schemas.RunDetail, description=ex.RUN_DETAIL_NOTE),
        *ex.RUN_ERRORS,
    ),
)
def run(run_id: str, app: Facade = Depends(facade)) -> dict[str, Any]:  # noqa: B008
    """One run with its per-signal details (dates, statistics, VaR, standard errors, bias,
    the spread of the r estimates, P/L); ``items`` and the keys after it are there once the
    run has results."""
    return run_json(app.runs.run(run_id), detail=True)


@router.get(
    "/runs/{run_id}/signals.csv",
    dependencies=[ReadAccess],
    response_class=Response,
    summary="A run's signals as CSV",
    responses=ex.responses(
        ex.answer(
            ex.SIGNALS_CSV,
            media_type="text/csv",
            schema={"type": "string"},
            description="One header line, then one row per signal (the example shows one)",
        ),
        *ex.RUN_ERRORS,
    ),
)
def run_csv(run_id: str, app: Facade = Depends(facade)) -> Response:  # noqa: B008
    """The run's signals as CSV (date, position, mean, std, VaR, standard errors, P/L)."""
    body = signals_csv(run_json(app.runs.run(run_id), detail=True).get("items", []))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="signalrisk-{run_id}.csv"'},
    )


@router.get(
    "/runs/{run_id}/chart.png",
    name="run_chart",
    dependencies=[ReadAccess],
    response_class=Response,
    summary="A run's VaR chart",
    responses=ex.responses(
        ex.answer(
            media_type="image/png",
            schema={"type": "string", "format": "binary"},
            description="A PNG image: per-signal 95% and 99% VaR by date, with the two averages"
            " as lines (a chart that says so when the run found no signal)",
        ),
        *ex.CHART_ERRORS,
    ),
)
def run_chart(run_id: str, app: Facade = Depends(facade)) -> Response:  # noqa: B008
    """The run's chart of per-signal VaR with the two averages, drawn when first asked for
    and then kept in the store."""
    app.runs.run(run_id)  # 404 for an unknown id before it is made into an object key
    return Response(
        app.charts.png(run_id),
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get(
    "/audit",
    dependencies=[ReadAccess],
    summary="The audit trail, a page at a time",
    responses=ex.responses(
        ex.answer(ex.AUDIT_PAGE, model=schemas.AuditPage), *ex.PAGE_ERRORS, ex.STORE_DOWN
    ),
)
def audit(
    app: Facade = Depends(facade),  # noqa: B008
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """The audit trail (SPEC §5), oldest first, a page at a time; ``total`` counts every
    record."""
    keys = app.runs.audit.keys()
    return {
        "offset": offset,
        "limit": limit,
        "total": len(keys),
        "items": app.runs.audit.records(offset, limit),
    }


@router.post(
    "/functions/compute/invocations",
    dependencies=[WriteAccess],
    summary="Invoke the compute function",
    openapi_extra=ex.request_body(schemas.ComputePayload, ex.COMPUTE_BODIES),
    responses=ex.responses(
        ex.answer(examples=ex.COMPUTE, model=schemas.ComputeAnswer), *ex.COMPUTE_ERRORS
    ),
)
async def invoke_compute(
    payload: dict[str, Any] = Depends(json_object),  # noqa: B008
    app: Facade = Depends(facade),  # noqa: B008
) -> dict[str, Any]:
    """Invoke the compute function on the warm lambda scale with a seed payload
    (``{"mean": 0.001, "std": 0.02, "shots": 10000}``); it runs on one of the r workers.

    This is the endpoint ``/get_endpoints`` lists for lambda on the local platform; on AWS the
    function is invoked at its own URL and this answers 404. A payload the handler refuses is
    422 with the handler's message.
    """
    from starlette.concurrency import run_in_threadpool

    result: dict[str, Any] = await run_in_threadpool(app.analyses.invoke, payload)
    return result
