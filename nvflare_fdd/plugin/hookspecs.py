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


@hookspec
def fdd_env_commands(register: Callable[[str, Any], None]) -> None:
    """Register subcommands of ``fdd env`` (the commands that manage job environments).

    Call ``register(name, command)`` with a ``click.Command``; ``fdd env NAME`` runs it. A backend
    that keeps environments for later jobs lists and prunes them by offering ``cached()`` and
    ``remove(entry)`` (see ``nvflare_fdd.envs.CachedEnvironment``), with no command of its own.

    Example::

        @hookimpl
        def fdd_env_commands(register):
            register("build-base", build_base)
    """


@hookspec
def fdd_storage_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register platform storage backends.

    Call ``register(name, factory)``; ``factory(url)`` returns a ``nvflare_fdd.platform.contracts.Storage``:
    every method of its repositories (users, models, site groups, jobs, runs, stored content, pretrained
    models), with the signatures, results and errors their docstrings promise, and ``close()``. The
    built-in ``sql`` backend, ``nvflare_fdd.platform.storage.SqlStorage``, implements it (a backend may subclass
    it to change only part of it). The platform service
    uses the backend named by ``storage_backend`` in ``platform.yaml``; a job's NVFlare server uses
    the one named by ``storage_backend`` in its ``local/fdd_site.json`` (both default ``sql``).

    Example::

        @hookimpl
        def fdd_storage_backends(register):
            register("sql-readonly-replica", ReplicaStorage)
    """


@hookspec
def fdd_ui_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register user interfaces of the platform.

    Call ``register(name, factory)``; ``factory(platform)`` returns an object with
    ``serve(host: str, port: int) -> None``; ``platform`` is a ``nvflare_fdd.platform.service.Platform``.
    ``fdd ui --backend NAME`` serves it (the built-in web UI registers ``web``).

    Example::

        @hookimpl
        def fdd_ui_backends(register):
            register("tui", TerminalUI)
    """


@hookspec
def fdd_job_state_changed(job: str, old_state: str | None, new_state: str, reason: str) -> None:
    """A job moved from ``old_state`` to ``new_state`` because of ``reason``.

    ``old_state`` is ``None`` for a new job: ``ready`` when the platform creates it, ``running`` for
    a run submitted to NVFlare outside the platform.

    Called in the process that made the change (the platform service, or the NVFlare server's
    recorder for a run's outcome). Keep it quick; exceptions are logged, not raised.

    Example::

        @hookimpl
        def fdd_job_state_changed(job, old_state, new_state, reason):
            if new_state == "failed":
                send_mail(f"{job} failed: {reason}")
    """


@hookspec
def fdd_round_progress(job: str, round: int, site: str, phases: list[dict]) -> None:
    """A site finished a round of ``job``; ``phases`` are its ``{code, name, start, end}`` time stamps.

    Times are seconds since the epoch; ``phases`` may be empty when a site sent none that were
    well formed. Called in the NVFlare server's process as results arrive, after the storage write
    was attempted (a write that failed its retries is logged, and the run's files keep the record).

    Example::

        @hookimpl
        def fdd_round_progress(job, round, site, phases):
            if phases:
                print(f"{job}: {site} finished round {round} in {phases[-1]['end'] - phases[0]['start']:.1f} s")
    """


@hookspec
def fdd_metrics_recorded(job: str, round: int, site: str, kind: str, metrics: dict[str, float]) -> None:
    """Screened Global (``kind="global"``) or Local (``"local"``) metrics of a site and round arrived.

    Called in the NVFlare server's process, after the storage write was attempted (see
    ``fdd_round_progress``). Only finite real numbers under bounded names get here.

    Example::

        @hookimpl
        def fdd_metrics_recorded(job, round, site, kind, metrics):
            dashboard.push(job, round, site, kind, metrics)
    """
