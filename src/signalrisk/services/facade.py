"""The facade shared by the API and the CLI: one object with the service's operations."""

from __future__ import annotations

from signalrisk.core.config import Settings
from signalrisk.services.analysis import AnalysisService
from signalrisk.services.chart_store import ChartStore
from signalrisk.services.context import ServiceContext
from signalrisk.services.runs import RunLedger
from signalrisk.services.scaling import ScaleService


class Facade:
    """The scale, the analyses, their runs and charts, on one context."""

    def __init__(self, settings: Settings) -> None:
        self.ctx = ServiceContext(settings)
        self.scales = ScaleService(self.ctx)
        self.runs = RunLedger(self.ctx, self.scales)
        self.charts = ChartStore(self.ctx, self.runs)
        self.analyses = AnalysisService(self.ctx, self.scales, self.runs, self.charts)

    def start(self) -> None:
        """Bring the schema up to date, and pick up what a previous process left behind."""
        self.ctx.db.migrate()
        self.advance(check_ready=True)
        self.runs.repair_audit()

    def advance(self, check_ready: bool = False) -> None:
        """All progress that is due: interrupted runs failed, scales moved along."""
        self.runs.recover_interrupted()
        self.scales.advance(check_ready=check_ready)

    def close(self) -> None:
        self.ctx.close()
