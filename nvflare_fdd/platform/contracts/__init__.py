"""What a platform storage backend promises: one ``Protocol`` per aggregate, and ``Storage``, all of them.

``SqlStorage`` (``nvflare_fdd.platform.storage``) is the built-in backend; a plugin's backend
(``fdd_storage_backends``) implements ``Storage`` with the same signatures. Every rule below holds
for all backends:

- Each method is one transaction: it happens entirely or not at all, and the rules it checks
  (a unique name, the per-user queue limit, claiming a queued job, a legal state transition) are
  checked in the transaction that writes, so two platform processes sharing a backend never both win.
- Methods return plain records (``nvflare_fdd.platform.records``), never the backend's own objects.
- Users, models and jobs are named exactly as stored; a lookup by a name that does not exist
  raises ``NotFound``. A refused change raises ``StorageConflict``. Both are ``FddError``s whose
  ``code`` (given below) interfaces translate; their messages say what to do.
- File contents are stored once per content and removed when nothing uses them any more; they
  stream in and out a chunk at a time (model files may be several GB).
"""

from __future__ import annotations

from typing import Protocol

from nvflare_fdd.platform.contracts.jobs import JobRepository
from nvflare_fdd.platform.contracts.models import ModelRepository
from nvflare_fdd.platform.contracts.pretrained import BlobRepository, PretrainedRepository, Progress
from nvflare_fdd.platform.contracts.runs import CHECKPOINT, CONTROLS_CHECKPOINT, RunRepository
from nvflare_fdd.platform.contracts.stats import StatsRepository
from nvflare_fdd.platform.contracts.users import SiteGroupRepository, UserRepository

__all__ = [
    "CHECKPOINT", "CONTROLS_CHECKPOINT", "BlobRepository", "JobRepository", "ModelRepository", "PretrainedRepository", "Progress", "RunRepository",
    "SiteGroupRepository", "StatsRepository", "Storage", "UserRepository",
]


class Storage(
    UserRepository, ModelRepository, SiteGroupRepository, JobRepository, RunRepository, BlobRepository,
    PretrainedRepository, StatsRepository, Protocol,
):  # fmt: skip
    """A platform storage backend: every aggregate's repository, on one database."""

    def close(self) -> None:
        """Release the backend's connections; the object is not used afterwards."""
        ...
