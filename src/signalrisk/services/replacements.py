"""Replacements of dead resources as the database records them (SPEC §2, migration 0005).

A resource that dies while its scale is ready is replaced by a new resource of the same index.
The rows say it all:

- the dead row gets ``replaced_at`` when a replacement is *claimed* for it, by a
  compare-and-set (``UPDATE … WHERE replaced_at IS NULL``), so that two API processes never
  both replace it; from then on it is history, no longer one of the scale's r resources;
- the new row names the dead one in ``replaces``;
- ``replacement_error`` on the dead row says why its replacement's launch failed. Such a
  claim, and one left without a successor by a process that crashed after claiming, is
  *unfinished*: it is taken over (another compare-and-set) and launched again at a later
  heartbeat.

A scale's *active* resources are the rows not replaced: r of them (one per index), except
while a crash between a claim and the new row's insert leaves an index without one, which the
view shows as a claimed replacement with no successor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from signalrisk.db.models import ResourceRow, ScaleRow
from signalrisk.services.context import ServiceContext

ClaimOutcome = Literal["claimed", "taken", "limit"]


@dataclass(frozen=True, slots=True)
class Replacement:
    """A resource that died while its scale was ready, and what replaced it."""

    index: int
    resource: str  # the dead one
    died_at: float | None
    replaced_at: float  # when its replacement was claimed
    replaced_by: str | None  # None while being launched, or if the launch failed (``error``)
    ready_at: float | None  # when the replacement became ready
    error: str | None


def split_history(rows: Sequence[ResourceRow]) -> tuple[list[ResourceRow], list[Replacement]]:
    """A scale's resource rows as its active resources (by index) and its replacements (in
    the order they were claimed)."""
    successor = {row.replaces: row for row in rows if row.replaces is not None}
    active = sorted((row for row in rows if row.replaced_at is None), key=lambda row: row.index)
    history = []
    for row in sorted(
        (row for row in rows if row.replaced_at is not None),
        key=lambda row: (row.replaced_at, row.index),
    ):
        assert row.replaced_at is not None
        new = successor.get(row.id)
        history.append(
            Replacement(
                index=row.index,
                resource=row.id,
                died_at=row.ended_at,
                replaced_at=row.replaced_at,
                replaced_by=new.id if new is not None else None,
                ready_at=new.ready_at if new is not None else None,
                error=row.replacement_error,
            )
        )
    return active, history


class ReplacementRecords:
    """Reads and writes of replacements; each write is one compare-and-set or one update."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def claim(self, scale_id: str, resource_id: str, now: float, limit: int) -> ClaimOutcome:
        """Claim the replacement of a dead resource of ``scale_id`` if the scale has had fewer
        than ``limit`` replacements: "claimed", "taken" (another process claimed it) or
        "limit".

        The count and the claim are one decision: the scale's row is locked first (PostgreSQL;
        SQLite runs one writer at a time anyway) and the count is a subquery of the claiming
        UPDATE, so two processes claiming at once never exceed the limit, nor both give up
        below it.
        """
        claims = (
            select(func.count())
            .select_from(ResourceRow)
            .where(ResourceRow.scale_id == scale_id, ResourceRow.replaced_at.is_not(None))
            .scalar_subquery()
        )
        with self.ctx.db.session() as session:
            session.execute(select(ScaleRow.id).where(ScaleRow.id == scale_id).with_for_update())
            result = session.execute(
                update(ResourceRow)
                .where(
                    ResourceRow.id == resource_id,
                    ResourceRow.state == "dead",
                    ResourceRow.replaced_at.is_(None),
                    claims < limit,
                )
                .values(replaced_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                return "claimed"
            still_open = session.scalar(
                select(ResourceRow.id).where(
                    ResourceRow.id == resource_id, ResourceRow.replaced_at.is_(None)
                )
            )
            return "limit" if still_open is not None else "taken"

    def failed(self, resource_ids: Sequence[str], error: str) -> None:
        """Record why the claimed replacements of ``resource_ids`` were not launched."""
        with self.ctx.db.session() as session:
            session.execute(
                update(ResourceRow)
                .where(ResourceRow.id.in_(list(resource_ids)))
                .values(replacement_error=error)
            )

    def due(self) -> set[str]:
        """The ready scales where a replacement is due or under way: an active resource is
        starting (a replacement booting), or dead while the scale is under its limit."""
        limit = self.ctx.settings.max_replacements
        with self.ctx.db.session() as session:
            rows = session.execute(
                select(ResourceRow.scale_id, ResourceRow.state)
                .join(ScaleRow, ScaleRow.id == ResourceRow.scale_id)
                .where(
                    ScaleRow.state == "ready",
                    ResourceRow.replaced_at.is_(None),
                    ResourceRow.state.in_(("starting", "dead")),
                )
            ).all()
            due = {scale_id for scale_id, state in rows if state == "starting"}
            dead = {scale_id for scale_id, state in rows if state == "dead"} - due
            if dead and limit > 0:
                counts = dict(
                    session.execute(
                        select(ResourceRow.scale_id, func.count())
                        .where(ResourceRow.scale_id.in_(dead), ResourceRow.replaced_at.is_not(None))
                        .group_by(ResourceRow.scale_id)
                    ).all()
                )
                due |= {scale_id for scale_id in dead if counts.get(scale_id, 0) < limit}
            return due

    def late(self, scale_id: str, launched_before: float) -> list[str]:
        """The replacements of ``scale_id`` still starting that were launched before
        ``launched_before`` (their deadline has passed)."""
        with self.ctx.db.session() as session:
            return list(
                session.scalars(
                    select(ResourceRow.id).where(
                        ResourceRow.scale_id == scale_id,
                        ResourceRow.replaces.is_not(None),
                        ResourceRow.replaced_at.is_(None),
                        ResourceRow.state == "starting",
                        ResourceRow.launched_at < launched_before,
                    )
                )
            )

    def unfinished(
        self, scale_id: str, failed_before: float, lost_before: float
    ) -> list[tuple[str, float]]:
        """The claims of ``scale_id`` that have no replacement and are due to be launched
        again: their last launch failed before ``failed_before``, or the process that claimed
        them before ``lost_before`` stopped (crashed) without recording one. Each as (dead
        resource id, when it was last claimed)."""
        successor = aliased(ResourceRow)
        with self.ctx.db.session() as session:
            rows = session.execute(
                select(ResourceRow.id, ResourceRow.replaced_at).where(
                    ResourceRow.scale_id == scale_id,
                    ResourceRow.replaced_at.is_not(None),
                    ~exists().where(successor.replaces == ResourceRow.id),
                    or_(
                        and_(
                            ResourceRow.replacement_error.is_not(None),
                            ResourceRow.replaced_at < failed_before,
                        ),
                        ResourceRow.replaced_at < lost_before,
                    ),
                )
            ).all()
            return [(resource_id, float(at)) for resource_id, at in rows if at is not None]

    def reclaim(self, resource_id: str, claimed_at: float, now: float) -> bool:
        """Take over an unfinished claim to launch its replacement again; False if another
        process took it first (a compare-and-set on the claim's time)."""
        with self.ctx.db.session() as session:
            result = session.execute(
                update(ResourceRow)
                .where(ResourceRow.id == resource_id, ResourceRow.replaced_at == claimed_at)
                .values(replaced_at=now, replacement_error=None)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def dead(self, scale_id: str) -> list[str]:
        """The active resources of ``scale_id`` that are dead, by index."""
        with self.ctx.db.session() as session:
            return list(
                session.scalars(
                    select(ResourceRow.id)
                    .where(
                        ResourceRow.scale_id == scale_id,
                        ResourceRow.replaced_at.is_(None),
                        ResourceRow.state == "dead",
                    )
                    .order_by(ResourceRow.index)
                )
            )
