"""Database fixtures: every test here runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from signalrisk.core.config import Settings
from signalrisk.services.facade import Facade


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def facades(database_url: str, tmp_path: Path) -> Iterator[Callable[[], Facade]]:
    """Make service facades on one database, each with its own engine and connections, as
    separate API processes have; all are closed afterwards."""
    made: list[Facade] = []

    def make() -> Facade:
        settings = Settings(
            home=tmp_path / "home", database_url=database_url, background_driver=False
        )
        facade = Facade(settings)
        made.append(facade)
        return facade

    yield make
    for facade in made:
        facade.close()
