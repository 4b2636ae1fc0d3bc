"""jobs: min_sites (rounds may go on without a lost site) and resume_from (the round a resumed job continues after)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("min_sites", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("resume_from", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("resume_from")
        batch.drop_column("min_sites")
