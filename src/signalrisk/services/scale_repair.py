"""Replacing the resources that die while their scale is ready (SPEC §2).

A dead resource makes ``/scaled_ready`` "false" until it is replaced. :meth:`ScaleRepair.repair`
runs as part of the scale's progress, from whichever API process gets there first:

1. a replacement still starting after the warm-up deadline is stopped (by force, as a hung
   resource is) and counted dead;
2. each dead resource is claimed (a compare-and-set: two processes never both replace it)
   while the scale has had fewer than ``max_replacements`` (count and claim are one locked
   decision); past the limit the resource stays dead in the scale (``/scaled_ready`` stays
   "false" until it is terminated): a crash loop must not launch resources, and spend money,
   forever;
3. the claimed indices are launched in one ``launch(spec, indices)``; the new resources are
   recorded with the dead ones they replace, and become ready by the usual probes. A launch
   that fails is recorded on the claims and launched again at the next heartbeat, as is a
   claim that a crashed process left without a replacement (after the warm-up deadline).

An analysis meanwhile runs on the live resources: batch k of a dead resource goes to another
one, with the same numbers (the streams follow k). Replacements happen only while the scale is
``ready``, never while it analyses, warms up or terminates.
"""

from __future__ import annotations

import logging
import time

from signalrisk.compute.base import ComputeProvider, Resource, ScaleSpec
from signalrisk.core.errors import SignalRiskError
from signalrisk.services.context import ServiceContext
from signalrisk.services.replacements import ReplacementRecords
from signalrisk.services.scale_records import ScaleRecords

log = logging.getLogger(__name__)


class ScaleRepair:
    """Replaces the dead resources of ready scales (see the module docstring)."""

    def __init__(self, ctx: ServiceContext, records: ScaleRecords) -> None:
        self.ctx = ctx
        self.records = records
        self.replacements = ReplacementRecords(ctx)

    def due(self) -> set[str]:
        """The ready scales where a replacement is due or still starting."""
        return self.replacements.due()

    def repair(self, scale_id: str, heartbeat: bool = False) -> None:
        """Stop late replacements, then replace each dead resource of ``scale_id`` that the
        limit allows; at a ``heartbeat`` (or a ``/scaled_ready`` look), launch the unfinished
        claims again too: a failed launch once its last attempt is a heartbeat interval old,
        whoever looks and however often, and a crash between a claim and its record once the
        warm-up deadline has passed."""
        spec, resources, _ = self.records.load(scale_id)
        by_id = {r.id: r for r in resources}
        provider = self.ctx.provider(spec.service)
        now = time.time()
        deadline_s = self.ctx.settings.warmup_deadline(spec.service)
        late = [by_id[i] for i in self.replacements.late(scale_id, now - deadline_s)]
        if late:
            # One by one and by force: ``terminate`` would stop the whole scale's tag, and a
            # resource that never answered may not act on a polite stop.
            for resource in late:
                provider.stop_hung(spec, resource)
            self.records.record_probe(late, [r.evolve(state="dead") for r in late], now)
            for resource in late:
                log.warning(
                    "replacement not ready within %g s; stopped",
                    deadline_s,
                    extra={"scale": scale_id, "resource": resource.id},
                )
        claimed = self._claim(scale_id, [by_id[i] for i in self.replacements.dead(scale_id)])
        if heartbeat:
            unfinished = self.replacements.unfinished(
                scale_id,
                failed_before=now - self.ctx.settings.heartbeat_interval_s,
                lost_before=now - deadline_s,
            )
            claimed += [
                by_id[resource_id]
                for resource_id, claimed_at in unfinished
                if self.replacements.reclaim(resource_id, claimed_at, time.time())
            ]
        if claimed:
            self._launch(spec, provider, claimed)

    def _claim(self, scale_id: str, dead: list[Resource]) -> list[Resource]:
        """The dead resources this process may replace: claimed, and within the limit."""
        limit = self.ctx.settings.max_replacements
        claimed: list[Resource] = []
        for resource in dead:
            outcome = self.replacements.claim(scale_id, resource.id, time.time(), limit)
            if outcome == "limit":
                log.warning(
                    "dead resource not replaced: the scale has had max_replacements = %d",
                    limit,
                    extra={"scale": scale_id, "resource": resource.id},
                )
                break
            if outcome == "claimed":
                claimed.append(resource)
        return claimed

    def _launch(self, spec: ScaleSpec, provider: ComputeProvider, dead: list[Resource]) -> None:
        try:
            new = provider.launch(spec, [r.index for r in dead])
        except Exception as exc:  # any failure: the claims are left to retry, never stuck
            message = exc.message if isinstance(exc, SignalRiskError) else repr(exc)
            self.replacements.failed([r.id for r in dead], message)
            log.error(
                "replacement launch failed; retried at the next heartbeat",
                extra={"scale": spec.scale_id, "resources": [r.id for r in dead], "error": message},
            )
            return
        self.records.add_resources(
            spec.scale_id, new, launched_at=time.time(), replaces={r.index: r.id for r in dead}
        )
        for old, fresh in zip(dead, new, strict=True):
            log.warning(
                "dead resource replaced",
                extra={"scale": spec.scale_id, "resource": old.id, "replaced_by": fresh.id},
            )
        _, _, row = self.records.load(spec.scale_id)
        if row.state not in ("ready", "analysing"):
            # Terminated while we launched: its termination may have ended without these.
            provider.terminate(spec, new)
            log.warning("scale %s terminated during a replacement", spec.scale_id)
