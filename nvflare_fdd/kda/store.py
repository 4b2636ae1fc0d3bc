"""The KDA database: engine, session scope, and small read queries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from nvflare_fdd import env_vars
from nvflare_fdd.errors import KdaError
from nvflare_fdd.kda.schema import Base, Measurement
from nvflare_fdd.platform.db import session_scope as transaction

#: Environment variable that names the KDA database when no URL is given.
URL_ENV_VAR = env_vars.KDA_URL
#: The database used when neither a URL nor ``FDD_KDA_URL`` is given.
DEFAULT_URL = "sqlite:///kda.db"

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def resolve_url(url: str | None = None) -> str:
    """Return the database URL to use.

    Args:
        url: a SQLAlchemy URL, or a plain file path ending in ``.db``, ``.sqlite`` or
            ``.sqlite3`` (taken as a SQLite file). ``None`` means ``$FDD_KDA_URL``,
            else ``sqlite:///kda.db`` in the current directory.

    Returns:
        A SQLAlchemy URL.
    """
    if url is None:
        url = os.environ.get(URL_ENV_VAR) or DEFAULT_URL
    if "://" not in url and url.lower().endswith(_SQLITE_SUFFIXES):
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def make_engine(url: str | None = None) -> Engine:
    """Build an engine for the KDA database and create its tables if missing.

    Args:
        url: see :func:`resolve_url`.

    Returns:
        The engine; the caller disposes of it.

    Raises:
        KdaError: the URL is invalid or the database cannot be opened.
    """
    resolved = resolve_url(url)
    try:
        engine = create_engine(resolved)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise KdaError(f"invalid database URL {resolved!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    try:
        Base.metadata.create_all(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise KdaError(f"cannot open the KDA database {engine.url!r}: {exc}") from exc
    return engine


def _enable_sqlite_foreign_keys(dbapi_connection, _connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def engine_scope(url: str | None = None) -> Iterator[Engine]:
    """Yield an engine from :func:`make_engine` and dispose of it afterwards."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def session_scope(engine: Engine) -> AbstractContextManager[Session]:
    """A session that commits on success, rolls back on any error, and closes (the platform database's scope)."""
    return transaction(sessionmaker(engine))


def count_by_test(session: Session) -> list[tuple[str, int]]:
    """Return ``(test_key, row_count)`` pairs, sorted by test key."""
    statement = (
        select(Measurement.test_key, func.count())
        .group_by(Measurement.test_key)
        .order_by(Measurement.test_key)
    )
    return [(key, count) for key, count in session.execute(statement)]


def list_tables(url: str) -> list[tuple[str, int]]:
    """Return the test keys in a KDA database with their row counts, sorted by key.

    Args:
        url: see :func:`resolve_url`.
    """
    with engine_scope(url) as engine, session_scope(engine) as session:
        return count_by_test(session)
