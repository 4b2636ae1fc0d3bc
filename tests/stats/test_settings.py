"""A site's minimum cell size: fdd_site.json, the environment override, the default."""

from __future__ import annotations

import json

import pytest

from nvflare_fdd.errors import FddError
from nvflare_fdd.stats.contract import DEFAULT_MIN_CELL_SIZE, StatsError
from nvflare_fdd.stats.settings import min_cell_size_for


def write_site_file(folder, settings) -> None:
    (folder / "fdd_site.json").write_text(json.dumps(settings))


def test_default_without_settings(tmp_path):
    assert min_cell_size_for(tmp_path) == DEFAULT_MIN_CELL_SIZE == 5
    assert min_cell_size_for(None) == 5


def test_the_site_file_sets_it(tmp_path):
    write_site_file(tmp_path, {"kda_url": "sqlite:///x.db", "stats_min_cell_size": 10})
    assert min_cell_size_for(tmp_path) == 10


def test_the_environment_overrides_the_site_file(tmp_path, monkeypatch):
    write_site_file(tmp_path, {"stats_min_cell_size": 10})
    monkeypatch.setenv("FDD_STATS_MIN_CELL_SIZE", "20")
    assert min_cell_size_for(tmp_path) == 20
    monkeypatch.setenv("FDD_STATS_MIN_CELL_SIZE", " ")
    assert min_cell_size_for(tmp_path) == 10


@pytest.mark.parametrize("value", [-1, 2.5, "five", True, [5]])
def test_a_bad_site_value_names_the_file_and_the_value(tmp_path, value):
    write_site_file(tmp_path, {"stats_min_cell_size": value})
    with pytest.raises(StatsError, match=r"fdd_site.json 'stats_min_cell_size' must be a whole number"):
        min_cell_size_for(tmp_path)


@pytest.mark.parametrize("value", ["-1", "five", "2.5", "٣"])
def test_a_bad_environment_value_names_the_variable(tmp_path, monkeypatch, value):
    monkeypatch.setenv("FDD_STATS_MIN_CELL_SIZE", value)
    with pytest.raises(StatsError, match=r"\$FDD_STATS_MIN_CELL_SIZE must be a whole number"):
        min_cell_size_for(tmp_path)


def test_a_site_file_that_is_not_json_is_an_error(tmp_path):
    (tmp_path / "fdd_site.json").write_text("{not json")
    with pytest.raises(FddError, match="not valid JSON"):
        min_cell_size_for(tmp_path)
