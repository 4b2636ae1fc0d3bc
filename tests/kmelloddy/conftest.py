"""K-MELLODDY-style bundles (tab-indented, ``from controller_manager import *``) and two sites."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

BUNDLES = Path(__file__).parent / "bundles"


@pytest.fixture
def kmelloddy_bundle(tmp_path):
    """``kmelloddy_bundle("mlp_scaffold", overrides)``: a copy of one of the bundles, files replaced by ``overrides``."""

    def copy(name: str, overrides: dict[str, str] | None = None) -> Path:
        folder = tmp_path / name
        shutil.copytree(BUNDLES / name, folder)
        for file, text in (overrides or {}).items():
            (folder / file).write_text(text)
        return folder

    return copy


@pytest.fixture
def two_sites(tmp_path, site_kdas_writer) -> dict[str, str]:
    return site_kdas_writer(tmp_path, {"site_a": 30, "site_b": 90})


@pytest.fixture(autouse=True)
def isolated_environment_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FDD_ENV_CACHE", str(tmp_path_factory.getbasetemp() / "env-cache"))
