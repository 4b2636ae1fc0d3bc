"""Alembic environment of the platform storage; run through ``nvflare_fdd.platform.db.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from nvflare_fdd.platform.schema import PlatformBase

config = context.config
target_metadata = PlatformBase.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
