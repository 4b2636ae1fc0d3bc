"""nvflare-fdd-docker: the ``docker`` environment backend for nvflare-fdd.

Each job's user code runs in a container of an image built from the site's base
image plus the bundle's ``requirements.txt`` (see ``fdd_docker.backend``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from fdd_docker.backend import DockerBackend, docker_backend, dockerfile, image_key  # noqa: E402
from fdd_docker.environment import DockerEnvironment  # noqa: E402

__all__ = ["DockerBackend", "DockerEnvironment", "__version__", "docker_backend", "dockerfile", "image_key"]
