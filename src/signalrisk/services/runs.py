"""The runs: their rows, the last analysis, and the end of every run (stored and audited once).

A run ends exactly once, whoever ends it: the request that ran it, or, after that request's
API process died, whichever process notices first (``recover_interrupted``). Ending is a
compare-and-set on the run's status; only the winner writes the audit record.

When the store fails to take the record (S3 unreachable, a directory that refuses writes), the
run stays as ended in the database, results and all, and is marked *audit pending*: its
``error`` carries a note that starts with :data:`AUDIT_PENDING` (after the run's own error, if
it failed), which ``/v1/runs/{id}`` shows. The record is written later, exactly once (the
create is conditional, its key fixed by the run) and as it would have been (same fields, same
``timestamp``, the run's own error without the note), by whichever comes first: the heartbeat
(every ``heartbeat_interval_s``, off the caller's thread) or the start of an API process
(``repair_audit``, which also writes records lost by a process that died before writing
them). The note is cleared once the record is in the store. The store never shows part of a
record: every provider's ``create`` is atomic, so a failed write leaves nothing behind.
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
from signalrisk.core.errors import AlreadyExists, NoAnalysis, NotFound, StorageError
from signalrisk.db.models import Control, RunRow
from signalrisk.services.audit import AUDIT_REQUEST_FIELDS, AuditTrail, audit_key, iso_utc
from signalrisk.services.context import ServiceContext
from signalrisk.services.costs import basis_for
from signalrisk.services.dispatch import MAX_ATTEMPTS
from signalrisk.services.scaling import ScaleService

log = logging.getLogger(__name__)

AUDIT_PENDING = "[audit pending]"
"""Starts the note in a run's ``error`` while its audit record is not in the store yet."""


def audit_pending(error: str | None) -> bool:
    """Whether a run's ``error`` says that its audit record is still to be written."""
    return error is not None and AUDIT_PENDING in error


def _with_pending_note(error: str | None, cause: str) -> str:
    note = (
        f"{AUDIT_PENDING} its audit record could not be written ({cause.rstrip('.')}); it is"
        " retried at every heartbeat until the store takes it"
    )
    return f"{error}\n{note}" if error else note


def _without_pending_note(error: str | None) -> str | None:
    """The run's own error, without the audit note (None for a run that succeeded)."""
    if error is None:
        return None
    return error.partition(AUDIT_PENDING)[0].rstrip("\n") or None


def audit_pending_message(run_id: str, cause: str) -> str:
    """What ``/analyse`` answers when the analysis succeeded but its record was not written."""
    return (
        f"the analysis finished and its results are stored (run {run_id}; the result endpoints"
        f" answer them), but its audit record could not be written: {cause.rstrip('.')}. It will"
        " be written once the store answers again (retried at every heartbeat); do not run it"
        " again"
    )


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
        self._retry_lock = threading.Lock()
        self._retry_due = 0.0  # time.monotonic() of the next retry of pending audit records
        self._retrying = False
        self._repair_due = False  # the repair at start failed: the next retries do it

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
        longer than any analysis can (one worker call timeout per dispatch attempt): then its
        scale would otherwise stay ``analysing`` for ever. Returns how many runs were recovered.

        This is called at every round of the scale driver (the heartbeat) and before every
        analysis, so it also starts the retry of pending audit records when one is due.
        """
        self.retry_audit_when_due()
        lease_s = MAX_ATTEMPTS * self.ctx.settings.worker_call_timeout_s + 60.0
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
        already ended (someone else finished it).

        If the store does not take the record, the run is marked audit pending (see the module
        docstring) and, for a run that succeeded, StorageError says so (the analysis's results
        are stored: it must not be run again); a failed run's caller reports its own error.
        """
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
        log.info("analysis finished", extra={"run": run_id, "status": status})
        try:
            self._write_audit(run_id, created, request, result, status, error, finished)
        except StorageError as exc:
            self._mark_audit_pending(run_id, error, exc.message)
            if result is not None:
                raise StorageError(audit_pending_message(run_id, exc.message)) from exc
        return True

    def _mark_audit_pending(self, run_id: str, error: str | None, cause: str) -> None:
        log.error(
            "audit record not written; retried at every heartbeat",
            extra={"run": run_id, "error": cause},
        )
        with self.ctx.db.session() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(error=_with_pending_note(error, cause))
            )
        with self._cache_lock:
            self._ended.pop(run_id, None)  # read while the write was being tried

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
        if row.status != "running" and not audit_pending(row.error):
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
        in the database and died before writing it, or the store failed then), and clear the
        pending notes of records that are there. Returns how many were written.

        Called at start. If the store fails, the service starts all the same (the results
        stay available) and the repair is retried at every heartbeat until it succeeds.
        """
        try:
            written = self._repair()
        except StorageError as exc:
            log.error(
                "audit repair failed; retried at every heartbeat", extra={"error": exc.message}
            )
            self._repair_due = True
            return 0
        self._repair_due = False
        return written

    def _repair(self) -> int:
        present = set(self.audit.keys())
        ended = self._ended_rows(RunRow.audit_key.is_not(None))
        written = 0
        for row in ended:
            if row.audit_key in present:
                self._clear_audit_pending(row)
            else:
                self._write_late(row)
                written += 1
        return written

    def retry_pending_audit(self) -> int:
        """Write the records of the runs marked audit pending; returns how many were written.

        Stops at the first failure (the store is still down): the rest wait for the next round.
        """
        written = 0
        for row in self._ended_rows(RunRow.error.contains(AUDIT_PENDING, autoescape=True)):
            try:
                self._write_late(row)
            except StorageError as exc:
                log.warning(
                    "audit record still not written", extra={"run": row.id, "error": exc.message}
                )
                break
            written += 1
        return written

    def retry_audit_when_due(self) -> None:
        """Retry the pending audit records (or the repair, if the one at start failed) when a
        retry is due: at most once per heartbeat interval, one at a time, and in a thread of
        its own, so that a store that hangs holds up neither warm-ups nor analyses. When
        nothing is pending this is one small query, and no thread."""
        now = time.monotonic()
        with self._retry_lock:
            if self._retrying or now < self._retry_due:
                return
            self._retry_due = now + self.ctx.settings.heartbeat_interval_s
            self._retrying = True
        try:
            due = self._repair_due or self._any_pending()
        except Exception:
            self._retrying = False
            raise
        if not due:
            self._retrying = False
            return
        threading.Thread(target=self._retry_round, name="audit-retry", daemon=True).start()

    def _any_pending(self) -> bool:
        with self.ctx.db.engine.connect() as connection:
            first = connection.execute(
                select(RunRow.id)
                .where(RunRow.error.contains(AUDIT_PENDING, autoescape=True))
                .limit(1)
            ).first()
        return first is not None

    def _retry_round(self) -> None:
        try:
            written = self.repair_audit() if self._repair_due else self.retry_pending_audit()
            if written:
                log.info("late audit records written", extra={"count": written})
        except Exception:  # a background round: log it, the next heartbeat tries again
            log.exception("retry of pending audit records failed")
        finally:
            self._retrying = False

    def _ended_rows(self, *where: Any) -> list[RunRow]:
        with self.ctx.db.session() as session:
            rows = list(session.scalars(select(RunRow).where(RunRow.status != "running", *where)))
            for row in rows:
                session.expunge(row)
        return rows

    def _write_late(self, row: RunRow) -> None:
        """Write an ended run's missing record as it would have been written when it ended,
        then clear its pending note."""
        self._write_audit(
            row.id,
            row.created_at,
            row.request,
            row.result,
            row.status,
            _without_pending_note(row.error),
            row.finished_at or row.created_at,
        )
        log.warning("late audit record written", extra={"run": row.id})
        self._clear_audit_pending(row)

    def _clear_audit_pending(self, row: RunRow) -> None:
        if not audit_pending(row.error):
            return
        with self.ctx.db.session() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.id == row.id, RunRow.error == row.error)
                .values(error=_without_pending_note(row.error))
            )

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
