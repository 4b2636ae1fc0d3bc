"""Fixtures for the KDA tests: a SQLite file per test, file writers, a CLI runner."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

#: A small, valid provider file: mixed-case headers, as providers write them.
GOOD_HEADER = [
    "Chemical_ID", "SMILES_Structure_Parent", "Test", "Test_Type",
    "Measurement_Type", "Measurement_Relation", "Measurement_Value", "Measurement_Unit",
]
GOOD_ROWS = [
    ["00123", "CCO", "Brain penetration", "in vivo", "Kp", "", "1.5", "ratio"],
    ["00124", "CCN", "Brain penetration", "", "Kp", "<", "0.25", ""],
    ["C-7", "c1ccccc1O", "hERG", "in vitro", "IC50", ">=", "3e1", "uM"],
]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'kda.db'}"


@pytest.fixture
def db_path(db_url: str) -> Path:
    """Filesystem path of ``db_url``."""
    return Path(db_url.removeprefix("sqlite:///"))


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write ``header`` and ``rows`` as a CSV file and return its path."""

    def write(header: Sequence[str], rows: Sequence[Sequence[str]], name: str = "data.csv") -> Path:
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    return write


@pytest.fixture
def good_table() -> tuple[list[str], list[list[str]]]:
    """The header and rows of a valid provider file (fresh copies)."""
    return list(GOOD_HEADER), [list(row) for row in GOOD_ROWS]


@pytest.fixture
def good_csv(write_csv: Callable[..., Path]) -> Path:
    return write_csv(GOOD_HEADER, GOOD_ROWS, name="good.csv")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def dump_db() -> Callable[[Path], list[str]]:
    """Return a function giving every schema statement and row of a SQLite file as SQL."""

    def dump(path: Path) -> list[str]:
        connection = sqlite3.connect(path)
        try:
            return list(connection.iterdump())
        finally:
            connection.close()

    return dump
