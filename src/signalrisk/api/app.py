"""The ASGI app: ``create_app()`` for uvicorn (``--factory``), gunicorn or App Engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from signalrisk import __version__
from signalrisk.api import examples
from signalrisk.api.errors import install_error_handlers
from signalrisk.api.examples import keep_null_examples
from signalrisk.api.limits import BodySizeLimit
from signalrisk.api.routes_seed import router as seed_router
from signalrisk.api.routes_ui import router as ui_router
from signalrisk.api.routes_ui import static_files
from signalrisk.api.routes_v1 import router as v1_router
from signalrisk.core.config import Settings, get_settings
from signalrisk.services.driver import ScaleDriver
from signalrisk.services.facade import Facade

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API on ``settings`` (default: from the environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        facade = Facade(settings)
        facade.start()
        driver = ScaleDriver(facade.scales, facade.advance, settings.heartbeat_interval_s)
        app.state.facade, app.state.driver = facade, driver
        if settings.background_driver:
            driver.start()
            facade.charts.preload()
        log.info(
            "signalrisk %s up: platform=%s home=%s", __version__, settings.platform, settings.home
        )
        try:
            yield
        finally:
            driver.stop()
            facade.scales.shutdown()
            facade.close()

    app = FastAPI(
        title="signalrisk",
        version=__version__,
        summary="Monte Carlo VaR of Three White Soldiers / Three Black Crows signals",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.limits.max_body_bytes)
    app.include_router(seed_router)
    app.include_router(v1_router)
    app.include_router(ui_router)
    app.mount("/ui", static_files(), name="ui")
    keep_null_examples(app, seed_router, v1_router)

    @app.get(
        "/health",
        tags=["ops"],
        summary="Whether the service is up",
        responses=examples.HEALTH_RESPONSES,
    )
    def health() -> dict[str, str]:
        """200 when the service is up."""
        return {"status": "ok", "version": __version__}

    return app
