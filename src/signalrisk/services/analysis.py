"""The analysis workflow (SPEC §3): signals, Monte Carlo VaR on r resources, P/L, costs, audit.

One call of :meth:`AnalysisService.analyse` validates the request against the data, claims the
ready scale (ready -> analysing), sends every signal to each of the r resources in one batch
each (in parallel), averages the r estimates, prices the run, stores it as the last analysis,
writes its audit record, and hands the scale back (analysing -> ready). The chart is drawn
afterwards in the background; :meth:`chart_png` draws it on demand if it is not there yet.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import psutil
from sqlalchemy import select, update

from signalrisk import __version__
from signalrisk.compute.base import BatchResult, Invocable, Resource, ScaleSpec
from signalrisk.compute.localproc import is_alive
from signalrisk.core.errors import (
    ComputeError,
    FunctionError,
    InvalidParameter,
    LimitExceeded,
    NoAnalysis,
    NotFound,
    NotWarm,
    SignalRiskError,
)
from signalrisk.db.models import Control, RunRow
from signalrisk.quant import accuracy
from signalrisk.quant.pnl import mean_or_none, profit_loss, total_profit_loss
from signalrisk.quant.prices import PriceSeries, to_date
from signalrisk.quant.signals import Side, detect_signals
from signalrisk.quant.stats import window_stats
from signalrisk.services.audit import AuditTrail, iso_utc
from signalrisk.services.context import ServiceContext
from signalrisk.services.costs import analysis_cost, basis_for
from signalrisk.services.scaling import ScaleService
from signalrisk.sources.csvfile import normalise_ticker

log = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
AUDIT_REQUEST_FIELDS = (
    "s",
    "r",
    "h",
    "d",
    "t",
    "p",
    "ticker",
    "start",
    "end",
    "seed",
    "platform",
    "signals",
    "data_sha256",
)
OWNER = f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time()}"
"""This process, as recorded on the runs it executes (host, pid, process start time)."""


def owner_alive(owner: str | None) -> bool:
    """Whether the process that recorded ``owner`` may still run: on another host, assume so."""
    if not owner:
        return False
    host, pid, create_time = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return True
    return is_alive(int(pid), float(create_time))


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    """An analysis as asked: h history days, d shots per resource, side t, horizon p days."""

    h: int
    d: int
    t: str
    p: int
    ticker: str | None = None
    start: date | None = None
    end: date | None = None
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated request, resolved against the data."""

    request: AnalysisRequest
    side: Side
    ticker: str
    window: PriceSeries
    start: date
    end: date
    positions: np.ndarray[Any, np.dtype[np.int64]]
    excluded: int
    seed: int
    data_sha256: str


def _window_sha256(window: PriceSeries) -> str:
    digest = hashlib.sha256()
    for array in (window.dates.astype("int64"), window.open, window.close):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


class AnalysisService:
    """Runs analyses on the current scale and answers for the last one."""

    def __init__(self, ctx: ServiceContext, scales: ScaleService) -> None:
        self.ctx = ctx
        self.scales = scales
        self.audit = AuditTrail(ctx.store)
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="dispatch")
        self._chart_lock = threading.Lock()
        self._round_robin = 0

    # -- validation ----------------------------------------------------------------------

    def plan(self, request: AnalysisRequest, r: int) -> Plan:
        """Check every parameter against SPEC §2's ranges for this data window."""
        settings = self.ctx.settings
        if request.t not in ("buy", "sell"):
            raise InvalidParameter("t must be 'buy' or 'sell'", field="t")
        if not 1 <= request.d <= settings.limits.max_d:
            raise InvalidParameter(
                f"d must be an integer from 1 to {settings.limits.max_d}", field="d"
            )
        if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
            raise InvalidParameter(f"seed must be an integer from 0 to {MAX_SEED}", field="seed")
        ticker = normalise_ticker(request.ticker or settings.default_ticker)
        series = self.ctx.prices.load(ticker)
        end = request.end or series.last_date
        start = request.start or (end - timedelta(days=settings.window_days))
        first, last = series.first_date.isoformat(), series.last_date.isoformat()
        if start > end:
            raise InvalidParameter("start must not be after end", field="start")
        window = series.window(start, end)
        rows = len(window)
        if rows < 6:
            raise InvalidParameter(
                f"the window {start}..{end} holds {rows} rows of {ticker}; at least 6 are needed"
                f" (data from {first} to {last})",
                field="start" if request.start else "end",
            )
        if not 3 <= request.h <= rows - 3:
            raise InvalidParameter(
                f"h must be an integer from 3 to {rows - 3} (window rows - 3)", field="h"
            )
        if not 1 <= request.p <= rows - 1:
            raise InvalidParameter(
                f"p must be an integer from 1 to {rows - 1} (window rows - 1)", field="p"
            )
        side: Side = "buy" if request.t == "buy" else "sell"
        found = detect_signals(window.open, window.close, side)
        positions = found[found >= request.h]
        work = request.d * r * len(positions)
        if work > settings.limits.max_work:
            raise LimitExceeded(
                f"d x r x signals = {work} exceeds the limit {settings.limits.max_work}", field="d"
            )
        seed = request.seed if request.seed is not None else secrets.randbits(63)
        return Plan(
            request,
            side,
            ticker,
            window,
            start,
            end,
            positions,
            len(found) - len(positions),
            seed,
            _window_sha256(window),
        )

    # -- the run ------------------------------------------------------------------------

    def analyse(self, request: AnalysisRequest) -> str:
        """Run an analysis on the ready scale; returns the run id once it has finished."""
        self.recover_interrupted()
        current = self.scales.current()
        if current.state not in ("ready", "analysing"):
            self.plan(request, max(current.r, 1))  # bad input is reported before state
            raise NotWarm(f"the scale is {current.state}; POST /warmup and wait for /scaled_ready")
        plan = self.plan(request, current.r)
        spec, resources = self.scales.begin_analysis()
        run_id = secrets.token_hex(8)
        request_json = self._request_json(plan, spec)
        with self.ctx.db.session() as session:
            session.add(
                RunRow(
                    id=run_id,
                    scale_id=spec.scale_id,
                    status="running",
                    created_at=time.time(),
                    owner=OWNER,
                    request=request_json,
                )
            )
        try:
            result = self._compute(plan, spec, resources)
        except SignalRiskError as exc:
            self._finish(run_id, request_json, None, exc.message)
            raise
        except Exception as exc:
            self._finish(run_id, request_json, None, repr(exc))
            raise
        finally:
            self.scales.end_analysis(spec.scale_id)
        self._finish(run_id, request_json, result, None)
        threading.Thread(target=self._render_quietly, args=(run_id,), daemon=True).start()
        return run_id

    def _request_json(self, plan: Plan, spec: ScaleSpec) -> dict[str, Any]:
        """The request as run, with what the audit record needs even if the run never ends."""
        return {
            "s": spec.service,
            "r": spec.r,
            "h": plan.request.h,
            "d": plan.request.d,
            "t": plan.side,
            "p": plan.request.p,
            "ticker": plan.ticker,
            "start": plan.window.first_date.isoformat() if len(plan.window) else None,
            "end": plan.window.last_date.isoformat() if len(plan.window) else None,
            "seed": plan.seed,
            "platform": self.ctx.settings.platform,
            "signals": len(plan.positions),
            "data_sha256": plan.data_sha256,
        }

    def recover_interrupted(self) -> int:
        """Fail the runs whose API process died mid-analysis, and hand their scale back.

        A run is interrupted when its owner process (on this host) is gone, or when it has run
        longer than any analysis can (two rounds of worker call timeouts): then its scale would
        otherwise stay ``analysing`` for ever. Returns how many runs were recovered.
        """
        lease_s = 2 * self.ctx.settings.worker_call_timeout_s + 60.0
        with self.ctx.db.session() as session:
            running = list(session.scalars(select(RunRow).where(RunRow.status == "running")))
            for row in running:
                session.expunge(row)
        recovered = 0
        for row in running:
            if owner_alive(row.owner) and time.time() - row.created_at < lease_s:
                continue
            if not self._finish(row.id, row.request, None, "the API process running it stopped"):
                continue  # another process recovered it first
            recovered += 1
            log.warning("interrupted run marked failed", extra={"run": row.id})
            if row.scale_id:
                self.scales.end_analysis(row.scale_id)
        return recovered

    def _dispatch(
        self, spec: ScaleSpec, resources: list[Resource], payloads: list[dict[str, Any]]
    ) -> list[BatchResult]:
        """Send payload k to the resource of index k (any live one if it is gone), in parallel.

        The stream depends on the payload's resource index, not on who runs it, so a batch
        re-run elsewhere gives the same numbers.
        """
        provider = self.ctx.provider(spec.service)
        live = [r for r in resources if r.state == "ready"]
        if not live:
            raise NotWarm("no live resource in the scale; POST /warmup again")
        by_index = {r.index: r for r in live}

        def run(k: int) -> BatchResult:
            first = by_index.get(k, live[k % len(live)])
            try:
                return provider.run_batch(spec, first, payloads[k])
            except ComputeError as exc:
                others = [r for r in live if r.id != first.id]
                if not others:
                    raise
                log.warning(
                    "batch failed, retrying elsewhere",
                    extra={"resource": first.id, "error": str(exc)},
                )
                return provider.run_batch(spec, others[k % len(others)], payloads[k])

        return list(self._pool.map(run, range(len(payloads))))

    def _compute(self, plan: Plan, spec: ScaleSpec, resources: list[Resource]) -> dict[str, Any]:
        window, positions, request = plan.window, plan.positions, plan.request
        stats = window_stats(window.close, positions, request.h)
        clock = time.perf_counter()
        batches: list[BatchResult] = []
        if len(positions):
            base = {
                "mean": stats.mean.tolist(),
                "std": stats.std.tolist(),
                "shots": request.d,
                "seed": plan.seed,
            }
            payloads = [{**base, "resource_index": k} for k in range(spec.r)]
            batches = self._dispatch(spec, resources, payloads)
        wall = time.perf_counter() - clock
        per95 = np.array([b.var95 for b in batches]).reshape(len(batches), len(positions))
        per99 = np.array([b.var99 for b in batches]).reshape(len(batches), len(positions))
        var95 = per95.mean(axis=0).tolist() if batches else []
        var99 = per99.mean(axis=0).tolist() if batches else []
        pl = profit_loss(window.close, positions, request.p, plan.side)
        cost = analysis_cost(
            self.ctx.settings.platform,
            spec.service,
            [b.billed_ms for b in batches],
            wall,
            spec.r,
            self.ctx.settings.prices,
        )
        d, r = request.d, spec.r
        return {
            "dates": [to_date(window.dates[i]).isoformat() for i in positions],
            "positions": positions.tolist(),
            "mean": stats.mean.tolist(),
            "std": stats.std.tolist(),
            "var95": var95,
            "var99": var99,
            "var95_by_resource": per95.tolist(),
            "var99_by_resource": per99.tolist(),
            "se95": [accuracy.standard_error(s, d, r, 95) for s in stats.std.tolist()],
            "se99": [accuracy.standard_error(s, d, r, 99) for s in stats.std.tolist()],
            "profit_loss": [None if np.isnan(v) else float(v) for v in pl],
            "av95": _mean(var95),
            "av99": _mean(var99),
            "total_profit_loss": total_profit_loss(pl),
            "avg_profit_loss": mean_or_none(pl),
            "excluded_signals": plan.excluded,
            "window_rows": len(window),
            "time": cost.billable_s,
            "wall_s": wall,
            "cost": cost.usd,
            "estimate": cost.estimate,
            "basis": cost.basis,
            "data_sha256": plan.data_sha256,
            "batches": [
                {
                    "resource_id": b.resource_id,
                    "resource_index": b.resource_index,
                    "pid": b.pid,
                    "started": b.started,
                    "finished": b.finished,
                    "billed_ms": b.billed_ms,
                }
                for b in batches
            ],
        }

    def _finish(
        self,
        run_id: str,
        request: dict[str, Any],
        result: dict[str, Any] | None,
        error: str | None,
    ) -> bool:
        """End a running run once: store it, make it the last analysis if it succeeded, and
        write its audit record. False if the run had already ended (someone else finished it)."""
        finished = time.time()
        status = "ok" if result is not None else "failed"
        with self.ctx.db.session() as session:
            claimed = session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "running")
                .values(status=status, finished_at=finished, result=result, error=error)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return False
        res = result or {}
        estimate, basis = basis_for(request["platform"], request["s"])
        record = {
            **{k: request[k] for k in AUDIT_REQUEST_FIELDS},
            "profit_loss": res.get("total_profit_loss"),
            "av95": res.get("av95"),
            "av99": res.get("av99"),
            "time": res.get("time"),
            "cost": res.get("cost"),
            "run_id": run_id,
            "timestamp": iso_utc(finished),
            "status": status,
            "estimate": estimate,
            "basis": basis,
            "version": __version__,
        }
        if error:
            record["error"] = error
        key = self.audit.write(record, finished)
        with self.ctx.db.session() as session:
            row = session.get(RunRow, run_id)
            assert row is not None
            row.audit_key = key
            if result is not None:
                control = session.get(Control, 1)
                assert control is not None
                control.last_run_id = run_id
        log.info("analysis finished", extra={"run": run_id, "status": status})
        return True

    # -- answers ------------------------------------------------------------------------

    def run(self, run_id: str) -> RunRow:
        with self.ctx.db.session() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise NotFound(f"no run {run_id}")
            session.expunge(row)
            return row

    def last(self) -> RunRow:
        """The last successful analysis, unless reset since; 409 no_analysis otherwise."""
        with self.ctx.db.session() as session:
            control = session.get(Control, 1)
            run_id = control.last_run_id if control else None
        if not run_id:
            raise NoAnalysis("no analysis yet (or /reset since); POST /analyse first")
        return self.run(run_id)

    def reset(self) -> None:
        """Forget the last analysis; the run history and the audit trail stay."""
        with self.ctx.db.session() as session:
            control = session.get(Control, 1)
            if control is not None:
                control.last_run_id = None

    def runs(self, offset: int, limit: int) -> list[RunRow]:
        with self.ctx.db.session() as session:
            rows = list(
                session.scalars(
                    select(RunRow).order_by(RunRow.created_at).offset(offset).limit(limit)
                )
            )
            for row in rows:
                session.expunge(row)
            return rows

    # -- chart --------------------------------------------------------------------------

    def chart_png(self, run_id: str) -> bytes:
        """The run's chart, drawn now if the background rendering has not stored it yet."""
        key = f"charts/{run_id}.png"
        if self.ctx.store.exists(key):
            return self.ctx.store.get(key)
        with self._chart_lock:
            if self.ctx.store.exists(key):
                return self.ctx.store.get(key)
            png = self._render(run_id)
            self.ctx.store.put(key, png, content_type="image/png")
        with self.ctx.db.session() as session:
            row = session.get(RunRow, run_id)
            if row is not None:
                row.chart_key = key
        return png

    def _render(self, run_id: str) -> bytes:
        from signalrisk.services.charts import chart_title, render_var_chart

        row = self.run(run_id)
        if row.result is None:
            raise NotFound(f"run {run_id} has no results to chart")
        req, res = row.request, row.result
        title = chart_title(
            req["ticker"],
            req["t"],
            req["h"],
            req["d"],
            req["r"],
            str(req["start"]),
            str(req["end"]),
        )
        return render_var_chart(
            res["dates"], res["var95"], res["var99"], res["av95"], res["av99"], title
        )

    def _render_quietly(self, run_id: str) -> None:
        try:
            self.chart_png(run_id)
        except Exception:  # the chart is drawn again on demand; never lose the log line
            log.exception("background chart rendering failed", extra={"run": run_id})

    # -- direct invocation (the local Lambda endpoint) -------------------------------------

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Run a raw compute payload on one resource of the ready lambda scale."""
        view = self.scales.current()
        if view.state not in ("ready", "analysing") or view.service != "lambda" or view.id is None:
            raise NotWarm("no ready lambda scale; POST /warmup with s=lambda first")
        provider = self.ctx.provider("lambda")
        if not isinstance(provider, Invocable):
            raise NotFound("this platform's compute function is invoked at its own URL")
        live = [r for r in view.resources if r.state == "ready"]
        if not live:
            raise NotWarm("no live resource in the scale")
        self._round_robin += 1
        resource = live[self._round_robin % len(live)]
        spec = self.scales._spec_of(view.id)
        try:
            return provider.invoke(spec, resource, payload)
        except FunctionError as exc:  # the caller's own payload made the handler refuse it
            raise InvalidParameter(exc.message) from exc
