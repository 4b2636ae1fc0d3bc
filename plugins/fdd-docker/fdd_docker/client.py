"""``DockerClient``: the docker command-line client, run with clear errors and optional streamed progress.

Everything the plugin asks of the engine goes through ``docker`` commands, so a
site's own client settings (``DOCKER_HOST``, contexts, TLS) apply unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from nvflare_fdd.envs import JobEnvironmentError

INSPECT_TIMEOUT = 120.0
OUTPUT_TAIL_CHARS = 4000
SITE_FILE = "local/fdd_site.json"
_MISSING_IMAGE = ("no such image", "image not known")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without terminal colour codes (the legacy builder colours its stderr)."""
    return _ANSI.sub("", text)


class DockerClient:
    """Runs ``docker`` commands.

    Args:
        docker: the client executable (a name on ``PATH`` or a path).
    """

    def __init__(self, docker: str = "docker"):
        self.docker = docker

    def executable(self) -> str:
        """The client's absolute path.

        Raises:
            JobEnvironmentError: no such client.
        """
        found = shutil.which(self.docker)
        if found is None:
            raise self._missing()
        return os.path.abspath(found)

    def run(
        self,
        args: Sequence[str],
        what: str,
        timeout: float = INSPECT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        stdin: object = subprocess.DEVNULL,
    ) -> tuple[int, str]:
        """Run ``docker ARGS``: ``(exit status, stdout + stderr)``.

        Raises:
            JobEnvironmentError: the client is missing, or the command took longer than ``timeout``.
        """
        try:
            done = subprocess.run(
                [self.docker, *args], stdin=stdin, capture_output=True, text=True, timeout=timeout,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
        except FileNotFoundError as exc:
            raise self._missing() from exc
        except subprocess.TimeoutExpired as exc:
            output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else str(exc.output or "")
            raise JobEnvironmentError(f"could not {what}: docker took more than {timeout:.0f} s", (), output) from exc
        return done.returncode, plain((done.stdout or "") + (done.stderr or ""))

    def check(self, args: Sequence[str], what: str, timeout: float = INSPECT_TIMEOUT) -> str:
        """Run ``docker ARGS`` and return its output.

        Raises:
            JobEnvironmentError: it failed (the message ends with the client's output).
        """
        code, output = self.run(args, what, timeout)
        if code != 0:
            raise JobEnvironmentError(f"could not {what}:\n{output.strip()[-OUTPUT_TAIL_CHARS:]}", (), output)
        return output

    def stream(
        self,
        args: Sequence[str],
        what: str,
        on_line: Callable[[str], None],
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: object = subprocess.DEVNULL,
    ) -> tuple[int, str]:
        """Run ``docker ARGS``, handing each output line to ``on_line`` as it comes: ``(exit status, output)``."""
        return stream_command([self.docker, *args], what, on_line, timeout, env, stdin, missing=self._missing)

    def image_id(self, reference: str) -> str | None:
        """The image's ID, or None when docker says there is no such image.

        Raises:
            JobEnvironmentError: docker failed for another reason (no engine, say).
        """
        code, output = self.run(["image", "inspect", "--format", "{{.Id}}", reference], f"inspect the image {reference}")
        if code == 0:
            return output.strip()
        if any(marker in output.lower() for marker in _MISSING_IMAGE):
            return None
        raise JobEnvironmentError(f"docker could not inspect the image {reference}:\n{output.strip()[-OUTPUT_TAIL_CHARS:]}", (), output)

    def inspect_images(self, references: Sequence[str]) -> list[dict]:
        """``docker image inspect`` of each image (as JSON objects); none for an empty list."""
        if not references:
            return []
        return json.loads(self.check(["image", "inspect", *references], "inspect images") or "[]")

    def image_ids(self, label: str) -> list[str]:
        """IDs of the images that carry ``label`` (a name, or ``name=value``)."""
        output = self.check(["image", "ls", "--quiet", "--no-trunc", "--filter", f"label={label}"], "list images")
        return list(dict.fromkeys(output.split()))

    def _missing(self) -> JobEnvironmentError:
        return JobEnvironmentError(
            f"the docker client {self.docker!r} was not found: install it (Debian: apt-get install docker.io), "
            f"or set environment.docker in {SITE_FILE}"
        )


def stream_command(
    command: Sequence[str],
    what: str,
    on_line: Callable[[str], None],
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin: object = subprocess.DEVNULL,
    missing: Callable[[], Exception] | None = None,
) -> tuple[int, str]:
    """Run ``command``, handing each output line to ``on_line``: ``(exit status, whole output)``.

    Raises:
        JobEnvironmentError: the command took longer than ``timeout`` (it is killed), or is missing.
    """
    try:
        process = subprocess.Popen(
            list(command), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )  # fmt: skip
    except FileNotFoundError as exc:
        raise (missing() if missing else JobEnvironmentError(f"could not {what}: {command[0]} was not found")) from exc
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = plain(raw.decode(errors="replace")).rstrip()
            lines.append(line)
            if line:
                on_line(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while reader.is_alive() and time.monotonic() < deadline:
        reader.join(0.5)
    if reader.is_alive():
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the client and whatever it started
        except ProcessLookupError:
            pass
        process.wait()
        reader.join(5)
        raise JobEnvironmentError(f"could not {what}: it took more than {timeout:.0f} s", (), "\n".join(lines))
    return process.wait(), "\n".join(lines)
