"""Schema migrations (Alembic) on SQLite and PostgreSQL: fresh, repeated and concurrent."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier

from sqlalchemy import inspect, text

from signalrisk.db.engine import Database

TABLES = {"alembic_version", "control", "scales", "resources", "runs"}
HEAD = "0005"


def test_migrate_fresh_database_creates_schema_at_head(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
                (HEAD,)
            ]
            control = connection.execute(text("SELECT id, current_scale_id FROM control")).all()
        assert control == [(1, None)]
    finally:
        db.dispose()


def test_migrate_from_0001_backfills_each_runs_cost(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from signalrisk.db.engine import MIGRATIONS

    db = Database(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("path_separator", "os")
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            for run_id, status, result in (
                ("ok", "ok", '{"cost": 0.25, "var95": [-0.07]}'),
                ("failed", "failed", None),
                ("no-cost", "ok", '{"var95": []}'),
            ):
                connection.execute(
                    text(
                        "INSERT INTO runs (id, scale_id, status, created_at, request, result)"
                        " VALUES (:id, 's1', :status, 1.0, '{}', :result)"
                    ),
                    {"id": run_id, "status": status, "result": result},
                )
        db.migrate()
        with db.engine.connect() as connection:
            costs = dict(connection.execute(text("SELECT id, cost FROM runs")).all())
        assert costs == {"ok": 0.25, "failed": None, "no-cost": None}
        assert "ix_runs_scale_id" in {i["name"] for i in inspect(db.engine).get_indexes("runs")}
    finally:
        db.dispose()


def test_migrate_twice_is_idempotent(database_url: str) -> None:
    for _ in range(2):
        db = Database(database_url)
        try:
            db.migrate()
        finally:
            db.dispose()
    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM control")).scalar_one() == 1
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        db.dispose()


def migrate_after(url: str, barrier: Barrier) -> None:
    """Child-process body: migrate ``url`` as an API process does at start-up."""
    barrier.wait(timeout=60)
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()


def test_migrate_concurrently_every_process_succeeds_once(database_url: str) -> None:
    """API processes started together all migrate the same new database at start-up.

    Processes, not threads: Alembic's ``context`` is process-global, as is one API's start-up.
    """
    context = multiprocessing.get_context("spawn")
    count = 3
    barrier = context.Barrier(count)
    processes = [
        context.Process(target=migrate_after, args=(database_url, barrier)) for _ in range(count)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(60)
        assert [process.exitcode for process in processes] == [0] * count
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM control")).scalar_one() == 1
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(HEAD,)]
    finally:
        db.dispose()
