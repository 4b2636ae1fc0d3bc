"""The fdd_stats job in the real NVFlare simulator: what the server receives holds no exact count."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nvflare_fdd.cli.data import data
from nvflare_fdd.stats.compute import site_statistics
from nvflare_fdd.stats.contract import BUCKETS, RUN_FORMAT
from nvflare_fdd.stats.job import create_stats_job, run_stats_simulation
from nvflare_fdd.stats.store import JsonStatsStore

pytestmark = pytest.mark.slow


def buckets_everywhere(summary: dict) -> bool:
    def ok(node):
        return node["count"] in BUCKETS and node["censored"] in BUCKETS and all(ok(c) for c in node["children"])

    return all(ok(test) for test in summary["tests"])


def test_refresh_collects_every_site_through_the_simulator_into_the_store(
    runner, demo_dir, edge_kda, store_dir, tmp_path, integers_in, node_at
):
    from nvflare_fdd.demo import demo_sites

    sites = {site.name: site.url for site in demo_sites(demo_dir)} | {"edge": edge_kda}
    arguments = ["refresh", "--min-cell-size", "3", "--work", str(tmp_path / "work"), "--timeout", "240"]
    for name, url in sites.items():
        arguments += ["--site", f"{name}={url}"]

    result = runner.invoke(data, arguments)

    assert result.exit_code == 0, result.output
    # what the server received, as its collector wrote it down
    record = json.loads((tmp_path / "work" / "stats.json").read_text(encoding="utf-8"))
    assert record["format"] == RUN_FORMAT and record["failures"] == {}
    assert sorted(record["summaries"]) == sorted(sites) == record["sites"]
    assert sorted(integers_in(record)) == sorted(f".summaries.{name}.min_cell_size" for name in sites)
    for name, summary in record["summaries"].items():
        assert buckets_everywhere(summary) and summary["min_cell_size"] == 3
        local = site_statistics(sites[name], name, min_cell_size=3)
        assert dict(summary, taken_at=None) == dict(local, taken_at=None)  # nothing more, nothing less
    edge = record["summaries"]["edge"]
    assert node_at(edge, "herg", "in vivo", "Ki", "Dog")["count"] == ">1000"
    three_values = {"mean": 2.0, "min": 1.0, "max": 3.0, "median": 2.0}  # shown: the site's cell size is 3
    assert node_at(edge, "brain_penetration", "in vivo", "Kp")["stats"] == three_values
    # ... and the store keeps each institution's summary with the time it was taken
    kept = JsonStatsStore(store_dir).latest()
    assert {name: summary["taken_at"] for name, summary in kept.items()} == {
        name: summary["taken_at"] for name, summary in record["summaries"].items()
    }
    shown = runner.invoke(data, ["stats", "--institution", "edge", "--test", "herg", "--level", "4"])
    assert shown.exit_code == 0 and "      Dog" in shown.output


def test_a_failing_site_does_not_stop_the_others(edge_kda, tmp_path):
    sites = {"good": edge_kda, "broken": str(tmp_path / "missing.db")}
    run = run_stats_simulation(sites, tmp_path / "work", timeout=240)

    assert list(run.summaries) == ["good"]
    assert "KDA not found at" in run.failures["broken"]


def test_without_the_allow_list_entry_nvflare_refuses_the_job(tmp_path, edge_kda):
    import nvflare

    if tuple(int(part) for part in nvflare.__version__.split(".")[:2]) < (2, 9):
        pytest.skip("NVFlare before 2.9 has no class allow-list")
    job = create_stats_job(tmp_path / "job")
    command = [sys.executable, "-m", "nvflare.cli", "simulator", str(job), "-w", str(tmp_path / "ws"), "-c", "site_a"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert "is not in allow_list" in result.stdout + result.stderr
    assert not list((tmp_path / "ws").glob("**/fdd/stats.json"))
