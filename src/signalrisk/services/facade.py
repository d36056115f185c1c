"""The facade shared by the API and the CLI: one object with the service's operations."""

from __future__ import annotations

from sqlalchemy import update

from signalrisk.core.config import Settings
from signalrisk.db.models import Control
from signalrisk.services.analysis import AnalysisService
from signalrisk.services.chart_store import ChartStore
from signalrisk.services.context import ServiceContext
from signalrisk.services.runs import RunLedger
from signalrisk.services.scaling import ScaleService


class HomeMismatch(RuntimeError):
    """This database is already used by the local platform with another home."""


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
        self._claim_local_home()
        self.advance(check_ready=True)
        self.runs.repair_audit()

    def _claim_local_home(self) -> None:
        """Refuse to share a database with a local-platform process of another home.

        The local workers' records and the audit are files in the home, so two homes on one
        database would each take the other's workers for dead. The first process records its
        home; with the default database (SQLite inside the home) there is nothing to check.
        """
        settings = self.ctx.settings
        if settings.platform != "local" or settings.database_url is None:
            return
        home = str(settings.home)
        with self.ctx.db.session() as session:
            session.execute(
                update(Control)
                .where(Control.id == 1, Control.local_home.is_(None))
                .values(local_home=home)
            )
            recorded = session.get(Control, 1)
            known = recorded.local_home if recorded else home
        if known != home:
            raise HomeMismatch(
                f"this database is used by the local platform with SIGNALRISK_HOME={known}; "
                f"every API process on it must use that home (this one has {home}), because "
                "the local workers' records and the audit live there"
            )

    def advance(self, check_ready: bool = False) -> None:
        """All progress that is due: interrupted runs failed, scales moved along."""
        self.runs.recover_interrupted()
        self.scales.advance(check_ready=check_ready)

    def close(self) -> None:
        self.ctx.close()
