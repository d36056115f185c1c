"""Warming up, observing and scaling down the compute (SPEC §2 state table).

The scale lives in the database; every transition is a compare-and-set ``UPDATE … WHERE state =
…``, so that two requests (or two API processes) never both win. Progress (a warming scale
becoming ready, a terminating one becoming gone) is made by :meth:`ScaleService.advance`, which
is idempotent: a background thread calls it while something is in flight, and the status
endpoints call it too, so progress also happens where background threads are frozen (App Engine).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from signalrisk.compute.base import Resource, ScaleSpec
from signalrisk.core.errors import Busy, InvalidParameter, NotWarm
from signalrisk.db.models import Control, ResourceRow, RunRow, ScaleRow
from signalrisk.services.context import ServiceContext
from signalrisk.services.costs import (
    Cost,
    basis_for,
    instance_seconds,
    scale_cost_to_date,
    warmup_cost,
)
from signalrisk.services.states import READY_STATES, State

log = logging.getLogger(__name__)

SERVICES = ("lambda", "ec2")
IN_FLIGHT = ("warming", "terminating")


@dataclass(frozen=True, slots=True)
class ScaleView:
    """A scale as the API reports it."""

    id: str | None
    service: str | None
    r: int
    state: State
    resources: list[Resource]
    warmup: Cost | None
    requested_at: float | None = None
    ready_at: float | None = None
    error: str | None = None

    @property
    def all_alive(self) -> bool:
        return bool(self.resources) and all(r.state == "ready" for r in self.resources)


COLD = ScaleView(None, None, 0, "cold", [], None)


def _resource(row: ResourceRow) -> Resource:
    return Resource(
        id=row.id,
        index=row.index,
        state=row.state,  # type: ignore[arg-type]
        address=row.address,
        pid=row.pid,
        create_time=row.create_time,
        warm_billed_ms=row.warm_billed_ms,
        detail=dict(row.detail or {}),
    )


def _spec(row: ScaleRow) -> ScaleSpec:
    return ScaleSpec(row.id, row.service, row.r, row.secret)


class ScaleService:
    """The scale of this deployment: one current scale at a time."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- reading -------------------------------------------------------------------------

    def _control(self, session: Session) -> Control:
        control = session.get(Control, 1)
        if control is None:  # a database migrated by hand without the seed row
            control = Control(id=1)
            session.add(control)
            session.flush()
        return control

    def _view(self, session: Session, row: ScaleRow | None) -> ScaleView:
        if row is None or row.state == "terminated":
            return COLD
        resources = session.scalars(
            select(ResourceRow).where(ResourceRow.scale_id == row.id).order_by(ResourceRow.index)
        ).all()
        warm = None
        if row.warmup_cost is not None and row.warmup_billable_s is not None:
            estimate, basis = basis_for(row.platform, row.service)
            warm = Cost(row.warmup_billable_s, row.warmup_cost, estimate, basis)
        return ScaleView(
            row.id,
            row.service,
            row.r,
            row.state,  # type: ignore[arg-type]
            [_resource(r) for r in resources],
            warm,
            row.requested_at,
            row.ready_at,
            row.error,
        )

    def _snapshot(self) -> tuple[str | None, ScaleView]:
        """The id recorded as current (even of a terminated scale) and the current scale."""
        with self.ctx.db.session() as session:
            control = self._control(session)
            current_id = control.current_scale_id
            row = session.get(ScaleRow, current_id) if current_id else None
            return current_id, self._view(session, row)

    def current(self) -> ScaleView:
        """The current scale, without making progress."""
        return self._snapshot()[1]

    # -- transitions ----------------------------------------------------------------------

    def validate(self, service: str, r: int) -> None:
        """SPEC §2 ranges: ``s`` one of lambda/ec2, ``r`` from 1 to the configured maximum."""
        if service not in SERVICES:
            raise InvalidParameter("s must be 'lambda' or 'ec2'", field="s")
        high = self.ctx.settings.limits.max_r(service)  # type: ignore[arg-type]
        if not 1 <= r <= high:
            raise InvalidParameter(
                f"r must be an integer from 1 to {high} for {service}", field="r"
            )

    def warmup(self, service: str, r: int) -> ScaleView:
        """Start warming ``r`` resources of ``service``, per the state table; returns at once."""
        self.validate(service, r)
        # Another request (or API instance) may change the scale between our read and our
        # write; every write is a compare-and-set, and whoever loses looks again.
        for _attempt in range(3):
            previous, current = self._snapshot()
            same = current.service == service and current.r == r
            if current.state in ("analysing", "terminating"):
                raise Busy(f"the scale is {current.state}; try again when it is done")
            if current.state in ("warming", "ready") and same:
                return current
            if current.state == "warming":
                raise Busy("a different warm-up is in progress; terminate it first")
            if current.state == "ready":
                # Never leak the old scale: replace it only if we are the ones terminating it.
                if not self._begin_termination(current.id, from_states=("ready",)):
                    continue
            elif current.state == "failed":
                self._terminate_failed(current)
            started = self._start(service, r, previous)
            if started is not None:
                return started
        raise Busy("the scale changed while this warm-up was being decided; try again")

    def _start(self, service: str, r: int, previous: str | None) -> ScaleView | None:
        """Launch a new scale if the current one is still ``previous``; None if another won."""
        now = time.time()
        row = ScaleRow(
            id=secrets.token_hex(16),
            service=service,
            platform=self.ctx.settings.platform,
            r=r,
            state="warming",
            secret=secrets.token_urlsafe(32),
            requested_at=now,
            deadline_at=now + self.ctx.settings.warmup_deadline(service),
        )
        with self.ctx.db.session() as session:
            # The row (the scale's tag) is committed before anything starts, and only if this
            # request is the one that replaces ``previous``: two warm-ups never both launch.
            self._control(session)
            claimed = session.execute(
                update(Control)
                .where(Control.id == 1, Control.current_scale_id == previous)
                .values(current_scale_id=row.id)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return None
            session.add(row)
        resources = self.ctx.provider(service).launch(_spec(row))
        launched = time.time()
        with self.ctx.db.session() as session:
            for resource in resources:
                session.add(
                    ResourceRow(
                        id=resource.id,
                        scale_id=row.id,
                        index=resource.index,
                        state=resource.state,
                        address=resource.address,
                        pid=resource.pid,
                        create_time=resource.create_time,
                        launched_at=launched,
                        detail=resource.detail,
                    )
                )
        log.info("warm-up started", extra={"scale": row.id, "service": service, "r": r})
        return self.current()

    def _cas(
        self,
        scale_id: str | None,
        from_states: tuple[str, ...],
        to_state: str,
        within: Callable[[Session], None] | None = None,
        **values: object,
    ) -> bool:
        """Move a scale from one of ``from_states`` to ``to_state``; False if another won.

        ``within`` runs in the same transaction when the move wins.
        """
        if scale_id is None:
            return False
        with self.ctx.db.session() as session:
            result = session.execute(
                update(ScaleRow)
                .where(ScaleRow.id == scale_id, ScaleRow.state.in_(from_states))
                .values(state=to_state, **values)
            )
            won = bool(result.rowcount)  # type: ignore[attr-defined]
            if won and within is not None:
                within(session)
            return won

    def _begin_termination(self, scale_id: str | None, from_states: tuple[str, ...]) -> bool:
        """Move the scale to ``terminating`` and stop its resources; False if another won."""
        if not self._cas(scale_id, from_states, "terminating", terminate_requested_at=time.time()):
            return False
        with self.ctx.db.session() as session:
            row = session.get(ScaleRow, scale_id)
            assert row is not None
            resources = [
                _resource(r)
                for r in session.scalars(select(ResourceRow).where(ResourceRow.scale_id == row.id))
            ]
            spec = _spec(row)
        self.ctx.provider(spec.service).terminate(spec, resources)
        return True

    def terminate(self) -> ScaleView:
        """Scale down to zero (SPEC §2): 409 while analysing; otherwise ok."""
        for _attempt in range(3):
            current = self.current()
            if current.state == "analysing":
                raise Busy("an analysis is running; terminate when it has finished")
            if current.state in ("warming", "ready"):
                if not self._begin_termination(current.id, from_states=("warming", "ready")):
                    continue  # the state changed meanwhile (an analysis, a deadline): look again
            elif current.state == "failed":
                self._terminate_failed(current)
            return self.current()
        raise Busy("the scale changed while this termination was being decided; try again")

    def _terminate_failed(self, current: ScaleView) -> None:
        assert current.id is not None and current.service is not None
        spec = self._spec_of(current.id)
        self.ctx.provider(current.service).terminate(spec, current.resources)
        self._cas(current.id, ("failed",), "terminating", terminate_requested_at=time.time())

    def _spec_of(self, scale_id: str) -> ScaleSpec:
        with self.ctx.db.session() as session:
            row = session.get(ScaleRow, scale_id)
            assert row is not None
            return _spec(row)

    def begin_analysis(
        self, record: Callable[[Session, ScaleSpec], None]
    ) -> tuple[ScaleSpec, list[Resource]]:
        """Claim the ready scale for one analysis (ready -> analysing), or 409.

        ``record`` writes the run in the same transaction as the claim: a crash can never
        leave a scale "analysing" with no run to recover it from.
        """
        current = self.current()
        if current.state == "analysing":
            raise Busy("an analysis is already running")
        spec = self._spec_of(current.id) if current.id else None

        def claim(session: Session) -> None:
            assert spec is not None
            record(session, spec)

        won = current.state == "ready" and self._cas(
            current.id, ("ready",), "analysing", within=claim
        )
        if not won:
            again = self.current().state
            if again == "analysing":
                raise Busy("an analysis is already running")
            raise NotWarm(f"the scale is {again}; POST /warmup and wait for /scaled_ready")
        assert spec is not None
        return spec, current.resources

    def end_analysis(self, scale_id: str) -> None:
        self._cas(scale_id, ("analysing",), "ready")

    # -- progress -------------------------------------------------------------------------

    def advance(self, check_ready: bool = False) -> ScaleView:
        """Make whatever progress is due: warming -> ready/failed, terminating -> gone.

        With ``check_ready``, the resources of a ready scale are probed too (liveness).
        """
        with self.ctx.db.session() as session:
            rows = session.scalars(
                select(ScaleRow).where(
                    ScaleRow.state.in_(("warming", "terminating", "failed", "ready"))
                )
            ).all()
            todo = [(r.id, r.state) for r in rows]
        for scale_id, state in todo:
            if state == "warming":
                self._advance_warming(scale_id)
            elif state in ("terminating", "failed"):
                self._advance_termination(scale_id, state)
            elif check_ready:
                self._probe(scale_id)
        return self.current()

    def _load(self, scale_id: str) -> tuple[ScaleSpec, list[Resource], ScaleRow]:
        with self.ctx.db.session() as session:
            row = session.get(ScaleRow, scale_id)
            assert row is not None
            resources = [
                _resource(r)
                for r in session.scalars(
                    select(ResourceRow)
                    .where(ResourceRow.scale_id == scale_id)
                    .order_by(ResourceRow.index)
                )
            ]
            session.expunge(row)
            return _spec(row), resources, row

    def _probe(self, scale_id: str) -> list[Resource]:
        spec, resources, _ = self._load(scale_id)
        live = [r for r in resources if r.state in ("starting", "ready")]
        probed = self.ctx.provider(spec.service).probe(spec, live) if live else []
        now = time.time()
        with self.ctx.db.session() as session:
            for before, after in zip(live, probed, strict=True):
                if after == before:
                    continue
                row = session.get(ResourceRow, after.id)
                assert row is not None
                row.state, row.address, row.pid = after.state, after.address, after.pid
                row.create_time, row.warm_billed_ms = after.create_time, after.warm_billed_ms
                if after.state == "ready" and row.ready_at is None:
                    row.ready_at = now
                if after.state == "dead":
                    row.ended_at = now
                    log.warning("resource died", extra={"scale": scale_id, "resource": row.id})
        by_id = {r.id: r for r in probed}
        return [by_id.get(r.id, r) for r in resources]

    def _advance_warming(self, scale_id: str) -> None:
        resources = self._probe(scale_id)
        spec, _, row = self._load(scale_id)
        if resources and all(r.state == "ready" for r in resources):
            cost = self._warmup_cost(spec, resources, row)
            self._cas(
                scale_id,
                ("warming",),
                "ready",
                ready_at=time.time(),
                warmup_billable_s=cost.billable_s,
                warmup_cost=cost.usd,
                warmup_basis=cost.basis,
            )
            log.info("scale ready", extra={"scale": scale_id})
        elif time.time() > row.deadline_at:
            error = (
                f"warm-up not ready within {self.ctx.settings.warmup_deadline(spec.service):g} s; "
                f"{sum(r.state == 'ready' for r in resources)} of {spec.r} resources ready"
            )
            if self._cas(scale_id, ("warming",), "failed", error=error):
                log.error("warm-up failed", extra={"scale": scale_id, "error": error})
                self.ctx.provider(spec.service).terminate(spec, resources)

    def _warmup_cost(self, spec: ScaleSpec, resources: list[Resource], row: ScaleRow) -> Cost:
        with self.ctx.db.session() as session:
            rows = session.scalars(select(ResourceRow).where(ResourceRow.scale_id == spec.scale_id))
            if spec.service == "lambda":
                seconds = [(r.warm_billed_ms or 0.0) / 1000.0 for r in rows]
            else:
                seconds = [(r.ready_at or time.time()) - r.launched_at for r in rows]
        return warmup_cost(
            self.ctx.settings.platform, spec.service, seconds, self.ctx.settings.prices
        )

    def _advance_termination(self, scale_id: str, state: str) -> None:
        spec, resources, _ = self._load(scale_id)
        provider = self.ctx.provider(spec.service)
        pending = [r for r in resources if r.state != "terminated"]
        if state == "terminating" and pending:
            provider.terminate(spec, pending)  # again: idempotent, and covers a crash mid-way
        gone = provider.gone(spec, pending) if pending else []
        now = time.time()
        with self.ctx.db.session() as session:
            for resource, is_gone in zip(pending, gone, strict=True):
                if is_gone:
                    row = session.get(ResourceRow, resource.id)
                    assert row is not None
                    row.state, row.ended_at = "terminated", row.ended_at or now
        if state == "terminating" and all(gone):
            self._cas(scale_id, ("terminating",), "terminated", terminated_at=now)
        elif state == "failed" and all(gone) and self._snapshot()[0] != scale_id:
            # A failed scale stays "failed" while it is current (SPEC §2); once replaced and
            # cleaned up it is history.
            self._cas(scale_id, ("failed",), "terminated", terminated_at=now)

    def resources_gone(self, view: ScaleView) -> bool:
        """Whether every resource of ``view`` has stopped (for a failed scale's clean-up)."""
        if view.id is None or not view.resources:
            return True
        spec = self._spec_of(view.id)
        return all(self.ctx.provider(spec.service).gone(spec, view.resources))

    def cost_to_date(self, view: ScaleView) -> Cost | None:
        """The current scale's cost so far, idle time included; None when cold."""
        if view.id is None or view.service is None:
            return None
        settings, now = self.ctx.settings, time.time()
        with self.ctx.db.session() as session:
            rows = session.scalars(select(ResourceRow).where(ResourceRow.scale_id == view.id))
            lifetimes = [
                instance_seconds(
                    settings.platform, r.launched_at, r.ready_at, r.ended_at, now, settings.prices
                )
                for r in rows
            ]
            results = session.scalars(
                select(RunRow.result).where(RunRow.scale_id == view.id, RunRow.status == "ok")
            )
            analyses_usd = sum(float((r or {}).get("cost") or 0.0) for r in results)
        provisioned = view.service == "lambda" and settings.platform == "aws"
        provisioned = provisioned and settings.aws.provisioned_concurrency
        # Provisioned environments are billed from request to release, used or not.
        provisioned_s = sum(lifetimes) if provisioned else 0.0
        return scale_cost_to_date(
            settings.platform,
            view.service,
            [] if view.service == "lambda" else lifetimes,
            view.warmup,
            analyses_usd,
            settings.prices,
            provisioned_s,
        )

    def in_flight(self) -> bool:
        with self.ctx.db.session() as session:
            count = session.scalars(
                select(ScaleRow.id).where(ScaleRow.state.in_(IN_FLIGHT))
            ).first()
            return count is not None

    # -- answers --------------------------------------------------------------------------

    def scaled_ready(self) -> bool:
        view = self.advance(check_ready=True)
        return view.state in READY_STATES and view.all_alive

    def scaled_terminated(self) -> bool:
        view = self.advance()
        if view.state == "cold":
            return True
        if view.state == "failed":
            return self.resources_gone(view)
        return False

    def warmup_cost(self) -> Cost:
        view = self.current()
        if view.warmup is None:
            raise NotWarm("no warm-up has completed; POST /warmup and wait for /scaled_ready")
        return view.warmup

    def endpoints(self, api_url: str) -> dict[str, str]:
        view = self.current()
        if view.id is None or view.service is None or view.state not in READY_STATES:
            return {}
        spec = self._spec_of(view.id)
        live = [r for r in view.resources if r.state == "ready"]
        return self.ctx.provider(view.service).endpoints(spec, live, api_url)

    def terminate_all(self, wait_s: float, reason: str = "terminated by cleanup") -> int:
        """Terminate every scale that may hold resources, whatever its state; wait up to
        ``wait_s`` for them to be gone. Returns how many scales were still live."""
        with self.ctx.db.session() as session:
            live = list(
                session.scalars(
                    select(ScaleRow.id).where(
                        ScaleRow.state.in_(("warming", "ready", "analysing", "failed"))
                    )
                )
            )
        for scale_id in live:
            if self._cas(
                scale_id,
                ("warming", "ready", "analysing", "failed"),
                "terminating",
                terminate_requested_at=time.time(),
                error=reason,
            ):
                spec, resources, _ = self._load(scale_id)
                self.ctx.provider(spec.service).terminate(spec, resources)
        deadline = time.monotonic() + wait_s
        while self.in_flight() and time.monotonic() < deadline:
            self.advance()
            time.sleep(0.05)
        return len(live)

    def shutdown(self) -> None:
        """Stop the local workers with the service (Ctrl-C); the state says so afterwards.

        Cloud resources outlive the API by design: /terminate or ``signalrisk cleanup`` stop them.
        """
        if self.ctx.settings.platform == "local":
            self.terminate_all(wait_s=5.0, reason="stopped with the service")
