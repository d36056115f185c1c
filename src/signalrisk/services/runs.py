"""The runs: their rows, the last analysis, and the end of every run (stored and audited once).

A run ends exactly once, whoever ends it: the request that ran it, or, after that request's
API process died, whichever process notices first (``recover_interrupted``). Ending is a
compare-and-set on the run's status; only the winner writes the audit record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any

import psutil
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from signalrisk import __version__
from signalrisk.compute.localproc import is_alive
from signalrisk.core.errors import AlreadyExists, NoAnalysis, NotFound
from signalrisk.db.models import Control, RunRow
from signalrisk.services.audit import AUDIT_REQUEST_FIELDS, AuditTrail, audit_key, iso_utc
from signalrisk.services.context import ServiceContext
from signalrisk.services.costs import basis_for
from signalrisk.services.scaling import ScaleService

log = logging.getLogger(__name__)


def current_owner() -> str:
    """This process as recorded on the runs it executes: host, pid and process start time
    (computed per call, so a forked server worker records itself, not its parent)."""
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time()}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that recorded ``owner`` may still run: on another host, assume so."""
    if not owner:
        return False
    host, pid, create_time = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return True
    return is_alive(int(pid), float(create_time))


class RunLedger:
    """Run rows, the pointer to the last analysis, and the audit trail they feed."""

    def __init__(self, ctx: ServiceContext, scales: ScaleService) -> None:
        self.ctx = ctx
        self.scales = scales
        self.audit = AuditTrail(ctx.store)
        self._ended: dict[str, RunRow] = {}
        self._cache_lock = threading.Lock()

    def start(self, session: Session, run_id: str, scale_id: str, request: dict[str, Any]) -> None:
        """Record a run as running, owned by this process, in the caller's transaction."""
        session.add(
            RunRow(
                id=run_id,
                scale_id=scale_id,
                status="running",
                created_at=time.time(),
                owner=current_owner(),
                request=request,
            )
        )

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
            if not self.finish(row.id, row.request, None, "the API process running it stopped"):
                continue  # another process recovered it first
            recovered += 1
            log.warning("interrupted run marked failed", extra={"run": row.id})
            if row.scale_id:
                self.scales.end_analysis(row.scale_id)
        return recovered

    def finish(
        self,
        run_id: str,
        request: dict[str, Any],
        result: dict[str, Any] | None,
        error: str | None,
    ) -> bool:
        """End a running run once: in one transaction its status, results and audit key, and
        the last-analysis pointer if it succeeded; then its audit record. False if the run had
        already ended (someone else finished it)."""
        finished = time.time()
        status = "ok" if result is not None else "failed"
        with self.ctx.db.session() as session:
            row = session.get(RunRow, run_id)
            if row is None or row.status != "running":
                return False
            key = audit_key(run_id, row.created_at)
            claimed = session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "running")
                .values(
                    status=status,
                    finished_at=finished,
                    result=result,
                    cost=None if result is None else result.get("cost"),
                    error=error,
                    audit_key=key,
                )
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return False
            if result is not None:
                self._control(session).last_run_id = run_id
            created = row.created_at
        self._write_audit(run_id, created, request, result, status, error, finished)
        log.info("analysis finished", extra={"run": run_id, "status": status})
        return True

    def run(self, run_id: str) -> RunRow:
        """One run. An ended run never changes again, so it is kept in memory once read; the
        result endpoints then cost one small query (which run is the last) and no parsing."""
        with self._cache_lock:
            cached = self._ended.get(run_id)
        if cached is not None:
            return cached
        with self.ctx.db.session() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise NotFound(f"no run {run_id}")
            session.expunge(row)
        if row.status != "running":
            with self._cache_lock:
                if len(self._ended) >= 256:
                    self._ended.pop(next(iter(self._ended)))
                self._ended[run_id] = row
        return row

    def last(self) -> RunRow:
        """The last successful analysis, unless reset since; 409 no_analysis otherwise.

        The pointer is read from the database on every call, so every API process behind a
        load balancer answers the same.
        """
        with self.ctx.db.engine.connect() as connection:
            run_id = connection.execute(
                select(Control.last_run_id).where(Control.id == 1)
            ).scalar_one_or_none()
        if not run_id:
            raise NoAnalysis("no analysis yet (or /reset since); POST /analyse first")
        return self.run(run_id)

    def _write_audit(
        self,
        run_id: str,
        created: float,
        request: dict[str, Any],
        result: dict[str, Any] | None,
        status: str,
        error: str | None,
        finished: float,
    ) -> None:
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
        # If this run's record is already there, an earlier attempt wrote it: keep it.
        with contextlib.suppress(AlreadyExists):
            self.audit.write(record, created)

    def repair_audit(self) -> int:
        """Write the record of every ended run whose record is missing (the process ended it
        in the database and died before writing it). Returns how many were written."""
        present = set(self.audit.keys())
        with self.ctx.db.session() as session:
            ended = list(
                session.scalars(
                    select(RunRow).where(RunRow.status != "running", RunRow.audit_key.is_not(None))
                )
            )
            for row in ended:
                session.expunge(row)
        missing = [row for row in ended if row.audit_key not in present]
        for row in missing:
            self._write_audit(
                row.id,
                row.created_at,
                row.request,
                row.result,
                row.status,
                row.error,
                row.finished_at or row.created_at,
            )
            log.warning("missing audit record written", extra={"run": row.id})
        return len(missing)

    def _control(self, session: Session) -> Control:
        control = session.get(Control, 1)
        if control is None:
            control = Control(id=1)
            session.add(control)
        return control

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
