"""The analysis workflow (SPEC §3): signals, Monte Carlo VaR on r resources, P/L, costs, audit.

One call of :meth:`AnalysisService.analyse` validates the request against the data, claims the
ready scale (ready -> analysing), sends every signal to each of the r resources in one batch
each (in parallel; a failed batch is retried elsewhere, see :mod:`.dispatch`), averages the r
estimates, prices the run, stores it as the last analysis, writes its audit record, and hands
the scale back (analysing -> ready). The chart is drawn when it is first asked for
(``ChartStore``), so that drawing never slows an analysis down.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from signalrisk.compute.base import BatchResult, Invocable, Resource, ScaleSpec
from signalrisk.core.errors import (
    FunctionError,
    InvalidParameter,
    LimitExceeded,
    NotFound,
    NotWarm,
    SignalRiskError,
)
from signalrisk.core.logs import bind_run
from signalrisk.quant import accuracy
from signalrisk.quant.pnl import mean_or_none, profit_loss, total_profit_loss
from signalrisk.quant.prices import PriceSeries, to_date
from signalrisk.quant.signals import Side, detect_signals
from signalrisk.quant.stats import window_stats
from signalrisk.services.chart_store import ChartStore
from signalrisk.services.context import ServiceContext
from signalrisk.services.costs import analysis_cost, estimate_analysis_cost
from signalrisk.services.dispatch import Dispatcher, Fault
from signalrisk.services.runs import RunLedger
from signalrisk.services.scaling import ScaleService, ScaleView
from signalrisk.sources.csvfile import normalise_ticker

log = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1


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


def _spread(per_resource: np.ndarray[Any, np.dtype[np.float64]]) -> list[float | None]:
    """Empirical standard error of each signal's averaged VaR: the sample standard deviation
    of its r estimates over sqrt(r). It checks the formula's SE; None when r = 1."""
    r = per_resource.shape[0]
    if r < 2:
        return [None] * per_resource.shape[1]
    spread = per_resource.std(axis=0, ddof=1) / np.sqrt(r)
    return [float(x) for x in spread]


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


class AnalysisService:
    """Runs analyses on the current scale; their rows and records go to the run ledger."""

    def __init__(
        self, ctx: ServiceContext, scales: ScaleService, runs: RunLedger, charts: ChartStore
    ) -> None:
        self.ctx = ctx
        self.scales = scales
        self.runs = runs
        self.charts = charts
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="dispatch")
        self._round_robin = 0

    # -- validation ----------------------------------------------------------------------

    def plan(self, request: AnalysisRequest, r: int, service: str | None = None) -> Plan:
        """Check every parameter against SPEC §2's ranges for this data window, and the job
        against the configured guards: d x r x signals, and (when ``service`` is known) the
        estimated cost. Nothing is claimed or recorded here: a refusal leaves no trace."""
        settings = self.ctx.settings
        if request.t not in ("buy", "sell"):
            raise InvalidParameter("t must be 'buy' or 'sell'", field="t")
        if not 1 <= request.d <= settings.limits.max_d:
            raise InvalidParameter(
                f"d must be an integer from 1 to {settings.limits.max_d}"
                " (the configured maximum per resource, limits.max_d)",
                field="d",
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
        self._check_work(request.d, r, len(positions))
        if service is not None:
            self._check_cost(service, request.d, r, len(positions))
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

    def _check_work(self, d: int, r: int, signals: int) -> None:
        """d x r x signals within ``limits.max_work`` (memory and time of one analysis)."""
        limit = self.ctx.settings.limits.max_work
        work = d * r * signals
        if work > limit:
            raise LimitExceeded(
                f"d x r x signals = {d} x {r} x {signals} = {work} exceeds the limit"
                f" max_work = {limit} (SIGNALRISK_LIMITS__MAX_WORK); with r = {r} and"
                f" {signals} signals, d may be at most {limit // (r * signals)}",
                field="d",
            )

    def _check_cost(self, service: str, d: int, r: int, signals: int) -> None:
        """The estimated cost within ``limits.max_analysis_usd``, if that cap is set."""
        settings = self.ctx.settings
        cap = settings.limits.max_analysis_usd
        if cap is None:
            return

        def usd(shots: int) -> float:
            return estimate_analysis_cost(service, r, shots, signals, settings.prices).usd

        estimate = usd(d)
        if estimate <= cap:
            return
        # The estimate grows with d: the largest d under the cap, by bisection.
        low, high = 0, d
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if usd(mid) <= cap else (low, mid)
        room = f"d may be at most {low}" if low >= 1 else "no d fits; lower r or raise the cap"
        raise LimitExceeded(
            f"the estimated cost of this analysis, ${estimate:.3g} ({service}, r = {r},"
            f" d x signals = {d} x {signals}), exceeds the limit max_analysis_usd = ${cap:g}"
            f" (SIGNALRISK_LIMITS__MAX_ANALYSIS_USD); at r = {r}, {room}",
            field="d",
        )

    # -- the run ------------------------------------------------------------------------

    def analyse(self, request: AnalysisRequest) -> str:
        """Run an analysis on the ready scale; returns the run id once it has finished."""
        self.runs.recover_interrupted()
        current = self.scales.current()
        if current.state not in ("ready", "analysing"):
            # Bad input is reported before state (the cost too, once the service is known).
            self.plan(request, max(current.r, 1), current.service)
            raise NotWarm(f"the scale is {current.state}; POST /warmup and wait for /scaled_ready")
        plan = self.plan(request, current.r, current.service)
        if current.state == "ready" and not any(r.state == "ready" for r in current.resources):
            raise NotWarm("every resource of the scale has died; POST /terminate, then /warmup")
        run_id = secrets.token_hex(8)
        request_json: dict[str, Any] = {}

        def record(session: Session, spec: ScaleSpec) -> None:
            request_json.update(self._request_json(plan, spec))
            self.runs.start(session, run_id, spec.scale_id, request_json)

        with bind_run(run_id):
            return self._run(plan, run_id, record, request_json, current)

    def _run(
        self,
        plan: Plan,
        run_id: str,
        record: Callable[[Session, ScaleSpec], None],
        request_json: dict[str, Any],
        current: ScaleView,
    ) -> str:
        spec, resources = self.scales.begin_analysis(record, current)
        try:
            result = self._compute(plan, spec, resources)
        except SignalRiskError as exc:
            self.runs.finish(run_id, request_json, None, exc.message)
            raise
        except Exception as exc:
            self.runs.finish(run_id, request_json, None, repr(exc))
            raise
        finally:
            self.scales.end_analysis(spec.scale_id)
        self.runs.finish(run_id, request_json, result, None)
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

    def _dispatch(
        self, spec: ScaleSpec, resources: list[Resource], payloads: list[dict[str, Any]]
    ) -> tuple[list[BatchResult], list[Fault]]:
        """Every batch, in payload order, and the faults met on the way (:mod:`.dispatch`).

        The resources that failed a batch are probed again at once, whatever the outcome: the
        dead (or hung, and so stopped) are recorded dead, so that ``/scaled_ready`` says
        "false" and the next analysis starts on live ones.
        """
        dispatcher = Dispatcher(self.ctx.provider(spec.service), spec, resources, self._pool)
        try:
            return dispatcher.run(payloads), dispatcher.faults
        finally:
            if dispatcher.failed:
                self.scales.progress.recheck(spec.scale_id, [r.id for r in dispatcher.failed])

    def _compute(self, plan: Plan, spec: ScaleSpec, resources: list[Resource]) -> dict[str, Any]:
        window, positions, request = plan.window, plan.positions, plan.request
        stats = window_stats(window.close, positions, request.h)
        clock = time.perf_counter()
        batches: list[BatchResult] = []
        faults: list[Fault] = []
        if len(positions):
            base = {
                "mean": stats.mean.tolist(),
                "std": stats.std.tolist(),
                "shots": request.d,
                "seed": plan.seed,
            }
            payloads = [{**base, "resource_index": k} for k in range(spec.r)]
            batches, faults = self._dispatch(spec, resources, payloads)
        wall = time.perf_counter() - clock
        per95 = np.array([b.var95 for b in batches]).reshape(len(batches), len(positions))
        per99 = np.array([b.var99 for b in batches]).reshape(len(batches), len(positions))
        var95 = per95.mean(axis=0).tolist() if batches else []
        var99 = per99.mean(axis=0).tolist() if batches else []
        pl = profit_loss(window.close, positions, request.p, plan.side)
        # A failed attempt is billed too (on Lambda, for the time it ran: see Fault.billed_ms;
        # a throttled call is not); on EC2 the wall time x r already holds it.
        cost = analysis_cost(
            self.ctx.settings.platform,
            spec.service,
            [b.billed_ms for b in batches] + [f.billed_ms for f in faults if f.billed],
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
            "bias95": [accuracy.bias(s, d, 95) for s in stats.std.tolist()],
            "bias99": [accuracy.bias(s, d, 99) for s in stats.std.tolist()],
            "spread95": _spread(per95),
            "spread99": _spread(per99),
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
            "faults": [f.as_dict() for f in faults],
        }

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
        spec = self.scales.spec_of(view.id)
        self.scales.note_use(view.id)
        try:
            return provider.invoke(spec, resource, payload)
        except FunctionError as exc:  # the caller's own payload made the handler refuse it
            raise InvalidParameter(exc.message) from exc
