"""Chart PNGs of runs: drawn when first asked for, then kept in the object store.

Drawing takes tens of milliseconds of CPU in the API process; doing it on demand keeps it off
the path of /analyse. matplotlib itself is imported once, in the background, at start-up.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from signalrisk.core.errors import NotFound
from signalrisk.db.models import RunRow
from signalrisk.services.context import ServiceContext
from signalrisk.services.runs import RunLedger


@runtime_checkable
class Presigning(Protocol):
    """Optional: a store that can hand out a time-limited URL of an object (S3)."""

    def presigned_url(self, key: str, expiry_s: int) -> str: ...


class ChartStore:
    """The chart of each run under ``charts/<run id>.png`` in the object store."""

    def __init__(self, ctx: ServiceContext, runs: RunLedger) -> None:
        self.ctx = ctx
        self.runs = runs
        self._lock = threading.Lock()

    def preload(self) -> None:
        """Import matplotlib in the background, so the first chart does not pay for it."""

        def load() -> None:
            import matplotlib.backends.backend_agg
            import matplotlib.figure  # noqa: F401

        threading.Thread(target=load, name="chart-preload", daemon=True).start()

    @property
    def presigns(self) -> bool:
        """Whether charts are handed out as presigned object URLs (S3) rather than by the API."""
        return isinstance(self.ctx.store, Presigning)

    def url(self, run_id: str, api_url: str) -> str:
        """Where to fetch the chart: a presigned object URL if the store has them, else the API."""
        store = self.ctx.store
        if isinstance(store, Presigning):
            self.png(run_id)  # make sure it exists before handing out its URL
            return store.presigned_url(_key(run_id), self.ctx.settings.aws.presign_expiry_s)
        return api_url

    def png(self, run_id: str) -> bytes:
        """The run's chart, drawn now if the background rendering has not stored it yet."""
        key = _key(run_id)
        if self.ctx.store.exists(key):
            return self.ctx.store.get(key)
        with self._lock:
            if self.ctx.store.exists(key):
                return self.ctx.store.get(key)
            png = self._render(run_id)
            self.ctx.store.put(key, png, content_type="image/png")
        with self.ctx.db.session() as session:
            row = session.get(RunRow, run_id)
            if row is not None:
                row.chart_key = key
        return png

    def _render(self, run_id: str) -> bytes:
        from signalrisk.services.charts import chart_title, render_var_chart

        row = self.runs.run(run_id)
        if row.result is None:
            raise NotFound(f"run {run_id} has no results to chart")
        req, res = row.request, row.result
        title = chart_title(
            req["ticker"],
            req["t"],
            req["h"],
            req["d"],
            req["r"],
            str(req["start"]),
            str(req["end"]),
        )
        return render_var_chart(
            res["dates"], res["var95"], res["var99"], res["av95"], res["av99"], title
        )


def _key(run_id: str) -> str:
    return f"charts/{run_id}.png"
