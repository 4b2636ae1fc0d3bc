"""pretrained-model store: models (a folder or one file) whose files are content-addressed blobs; blob sizes past 2 GiB

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    # A pretrained model's file may pass 2 GiB. SQLite's INTEGER is 64-bit already, and there the table must not be
    # rebuilt: dropping `blobs` with foreign keys on would cascade into blob_chunks. Elsewhere the column is widened.
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("blobs", "size", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
    op.create_table(
        "pretrained_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "pretrained_files",
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("pretrained_models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("blob_id", sa.Integer(), sa.ForeignKey("blobs.id"), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "path"),
    )
    op.create_index("ix_pretrained_files_blob_id", "pretrained_files", ["blob_id"])


def downgrade() -> None:
    op.drop_index("ix_pretrained_files_blob_id", table_name="pretrained_files")
    op.drop_table("pretrained_files")
    op.drop_table("pretrained_models")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("blobs", "size", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
