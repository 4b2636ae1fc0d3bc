"""The sites' statistics summaries in the platform's storage: history kept, newest per institution, contract enforced."""

from __future__ import annotations

import copy

import pytest
from click.testing import CliRunner

from nvflare_fdd.cli.data import data
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.stats import PlatformStatsStore, StatsPayloadError, site_statistics, stats_store


@pytest.fixture
def summary(tmp_path, site_kdas_writer):
    (tmp_path / "kdas").mkdir()
    url = site_kdas_writer(tmp_path / "kdas", {"site_a": 40})["site_a"]
    return site_statistics(url, "site_a", min_cell_size=0)


def taken(summary: dict, institution: str, when: str) -> dict:
    copied = copy.deepcopy(summary)
    copied.update(institution=institution, taken_at=when)
    return copied


def test_summaries_keep_their_history_and_the_newest_is_latest(storage_url, summary):
    store = PlatformStatsStore(SqlStorage(storage_url))
    first, second = taken(summary, "site_a", "2026-11-30T09:00:00+00:00"), taken(summary, "site_a", "2026-12-01T09:00:00+09:00")
    store.save(second)
    store.save(first)  # saved later, taken earlier: not the latest
    store.save(taken(summary, "site_b", "2026-11-01T00:00:00+00:00"))

    latest = store.latest()
    assert list(latest) == ["site_a", "site_b"]
    assert latest["site_a"]["taken_at"] == second["taken_at"]  # 00:00 UTC on 1 December, after 09:00 UTC on 30 November
    assert [s["taken_at"] for s in store.history("site_a")] == [first["taken_at"], second["taken_at"]]
    assert list(store.latest("site_b")) == ["site_b"] and store.latest("site_c") == {}

    again = taken(summary, "site_a", second["taken_at"])
    again["min_cell_size"] = 7
    store.save(again)  # the same institution and time: replaces
    assert len(store.history("site_a")) == 2 and store.latest("site_a")["site_a"]["min_cell_size"] == 7


def test_a_summary_off_the_contract_is_refused_and_nothing_is_stored(storage_url, summary):
    store = PlatformStatsStore(SqlStorage(storage_url))
    leaking = taken(summary, "site_a", "2026-12-01T00:00:00+00:00")
    leaking["rows"] = ["CCO,1.2", "c1ccccc1,3.4"]  # a key the contract does not know
    with pytest.raises(StatsPayloadError, match="rows"):
        store.save(leaking)
    assert store.latest() == {}


def test_fdd_data_reads_the_platforms_storage_unless_a_folder_is_named(tmp_path, monkeypatch, summary):
    monkeypatch.delenv("FDD_STATS_DIR", raising=False)
    monkeypatch.delenv("FDD_PLATFORM_CONFIG", raising=False)
    monkeypatch.setenv("FDD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FDD_STORAGE_URL", f"sqlite:///{tmp_path / 'platform.db'}")
    store = stats_store()
    assert isinstance(store, PlatformStatsStore)
    store.save(summary)

    shown = CliRunner().invoke(data, ["stats"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("site_a — taken ")

    folder = CliRunner().invoke(data, ["stats", "--store", str(tmp_path / "json")])  # a JSON folder, empty
    assert folder.exit_code == 1 and str(tmp_path / "json") in folder.output
