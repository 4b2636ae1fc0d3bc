"""The JSON statistics store: per institution and time, atomic, and only for valid summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvflare_fdd.stats.compute import site_statistics
from nvflare_fdd.stats.contract import StatsError, StatsPayloadError
from nvflare_fdd.stats.store import JsonStatsStore, default_stats_dir


@pytest.fixture
def summary(edge_kda) -> dict:
    return site_statistics(edge_kda, "site_a")


def test_latest_gives_the_newest_summary_of_each_institution(tmp_path, summary):
    store = JsonStatsStore(tmp_path)
    older = dict(summary, taken_at="2026-01-01T10:00:00.000+00:00")
    newer = dict(summary, taken_at="2026-01-01T11:30:00.000+02:00")  # 09:30 UTC: older still
    newest = dict(summary, taken_at="2026-01-02T00:00:00.000+00:00", min_cell_size=7)
    other = dict(summary, institution="site_b")
    for item in (newest, older, other, newer):
        store.save(item)

    assert store.latest() == {"site_a": newest, "site_b": other}
    assert store.latest("site_a") == {"site_a": newest}
    assert store.latest("site_c") == {}
    assert [item["taken_at"] for item in store.history("site_a")] == [
        newer["taken_at"], older["taken_at"], newest["taken_at"],
    ]  # fmt: skip
    assert store.institutions() == ["site_a", "site_b"]


def test_a_summary_is_one_json_file_written_atomically(tmp_path, summary):
    path = JsonStatsStore(tmp_path).save(summary)

    assert path.parent == tmp_path / "site_a"
    assert json.loads(path.read_text(encoding="utf-8")) == summary
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_saving_the_same_snapshot_again_replaces_it(tmp_path, summary):
    store = JsonStatsStore(tmp_path)
    store.save(summary)
    store.save(dict(summary, min_cell_size=9))
    assert [item["min_cell_size"] for item in store.history("site_a")] == [9]


def test_an_invalid_summary_is_not_stored(tmp_path, summary):
    bad = json.loads(json.dumps(summary))
    bad["tests"][0]["count"] = 2102
    with pytest.raises(StatsPayloadError):
        JsonStatsStore(tmp_path).save(bad)
    assert not any(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("name", ["../elsewhere", "a/b", ".hidden", ""])
def test_an_institution_must_be_a_plain_folder_name(tmp_path, summary, name):
    store = JsonStatsStore(tmp_path)
    with pytest.raises((StatsError, StatsPayloadError)):
        store.save(dict(summary, institution=name))
    with pytest.raises(StatsError):
        store.latest(name or "/")


def test_an_empty_or_missing_folder_holds_nothing(tmp_path):
    assert JsonStatsStore(tmp_path / "absent").latest() == {}


def test_an_unreadable_file_is_an_error_that_names_it(tmp_path, summary):
    path = JsonStatsStore(tmp_path).save(summary)
    path.write_text("{")
    with pytest.raises(StatsError, match=path.name):
        JsonStatsStore(tmp_path).latest()


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("FDD_STATS_DIR", str(tmp_path / "mine"))
    assert default_stats_dir() == tmp_path / "mine"
    assert JsonStatsStore().folder == tmp_path / "mine"
    monkeypatch.delenv("FDD_STATS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_stats_dir() == tmp_path / "data" / "nvflare-fdd" / "stats"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_stats_dir() == Path.home() / ".local" / "share" / "nvflare-fdd" / "stats"
