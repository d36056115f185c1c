"""API processes sharing a database on the local platform must share the home too."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalrisk.core.config import Settings
from signalrisk.db.models import Control
from signalrisk.services.facade import Facade, HomeMismatch


def started(database_url: str, home: Path) -> Facade:
    facade = Facade(Settings(home=home, database_url=database_url, background_driver=False))
    try:
        facade.start()
    except BaseException:
        facade.close()
        raise
    return facade


def test_refuse_second_home_on_shared_database(database_url: str, tmp_path: Path) -> None:
    first = started(database_url, tmp_path / "a")
    try:
        again = started(database_url, tmp_path / "a")  # the same home: fine
        again.close()
        with pytest.raises(HomeMismatch, match=f"SIGNALRISK_HOME={tmp_path / 'a'}"):
            started(database_url, tmp_path / "b")
    finally:
        first.close()


def test_default_database_in_home_records_nothing(tmp_path: Path) -> None:
    facade = Facade(Settings(home=tmp_path / "home", background_driver=False))
    try:
        facade.start()  # SQLite inside the home: a moved home moves its database with it
        with facade.ctx.db.session() as session:
            control = session.get(Control, 1)
            assert control is not None and control.local_home is None
    finally:
        facade.close()
