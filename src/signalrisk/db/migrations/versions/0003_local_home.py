"""The control row records the home of the local platform that uses this database.

Local workers' instance records and the audit live in ``SIGNALRISK_HOME``, not in the
database: API processes that share a database (``SIGNALRISK_DATABASE_URL``) but not the home
would each see the other's workers as dead. Recording the home lets a second process refuse to
start instead.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("control") as batch:
        batch.add_column(sa.Column("local_home", sa.String(1024)))


def downgrade() -> None:
    with op.batch_alter_table("control") as batch:
        batch.drop_column("local_home")
