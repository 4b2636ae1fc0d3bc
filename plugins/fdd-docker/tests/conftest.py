"""Fixtures of the fdd-docker tests: a fake docker client (see ``fdd_docker_fakes``)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from fdd_docker_fakes import BASE_IMAGE, FAKE_DOCKER, FakeDocker


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
