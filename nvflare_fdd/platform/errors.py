"""The storage's errors (re-exported by ``nvflare_fdd.platform.storage``, where callers import them from)."""

from __future__ import annotations

from nvflare_fdd.errors import FddError


class StorageConflict(FddError):
    """A name is taken, a limit is reached, or the record is in a state that forbids the change."""


class NotFound(FddError):
    """No such user, model, group or job."""
