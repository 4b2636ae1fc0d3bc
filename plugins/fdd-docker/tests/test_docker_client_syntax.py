"""The command lines against the real docker client, when one is installed, with no engine behind it.

The client parses its options before it contacts the engine, so pointing
``DOCKER_HOST`` at a socket that does not exist shows whether it accepts our
command lines ("unknown flag" otherwise), without building or running anything.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fdd_docker import DockerBackend, dockerfile
from fdd_docker.backend import LABEL_KEY
from nvflare_fdd.envs import Sandbox

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client installed")

NO_ENGINE = "Cannot connect to the Docker daemon"


@pytest.fixture
def no_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    return tmp_path


def client(command: list[str]) -> str:
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("options", "enabled"),
    [({"gpus": "all"}, True), ({"gpus": "", "user": "1000:1000", "extra_run_args": ["--shm-size", "8g"]}, True), ({}, False)],
)
def test_the_client_accepts_the_run_line(no_engine, options, enabled):
    environment = DockerBackend(**options)._environment("fdd-env:0123456789abcdef0123", "test")
    sandbox = Sandbox(env={"FDD_WORKER_AUTHKEY": "00"}, read_only=(str(no_engine),), writable=(str(no_engine / "x"),),
                      enabled=enabled)  # fmt: skip
    command = environment.command("nvflare_fdd.client.worker", ["--site", "site-1"], sandbox)
    run = command[command.index("--") + 1 :]  # the supervisor's docker run line

    output = client(run)

    assert NO_ENGINE in output and "unknown" not in output.lower()


def test_the_client_accepts_the_build_line(no_engine):
    (no_engine / "Dockerfile").write_text(dockerfile("nvflare-fdd:latest"))
    (no_engine / "requirements.txt").write_text("rdkit\n")

    output = client(["docker", "build", "--tag", "fdd-env:0123", "--label", f"{LABEL_KEY}=0123", str(no_engine)])

    assert NO_ENGINE in output and "unknown" not in output.lower()


def test_the_engine_being_away_is_not_taken_for_a_missing_image(no_engine):
    output = client(["docker", "image", "inspect", "--format", "{{.Id}}", "nvflare-fdd:latest"])

    assert NO_ENGINE in output and "no such image" not in output.lower()
