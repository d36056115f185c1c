"""The dashboard: one static page at ``/`` with its script and style under ``/ui/``.

The files live in ``signalrisk/web`` and are package data: nothing is fetched from the internet
at run time. They are not API operations, so they stay out of the OpenAPI schema.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard() -> FileResponse:
    """The dashboard page (it reads the API with the caller's token, if any)."""
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


def static_files() -> StaticFiles:
    """``/ui/<file>``: the dashboard's script, style and icon."""
    return StaticFiles(directory=WEB)
