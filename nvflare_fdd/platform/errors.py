"""The storage's errors, defined with the rest of the hierarchy in ``nvflare_fdd.errors`` (and re-exported by
``nvflare_fdd.platform.storage``, where callers import them from)."""

from __future__ import annotations

from nvflare_fdd.errors import NotFound, StorageConflict

__all__ = ["NotFound", "StorageConflict"]
