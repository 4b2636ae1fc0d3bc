"""End to end in the real NVFlare simulator: metrics, models, exact FedAvg, and failures."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from nvflare_fdd.cli.main import main
from nvflare_fdd.client import ClientRound
from nvflare_fdd.kda import load_raw_datas
from nvflare_fdd.simulate import run_simulation

pytestmark = pytest.mark.slow

ROUND_CODES = [4000, 4001, 5000, 6000, 7000, 8000]


def local_fedavg(bundle: Path, sites: dict[str, str], rounds: int) -> list[dict[str, np.ndarray]]:
    """FedAvg computed here, site by site, with numpy float64 weighted means: the expected globals."""
    params = {"linear.weight": np.zeros((1, 3), np.float32), "linear.bias": np.zeros(1, np.float32)}
    globals_ = []
    clients = {}
    try:
        for name, url in sites.items():
            clients[name] = ClientRound(bundle, lambda url=url: load_raw_datas(url), site=name, device="cpu").__enter__()
            clients[name].setup()
        for round_num in range(1, rounds + 1):
            results = [clients[name].run(round_num, {k: torch.from_numpy(v.copy()) for k, v in params.items()}) for name in sites]
            total = sum(r.num_samples for r in results)
            params = {
                key: (sum(r.params[key].double().numpy() * r.num_samples for r in results) / total).astype(np.float32)
                for key in params
            }
            globals_.append(params)
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
    return globals_


@pytest.mark.parametrize("transfer", ["message", "stream"])
def test_two_sites_train_with_sample_weighted_fedavg(zero_init_bundle, two_sites, tmp_path, transfer):
    """In messages and streamed over NVFlare's download service alike (``model_transfer``)."""
    out = tmp_path / "out"
    outcome = run_simulation(zero_init_bundle, two_sites, rounds=2, out_dir=out, model_class="TinyRegressor", timeout=300,
                             server_vars={"model_transfer": transfer})  # fmt: skip
    logs = [path.read_text(errors="replace") for path in (out / "nvflare").rglob("*.txt")]  # the server's log.txt
    logs.append((out / "nvflare" / "simulator.log").read_text())
    assert any("are streamed (model_transfer)" in log for log in logs) == (transfer == "stream")
    assert not list((out / "nvflare").rglob("fdd_outgoing/*"))  # every streamed update was pulled and removed
    assert len(list((out / "nvflare").rglob("fdd_personalized_model.safetensors"))) == 2

    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    keys = {(row["round"], row["site"], row["kind"], row["metric"]) for row in rows}
    expected_keys = {
        (str(r), site, kind, metric)
        for r in (1, 2) for site in two_sites for kind in ("global", "local") for metric in ("mse", "count")
    }  # fmt: skip
    assert keys == expected_keys
    counts = {(row["site"]): float(row["value"]) for row in rows if row["metric"] == "count"}
    assert counts == {"site_a": 30.0, "site_b": 90.0}

    # the saved global model is the sample-weighted mean of what the sites sent, round after round
    round_1, expected = local_fedavg(zero_init_bundle, two_sites, rounds=2)
    saved = torch.load(out / "global_model.pt", weights_only=True)
    for key, value in expected.items():
        np.testing.assert_allclose(saved[key].numpy(), value, rtol=1e-5, atol=1e-7)
    assert set(load_file(out / "global_model.safetensors")) == set(expected)
    # round 2's Global eval scored round 1's model better than round 1's scored the zero model: it is the best
    best = torch.load(out / "best_global_model.pt", weights_only=True)
    for key, value in round_1.items():
        np.testing.assert_allclose(best[key].numpy(), value, rtol=1e-5, atol=1e-7)

    # ... and it loads into the registered class
    sys.path.insert(0, str(zero_init_bundle))
    try:
        import model as user_model

        user_model.TinyRegressor({"n_features": 3}).load_state_dict(saved)
    finally:
        sys.path.remove(str(zero_init_bundle))
        sys.modules.pop("model", None)

    progress = json.loads((out / "progress.json").read_text())
    assert progress["state"] == "completed"
    assert outcome.progress["state"] == "completed"
    for round_key in ("1", "2"):
        for site, size in (("site_a", 30), ("site_b", 90)):
            record = progress["rounds"][round_key]["sites"][site]
            assert [p["code"] for p in record["phases"]] == ROUND_CODES
            assert record["num_samples"] == size
    assert [p["code"] for p in progress["setup"]["site_a"]] == [900, 1000, 2000, 2001, 3000]


def test_a_failing_train_ends_the_job_with_6000_and_the_site(make_bundle, two_sites, tmp_path):
    bundle = make_bundle(
        {"train_eval.py": "def train(model, data, configs):\n    raise ValueError('learning rate is a string')\n\n"
                          "def evaluate(model, data, configs):\n    return {'loss': 1.0}\n"},
        name="failing",
    )  # fmt: skip
    out = tmp_path / "out"
    arguments = ["run", str(bundle), "--rounds", "3", "--out", str(out), "--timeout", "240"]
    for name, url in two_sites.items():
        arguments += ["--site", f"{name}={url}"]
    started = time.monotonic()
    result = CliRunner().invoke(main, arguments)
    elapsed = time.monotonic() - started

    assert result.exit_code == 1, result.output
    assert "6000 (train) failed" in result.output
    assert "learning rate is a string" in result.output
    failure = json.loads((out / "failure.json").read_text())
    assert failure["code"] == 6000
    assert failure["site"] in two_sites
    assert failure["round"] == 1
    assert "train_eval.py" in failure["trace"]
    assert json.loads((out / "progress.json").read_text())["state"] == "failed"
    assert elapsed < 200


LEAKY_EVALUATE = """
import torch


def train(model, data, configs):
    pass


def evaluate(model, data, configs):
    x, y = next(iter(data["test"]))
    return {
        "mse": torch.nn.functional.mse_loss(model(x), y),
        "smiles": "CCO",
        "targets": y,
        "nested": {"a": 1.0},
        "broken": float("nan"),
        "x" * 100: 1.0,
    }
"""


def test_the_template_works_with_nvflare_job_create_and_simulator(make_bundle, two_sites, tmp_path):
    """Also: metrics that are not finite scalars never reach the server's storage."""
    bundle = make_bundle({"train_eval.py": LEAKY_EVALUATE}, name="leaky")
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), FDD_KDA_URLS=json.dumps(two_sites))
    fdd = [sys.executable, "-m", "nvflare_fdd.cli.main"]
    nvflare = [sys.executable, "-m", "nvflare.cli"]
    subprocess.run([*fdd, "templates", "register"], env=env, check=True, capture_output=True)

    job = tmp_path / "job"
    created = subprocess.run(
        [*nvflare, "job", "create", "-w", "fdd", "-j", str(job), "-sd", str(bundle)],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    assert (job / "app" / "custom" / "model.py").is_file()

    workspace = tmp_path / "ws"
    simulated = subprocess.run(
        [*nvflare, "simulator", str(job), "-w", str(workspace), "-c", ",".join(two_sites), "-t", "2"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stdout[-3000:]
    [results] = list(workspace.glob("**/server/**/fdd"))
    progress = json.loads((results / "progress.json").read_text())
    assert progress["state"] == "completed"
    assert progress["num_rounds"] == 5  # the template's default
    with open(results / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["round"] for row in rows} == {"1", "2", "3", "4", "5"}
    assert {row["metric"] for row in rows} == {"mse"}
    assert len(rows) == 5 * 2 * 2  # rounds x sites x kinds
