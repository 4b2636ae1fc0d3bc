"""Fixtures of the statistics tests: synthetic KDAs of known shape, the demo institutions, a store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from nvflare_fdd.stats.synthetic import Cell, write_kda

#: Cells whose sizes sit on the bucket edges, with censored rows, empty levels and small cells.
EDGE_CELLS: tuple[Cell, ...] = (
    Cell("hERG", "IC50", exact=100, test_type="in vitro", test_subject="Human", unit="uM"),
    Cell("hERG", "IC50", exact=1, test_type="in vitro", test_subject="Rat", unit="uM"),
    Cell("hERG", "Ki", exact=1000, test_type="in vivo", test_subject="Human", unit="nM", start=10.0),
    Cell("hERG", "Ki", exact=1001, test_type="in vivo", test_subject="Dog", unit="nM"),
    Cell("Brain penetration", "Kp", exact=4, censored=1, test_subject="Mouse", data_type="PK"),
    Cell("Brain penetration", "Kp", exact=5, test_type=" ", test_subject="Monkey", data_type="PK"),
    Cell("Brain penetration", "Kp", exact=3, censored=200, test_type="in vivo", data_type="PK", unit="ratio"),
    Cell("Clearance", "CL", exact=0, censored=101, test_type="in vivo", test_subject="Rat", data_type="PK"),
)


def _node_at(summary: dict, *names: str) -> dict:
    """The node reached by following ``names`` (a test key, then child names) in ``summary``."""
    nodes = {node["key"]: node for node in summary["tests"]}
    node = nodes[names[0]]
    for name in names[1:]:
        node = {child["name"]: child for child in node["children"]}[name]
    return node


def _integers_in(value, path: str = "") -> list[str]:
    """Paths of every integer (bools excepted) anywhere in a JSON-like value."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [path or "."]
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in _integers_in(item, f"{path}.{key}")]
    if isinstance(value, (list, tuple)):
        return [hit for index, item in enumerate(value) for hit in _integers_in(item, f"{path}[{index}]")]
    return []


@pytest.fixture
def node_at():
    """``node_at(summary, "herg", "in vitro", "IC50")``: the node at a test key and child names."""
    return _node_at


@pytest.fixture
def integers_in():
    """``integers_in(value)``: the paths of every integer (bools excepted) in a JSON-like value."""
    return _integers_in


@pytest.fixture
def make_kda(tmp_path: Path) -> Callable[..., str]:
    """``make_kda(cells, name="kda")``: a fresh SQLite KDA holding ``cells``; returns its URL."""

    def make(cells: Sequence[Cell], name: str = "kda") -> str:
        url = f"sqlite:///{tmp_path / name}.db"
        write_kda(url, cells)
        return url

    return make


@pytest.fixture
def edge_kda(make_kda) -> str:
    return make_kda(EDGE_CELLS, name="edge")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """One ``prepare_demo`` folder shared by the session (three institutions' KDAs)."""
    from nvflare_fdd.demo import prepare_demo

    directory = tmp_path_factory.mktemp("stats-demo")
    prepare_demo(directory)
    return directory


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch) -> Path:
    """An empty statistics store folder, also set as ``$FDD_STATS_DIR``."""
    folder = tmp_path / "store"
    monkeypatch.setenv("FDD_STATS_DIR", str(folder))
    return folder


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def no_site_settings_from_the_environment(monkeypatch):
    """The caller's own minimum cell size must not leak into the tests."""
    monkeypatch.delenv("FDD_STATS_MIN_CELL_SIZE", raising=False)
