"""Engine, sessions and schema migrations (Alembic, run at start-up)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")

MIGRATION_LOCK_KEY = 0x5349474E414C52  # "SIGNALR": PostgreSQL advisory lock of migrations

# SQLite's page cache per connection, in KiB (its default is 2000). In WAL mode a connection
# drops its whole cache when it starts a read after another connection has committed, which
# under analyses happens many times a second: a large cache is refilled rather than reused.
# It is refilled by whichever thread holds the pooled connection, so it lands in up to
# 8 x cores glibc arenas, each keeping its high-water mark. The cost to date of /v1/scale reads
# past every run's results (``cost`` follows ``result`` in the row), which fills the cache to
# its cap: with the default the soak's API grew ~75 MiB in two minutes, ~30 MiB with 256 KiB
# (of which ~12 MiB is the ended-run cache), at the same read rate.
SQLITE_CACHE_KIB = 256


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode and a busy timeout for concurrent writers."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent, and safe when several processes
    start on the same new database at once: they migrate one after the other)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    with _exclusive_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _exclusive_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the database's migration lock until it ends.

    Without it, two API processes starting together both find no ``alembic_version`` and
    both create the tables: one of them crashes at start-up. PostgreSQL: a transaction-scoped
    advisory lock. SQLite: ``BEGIN IMMEDIATE`` (the write lock, waited for up to the busy
    timeout); the driver's own transaction handling is off meanwhile, so that the DDL runs
    inside that transaction instead of each statement committing on its own.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.exec_driver_sql("ROLLBACK")
                raise
            connection.exec_driver_sql("COMMIT")
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": MIGRATION_LOCK_KEY})
        yield connection


class Database:
    """Sessions on one engine."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        migrate(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
