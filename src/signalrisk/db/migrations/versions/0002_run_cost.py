"""Runs carry their cost in a column, and runs are indexed by scale.

The scale's cost to date sums its analyses' costs on every ``/v1/scale``. Read from the JSON
results, that parsed every run's per-signal lists on each call: O(runs x signals) work and
allocation per request, which the soak showed as steady memory growth under load.

Revision ID: 0002
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cost", sa.Float))
        batch.create_index("ix_runs_scale_id", ["scale_id"])
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, result FROM runs WHERE status = 'ok' AND result IS NOT NULL")
    )
    for run_id, result in rows.fetchall():
        value = json.loads(result) if isinstance(result, str) else result
        cost = (value or {}).get("cost")
        if cost is not None:
            connection.execute(
                sa.text("UPDATE runs SET cost = :cost WHERE id = :id"),
                {"cost": float(cost), "id": run_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_scale_id")
        batch.drop_column("cost")
