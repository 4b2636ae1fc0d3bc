"""``SqlStorage``: the default storage backend (SQLite file by default, any SQLAlchemy URL).

It implements ``nvflare_fdd.platform.contracts.Storage``, one part per aggregate
(``nvflare_fdd.platform.sql``) and the pretrained-model store (``platform.pretrained_store``).
Every method is one transaction and returns plain records (``platform.records``).
Rules that must hold under concurrent writers (unique names, the per-user queue
limit, claiming a queued job, legal state transitions) are checked inside the
transaction that writes, so two platform processes can never both win.
"""

from __future__ import annotations

from nvflare_fdd.platform.blobs import CHUNK_BYTES
from nvflare_fdd.platform.contracts import CHECKPOINT, CONTROLS_CHECKPOINT
from nvflare_fdd.platform.errors import NotFound, StorageConflict
from nvflare_fdd.platform.pretrained_store import PretrainedStore
from nvflare_fdd.platform.sql.base import ACTIVE_STATES, utc_now
from nvflare_fdd.platform.sql.jobs import SCHEDULER_LOCK, SqlJobs
from nvflare_fdd.platform.sql.models import SqlModels
from nvflare_fdd.platform.sql.runs import SqlRuns
from nvflare_fdd.platform.sql.stats import SqlStats
from nvflare_fdd.platform.sql.users import SqlSiteGroups, SqlUsers

__all__ = [
    "ACTIVE_STATES", "CHECKPOINT", "CHUNK_BYTES", "CONTROLS_CHECKPOINT", "NotFound", "SCHEDULER_LOCK", "SqlStorage",
    "StorageConflict", "utc_now",
]


class SqlStorage(SqlUsers, SqlSiteGroups, SqlModels, SqlJobs, SqlRuns, SqlStats, PretrainedStore):
    """The platform's records in a SQL database.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:////srv/fdd/platform.db`` or ``postgresql+psycopg://...``.
    """
