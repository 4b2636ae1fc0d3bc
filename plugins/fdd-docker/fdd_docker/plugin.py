"""The plugin module named by the ``nvflare_fdd`` entry point: the ``docker`` backend and ``fdd env build-base``."""

from __future__ import annotations

from fdd_docker.backend import docker_backend
from nvflare_fdd import hookimpl


@hookimpl
def fdd_environment_backends(register) -> None:
    register("docker", docker_backend)


@hookimpl
def fdd_env_commands(register) -> None:
    from fdd_docker.cli import build_base

    register("build-base", build_base)
