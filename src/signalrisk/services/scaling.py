"""Warming up, observing and scaling down the compute (SPEC §2 state table).

:class:`ScaleService` is what the API and the CLI use. The scale lives in the database, where
every transition is a compare-and-set (:mod:`~signalrisk.services.scale_records`); progress is
made by an idempotent ``advance`` (:mod:`~signalrisk.services.scale_progress`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from signalrisk.compute.base import Resource, ScaleSpec
from signalrisk.core.errors import Busy, InvalidParameter, NotWarm, SignalRiskError
from signalrisk.services.context import ServiceContext
from signalrisk.services.costs import Cost, scale_cost_to_date, warmup_cost
from signalrisk.services.scale_progress import ScaleProgress
from signalrisk.services.scale_records import COLD, ScaleRecords, ScaleView
from signalrisk.services.states import READY_STATES

__all__ = ["COLD", "SERVICES", "ScaleService", "ScaleView"]

log = logging.getLogger(__name__)

SERVICES = ("lambda", "ec2")


class ScaleService:
    """The scale of this deployment: one current scale at a time."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.records = ScaleRecords(ctx)
        self.progress = ScaleProgress(ctx, self.records)

    # -- reading -------------------------------------------------------------------------

    def current(self) -> ScaleView:
        """The current scale, without making progress."""
        return self.records.current()

    def spec_of(self, scale_id: str) -> ScaleSpec:
        """What ``scale_id`` was warmed up with, and its secret."""
        return self.records.spec_of(scale_id)

    def in_flight(self) -> bool:
        """Whether progress is due: some scale is warming or terminating, or a ready one has a
        dead resource to replace or a replacement starting."""
        return self.records.in_flight() or bool(self.progress.repairs.due())

    # -- transitions ----------------------------------------------------------------------

    def validate(self, service: str, r: int) -> None:
        """SPEC §2 ranges: ``s`` one of lambda/ec2, ``r`` from 1 to the configured maximum."""
        if service not in SERVICES:
            raise InvalidParameter("s must be 'lambda' or 'ec2'", field="s")
        high = self.ctx.settings.limits.max_r(service)  # type: ignore[arg-type]
        if not 1 <= r <= high:
            raise InvalidParameter(
                f"r must be an integer from 1 to {high} for {service} (the configured maximum,"
                f" limits.max_r_{service})",
                field="r",
            )

    def warmup(self, service: str, r: int) -> ScaleView:
        """Start warming ``r`` resources of ``service``, per the state table; returns at once."""
        self.validate(service, r)
        # Another request (or API instance) may change the scale between our read and our
        # write; every write is a compare-and-set, and whoever loses looks again.
        for _attempt in range(3):
            previous, current = self.records.snapshot()
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
        spec = self.records.claim_new(service, r, previous)
        if spec is None:
            return None
        provider = self.ctx.provider(service)
        try:
            resources = provider.launch(spec)
        except SignalRiskError as exc:
            # A refused or partial launch (quota, capacity): the scale fails at once, with the
            # reason, and whatever carries its tag is stopped; nothing is left half-started.
            self.records.cas(spec.scale_id, ("warming",), "failed", error=exc.message)
            provider.terminate(spec, [])
            log.error("launch failed", extra={"scale": spec.scale_id, "error": exc.message})
            raise
        self.records.add_resources(spec.scale_id, resources, launched_at=time.time())
        log.info("warm-up started", extra={"scale": spec.scale_id, "service": service, "r": r})
        return self.current()

    def _begin_termination(self, scale_id: str | None, from_states: tuple[str, ...]) -> bool:
        """Move the scale to ``terminating`` and stop its resources; False if another won."""
        if not self.records.cas(
            scale_id, from_states, "terminating", terminate_requested_at=time.time()
        ):
            return False
        assert scale_id is not None
        spec, resources, _ = self.records.load(scale_id)
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
        spec = self.spec_of(current.id)
        self.ctx.provider(current.service).terminate(spec, current.resources)
        self.records.cas(current.id, ("failed",), "terminating", terminate_requested_at=time.time())

    def begin_analysis(
        self, record: Callable[[Session, ScaleSpec], None], current: ScaleView | None = None
    ) -> tuple[ScaleSpec, list[Resource]]:
        """Claim the ready scale for one analysis (ready -> analysing), or 409.

        ``record`` writes the run in the same transaction as the claim: a crash can never
        leave a scale "analysing" with no run to recover it from. ``current`` saves a read when
        the caller has just looked (the claim itself is a compare-and-set either way).
        """
        current = current or self.current()
        if current.state == "analysing":
            raise Busy("an analysis is already running")
        spec = self.spec_of(current.id) if current.id else None

        def claim(session: Session) -> None:
            assert spec is not None
            record(session, spec)

        won = current.state == "ready" and self.records.cas(
            current.id, ("ready",), "analysing", within=claim
        )
        if not won:
            again = self.current().state
            # "ready" again means another analysis held the scale at our claim and has ended
            # since: we lost to it, which is busy, not cold.
            if again in ("analysing", "ready"):
                raise Busy("an analysis is already running")
            raise NotWarm(f"the scale is {again}; POST /warmup and wait for /scaled_ready")
        assert spec is not None
        return spec, current.resources

    def end_analysis(self, scale_id: str) -> None:
        self.records.cas(scale_id, ("analysing",), "ready")

    # -- progress -------------------------------------------------------------------------

    def advance(self, check_ready: bool = False) -> ScaleView:
        """Make whatever progress is due: warming -> ready/failed, terminating -> gone.

        With ``check_ready``, the resources of a ready scale are probed too (liveness).
        """
        return self.progress.advance(check_ready=check_ready)

    def note_use(self, scale_id: str) -> None:
        """Count a use that leaves no run behind (a direct invocation) against the idle TTL."""
        self.progress.note_use(scale_id)

    def resources_gone(self, view: ScaleView) -> bool:
        """Whether every resource of ``view`` has stopped (for a failed scale's clean-up)."""
        return self.progress.resources_gone(view)

    def terminate_all(self, wait_s: float, reason: str = "terminated by cleanup") -> int:
        """Terminate every scale that may hold resources, whatever its state; wait up to
        ``wait_s`` for them to be gone. Returns how many scales were still live."""
        return self.progress.terminate_all(wait_s, reason)

    def shutdown(self) -> None:
        """Stop the local workers with the service (Ctrl-C); the state says so afterwards.

        Cloud resources outlive the API by design: /terminate or ``signalrisk cleanup`` stop them.
        """
        if self.ctx.settings.platform == "local":
            self.terminate_all(wait_s=5.0, reason="stopped with the service")

    # -- answers --------------------------------------------------------------------------

    def cost_to_date(self, view: ScaleView) -> Cost | None:
        """The current scale's cost so far, idle time included; None when cold."""
        if view.id is None or view.service is None:
            return None
        settings = self.ctx.settings
        usage = self.records.usage(view.id, time.time())
        provisioned = view.service == "lambda" and settings.platform == "aws"
        provisioned = provisioned and settings.aws.provisioned_concurrency
        # Provisioned environments are billed from request to release, used or not.
        provisioned_s = sum(usage.lifetimes_s) if provisioned else 0.0
        replacements = None
        if view.service == "lambda" and usage.replacement_warmups_s:
            replacements = warmup_cost(
                settings.platform, "lambda", usage.replacement_warmups_s, settings.prices
            )
        return scale_cost_to_date(
            settings.platform,
            view.service,
            [] if view.service == "lambda" else usage.lifetimes_s,
            view.warmup,
            usage.analyses_usd,
            settings.prices,
            provisioned_s,
            replacements,
        )

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
        spec = self.spec_of(view.id)
        live = [r for r in view.resources if r.state == "ready"]
        return self.ctx.provider(view.service).endpoints(spec, live, api_url)
