"""``DockerEnvironment``: a job environment whose user code runs in a container, inside the site's sandbox.

The worker talks to the executor over a Unix socket in the exchange folder, and
messages carry host paths (the bundle, the weights files), so the sandbox's
folders are bind-mounted at the same paths: read-only ones with ``:ro``, the
exchange folder writable. With the sandbox on, the container has no network
(``--network none``: not even the host's 127.0.0.1), a read-only root file system
with a private ``/tmp``, no capabilities, no privilege gain, and a user that is not
root: the site's own uid, or ``USER_CODE_UID`` when the site runs as root (it is
then given the exchange folder). Environment variables are passed by name
(``-e NAME``) and their values through the process environment, so none shows on a
command line.

The ``docker run`` client runs under ``fdd_docker.supervise``, which removes the
container when the client is stopped or the executor that started it dies;
``stop()`` removes it as well, by the name ``command()`` gave it.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from fdd_docker.client import DockerClient
from nvflare_fdd.envs import Environment, JobEnvironmentError, Sandbox

CONTAINER_PREFIX = "fdd-worker-"
LABEL_WORKER = "org.nvflare-fdd.worker.executor-pid"
USER_CODE_UID = 10001
STOP_TIMEOUT = 60.0
# Bytecode files written into the bundle folder would outlive the job (and, written as root, block
# the removal of the job's workspace); the sandbox mounts it read-only, and without it none are written.
CONTAINER_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
# The image's own: the host's values would not fit it.
IMAGE_VARIABLES = ("PATH",)
# What the docker client itself needs from the site's environment (its engine, its configuration).
CLIENT_VARIABLES = ("PATH", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
                    "DOCKER_API_VERSION", "XDG_RUNTIME_DIR")  # fmt: skip
TMPFS = "/tmp:rw,nosuid,nodev,mode=1777"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ROOT_USERS = {"0", "root"}


@dataclass
class DockerEnvironment(Environment):
    """Runs ``python -m module`` in a container of ``image``.

    Attributes:
        image: the image (``fdd-env:<key>``, or the base image when there is nothing to install).
        docker: the docker client executable.
        network: ``--network`` when the sandbox is off (on: ``none``).
        gpus: ``--gpus`` value; ``""`` runs without GPUs.
        user: ``--user`` value; ``""``: the site's uid, or ``USER_CODE_UID`` when the site is root.
        python: the Python executable inside the image.
        extra_run_args: more ``docker run`` options, placed before the image.
        containers: names of the containers started through ``command()`` and not yet stopped.
    """

    image: str = ""
    docker: str = "docker"
    network: str = "host"
    gpus: str = ""
    user: str = ""
    python: str = "python"
    extra_run_args: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def command(self, module: str, args: Sequence[str], sandbox: Sandbox) -> list[str]:
        """The supervised ``docker run`` line that runs ``python -m module args...`` in a new, named container.

        Args:
            module: the module to run.
            args: its arguments (host paths in them stay valid: the sandbox's folders keep their paths).
            sandbox: what the process may see and do.

        Raises:
            JobEnvironmentError: a folder is relative or holds ``:``, a variable name is malformed, or
                the sandbox is on and ``user`` is root.
        """
        docker = DockerClient(self.docker).executable()  # the supervisor does not search the site's PATH
        name = f"{CONTAINER_PREFIX}{secrets.token_hex(6)}"
        run = [docker, "run", "--rm", "--init", "--name", name, "--label", f"{LABEL_WORKER}={os.getpid()}"]
        if sandbox.enabled:
            uid, gid = self._sandbox_user()
            run += ["--network", "none", "--read-only", "--tmpfs", TMPFS, "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges", "--user", f"{uid}:{gid}"]  # fmt: skip
            if os.geteuid() == 0 and uid != 0:
                give_folders(sandbox.writable, uid, gid)
                open_folders(sandbox.read_only)
        else:  # the site turned the sandbox off: the looser settings of old
            run += ["--network", self.network]
            if self.user:
                run += ["--user", self.user]
        if self.gpus:
            run += ["--gpus", self.gpus]
        for folder in dict.fromkeys(sandbox.read_only):
            run += ["-v", f"{_mountable(folder)}:{folder}:ro"]
        for folder in dict.fromkeys(sandbox.writable):
            run += ["-v", f"{_mountable(folder)}:{folder}"]
        for variable in self._container_variables(sandbox):
            run += ["-e", variable]
        run += [*self.extra_run_args, self.image, self.python, "-m", module, *args]
        with self._lock:
            self.containers.append(name)
        return [sys.executable, "-I", "-m", "fdd_docker.supervise", "--docker", docker, "--name", name, "--", *run]

    def process_env(self, sandbox: Sandbox) -> dict[str, str]:
        """The values of the variables ``command()`` names, plus what the docker client needs of the site's.

        The client's own settings come from the site (its ``PATH``, ``DOCKER_*``; its configuration
        from ``DOCKER_CONFIG``, since ``HOME`` is the sandbox's); none of them enters the container.
        """
        env = {**sandbox.env, **self.env, **CONTAINER_ENV}
        env.update({name: os.environ[name] for name in CLIENT_VARIABLES if name in os.environ})
        env.setdefault("DOCKER_CONFIG", os.path.join(os.path.expanduser("~"), ".docker"))
        return env

    def stop(self) -> None:
        """Remove (killing first) every container ``command()`` named; quiet when one is already gone."""
        with self._lock:
            names, self.containers[:] = list(self.containers), []
        for name in names:
            _quietly([self.docker, "rm", "--force", name])

    def _sandbox_user(self) -> tuple[int, int]:
        if not self.user:
            return (USER_CODE_UID, USER_CODE_UID) if os.geteuid() == 0 else (os.getuid(), os.getgid())
        uid, _, gid = self.user.partition(":")
        if uid in _ROOT_USERS or not uid.isdigit() or (gid and not gid.isdigit()):
            raise JobEnvironmentError(
                f"environment.user {self.user!r}: with the sandbox on, user code runs as a numeric uid[:gid] "
                "that is not root (leave it empty for the default)"
            )
        return int(uid), int(gid or uid)

    def _container_variables(self, sandbox: Sandbox) -> list[str]:
        names = []
        for variable in dict.fromkeys([*sandbox.env, *self.env, *CONTAINER_ENV]):
            if not _ENV_NAME.fullmatch(variable):
                raise JobEnvironmentError(f"cannot pass environment variable {variable!r} to a container: not a variable name")
            if variable not in IMAGE_VARIABLES and variable not in CLIENT_VARIABLES:
                names.append(variable)
        return names


def give_folders(folders: Iterable[str], uid: int, gid: int) -> None:
    """Hand ``folders`` and what is in them (the worker's socket) to the container's user."""
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            os.chown(root, uid, gid)
            for entry in [*dirs, *files]:
                os.chown(os.path.join(root, entry), uid, gid, follow_symlinks=False)


def open_folders(folders: Iterable[str]) -> None:
    """Let any user read ``folders`` (never write them), so a user-code uid other than the owner's can."""
    for folder in folders:
        for root, _, files in os.walk(folder):
            _add_mode(root, 0o005)
            for name in files:
                _add_mode(os.path.join(root, name), 0o004)


def _add_mode(path: str, bits: int) -> None:
    mode = os.lstat(path).st_mode
    if mode & bits != bits and not os.path.islink(path):
        os.chmod(path, (mode | bits) & 0o7777)


@lru_cache(maxsize=1)
def host_gpus() -> str:
    """``"all"`` where this host has NVIDIA GPUs and the NVIDIA container toolkit, else ``""``."""
    if not glob.glob("/dev/nvidia[0-9]*"):
        return ""
    tools = ("nvidia-container-cli", "nvidia-container-runtime-hook", "nvidia-container-runtime", "nvidia-ctk")
    return "all" if any(shutil.which(tool) for tool in tools) else ""


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
