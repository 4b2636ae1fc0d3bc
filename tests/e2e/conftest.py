"""Two KDA sites of different sizes and a deterministic bundle, for end-to-end simulator runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvflare_fdd.testing import ZERO_INIT_MODEL

SITE_SIZES = {"site_a": 30, "site_b": 90}


@pytest.fixture
def two_sites(tmp_path: Path, site_kdas_writer) -> dict[str, str]:
    """Two KDAs with 30 and 90 solubility rows whose values differ by site."""
    return site_kdas_writer(tmp_path, SITE_SIZES)


@pytest.fixture
def zero_init_bundle(make_bundle) -> Path:
    """The tiny bundle with its model started at zero, so every run starts from the same global model."""
    return make_bundle({"model.py": ZERO_INIT_MODEL}, name="zero_init_bundle")


@pytest.fixture(autouse=True)
def isolated_environment_cache(tmp_path_factory, monkeypatch):
    """Job environments built by a test go to a cache of the test session's own."""
    monkeypatch.setenv("FDD_ENV_CACHE", str(tmp_path_factory.getbasetemp() / "env-cache"))
