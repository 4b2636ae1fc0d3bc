"""Smoke test of the benchmark suite: the quick configuration of the cheap benchmarks runs and
writes the JSON the README describes. Figures are not checked against targets: timings on a
shared CI machine say nothing, and the suite reports them rather than asserting them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FIGURE_KEYS = {"benchmark", "figure", "value", "unit", "baseline", "baseline_value", "ratio", "target", "met", "note"}


def test_quick_suite_writes_a_table_and_json_with_finite_figures(tmp_path):
    results = tmp_path / "results.json"
    env = dict(os.environ, FDD_BENCH_CACHE=str(tmp_path / "cache"))

    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "aggregation,site_data", "--json", str(results)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "ratio" in completed.stdout and "met?" in completed.stdout
    report = json.loads(results.read_text())
    assert report["quick"] is True
    assert set(report["benchmarks"]) == {"aggregation", "site_data"}
    for name, result in report["benchmarks"].items():
        assert "error" not in result, result.get("traceback")
        assert result["figures"], name
        for figure in result["figures"]:
            assert set(figure) == FIGURE_KEYS
            assert figure["benchmark"] == name
            assert math.isfinite(figure["value"]) and math.isfinite(figure["baseline_value"])
            assert math.isfinite(figure["ratio"])
            assert figure["met"] in (True, False, None)
    aggregation = report["benchmarks"]["aggregation"]["details"]
    assert aggregation["bit_stable"] is True
    site_data = report["benchmarks"]["site_data"]["details"]
    assert site_data["rows_match"] is True
    assert report["figures"] == [f for r in report["benchmarks"].values() for f in r["figures"]]
