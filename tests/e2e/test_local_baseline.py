"""The local-only baseline per site: what each site would reach alone, next to the federation (issue 19)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from nvflare_fdd.client import ClientRound, runtime
from nvflare_fdd.kda import load_raw_datas
from nvflare_fdd.simulate import run_simulation

pytestmark = pytest.mark.slow

ROUNDS = 3


def alone(bundle: Path, url: str, rounds: int) -> dict[int, dict[str, float]]:
    """The site training on its own data only: a one-site federation, each round from its own last model."""
    params = {"linear.weight": torch.zeros((1, 3)), "linear.bias": torch.zeros(1)}
    metrics = {}
    with ClientRound(bundle, lambda: load_raw_datas(url), site="alone", device="cpu") as client:
        client.setup()
        for round_num in range(1, rounds + 1):
            result = client.run(round_num, params)
            metrics[round_num] = result.local_metrics
            params = result.params
    return metrics


def test_every_site_reports_its_baseline_which_equals_training_alone(zero_init_bundle, two_sites, tmp_path):
    outcome = run_simulation(zero_init_bundle, two_sites, ROUNDS, tmp_path / "out", "TinyRegressor", timeout=300,
                             local_baseline=True)  # fmt: skip

    with open(outcome.out_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    baseline = {(int(r["round"]), r["site"], r["metric"]): float(r["value"]) for r in rows if r["kind"] == "baseline"}
    assert set(baseline) == {(r, s, m) for r in range(1, ROUNDS + 1) for s in two_sites for m in ("mse", "count")}
    assert runtime.current().local_baseline is False
    for site, url in two_sites.items():
        for round_num, expected in alone(zero_init_bundle, url, ROUNDS).items():
            assert baseline[(round_num, site, "mse")] == pytest.approx(expected["mse"], rel=1e-5)
    # the federated model is not the baseline: after round 1 the sites start from the average
    local = {(int(r["round"]), r["site"]): float(r["value"]) for r in rows if r["kind"] == "local" and r["metric"] == "mse"}
    assert local[(ROUNDS, "site_a")] != pytest.approx(baseline[(ROUNDS, "site_a", "mse")], rel=1e-3)
    progress = json.loads((outcome.out_dir / "progress.json").read_text())
    assert [p["code"] for p in progress["rounds"]["1"]["sites"]["site_a"]["phases"]] == [4000, 4001, 5000, 6000, 7000,
                                                                                          7500, 8000]  # fmt: skip
    last = progress["rounds"][str(ROUNDS)]["sites"]
    assert all(record.get("personalized_model_kept") for record in last.values())
    kept = list((outcome.out_dir / "nvflare" / "workspace").glob("site_*/**/fdd_personalized_model.safetensors"))
    assert len(kept) == 2  # at each site, and not among the results that left it
    assert not (outcome.out_dir / "fdd_personalized_model.safetensors").exists()
