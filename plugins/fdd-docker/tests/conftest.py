"""Fixtures of the fdd-docker tests: a fake docker client (see ``fdd_docker_fakes``) and the real engine.

The engine tests need a reachable Docker engine; without one they are skipped, unless
``$FDD_REQUIRE_DOCKER`` is set (CI sets it), which makes a missing engine a failure.
The base image is built once per test session, as ``nvflare-fdd-test:latest``, and
kept: a later session whose inputs are the same reuses it (its labels say so).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fdd_docker_fakes import BASE_IMAGE, FAKE_DOCKER, FakeDocker

REQUIRE_DOCKER_ENV = "FDD_REQUIRE_DOCKER"
TEST_BASE_IMAGE = "nvflare-fdd-test:latest"


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    """A fake docker client that knows only the base image; build locks go under ``tmp_path``."""
    folder = tmp_path / "fake-docker"
    folder.mkdir()
    path = folder / "docker"
    path.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (folder / "state.json").write_text(json.dumps({"images": {BASE_IMAGE: "sha256:" + "b" * 64}}))
    monkeypatch.setenv("FDD_ENV_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert os.access(path, os.X_OK)
    return FakeDocker(path)


def _engine_problem() -> str | None:
    """Why the real engine cannot be used here, or None."""
    if shutil.which("docker") is None:
        return "no docker client installed (Debian: apt-get install docker.io)"
    try:
        done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 60 s"
    if done.returncode != 0:
        return f"no Docker engine reachable ({(done.stderr or done.stdout).strip()[:200]}): start dockerd"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The docker client, once an engine answers; skips (or fails under ``$FDD_REQUIRE_DOCKER``) otherwise."""
    problem = _engine_problem()
    if problem:
        if os.environ.get(REQUIRE_DOCKER_ENV):
            pytest.fail(f"${REQUIRE_DOCKER_ENV} is set but {problem}")
        pytest.skip(problem)
    return "docker"


@pytest.fixture(scope="session")
def base_image(docker_engine: str, tmp_path_factory: pytest.TempPathFactory):
    """The base image built by ``fdd env build-base``'s code, once per session (kept when its inputs are the same).

    Returns the ``BaseImage`` record; ``.seconds`` is how long it took this session.
    """
    from fdd_docker.backend import LABEL_BASE
    from fdd_docker.base_image import BaseImageSpec, build_base_image
    from fdd_docker.client import DockerClient

    lines: list[str] = []
    started = time.monotonic()
    client = DockerClient(docker_engine)
    image = build_base_image(BaseImageSpec(tag=TEST_BASE_IMAGE), client, log=lines.append)
    image.seconds = time.monotonic() - started
    (tmp_path_factory.getbasetemp() / "base-image.log").write_text("\n".join(lines))
    yield image
    # the job images the tests built: kept, they would keep every replaced base image alive
    leftovers = client.image_ids(f"{LABEL_BASE}={TEST_BASE_IMAGE}")
    if leftovers:
        client.run(["image", "rm", "--force", *leftovers], "remove the tests' job images")


@pytest.fixture
def engine_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A build-lock and last-use folder of the test's own."""
    folder = tmp_path / "env-cache"
    monkeypatch.setenv("FDD_ENV_CACHE", str(folder))
    return folder
