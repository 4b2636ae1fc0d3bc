"""The plugin module named by the ``nvflare_fdd`` entry point: registers the ``docker`` backend."""

from __future__ import annotations

from nvflare_fdd import hookimpl

from fdd_docker.backend import docker_backend


@hookimpl
def fdd_environment_backends(register) -> None:
    register("docker", docker_backend)
