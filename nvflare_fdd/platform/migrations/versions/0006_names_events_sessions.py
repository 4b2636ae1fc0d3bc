"""case-insensitive name keys (jobs, models, site groups), coded event reasons, server-side web sessions

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("name_key", sa.String(128), nullable=True))
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("label_key", sa.String(200), nullable=True))
    with op.batch_alter_table("site_groups") as batch:
        batch.add_column(sa.Column("name_key", sa.String(128), nullable=True))
    with op.batch_alter_table("job_events") as batch:
        batch.add_column(sa.Column("reason_code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reason_params", sa.JSON(), nullable=True))
    _fill_keys()
    with op.batch_alter_table("jobs") as batch:
        batch.create_unique_constraint("uq_jobs_name_key", ["name_key"])
    with op.batch_alter_table("models") as batch:
        batch.create_unique_constraint("uq_models_label_key", ["label_key"])
    with op.batch_alter_table("site_groups") as batch:
        batch.create_unique_constraint("uq_site_groups_owner_name_key", ["owner_id", "name_key"])
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])


def _fill_keys() -> None:
    """Lower-case keys of the existing rows. Names that already differ only in case keep existing: the later
    ones get a key made unique by their id, so no new such pair can be made."""
    connection = op.get_bind()
    tables = (
        ("jobs", "name_key", "SELECT id, name, NULL FROM jobs ORDER BY id"),
        ("models", "label_key", "SELECT id, class_name || ':' || version, NULL FROM models ORDER BY id"),
        ("site_groups", "name_key", "SELECT id, name, owner_id FROM site_groups ORDER BY id"),
    )
    for table, column, query in tables:
        seen: set[tuple] = set()
        for row_id, name, scope in connection.execute(sa.text(query)).fetchall():
            key = name.lower()
            if (scope, key) in seen:
                key = f"{key}#{row_id}"
            seen.add((scope, key))
            connection.execute(sa.text(f"UPDATE {table} SET {column} = :key WHERE id = :id"), {"key": key, "id": row_id})


def downgrade() -> None:
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("job_events") as batch:
        batch.drop_column("reason_params")
        batch.drop_column("reason_code")
    with op.batch_alter_table("site_groups") as batch:
        batch.drop_constraint("uq_site_groups_owner_name_key", type_="unique")
        batch.drop_column("name_key")
    with op.batch_alter_table("models") as batch:
        batch.drop_constraint("uq_models_label_key", type_="unique")
        batch.drop_column("label_key")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("uq_jobs_name_key", type_="unique")
        batch.drop_column("name_key")
