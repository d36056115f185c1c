"""Initial schema: control, scales, resources, runs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("current_scale_id", sa.String(32)),
        sa.Column("last_run_id", sa.String(32)),
    )
    op.create_table(
        "scales",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("service", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("r", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("deadline_at", sa.Float, nullable=False),
        sa.Column("ready_at", sa.Float),
        sa.Column("terminate_requested_at", sa.Float),
        sa.Column("terminated_at", sa.Float),
        sa.Column("warmup_billable_s", sa.Float),
        sa.Column("warmup_cost", sa.Float),
        sa.Column("warmup_basis", sa.String(32)),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "scale_id", sa.String(32), sa.ForeignKey("scales.id"), nullable=False, index=True
        ),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("address", sa.String(256)),
        sa.Column("pid", sa.Integer),
        sa.Column("create_time", sa.Float),
        sa.Column("warm_billed_ms", sa.Float),
        sa.Column("launched_at", sa.Float, nullable=False),
        sa.Column("ready_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("detail", sa.JSON),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("scale_id", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("owner", sa.String(160)),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("audit_key", sa.String(256)),
        sa.Column("chart_key", sa.String(256)),
        sa.Column("error", sa.Text),
    )
    op.execute("INSERT INTO control (id) VALUES (1)")


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_table("resources")
    op.drop_table("scales")
    op.drop_table("control")
