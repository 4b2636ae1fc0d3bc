"""Two sites for the K-MELLODDY-style bundles (tab-indented, ``from controller_manager import *``), which the
suite's ``kmelloddy_bundle`` fixture writes from ``bundles/``."""

from __future__ import annotations

import pytest


@pytest.fixture
def two_sites(tmp_path, site_kdas_writer) -> dict[str, str]:
    return site_kdas_writer(tmp_path, {"site_a": 30, "site_b": 90})


@pytest.fixture(autouse=True)
def isolated_environment_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FDD_ENV_CACHE", str(tmp_path_factory.getbasetemp() / "env-cache"))
