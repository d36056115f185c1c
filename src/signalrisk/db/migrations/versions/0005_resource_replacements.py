"""Resources record their replacements (SPEC §2: a resource that dies while its scale is ready
is replaced, and the replacement is recorded under /v1).

On the dead resource, ``replaced_at`` is when its replacement was claimed: from then on it is
history, no longer one of the scale's r resources; ``replacement_error`` says why none was
launched, if so. On the new resource, ``replaces`` names the dead one.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("replaces", sa.String(64)))
        batch.add_column(sa.Column("replaced_at", sa.Float))
        batch.add_column(sa.Column("replacement_error", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("replacement_error")
        batch.drop_column("replaced_at")
        batch.drop_column("replaces")
