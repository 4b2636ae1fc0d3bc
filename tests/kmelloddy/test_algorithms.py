"""K-MELLODDY's bundles with FedProx and SCAFFOLD, unchanged, in the real NVFlare simulator (DESIGN §9)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import load_file

from nvflare_fdd.cli.main import main
from nvflare_fdd.kda import load_raw_datas
from nvflare_fdd.simulate import run_simulation
from nvflare_fdd.usercode import import_user_module, user_modules

pytestmark = pytest.mark.slow

# One full batch a round: one SGD step, so one round of SCAFFOLD can be computed by hand.
FULL_BATCH_DATA = '''import torch
from torch.utils.data import DataLoader, TensorDataset


def features(frame):
	smiles = frame["smiles_structure_parent"].astype(str)
	columns = [smiles.str.len() / 10.0, smiles.str.count("C") / 10.0, smiles.str.count("O") / 10.0]
	return torch.tensor([list(row) for row in zip(*columns)], dtype=torch.float32)


def data_loader(raw_datas, configs):
	frame = raw_datas["solubility"]
	dataset = TensorDataset(features(frame), torch.tensor(frame["measurement_value"].to_numpy(), dtype=torch.float32))
	loader = DataLoader(dataset, batch_size=len(dataset), shuffle=False)
	return {"train": loader, "test": loader}
'''


def metrics_rows(out) -> list[dict]:
    with open(out / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_fedprox_bundle_trains_to_the_end_with_the_jobs_mu(kmelloddy_bundle, two_sites, tmp_path):
    out = tmp_path / "out"
    arguments = ["run", str(kmelloddy_bundle("mlp_prox")), "--rounds", "2", "--out", str(out), "--timeout", "300",
                 "--algorithm", "fedprox", "--fedprox-mu", "0.05"]  # fmt: skip
    for name, url in two_sites.items():
        arguments += ["--site", f"{name}={url}"]
    result = CliRunner().invoke(main, arguments)

    assert result.exit_code == 0, result.output
    assert "with fedprox (mu 0.05)" in result.output
    rows = metrics_rows(out)
    assert {row["round"] for row in rows} == {"1", "2"}
    assert {float(row["value"]) for row in rows if row["metric"] == "mu"} == {0.05}  # FLFedProx() took the job's mu
    losses = {(row["round"], row["site"]): float(row["value"]) for row in rows if row["metric"] == "loss" and row["kind"] == "global"}
    assert losses[("2", "site_b")] < losses[("1", "site_b")]


def hand_computed_round(bundle, sites: dict[str, str], initial: dict[str, np.ndarray], lr: float):
    """One SCAFFOLD round by hand: each site takes one full-batch SGD step from ``initial`` (the controls start at 0,
    so the step is plain SGD), its control difference is its gradient, and the server averages both by samples."""
    weighted_params, weighted_grads, total = {}, {}, 0
    with user_modules(bundle):
        model_module = import_user_module(bundle, "model")
        data_module = import_user_module(bundle, "data")
        for url in sites.values():
            data = data_module.data_loader(load_raw_datas(url), None)
            model = model_module.model_loader(None)
            model.load_state_dict({key: torch.from_numpy(value.copy()) for key, value in initial.items()})
            x, y = next(iter(data["train"]))
            torch.nn.functional.mse_loss(model(x), y).backward()
            count = len(y)
            with torch.no_grad():
                for key, parameter in model.named_parameters():
                    stepped = parameter - lr * parameter.grad
                    weighted_params[key] = weighted_params.get(key, 0) + count * stepped.double().numpy()
                    weighted_grads[key] = weighted_grads.get(key, 0) + count * parameter.grad.double().numpy()
            total += count
    return ({key: value / total for key, value in weighted_params.items()},
            {key: value / total for key, value in weighted_grads.items()})  # fmt: skip


def test_scaffold_matches_a_hand_computation_and_its_controls_move_round_to_round(kmelloddy_bundle, two_sites, tmp_path):
    bundle = kmelloddy_bundle("mlp_scaffold", {"data.py": FULL_BATCH_DATA})
    one = run_simulation(bundle, two_sites, 1, tmp_path / "one", "SolubilityMLP", timeout=300, algorithm="scaffold")
    two = run_simulation(bundle, two_sites, 2, tmp_path / "two", "SolubilityMLP", timeout=300, algorithm="scaffold")

    initial = load_file(str(one.out_dir / "best_global_model.safetensors"))  # round 1 scored the model it was sent
    expected_model, expected_controls = hand_computed_round(bundle, two_sites, initial, lr=0.05)
    model = load_file(str(one.out_dir / "global_model.safetensors"))
    controls_1 = load_file(str(one.out_dir / "scaffold_controls.safetensors"))
    for key, value in expected_model.items():
        np.testing.assert_allclose(model[key], value, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(controls_1[key], expected_controls[key], rtol=1e-4, atol=1e-6)
    assert any(np.abs(value).max() > 1e-4 for value in controls_1.values())
    controls_2 = load_file(str(two.out_dir / "scaffold_controls.safetensors"))
    assert set(controls_2) == set(controls_1)
    assert any(not np.allclose(controls_2[key], controls_1[key]) for key in controls_1)  # round 2 moved them again
    progress = json.loads((two.out_dir / "progress.json").read_text())
    assert progress["state"] == "completed"


def test_a_scaffold_bundle_that_never_updates_its_controls_is_told_how(make_bundle, two_sites, tmp_path):
    from nvflare_fdd.simulate import RunFailed

    with pytest.raises(RunFailed) as caught:
        run_simulation(make_bundle(name="plain"), two_sites, 1, tmp_path / "out", "TinyRegressor", timeout=300,
                       algorithm="scaffold")  # fmt: skip
    failure = caught.value.failure
    assert failure["code"] == 8000 and "scaffold_update(model, steps)" in failure["message"]
