"""The record of a run comes from the controller: a job configured without the metric filter still records every
round's metrics and progress, screened."""

from __future__ import annotations

import csv

import pytest
from pyhocon import ConfigFactory, HOCONConverter

from nvflare_fdd.jobs import create_job
from nvflare_fdd.simulate import find_results, simulate

pytestmark = pytest.mark.slow


def test_a_job_without_the_metric_filter_keeps_its_record(make_bundle, two_sites, tmp_path):
    bundle = make_bundle()
    job = create_job(tmp_path / "job" / "no_filter", bundle, "TinyRegressor", 2, sites=list(two_sites), name="no_filter")
    config = job / "app" / "config" / "config_fed_server.conf"
    server = ConfigFactory.parse_file(str(config))
    assert "MetricStreamFilter" in str(server["task_result_filters"])
    server.put("task_result_filters", [])
    config.write_text(HOCONConverter.to_hocon(server))

    workspace = tmp_path / "workspace"
    return_code, fatal = simulate(job, two_sites, workspace, tmp_path / "simulator.log", timeout=300)

    assert (return_code, fatal) == (0, None), (tmp_path / "simulator.log").read_text()[-3000:]
    results = find_results(workspace)
    with open(results / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["round"], r["site"], r["kind"], r["metric"]) for r in rows} == {
        (str(round_num), site, kind, metric)
        for round_num in (1, 2) for site in two_sites for kind in ("global", "local") for metric in ("mse", "count")
    }  # fmt: skip
    progress = (results / "progress.json").read_text()
    assert '"state": "completed"' in progress and '"num_samples": 90' in progress
