"""What every part of ``SqlStorage`` shares: the engine, one session (transaction) per call, the clock."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from nvflare_fdd.platform.db import make_platform_engine, session_factory, session_scope
from nvflare_fdd.platform.records import JobState

ACTIVE_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


class SqlBase:
    """A SQL database's engine and sessions, for the mixins that make up ``SqlStorage``.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:////srv/fdd/platform.db`` or ``postgresql+psycopg://...``.
    """

    def __init__(self, url: str):
        self.url = url
        self.engine = make_platform_engine(url)
        self._sessions = session_factory(self.engine)

    def _session(self) -> AbstractContextManager[Session]:
        return session_scope(self._sessions)

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()
