"""privacy boundary: models' declared metric names, sites' counts of metrics kept back (and whether they kept their
personalized model), jobs shared read-only

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("metric_names", sa.JSON(), nullable=True))
    with op.batch_alter_table("job_stages") as batch:
        batch.add_column(sa.Column("dropped_metrics", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("personalized", sa.Boolean(), nullable=True))
    op.create_table(
        "job_shares",
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("job_shares")
    with op.batch_alter_table("job_stages") as batch:
        batch.drop_column("personalized")
        batch.drop_column("dropped_metrics")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("metric_names")
