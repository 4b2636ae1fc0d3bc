"""The ``docker`` environment backend: one image per base image and requirements.

A job's image is the site's base image (which already holds nvflare-fdd, torch and
uv) plus the bundle's ``requirements.txt``, installed with K-MELLODDY's own
command. Images are tagged ``fdd-env:<key>``, the key being a hash of the base
image (name and ID) and the requirements, so a second job with the same
requirements starts at once and a rebuilt base image gets new job images.
Docker tags an image only once its build succeeded: a failed build leaves no
image behind. Builders of the same image on one host take a file lock.

Site configuration, ``local/fdd_site.json``::

    {"environment": {"backend": "docker", "base_image": "nvflare-fdd:latest", "gpus": ""}}
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from nvflare_fdd.envs import JobEnvironmentError, Logger, blamed_requirements, file_lock, requirement_lines
from nvflare_fdd.envs.local import default_cache_dir

from fdd_docker.environment import DockerEnvironment

IMAGE_REPOSITORY = "fdd-env"
LABEL_KEY = "org.nvflare-fdd.env.key"
LABEL_BASE = "org.nvflare-fdd.env.base"
REQUIREMENTS_IN_IMAGE = "/tmp/fdd-requirements.txt"
INSTALL_COMMAND = f"uv pip install --system --index-strategy unsafe-best-match -r {REQUIREMENTS_IN_IMAGE}"
INSPECT_TIMEOUT = 120.0
OUTPUT_TAIL_CHARS = 4000
SITE_FILE = "local/fdd_site.json"
_MISSING_IMAGE = ("no such image", "image not known")
_IMAGE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")


def dockerfile(base_image: str) -> str:
    """The Dockerfile of a job image: the base image plus the bundle's requirements.

    Args:
        base_image: the site's base image (a reference already checked by ``DockerBackend``).
    """
    return (
        f"FROM {base_image}\n"
        f"COPY requirements.txt {REQUIREMENTS_IN_IMAGE}\n"
        f"RUN {INSTALL_COMMAND} \\\n"
        f"    && rm {REQUIREMENTS_IN_IMAGE}\n"
    )


def image_key(base_image: str, base_image_id: str, requirements: str) -> str:
    """The job image's key: 20 hex digits of a SHA-256 over the base image and the requirements."""
    digest = hashlib.sha256()
    for part in (base_image, base_image_id, requirements.strip()):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


class DockerBackend:
    """Builds (or reuses) a job image per requirements and runs user code in its containers.

    Options are keyword-only; they come from the site's ``local/fdd_site.json``
    (``{"environment": {"backend": "docker", ...}}``).

    Args:
        base_image: the site's image with nvflare-fdd, torch and uv; it must be on this host.
        docker: the docker client executable.
        gpus: ``docker run --gpus`` value (``"all"``, ``"device=0"``, ``2``); ``""`` for none.
        network: ``docker run --network`` value; ``host`` keeps a KDA at ``localhost`` reachable.
        user: ``docker run --user`` value; ``""`` keeps the image's user. Whoever it is must be
            allowed to connect to the executor's socket (root, or the site's own uid).
        python: the Python executable inside the image.
        build_timeout: seconds a build may take.
        extra_build_args: more ``docker build`` options (``["--network", "host"]``, build args).
        extra_run_args: more ``docker run`` options, placed before the image (``["--shm-size", "8g"]``).

    Raises:
        JobEnvironmentError: an option has a wrong type or value (the message names it).
    """

    name = "docker"

    def __init__(
        self,
        *,
        base_image: str = "nvflare-fdd:latest",
        docker: str = "docker",
        gpus: str | int = "all",
        network: str = "host",
        user: str = "",
        python: str = "python",
        build_timeout: float = 3600,
        extra_build_args: Sequence[str] | None = None,
        extra_run_args: Sequence[str] | None = None,
    ):
        if not isinstance(base_image, str) or not _IMAGE_REFERENCE.fullmatch(base_image):
            raise _option_error("base_image", base_image, 'an image reference such as "nvflare-fdd:latest"')
        self.base_image = base_image
        self.docker = _text("docker", docker, "the docker client, such as \"docker\" or \"/usr/bin/docker\"")
        if isinstance(gpus, int) and not isinstance(gpus, bool) and gpus >= 0:
            gpus = str(gpus) if gpus else ""
        self.gpus = _text("gpus", gpus, 'a --gpus value such as "all" or "device=0", or "" for none', empty=True)
        self.network = _text("network", network, 'a --network value such as "host"')
        self.user = _text("user", user, 'a --user value such as "1000:1000", or "" for the image\'s user', empty=True)
        self.python = _text("python", python, 'the Python inside the image, such as "python"')
        if isinstance(build_timeout, bool) or not isinstance(build_timeout, (int, float)) or build_timeout <= 0:
            raise _option_error("build_timeout", build_timeout, "a positive number of seconds")
        self.build_timeout = float(build_timeout)
        self.extra_build_args = _arguments("extra_build_args", extra_build_args)
        self.extra_run_args = _arguments("extra_run_args", extra_run_args)

    def prepare(self, requirements: str, log: Logger = lambda line: None) -> DockerEnvironment:
        """The environment for ``requirements``: an existing job image, one built now, or the base image.

        Raises:
            JobEnvironmentError: the base image is missing, docker failed, or the build failed
                (``requirements`` then names the lines the installer complained about).
        """
        base_id = self._image_id(self.base_image)
        if base_id is None:
            raise JobEnvironmentError(
                f"the base image {self.base_image!r} is not on this host: build or `docker pull` it, "
                f"or set environment.base_image in {SITE_FILE}"
            )
        if not requirement_lines(requirements):
            log(f"no requirements beyond the base image {self.base_image}")
            return self._environment(self.base_image, f"base image {self.base_image}")
        key = image_key(self.base_image, base_id, requirements)
        tag = f"{IMAGE_REPOSITORY}:{key}"
        if self._image_id(tag) is not None:
            log(f"reusing image {tag}")
            return self._environment(tag, f"cached image {tag}")
        lock_dir = default_cache_dir()
        lock_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(lock_dir / f".docker-{key}.lock"):
            if self._image_id(tag) is not None:  # another job built it while we waited
                log(f"reusing image {tag}, built by another job meanwhile")
                return self._environment(tag, f"cached image {tag}")
            self._build(tag, key, requirements, log)
        return self._environment(tag, f"new image {tag}")

    # -- docker -------------------------------------------------------------------------------

    def _build(self, tag: str, key: str, requirements: str, log: Logger) -> None:
        log(f"building image {tag} on {self.base_image}: {len(requirement_lines(requirements))} requirement(s)")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="fdd-docker-") as context:
            Path(context, "requirements.txt").write_text(requirements)
            Path(context, "Dockerfile").write_text(dockerfile(self.base_image))
            command = [
                self.docker, "build", "--tag", tag,
                "--label", f"{LABEL_KEY}={key}", "--label", f"{LABEL_BASE}={self.base_image}",
                *self.extra_build_args, context,
            ]  # fmt: skip
            # plain progress: readable text in logs and error messages (the legacy builder ignores it)
            code, output = self._docker(command, f"build the job image {tag}", self.build_timeout, {"BUILDKIT_PROGRESS": "plain"})
        if code != 0:
            blamed = blamed_requirements(requirements, installer_output(output, self.base_image))
            names = f" ({', '.join(blamed)})" if blamed else ""
            raise JobEnvironmentError(
                f"could not build the job image {tag} on {self.base_image}{names}:\n{output.strip()[-OUTPUT_TAIL_CHARS:]}",
                blamed,
                output,
            )
        log(f"built image {tag} in {time.monotonic() - started:.1f} s")

    def _image_id(self, reference: str) -> str | None:
        """The image's ID, or None when docker says there is no such image."""
        code, output = self._docker([self.docker, "image", "inspect", "--format", "{{.Id}}", reference], f"inspect the image {reference}")
        if code == 0:
            return output.strip()
        if any(marker in output.lower() for marker in _MISSING_IMAGE):
            return None
        tail = output.strip()[-OUTPUT_TAIL_CHARS:]
        raise JobEnvironmentError(f"docker could not inspect the image {reference}:\n{tail}", (), output)

    def _docker(
        self, command: list[str], what: str, timeout: float = INSPECT_TIMEOUT, env: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """Run a docker command; ``(exit status, stdout + stderr)``."""
        try:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
        except FileNotFoundError as exc:
            raise JobEnvironmentError(
                f"the docker client {self.docker!r} was not found: install it, or set environment.docker in {SITE_FILE}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else str(exc.output or "")
            raise JobEnvironmentError(f"could not {what}: docker took more than {timeout:.0f} s", (), output) from exc
        return done.returncode, (done.stdout or "") + (done.stderr or "")

    def _environment(self, image: str, description: str) -> DockerEnvironment:
        return DockerEnvironment(
            [self.docker, "run", "--rm", "-i", image, self.python],
            description=description,
            image=image,
            docker=self.docker,
            network=self.network,
            gpus=self.gpus,
            user=self.user,
            python=self.python,
            extra_run_args=list(self.extra_run_args),
        )


def docker_backend(**options: object) -> DockerBackend:
    """The factory registered as ``docker``: a ``DockerBackend`` from a site's options.

    Raises:
        JobEnvironmentError: an option is unknown (the message lists the known ones) or invalid.
    """
    known = list(inspect.signature(DockerBackend).parameters)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise JobEnvironmentError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for the docker backend in {SITE_FILE}; "
            f"known: {', '.join(known)}"
        )
    return DockerBackend(**options)


def installer_output(build_output: str, base_image: str) -> str:
    """The build output without the lines that echo the Dockerfile (which name the base image and uv's command)."""
    echoes = (INSTALL_COMMAND, REQUIREMENTS_IN_IMAGE, base_image)
    return "\n".join(line for line in build_output.splitlines() if not any(echo in line for echo in echoes))


def _text(option: str, value: object, expected: str, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value) or value != value.strip():
        raise _option_error(option, value, expected)
    return value


def _arguments(option: str, value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(item, str) for item in value):
        raise _option_error(option, value, 'a list of strings such as ["--shm-size", "8g"]')
    return list(value)


def _option_error(option: str, value: object, expected: str) -> JobEnvironmentError:
    return JobEnvironmentError(f"environment.{option} in {SITE_FILE} must be {expected}, not {value!r}")

