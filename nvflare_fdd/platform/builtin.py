"""The platform's built-in plugin: the ``sql`` storage backend."""

from __future__ import annotations

from collections.abc import Callable

from nvflare_fdd.platform.contracts import Storage
from nvflare_fdd.plugin import hookimpl


@hookimpl
def fdd_storage_backends(register) -> None:
    from nvflare_fdd.platform.storage import SqlStorage

    factory: Callable[[str], Storage] = SqlStorage  # the type checker holds SqlStorage to the contract
    register("sql", factory)
