"""Tables of the service's state (SPEC §6): the scale, its resources, the runs.

Nothing the API answers lives only in process memory: a restarted service, or a second one on
the same database, answers the same.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Times are epoch seconds (float, UTC): portable across SQLite and PostgreSQL."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, float: Float}


class Control(Base):
    """The one row that says which scale is current and which run is the last analysis."""

    __tablename__ = "control"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    current_scale_id: Mapped[str | None] = mapped_column(String(32))
    last_run_id: Mapped[str | None] = mapped_column(String(32))
    local_home: Mapped[str | None] = mapped_column(String(1024))  # see migration 0003


class ScaleRow(Base):
    """A warm-up request and everything that happened to it."""

    __tablename__ = "scales"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    r: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    secret: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[float]
    deadline_at: Mapped[float]
    ready_at: Mapped[float | None]
    terminate_requested_at: Mapped[float | None]
    terminated_at: Mapped[float | None]
    warmup_billable_s: Mapped[float | None] = mapped_column(Float)
    warmup_cost: Mapped[float | None] = mapped_column(Float)
    warmup_basis: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)


class ResourceRow(Base):
    """One resource of a scale: a worker process, an instance or a Lambda environment."""

    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scale_id: Mapped[str] = mapped_column(ForeignKey("scales.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(256))
    pid: Mapped[int | None] = mapped_column(Integer)
    create_time: Mapped[float | None] = mapped_column(Float)
    warm_billed_ms: Mapped[float | None] = mapped_column(Float)
    launched_at: Mapped[float]
    ready_at: Mapped[float | None]
    ended_at: Mapped[float | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Replacement of a resource that died while its scale was ready (migration 0005): on the
    # new resource, the id of the dead one; on the dead one, when its replacement was claimed
    # (it is no longer one of the scale's r resources from then on) and why none was launched.
    replaces: Mapped[str | None] = mapped_column(String(64))
    replaced_at: Mapped[float | None]
    replacement_error: Mapped[str | None] = mapped_column(Text)


class RunRow(Base):
    """One analysis: its request, its per-signal results and its accounting."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_scale_status_cost", "scale_id", "status", "cost"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scale_id: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[float]
    finished_at: Mapped[float | None]
    owner: Mapped[str | None] = mapped_column(String(160))  # host:pid:start of the API process
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cost: Mapped[float | None]  # result["cost"], summed by SQL for the scale's cost to date
    audit_key: Mapped[str | None] = mapped_column(String(256))
    chart_key: Mapped[str | None] = mapped_column(String(256))
    error: Mapped[str | None] = mapped_column(Text)
