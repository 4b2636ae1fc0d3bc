"""The platform's built-in plugin: the ``sql`` storage backend."""

from __future__ import annotations

from nvflare_fdd.plugin import hookimpl


@hookimpl
def fdd_storage_backends(register) -> None:
    from nvflare_fdd.platform.storage import SqlStorage

    register("sql", SqlStorage)
