"""The standard format constants, test keys, and engine construction."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from nvflare_fdd.errors import KdaError
from nvflare_fdd.kda import (
    DATA_COLUMNS,
    REQUIRED_COLUMNS,
    STANDARD_COLUMNS,
    make_engine,
    resolve_url,
    test_key,
)


def test_standard_columns_follow_the_design_order():
    assert len(STANDARD_COLUMNS) == 19
    assert STANDARD_COLUMNS[:4] == ("chemical_id", "smiles_structure_parent", "smiles_salt", "test")
    assert STANDARD_COLUMNS[-1] == "comment"
    assert DATA_COLUMNS == STANDARD_COLUMNS + ("data_type",)
    assert REQUIRED_COLUMNS == (
        "chemical_id", "smiles_structure_parent", "test", "measurement_type", "measurement_value",
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Brain penetration", "brain_penetration"),
        ("  hERG  ", "herg"),
        ("Caco-2  permeability\t(A-B)", "caco-2_permeability_(a-b)"),
        ("solubility", "solubility"),
        ("", ""),
    ],
)
def test_test_key(name: str, key: str):
    assert test_key(name) == key


def test_resolve_url_turns_a_plain_db_path_into_an_absolute_sqlite_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_url("site.db") == f"sqlite:///{tmp_path / 'site.db'}"
    assert resolve_url("postgresql://u@h/kda") == "postgresql://u@h/kda"


def test_resolve_url_defaults_to_env_then_kda_db(monkeypatch):
    monkeypatch.delenv("FDD_KDA_URL", raising=False)
    assert resolve_url() == "sqlite:///kda.db"
    monkeypatch.setenv("FDD_KDA_URL", "sqlite:///elsewhere.db")
    assert resolve_url() == "sqlite:///elsewhere.db"


def test_make_engine_creates_the_tables(db_url: str, db_path: Path):
    engine = make_engine(db_url)
    try:
        inspector = inspect(engine)
        assert {"kda_imports", "measurements"} <= set(inspector.get_table_names())
        columns = {column["name"]: column for column in inspector.get_columns("measurements")}
        assert set(DATA_COLUMNS) | {"id", "import_id", "test_key"} == set(columns)
        assert columns["measurement_value"]["nullable"] is False
        assert columns["comment"]["nullable"] is True
        assert any(index["column_names"] == ["test_key"] for index in inspector.get_indexes("measurements"))
    finally:
        engine.dispose()
    assert db_path.is_file()


@pytest.mark.parametrize("url", ["not a url", "nodialect://x", "sqlite:////no/such/dir/kda.db"])
def test_make_engine_rejects_bad_urls(url: str):
    with pytest.raises(KdaError):
        make_engine(url)
