"""``DockerEnvironment``: a job environment whose user code runs in a container.

The worker talks to the executor over a Unix socket in the exchange folder, and
messages carry host paths (the bundle, the weights files), so every shared folder
is bind-mounted at the same path inside the container. Environment variables the
worker needs are passed by name (``-e NAME``): the docker client copies their
values from its own environment, which the executor sets, so secrets never show
on the command line.

Killing the ``docker run`` client (what the executor does to the process group)
does not stop the container; ``stop()`` does, by the name ``command()`` gave it.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from nvflare_fdd.envs import Environment, JobEnvironmentError

CONTAINER_PREFIX = "fdd-worker-"
STOP_TIMEOUT = 60.0
# Bytecode files written as the container's user (often root) into the bundle folder would
# outlive the job and block the removal of the job's workspace; so none are written.
CONTAINER_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class DockerEnvironment(Environment):
    """Runs ``python -m module`` in a container of ``image``.

    Attributes:
        image: the image (``fdd-env:<key>``, or the base image when there is nothing to install).
        docker: the docker client executable.
        network: ``--network`` value (``host``, so a KDA at ``localhost`` stays reachable).
        gpus: ``--gpus`` value; ``""`` runs without GPUs.
        user: ``--user`` value; ``""`` keeps the image's user.
        python: the Python executable inside the image.
        extra_run_args: more ``docker run`` options, placed before the image.
        containers: names of the containers started through ``command()`` and not yet stopped.
    """

    image: str = ""
    docker: str = "docker"
    network: str = "host"
    gpus: str = "all"
    user: str = ""
    python: str = "python"
    extra_run_args: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def command(self, module: str, args: Sequence[str], shared_dirs: Sequence[str] = (), env_names: Sequence[str] = ()) -> list[str]:
        """The ``docker run`` line that runs ``python -m module args...`` in a new, named container.

        Args:
            module: the module to run.
            args: its arguments (host paths in them stay valid: shared folders keep their paths).
            shared_dirs: absolute host folders, each bind-mounted at the same path.
            env_names: variables passed on by name; ``self.env``'s names are passed as well.

        Raises:
            JobEnvironmentError: a folder is relative or holds ``:``, or a variable name is malformed.
        """
        name = f"{CONTAINER_PREFIX}{secrets.token_hex(6)}"
        command = [self.docker, "run", "--rm", "-i", "--init", "--name", name, "--network", self.network]
        if self.gpus:
            command += ["--gpus", self.gpus]
        if self.user:
            command += ["--user", self.user]
        for folder in dict.fromkeys(shared_dirs):
            command += ["-v", f"{_mountable(folder)}:{folder}"]
        for variable in dict.fromkeys([*env_names, *self.env]):
            if not _ENV_NAME.fullmatch(variable):
                raise JobEnvironmentError(f"cannot pass environment variable {variable!r} to a container: not a variable name")
            command += ["-e", variable]
        for variable, value in CONTAINER_ENV.items():
            command += ["-e", f"{variable}={value}"]
        command += [*self.extra_run_args, self.image, self.python, "-m", module, *args]
        with self._lock:
            self.containers.append(name)
        return command

    def stop(self) -> None:
        """Kill and remove every container ``command()`` named; quiet when one is already gone."""
        with self._lock:
            names, self.containers[:] = list(self.containers), []
        for name in names:
            for action in (["kill", name], ["rm", "--force", name]):
                _quietly([self.docker, *action])


def _mountable(folder: str) -> str:
    if not folder.startswith("/"):
        raise JobEnvironmentError(f"cannot mount {folder!r} into a container: the path must be absolute")
    if ":" in folder:
        raise JobEnvironmentError(f"cannot mount {folder!r} into a container: docker -v paths cannot hold ':'")
    return folder


def _quietly(command: list[str]) -> None:
    """Run a clean-up command; a container that is already gone, or a missing client, is not an error."""
    try:
        subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=STOP_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass
