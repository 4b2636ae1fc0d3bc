"""jobs: the algorithm (fedavg, fedprox, scaffold), FedProx's coefficient, and the sites' local-only baselines

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("algorithm", sa.String(16), nullable=False, server_default="fedavg"))
        batch.add_column(sa.Column("fedprox_mu", sa.Float(), nullable=False, server_default="0.01"))
        batch.add_column(sa.Column("local_baseline", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("local_baseline")
        batch.drop_column("fedprox_mu")
        batch.drop_column("algorithm")
