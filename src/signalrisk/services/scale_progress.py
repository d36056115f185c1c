"""Progress of the scale: a warming scale becoming ready (or failed), a terminating one gone,
a ready one that nobody used for ``idle_ttl_s`` terminated, and the dead resources of a ready
one replaced (:mod:`~signalrisk.services.scale_repair`).

Progress is made by :meth:`ScaleProgress.advance`, which is idempotent: a background thread
calls it while something is in flight and at every heartbeat, and the status endpoints call it
too, so progress also happens where background threads are frozen (App Engine).
"""

from __future__ import annotations

import logging
import time

from signalrisk.compute.base import Resource, ScaleSpec
from signalrisk.services.context import ServiceContext
from signalrisk.services.costs import Cost, warmup_cost
from signalrisk.services.scale_records import ScaleRecords, ScaleView
from signalrisk.services.scale_repair import ScaleRepair

log = logging.getLogger(__name__)

LIVE = ("warming", "ready", "analysing", "failed")  # the states that may hold resources


class ScaleProgress:
    """Moves every scale along from what its provider reports."""

    def __init__(self, ctx: ServiceContext, records: ScaleRecords) -> None:
        self.ctx = ctx
        self.records = records
        self.repairs = ScaleRepair(ctx, records)
        # A lower bound of each ready scale's last use, so that a scale known to be in use
        # costs no query; it also holds direct invocations, which leave no run behind.
        self._last_use: dict[str, float] = {}

    def advance(self, check_ready: bool = False) -> ScaleView:
        """Make whatever progress is due: warming -> ready/failed, terminating -> gone.

        With ``check_ready``, the resources of a ready scale are probed too (liveness).
        """
        todo = self.records.scales_in(("warming", "terminating", "failed", "ready"))
        repairs = self.repairs.due() if any(state == "ready" for _, state in todo) else set()
        for scale_id, state in todo:
            if state == "warming":
                self._advance_warming(scale_id)
            elif state in ("terminating", "failed"):
                self._advance_termination(scale_id, state)
            elif self._terminate_idle(scale_id):
                continue  # now terminating: the next round sees the resources gone
            elif check_ready or scale_id in repairs:
                # Between heartbeats only the replacements booting are probed, not all r.
                self._probe(scale_id, starting_only=not check_ready)
                self.repairs.repair(scale_id, heartbeat=check_ready)
        ready = {scale_id for scale_id, state in todo if state == "ready"}
        for scale_id in [s for s in self._last_use if s not in ready]:
            self._last_use.pop(scale_id, None)
        return self.records.current()

    def note_use(self, scale_id: str) -> None:
        """Count a use of ``scale_id`` that leaves no run behind (a direct invocation)."""
        self._last_use[scale_id] = time.time()

    def _terminate_idle(self, scale_id: str) -> bool:
        """Terminate ``scale_id`` if it is ready and nobody used it for ``idle_ttl_s``, as
        /terminate would: ready -> terminating, then its resources are stopped."""
        ttl = self.ctx.settings.idle_ttl_s
        if ttl is None:
            return False
        now = time.time()
        known = self._last_use.get(scale_id)
        if known is not None and now - known < ttl:
            return False
        recorded = self.records.last_use(scale_id)
        if recorded is None:  # an analysis has not ended: in use
            return False
        last = max(recorded, known or 0.0)
        self._last_use[scale_id] = last
        if now - last < ttl:
            return False
        reason = f"idle for {now - last:.0f} s, over idle_ttl_s = {ttl:g} s"
        if not self.records.claim_idle(scale_id, now - ttl, reason):
            return False  # used (or terminated) meanwhile
        spec, resources, _ = self.records.load(scale_id)
        self.ctx.provider(spec.service).terminate(spec, resources)
        log.warning("scale %s (%s, r=%d) terminated: %s", scale_id, spec.service, spec.r, reason)
        return True

    def recheck(self, scale_id: str, resource_ids: list[str]) -> list[Resource]:
        """Probe these resources of ``scale_id`` now, not at the next heartbeat (they have just
        failed a batch), and record what is seen. Returns them as probed."""
        wanted = set(resource_ids)
        return [r for r in self._probe(scale_id, wanted) if r.id in wanted]

    def _probe(
        self, scale_id: str, only: set[str] | None = None, starting_only: bool = False
    ) -> list[Resource]:
        spec, resources, _ = self.records.load(scale_id)
        states = ("starting",) if starting_only else ("starting", "ready")
        live = [r for r in resources if r.state in states and (only is None or r.id in only)]
        probed = self.ctx.provider(spec.service).probe(spec, live) if live else []
        for dead in self.records.record_probe(live, probed, time.time()):
            log.warning("resource died", extra={"scale": scale_id, "resource": dead.id})
        by_id = {r.id: r for r in probed}
        return [by_id.get(r.id, r) for r in resources]

    def _advance_warming(self, scale_id: str) -> None:
        resources = self._probe(scale_id)
        spec, _, row = self.records.load(scale_id)
        if resources and all(r.state == "ready" for r in resources):
            cost = self._warmup_cost(spec)
            self.records.cas(
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
            if self.records.cas(scale_id, ("warming",), "failed", error=error):
                log.error("warm-up failed", extra={"scale": scale_id, "error": error})
                self.ctx.provider(spec.service).terminate(spec, resources)

    def _warmup_cost(self, spec: ScaleSpec) -> Cost:
        seconds = self.records.warmup_seconds(spec)
        return warmup_cost(
            self.ctx.settings.platform, spec.service, seconds, self.ctx.settings.prices
        )

    def _advance_termination(self, scale_id: str, state: str) -> None:
        spec, resources, _ = self.records.load(scale_id)
        provider = self.ctx.provider(spec.service)
        pending = [r for r in resources if r.state != "terminated"]
        if state == "terminating" and pending:
            provider.terminate(spec, pending)  # again: idempotent, and covers a crash mid-way
        gone = provider.gone(spec, pending) if pending else []
        now = time.time()
        self.records.mark_terminated(pending, gone, now)
        if state == "terminating" and all(gone):
            self.records.cas(scale_id, ("terminating",), "terminated", terminated_at=now)
        elif state == "failed" and all(gone) and self.records.snapshot()[0] != scale_id:
            # A failed scale stays "failed" while it is current (SPEC §2); once replaced and
            # cleaned up it is history.
            self.records.cas(scale_id, ("failed",), "terminated", terminated_at=now)

    def resources_gone(self, view: ScaleView) -> bool:
        """Whether every resource of ``view`` has stopped (for a failed scale's clean-up)."""
        if view.id is None or not view.resources:
            return True
        spec = self.records.spec_of(view.id)
        return all(self.ctx.provider(spec.service).gone(spec, view.resources))

    def terminate_all(self, wait_s: float, reason: str = "terminated by cleanup") -> int:
        """Terminate every scale that may hold resources, whatever its state; wait up to
        ``wait_s`` for them to be gone. Returns how many scales were still live."""
        live = [scale_id for scale_id, _ in self.records.scales_in(LIVE)]
        for scale_id in live:
            if self.records.cas(
                scale_id,
                LIVE,
                "terminating",
                terminate_requested_at=time.time(),
                error=reason,
            ):
                spec, resources, _ = self.records.load(scale_id)
                self.ctx.provider(spec.service).terminate(spec, resources)
        deadline = time.monotonic() + wait_s
        while self.records.in_flight() and time.monotonic() < deadline:
            self.advance()
            time.sleep(0.05)
        return len(live)
