"""A covering index for the scale's cost to date.

``SUM(cost) WHERE scale_id = ? AND status = 'ok'`` read each run's row, and ``cost`` sits after
the run's ~20 KB of JSON results: every ``/v1/scale`` walked every run's result pages. With
(scale_id, status, cost) in one index the sum never touches the table.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_scale_status_cost", "runs", ["scale_id", "status", "cost"])


def downgrade() -> None:
    op.drop_index("ix_runs_scale_status_cost", table_name="runs")
