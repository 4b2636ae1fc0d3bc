"""The README's main command: `fdd demo` on the real demo data, end to end."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from click.testing import CliRunner

from nvflare_fdd.cli.main import main
from nvflare_fdd.demo import INSTITUTIONS

pytestmark = pytest.mark.slow


def test_fdd_demo_trains_the_example_across_three_institutions(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path), "--rounds", "2", "--timeout", "400"])

    assert result.exit_code == 0, result.output
    assert "with fedprox (mu 0.01)" in result.output  # the demo's default: what paid at every institution
    run = tmp_path / "run"
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["site"] for row in rows} == set(INSTITUTIONS)
    assert {(row["round"], row["kind"]) for row in rows} == {("1", "global"), ("1", "local"), ("2", "global"), ("2", "local")}
    assert {row["metric"] for row in rows} == {"rmse", "mae", "r2"}
    assert all(math.isfinite(float(row["value"])) for row in rows)
    # after a round of FedProx the global model predicts logS far better than the untrained one
    rmse = {(row["round"], row["site"]): float(row["value"]) for row in rows if row["kind"] == "global" and row["metric"] == "rmse"}
    for site in INSTITUTIONS:
        assert rmse[("2", site)] < rmse[("1", site)]
    state = torch.load(run / "global_model.pt", weights_only=True)
    assert any(key.endswith("weight") for key in state)
    for site in INSTITUTIONS:
        assert f"{site} (round 2): rmse=" in result.output
