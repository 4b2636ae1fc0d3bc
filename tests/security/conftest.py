"""Hostile-bundle fixtures: two sites whose every row carries a canary (see ``leaks``)."""

from __future__ import annotations

import pytest
from leaks import CANARY, SITE_SIZES


@pytest.fixture
def canary_sites(tmp_path, kda_frame_factory) -> dict[str, str]:
    """Two SQLite KDAs whose rows' chemical ids and SMILES all carry ``CANARY``: site name → URL."""
    from nvflare_fdd.kda import import_file

    sites = {}
    for offset, (name, size) in enumerate(SITE_SIZES.items()):
        smiles = [("C" * (1 + i % 7)) + ("O" * (i % 3)) for i in range(size)]
        frame = kda_frame_factory([-(i % 9) * 0.5 - offset for i in range(size)], smiles)
        frame["chemical_id"] = [f"{CANARY}-{name}-{i:03d}" for i in range(size)]
        frame["comment"] = f"{CANARY} confidential assay of {name}"
        csv_path = tmp_path / f"{name}.csv"
        frame.to_csv(csv_path, index=False)
        url = f"sqlite:///{tmp_path / name}.db"
        import_file(url, csv_path, institution=name)
        sites[name] = url
    return sites


@pytest.fixture(autouse=True)
def isolated_environment_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FDD_ENV_CACHE", str(tmp_path_factory.getbasetemp() / "env-cache"))
