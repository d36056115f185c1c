"""The scale as the database holds it: its rows, read back as views, and every write to them.

The scale lives in the database; every transition is a compare-and-set ``UPDATE … WHERE state =
…`` (:meth:`ScaleRecords.cas`), and a new scale replaces the current one only by ``UPDATE control
… WHERE current_scale_id = …`` (:meth:`ScaleRecords.claim_new`), so that two requests (or two API
processes) never both win.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from signalrisk.compute.base import Resource, ScaleSpec
from signalrisk.db.models import Control, ResourceRow, RunRow, ScaleRow
from signalrisk.services.context import ServiceContext
from signalrisk.services.costs import Cost, basis_for, instance_seconds
from signalrisk.services.replacements import Replacement, split_history
from signalrisk.services.states import State

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
    replacements: tuple[Replacement, ...] = ()

    @property
    def all_alive(self) -> bool:
        """Whether each of the r resources is ready (the resources are the active ones: a
        replaced resource is history, in ``replacements``)."""
        ready = [r for r in self.resources if r.state == "ready"]
        return bool(self.resources) and len(ready) == len(self.resources) == self.r


COLD = ScaleView(None, None, 0, "cold", [], None)


@dataclass(frozen=True, slots=True)
class Usage:
    """What a scale has used so far, for its cost to date."""

    lifetimes_s: list[float]  # each resource's billable life (replaced ones too)
    analyses_usd: float  # the scale's successful analyses
    replacement_warmups_s: list[float]  # billed warm-up of each replacement (Lambda)


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


class ScaleRecords:
    """Reads and writes of the scales, their resources and the control row."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- reading -------------------------------------------------------------------------

    def control(self, session: Session) -> Control:
        control = session.get(Control, 1)
        if control is None:  # a database migrated by hand without the seed row
            control = Control(id=1)
            session.add(control)
            session.flush()
        return control

    def view(self, session: Session, row: ScaleRow | None) -> ScaleView:
        if row is None or row.state == "terminated":
            return COLD
        rows = session.scalars(select(ResourceRow).where(ResourceRow.scale_id == row.id)).all()
        active, replacements = split_history(rows)
        warm = None
        if row.warmup_cost is not None and row.warmup_billable_s is not None:
            estimate, basis = basis_for(row.platform, row.service)
            warm = Cost(row.warmup_billable_s, row.warmup_cost, estimate, basis)
        return ScaleView(
            row.id,
            row.service,
            row.r,
            row.state,  # type: ignore[arg-type]
            [_resource(r) for r in active],
            warm,
            row.requested_at,
            row.ready_at,
            row.error,
            tuple(replacements),
        )

    def snapshot(self) -> tuple[str | None, ScaleView]:
        """The id recorded as current (even of a terminated scale) and the current scale."""
        with self.ctx.db.session() as session:
            control = self.control(session)
            current_id = control.current_scale_id
            row = session.get(ScaleRow, current_id) if current_id else None
            return current_id, self.view(session, row)

    def current(self) -> ScaleView:
        """The current scale, without making progress."""
        return self.snapshot()[1]

    def load(self, scale_id: str) -> tuple[ScaleSpec, list[Resource], ScaleRow]:
        """A scale's spec, every resource it ever had (replaced ones too) by index, and its
        row (detached from the session)."""
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

    def spec_of(self, scale_id: str) -> ScaleSpec:
        """What ``scale_id`` was warmed up with, and its secret."""
        with self.ctx.db.session() as session:
            row = session.get(ScaleRow, scale_id)
            assert row is not None
            return _spec(row)

    def in_flight(self) -> bool:
        """Whether some scale is warming or terminating (progress is due)."""
        with self.ctx.db.session() as session:
            count = session.scalars(
                select(ScaleRow.id).where(ScaleRow.state.in_(IN_FLIGHT))
            ).first()
            return count is not None

    def scales_in(self, states: tuple[str, ...]) -> list[tuple[str, str]]:
        """The id and state of every scale in one of ``states``."""
        with self.ctx.db.session() as session:
            rows = session.scalars(select(ScaleRow).where(ScaleRow.state.in_(states))).all()
            return [(r.id, r.state) for r in rows]

    def last_use(self, scale_id: str) -> float | None:
        """When ``scale_id`` was last used: it became ready, or its last analysis ended,
        whichever is later. None while it is not ready or an analysis on it has not ended."""
        with self.ctx.db.session() as session:
            ready_at = session.scalar(select(ScaleRow.ready_at).where(ScaleRow.id == scale_id))
            runs = select(RunRow.id).where(RunRow.scale_id == scale_id)
            running = session.scalars(runs.where(RunRow.finished_at.is_(None))).first()
            if ready_at is None or running is not None:
                return None
            ended = session.scalar(
                select(func.max(RunRow.finished_at)).where(RunRow.scale_id == scale_id)
            )
            return max(ready_at, ended or 0.0)

    def warmup_seconds(self, spec: ScaleSpec) -> list[float]:
        """Each resource's billable warm-up seconds, as :func:`costs.warmup_cost` takes them
        (the scale's own warm-up: replacements are counted apart, in :meth:`usage`)."""
        with self.ctx.db.session() as session:
            rows = session.scalars(
                select(ResourceRow).where(
                    ResourceRow.scale_id == spec.scale_id, ResourceRow.replaces.is_(None)
                )
            )
            if spec.service == "lambda":
                return [(r.warm_billed_ms or 0.0) / 1000.0 for r in rows]
            return [(r.ready_at or time.time()) - r.launched_at for r in rows]

    def usage(self, scale_id: str, now: float) -> Usage:
        """What the scale has used until ``now`` (read in one transaction)."""
        settings = self.ctx.settings
        with self.ctx.db.session() as session:
            rows = session.scalars(
                select(ResourceRow).where(ResourceRow.scale_id == scale_id)
            ).all()
            lifetimes = [
                instance_seconds(
                    settings.platform, r.launched_at, r.ready_at, r.ended_at, now, settings.prices
                )
                for r in rows
            ]
            replacement_warmups = [
                (r.warm_billed_ms or 0.0) / 1000.0 for r in rows if r.replaces is not None
            ]
            analyses_usd = session.scalar(
                select(func.coalesce(func.sum(RunRow.cost), 0.0)).where(
                    RunRow.scale_id == scale_id, RunRow.status == "ok"
                )
            )
        return Usage(lifetimes, float(analyses_usd or 0.0), replacement_warmups)

    # -- writing --------------------------------------------------------------------------

    def claim_new(self, service: str, r: int, previous: str | None) -> ScaleSpec | None:
        """Record a new warming scale as current if the current one is still ``previous``;
        None if another request replaced it first."""
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
            self.control(session)
            claimed = session.execute(
                update(Control)
                .where(Control.id == 1, Control.current_scale_id == previous)
                .values(current_scale_id=row.id)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return None
            session.add(row)
            return _spec(row)

    def cas(
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

    def claim_idle(self, scale_id: str, unused_since: float, reason: str) -> bool:
        """Move a ready scale that nobody used since ``unused_since`` to ``terminating``.

        One statement decides, so it cannot race an analysis: the claim of an analysis
        (ready -> analysing) records its run in the same transaction, and a run that has not
        ended, or ended since ``unused_since``, keeps the scale. False if it is in use.
        """
        used = exists().where(
            RunRow.scale_id == scale_id,
            or_(RunRow.finished_at.is_(None), RunRow.finished_at >= unused_since),
        )
        with self.ctx.db.session() as session:
            result = session.execute(
                update(ScaleRow)
                .where(
                    ScaleRow.id == scale_id,
                    ScaleRow.state == "ready",
                    ScaleRow.ready_at < unused_since,
                    ~used,
                )
                .values(state="terminating", terminate_requested_at=time.time(), error=reason)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def add_resources(
        self,
        scale_id: str,
        resources: list[Resource],
        launched_at: float,
        replaces: dict[int, str] | None = None,
    ) -> None:
        """Record the resources just launched for ``scale_id``; ``replaces`` maps the index of
        each replacement to the dead resource it replaces."""
        replaces = replaces or {}
        with self.ctx.db.session() as session:
            for resource in resources:
                session.add(
                    ResourceRow(
                        id=resource.id,
                        scale_id=scale_id,
                        index=resource.index,
                        state=resource.state,
                        address=resource.address,
                        pid=resource.pid,
                        create_time=resource.create_time,
                        launched_at=launched_at,
                        detail=resource.detail,
                        replaces=replaces.get(resource.index),
                    )
                )

    def record_probe(
        self, before: list[Resource], after: list[Resource], now: float
    ) -> list[Resource]:
        """Write what a probe observed (``after``, pairwise with ``before``); returns the
        resources that died."""
        died: list[Resource] = []
        with self.ctx.db.session() as session:
            for old, new in zip(before, after, strict=True):
                if new == old:
                    continue
                row = session.get(ResourceRow, new.id)
                assert row is not None
                if row.state in ("ready", "dead", "terminated") and new.state == "starting":
                    # A probe that began before another one recorded this resource ready (or
                    # dead) ends late: a stale "starting" never goes back over the newer state.
                    continue
                row.state, row.address, row.pid = new.state, new.address, new.pid
                row.create_time, row.warm_billed_ms = new.create_time, new.warm_billed_ms
                if new.state == "ready" and row.ready_at is None:
                    row.ready_at = now
                if new.state == "dead":
                    row.ended_at = now
                    died.append(new)
        return died

    def mark_terminated(self, resources: list[Resource], gone: list[bool], now: float) -> None:
        """Record as terminated each resource whose ``gone`` flag (pairwise) is set."""
        with self.ctx.db.session() as session:
            for resource, is_gone in zip(resources, gone, strict=True):
                if is_gone:
                    row = session.get(ResourceRow, resource.id)
                    assert row is not None
                    row.state, row.ended_at = "terminated", row.ended_at or now
