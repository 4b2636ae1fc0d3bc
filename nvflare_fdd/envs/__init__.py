"""Job environments: where a site runs a job's user code, built from the bundle's requirements.txt.

A backend (registered through the ``fdd_environment_backends`` hook) turns the
requirements into an ``Environment``: the command that starts a Python with the
bundle's packages, plus the environment variables it needs. ``local`` (the
default) builds a cached virtual environment with uv on top of the site's own
packages; the ``fdd-docker`` plugin builds an image per requirements instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nvflare_fdd.errors import JobEnvironmentError


@dataclass(frozen=True)
class Sandbox:
    """What the user-code process may see and do (DESIGN §8); every backend enforces it.

    Attributes:
        env: the process's whole environment; nothing of the site's own environment is added.
        read_only: host folders it sees read-only, at the same paths (the bundle, pretrained models).
        writable: host folders it may write, at the same paths (the job's exchange folder: its socket,
            the weights files and its scratch space).
        enabled: False only when the site turned the sandbox off (``"sandbox": false`` in
            ``local/fdd_site.json``): the process then sees the machine as the site's own processes do.
    """

    env: Mapping[str, str] = field(default_factory=dict)
    read_only: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    enabled: bool = True


@dataclass
class Environment:
    """How to start user code in a prepared environment: on this machine, sandboxed with bubblewrap.

    Backends that run it elsewhere (a container) subclass it and override ``command``,
    ``process_env`` and ``stop``.

    Attributes:
        argv_prefix: what runs ``-m module args...``, e.g. ``["/env/bin/python"]``.
        env: extra environment variables for that process.
        description: one line for logs and progress (``"cached environment 3f9a..."``).
        system_dirs: host folders the interpreter needs besides the base Python (a job environment's folder).
    """

    argv_prefix: list[str]
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""
    system_dirs: list[str] = field(default_factory=list)

    def command(self, module: str, args: Sequence[str], sandbox: Sandbox) -> list[str]:
        """The command line that runs ``python -m module args...`` in this environment, inside ``sandbox``.

        Raises:
            SandboxUnavailable: the sandbox is enabled and cannot run on this machine.
        """
        argv = [*self.argv_prefix, "-m", module, *args]
        if not sandbox.enabled:
            return argv
        from nvflare_fdd.envs.sandbox import bubblewrap_command, python_dirs

        read_only = [*python_dirs(), *self.system_dirs, *sandbox.read_only]
        return bubblewrap_command(argv, self.process_env(sandbox), read_only, sandbox.writable)

    def process_env(self, sandbox: Sandbox) -> dict[str, str]:
        """The environment to start ``command()`` with: the sandbox's, plus this environment's own variables."""
        return {**sandbox.env, **self.env}

    def stop(self) -> None:
        """Stop whatever the process left running after it was killed (a container); nothing locally."""


Logger = Callable[[str], None]


@dataclass(frozen=True)
class CachedEnvironment:
    """A job environment a backend keeps for later jobs (or an image they build on), as ``fdd env list`` shows it.

    Backends that keep such things offer ``cached() -> list[CachedEnvironment]`` and
    ``remove(entry)``; ``fdd env prune`` removes the ``prunable`` ones no job is using.

    Attributes:
        backend: the backend's name.
        name: what the backend calls it (a cache key, an image tag).
        description: one line: the requirements it was built for, or what it holds.
        created: when it was built (seconds since the epoch).
        last_used: when a job last started with it.
        size: bytes on disk, when known.
        in_use: a running job uses it now.
        prunable: False for what job environments build on (a base image): listed, never pruned.
    """

    backend: str
    name: str
    description: str
    created: float
    last_used: float
    size: int | None = None
    in_use: bool = False
    prunable: bool = True


class CachingBackend(Protocol):
    """An environment backend that keeps job environments for later jobs (``fdd env list`` and ``prune``)."""

    def cached(self) -> list[CachedEnvironment]:
        """What the backend keeps now."""
        ...

    def remove(self, entry: CachedEnvironment) -> None:
        """Remove ``entry``.

        Raises:
            JobEnvironmentError: it cannot be removed.
        """
        ...


def make_backend(name: str, options: Mapping[str, Any], source: str) -> Any:
    """The environment backend ``name`` with ``options``, checked the way a site's ``fdd_site.json`` is.

    Args:
        name: a registered backend (``local``, ``docker``...).
        options: its options.
        source: where they came from, for the message (``--env-option``, ``platform.yaml``).

    Raises:
        JobEnvironmentError: no such backend is installed, or an option is unknown or invalid.
    """
    from nvflare_fdd.plugin.manager import plugin_manager

    backends = plugin_manager().environment_backends()
    if name not in backends:
        raise JobEnvironmentError(
            f"{source}: no environment backend {name!r} is installed; installed: {', '.join(sorted(backends))}"
        )
    try:
        return backends[name](**options)
    except TypeError as exc:
        raise JobEnvironmentError(f"{source}: bad options for the environment backend {name!r}: {exc}") from exc
    except JobEnvironmentError as exc:
        raise JobEnvironmentError(f"{source}: {exc}", exc.requirements, exc.output) from exc


def requirement_lines(text: str) -> list[str]:
    """The lines of a requirements.txt that name something to install (no comments, blanks or options)."""
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def blamed_requirements(requirements: str, installer_output: str) -> list[str]:
    """The requirement lines whose package names appear in the installer's error output."""
    blamed = []
    output = installer_output.lower()
    for line in requirement_lines(requirements):
        name = re.split(r"[\s<>=!~;\[@(]", line, maxsplit=1)[0]
        variants = {name.lower(), name.lower().replace("_", "-"), name.lower().replace("-", "_")}
        if name and any(variant in output for variant in variants):
            blamed.append(line)
    return blamed


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing) across processes: one builder per environment."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


DEFAULT_INDEX = "https://pypi.org/simple"


def site_package_indexes() -> list[str]:
    """The package indexes this site's own installer uses (a bundle's requirements may name only these).

    Read from pip's configuration (``pip config list``: its files and ``PIP_*`` variables) and uv's
    ``UV_*`` variables; PyPI when nothing is configured.
    """
    urls: list[str] = []
    try:
        listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                                 timeout=60).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        if key.split(".")[-1] in ("index-url", "extra-index-url"):
            urls += shlex.split(value.strip().strip("'\""))
    for variable in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX"):
        urls += os.environ.get(variable, "").split()
    configured_keys = {line.partition("=")[0].split(".")[-1] for line in listing.splitlines()}
    if "index-url" not in configured_keys and not os.environ.get("UV_DEFAULT_INDEX") and not os.environ.get("UV_INDEX_URL"):
        urls.insert(0, DEFAULT_INDEX)  # the installers' own default
    return list(dict.fromkeys(urls))
