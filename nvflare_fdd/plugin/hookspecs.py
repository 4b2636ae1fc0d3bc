"""Hook specifications: the reference for plugin authors.

Every hook name starts with ``fdd_``. Hooks that add things get a ``register``
callback, so the host checks each registration at once (a duplicate name is an
error that names both plugins).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nvflare_fdd.plugin import hookspec


@hookspec
def fdd_environment_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register environment backends: where and how a site runs a job's user code.

    Call ``register(name, factory)`` once per backend. ``factory(**options)`` returns an
    object with ``prepare(requirements: str, log: Callable[[str], None]) -> Environment``
    (see ``nvflare_fdd.envs.Environment``); ``options`` come from the site's
    ``local/fdd_site.json`` (``{"environment": {"backend": name, ...options}}``).

    Example::

        @hookimpl
        def fdd_environment_backends(register):
            register("docker", DockerBackend)
    """
