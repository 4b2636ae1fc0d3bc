"""The ``docker`` environment backend: one image per base image and requirements.

A job's image is the site's base image (``fdd env build-base``: nvflare-fdd, torch
and uv) plus the bundle's ``requirements.txt``, installed with K-MELLODDY's own
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
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fdd_docker.base_image import LABEL_ROOTFS, LABEL_VERSION
from fdd_docker.client import OUTPUT_TAIL_CHARS, SITE_FILE, DockerClient
from fdd_docker.environment import DockerEnvironment, host_gpus
from nvflare_fdd.envs import CachedEnvironment, JobEnvironmentError, Logger, blamed_requirements, file_lock, requirement_lines
from nvflare_fdd.envs.local import default_cache_dir

IMAGE_REPOSITORY = "fdd-env"
LABEL_KEY = "org.nvflare-fdd.env.key"
LABEL_BASE = "org.nvflare-fdd.env.base"
LABEL_REQUIREMENTS = "org.nvflare-fdd.env.requirements"
BUILD_DIR = "/tmp/fdd-build"
# K-MELLODDY's install command, exactly; run in the folder that holds the bundle's requirements.txt
INSTALL_COMMAND = "uv pip install -r requirements.txt --system --index-strategy unsafe-best-match"
_IMAGE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")


def dockerfile(base_image: str) -> str:
    """The Dockerfile of a job image: the base image plus the bundle's requirements.

    Args:
        base_image: the site's base image (a reference already checked by ``DockerBackend``).
    """
    return (
        f"FROM {base_image}\n"
        f"COPY requirements.txt {BUILD_DIR}/requirements.txt\n"
        f"RUN cd {BUILD_DIR} && {INSTALL_COMMAND} \\\n"
        f"    && cd / && rm -rf {BUILD_DIR}\n"
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
    (``{"environment": {"backend": "docker", ...}}``), ``fdd run --env-option`` or ``platform.yaml``.

    Args:
        base_image: the site's image with nvflare-fdd, torch and uv (``fdd env build-base``).
        docker: the docker client executable.
        gpus: ``docker run --gpus`` value (``"all"``, ``"device=0"``, ``2``); ``"auto"``: all, where this
            host has NVIDIA GPUs and the NVIDIA container toolkit; ``""`` for none.
        network: ``docker run --network`` when the site turned the sandbox off (sandboxed: ``none``).
        user: ``docker run --user`` value; ``""``: the site's own uid, or an unprivileged one when the
            site runs as root.
        python: the Python executable inside the image.
        build_timeout: seconds a build may take.
        build_network: the network job builds install from (``host`` reaches what the site reaches).
        extra_build_args: more ``docker build`` options (proxy ``--build-arg``s).
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
        gpus: str | int = "auto",
        network: str = "host",
        user: str = "",
        python: str = "python",
        build_timeout: float = 3600,
        build_network: str = "host",
        extra_build_args: Sequence[str] | None = None,
        extra_run_args: Sequence[str] | None = None,
    ):
        if not isinstance(base_image, str) or not _IMAGE_REFERENCE.fullmatch(base_image):
            raise _option_error("base_image", base_image, 'an image reference such as "nvflare-fdd:latest"')
        self.base_image = base_image
        self.docker = _text("docker", docker, "the docker client, such as \"docker\" or \"/usr/bin/docker\"")
        if isinstance(gpus, int) and not isinstance(gpus, bool) and gpus >= 0:
            gpus = str(gpus) if gpus else ""
        self.gpus = _text("gpus", gpus, 'a --gpus value such as "all" or "device=0", "auto", or "" for none', empty=True)
        self.network = _text("network", network, 'a --network value such as "host"')
        self.user = _text("user", user, 'a --user value such as "1000:1000", or "" for the site\'s own', empty=True)
        self.python = _text("python", python, 'the Python inside the image, such as "python"')
        if isinstance(build_timeout, bool) or not isinstance(build_timeout, (int, float)) or build_timeout <= 0:
            raise _option_error("build_timeout", build_timeout, "a positive number of seconds")
        self.build_timeout = float(build_timeout)
        self.build_network = _text("build_network", build_network, 'a --network value such as "host" or "default"')
        self.extra_build_args = _arguments("extra_build_args", extra_build_args)
        self.extra_run_args = _arguments("extra_run_args", extra_run_args)
        self.client = DockerClient(self.docker)

    def prepare(self, requirements: str, log: Logger = lambda line: None) -> DockerEnvironment:
        """The environment for ``requirements``: an existing job image, one built now, or the base image.

        Raises:
            JobEnvironmentError: the base image is missing, docker failed, or the build failed
                (``requirements`` then names the lines the installer complained about).
        """
        base_id = self.client.image_id(self.base_image)
        if base_id is None:
            raise JobEnvironmentError(
                f"the base image {self.base_image!r} is not on this host: build it with "
                f"`fdd env build-base --tag {self.base_image}`, or set environment.base_image in {SITE_FILE}"
            )
        if not requirement_lines(requirements):
            log(f"no requirements beyond the base image {self.base_image}")
            return self._environment(self.base_image, f"base image {self.base_image}")
        key = image_key(self.base_image, base_id, requirements)
        tag = f"{IMAGE_REPOSITORY}:{key}"
        _mark_used(key)
        if self.client.image_id(tag) is not None:
            log(f"reusing image {tag}")
            return self._environment(tag, f"cached image {tag}")
        with file_lock(_cache_dir() / f".docker-{key}.lock"):
            if self.client.image_id(tag) is not None:  # another job built it while we waited
                log(f"reusing image {tag}, built by another job meanwhile")
                return self._environment(tag, f"cached image {tag}")
            self._build(tag, key, requirements, log)
        return self._environment(tag, f"new image {tag}")

    def cached(self) -> list[CachedEnvironment]:
        """The job images on this host, and the base images they build on (``fdd env list``)."""
        job_ids = self.client.image_ids(LABEL_KEY)
        base_ids = [i for i in self.client.image_ids(LABEL_VERSION) + self.client.image_ids(LABEL_ROOTFS) if i not in job_ids]
        used_images = set(self.client.check(["ps", "--all", "--format", "{{.Image}}"], "list containers").split())
        entries = []
        for image in self.client.inspect_images(list(dict.fromkeys(job_ids + base_ids))):
            labels = image.get("Config", {}).get("Labels") or {}
            tags = image.get("RepoTags") or [image["Id"][7:19]]
            created = _timestamp(image.get("Created", ""))
            in_use = bool(used_images & {*tags, image["Id"], image["Id"][7:19]})
            if LABEL_KEY in labels:
                key = labels[LABEL_KEY]
                marker = _cache_dir() / f".docker-{key}.used"
                used = marker.stat().st_mtime if marker.exists() else created
                description = labels.get(LABEL_REQUIREMENTS) or f"on {labels.get(LABEL_BASE, '?')}"
                entries.append(CachedEnvironment("docker", tags[0], description, created, used, image.get("Size"), in_use))
            else:
                what = (f"base: nvflare-fdd {labels[LABEL_VERSION]}, torch {labels.get('org.nvflare-fdd.base.torch', '?')}"
                        if LABEL_VERSION in labels else f"Debian {labels.get(LABEL_ROOTFS)} root file system")  # fmt: skip
                name, *others = sorted(tags, key=len)
                what += f" (also {', '.join(others)})" if others else ""
                entries.append(CachedEnvironment("docker", name, what, created, created, image.get("Size"), in_use, False))
        return entries

    def remove(self, entry: CachedEnvironment) -> None:
        """Remove a job image (``fdd env prune``); docker refuses while a container uses it."""
        code, output = self.client.run(["image", "rm", entry.name], f"remove the image {entry.name}")
        if code != 0 and "no such image" not in output.lower():
            raise JobEnvironmentError(f"docker did not remove {entry.name}: {output.strip()[-OUTPUT_TAIL_CHARS:]}")
        (_cache_dir() / f".docker-{entry.name.rsplit(':', 1)[-1]}.used").unlink(missing_ok=True)

    # -- docker -------------------------------------------------------------------------------

    def _build(self, tag: str, key: str, requirements: str, log: Logger) -> None:
        lines = requirement_lines(requirements)
        log(f"building image {tag} on {self.base_image}: {len(lines)} requirement(s)")
        started = time.monotonic()
        summary = ", ".join(lines)
        summary = summary if len(summary) <= 200 else summary[:197] + "..."
        network = [] if self.build_network == "default" else ["--network", self.build_network]
        with tempfile.TemporaryDirectory(prefix="fdd-docker-") as context:
            Path(context, "requirements.txt").write_text(requirements)
            Path(context, "Dockerfile").write_text(dockerfile(self.base_image))
            command = [
                "build", "--tag", tag, "--force-rm",
                "--label", f"{LABEL_KEY}={key}", "--label", f"{LABEL_BASE}={self.base_image}",
                "--label", f"{LABEL_REQUIREMENTS}={summary}", *network, *self.extra_build_args, context,
            ]  # fmt: skip
            # plain progress: readable text in logs and error messages (the legacy builder ignores it)
            code, output = self.client.stream(
                command, f"build the job image {tag}", lambda line: log(f"  {line}"), self.build_timeout,
                {"BUILDKIT_PROGRESS": "plain"},
            )  # fmt: skip
        if code != 0:
            self._remove_build_leftovers(output)
            blamed = blamed_requirements(requirements, installer_output(output, self.base_image))
            names = f" ({', '.join(blamed)})" if blamed else ""
            raise JobEnvironmentError(
                f"could not build the job image {tag} on {self.base_image}{names}:\n{output.strip()[-OUTPUT_TAIL_CHARS:]}",
                blamed,
                output,
            )
        log(f"built image {tag} in {time.monotonic() - started:.1f} s")

    def _remove_build_leftovers(self, output: str) -> None:
        """Remove the untagged step images a failed legacy build keeps (``---> ID`` in its output)."""
        steps = set(re.findall(r"^ ---> ([0-9a-f]{12})$", output, re.MULTILINE))
        if not steps:
            return
        code, dangling = self.client.run(["image", "ls", "--quiet", "--filter", "dangling=true"], "list untagged images")
        leftovers = sorted(steps & set(dangling.split())) if code == 0 else []
        if leftovers:
            self.client.run(["image", "rm", *leftovers], "remove the failed build's step images")

    def _environment(self, image: str, description: str) -> DockerEnvironment:
        return DockerEnvironment(
            [self.docker, "run", image, self.python],
            description=description,
            image=image,
            docker=self.docker,
            network=self.network,
            gpus=host_gpus() if self.gpus == "auto" else self.gpus,
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
            f"unknown option(s) {', '.join(map(repr, unknown))} for the docker backend; known: {', '.join(known)}"
        )
    return DockerBackend(**options)


def installer_output(build_output: str, base_image: str) -> str:
    """The build output without the lines that echo the Dockerfile (which name the base image and uv's command)."""
    echoes = (INSTALL_COMMAND, BUILD_DIR, base_image, LABEL_REQUIREMENTS)
    return "\n".join(line for line in build_output.splitlines() if not any(echo in line for echo in echoes))


def _cache_dir() -> Path:
    folder = default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _mark_used(key: str) -> None:
    """Note that a job starts with image ``key`` now (``fdd env prune --older-than`` goes by it)."""
    (_cache_dir() / f".docker-{key}.used").touch()


def _timestamp(created: str) -> float:
    """Docker's RFC 3339 time (nanoseconds, ``Z``) → seconds since the epoch."""
    from datetime import datetime

    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", created)
    if not match:
        return time.time()
    return datetime.fromisoformat(match.group(1) + "+00:00").timestamp() + float(match.group(2) or 0)


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
    return JobEnvironmentError(f"environment.{option} must be {expected}, not {value!r}")
