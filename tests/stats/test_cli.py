"""``fdd data local`` and ``fdd data stats`` (``fdd data refresh`` runs in test_stats_job.py)."""

from __future__ import annotations

import json

from nvflare_fdd.cli.data import data
from nvflare_fdd.stats.compute import site_statistics
from nvflare_fdd.stats.contract import screen_summary
from nvflare_fdd.stats.store import JsonStatsStore


def test_local_prints_the_tree_a_site_would_share(runner, edge_kda):
    result = runner.invoke(data, ["local", "--kda", edge_kda, "--institution", "site_a"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("site_a — taken")
    assert any(line.startswith("hERG ") for line in lines) and any(line.startswith("      Dog ") for line in lines)


def test_local_json_is_exactly_the_summary_the_site_sends(runner, edge_kda, integers_in, monkeypatch):
    monkeypatch.setenv("FDD_STATS_MIN_CELL_SIZE", "2")
    result = runner.invoke(data, ["local", "--kda", edge_kda, "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert screen_summary(summary) is summary and summary["min_cell_size"] == 2
    expected = site_statistics(edge_kda, "local", min_cell_size=2)
    assert dict(summary, taken_at=None) == dict(expected, taken_at=None)
    assert integers_in(summary) == [".min_cell_size"]


def test_local_min_cell_size_option_and_filters(runner, edge_kda):
    options = ["--json", "--min-cell-size", "0", "--test", "hERG", "--level", "2"]
    result = runner.invoke(data, ["local", "--kda", edge_kda, *options])

    summary = json.loads(result.output)
    (test,) = summary["tests"]
    assert summary["min_cell_size"] == 0 and test["key"] == "herg"
    assert [child["children"] for child in test["children"]] == [[], []]


def test_local_reports_a_missing_kda_without_a_traceback(runner, tmp_path):
    result = runner.invoke(data, ["local", "--kda", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "KDA not found at" in result.output and "Traceback" not in result.output


def test_stats_shows_the_newest_summary_of_each_institution(runner, edge_kda, store_dir):
    store = JsonStatsStore(store_dir)
    store.save(site_statistics(edge_kda, "site_a"))
    store.save(site_statistics(edge_kda, "site_b"))

    result = runner.invoke(data, ["stats"])

    assert result.exit_code == 0, result.output
    headings = [line for line in result.output.splitlines() if " — taken " in line]
    assert [heading.split()[0] for heading in headings] == ["site_a", "site_b"]
    assert "      Dog" not in result.output  # level 1 by default


def test_stats_of_one_institution_and_test_as_json(runner, edge_kda, store_dir):
    JsonStatsStore(store_dir).save(site_statistics(edge_kda, "site_a"))
    JsonStatsStore(store_dir).save(site_statistics(edge_kda, "site_b"))

    result = runner.invoke(data, ["stats", "--institution", "site_b", "--test", "herg", "--level", "4", "--json"])

    chosen = json.loads(result.output)
    assert list(chosen) == ["site_b"]
    assert [test["key"] for test in chosen["site_b"]["tests"]] == ["herg"]


def test_stats_shows_a_test_an_institution_lacks_as_zero(runner, edge_kda, store_dir):
    JsonStatsStore(store_dir).save(site_statistics(edge_kda, "site_a"))
    result = runner.invoke(data, ["stats", "--test", "Solubility"])
    assert result.output.splitlines()[-1].split() == ["solubility", "0", "0"]


def test_stats_without_any_says_how_to_collect_them(runner, store_dir):
    result = runner.invoke(data, ["stats", "--store", str(store_dir)])
    assert result.exit_code == 1
    assert "fdd data refresh --site NAME=KDA_URL" in result.output


def test_refresh_needs_a_site(runner):
    result = runner.invoke(data, ["refresh"])
    assert result.exit_code == 2 and "--site" in result.output
