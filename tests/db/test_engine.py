"""The engine's per-connection settings on SQLite."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from signalrisk.db.engine import SQLITE_CACHE_KIB, Database


def test_sqlite_connections_keep_small_page_cache(tmp_path: Path) -> None:
    # Each pooled connection, overflow ones included, refills its page cache from whichever
    # thread holds it; SQLite's 2000 KiB default made the API's memory grow under the soak.
    db = Database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with db.engine.connect() as first, db.engine.connect() as second:
            for connection in (first, second):
                cache = connection.execute(text("PRAGMA cache_size")).scalar_one()
                assert cache == -SQLITE_CACHE_KIB
                assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        db.dispose()
