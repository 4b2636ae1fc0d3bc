"""K-MELLODDY's bundles with FedProx and SCAFFOLD, unchanged, in the real NVFlare simulator (DESIGN §9)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import load_file

from nvflare_fdd.cli.main import main
from nvflare_fdd.kda import load_raw_datas
from nvflare_fdd.simulate import run_simulation
from nvflare_fdd.testing import run_job, run_to_the_end
from nvflare_fdd.usercode import import_user_module, user_modules

KMELLODDY_BUNDLES = Path(__file__).parent / "bundles"

pytestmark = pytest.mark.slow

# One full batch a round: one SGD step, so one round of SCAFFOLD can be computed by hand.
FULL_BATCH_DATA = (KMELLODDY_BUNDLES / "mlp" / "data.py").read_text().replace(
    "train_data = DataLoader(dataset, batch_size=8, shuffle=False)", "train_data = DataLoader(dataset, batch_size=len(dataset), shuffle=False)")
assert "batch_size=len(dataset), shuffle=False)\n\ttest_data" in FULL_BATCH_DATA


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


# Reports the global controls the site trained with; the data of the first run lacks a marker test, so its
# second round stops there (as if the job were stopped); the test adds the marker before resuming.
REPORTS_CONTROLS = '''
_evaluate = evaluate
_train = train
CALLS = [0]


def train(model, data, configs):
	CALLS[0] += 1
	if CALLS[0] == 2 and not data["resumed"]:
		raise RuntimeError("interrupted")
	return _train(model, data, configs)


def evaluate(model, data, configs):
	metrics = _evaluate(model, data, configs)
	scaffold = FLScaffold._instance
	if scaffold is not None:
		controls = scaffold.scaffold_helper.c_global.state_dict().values()
		metrics["c_global_norm"] = float(sum(value.abs().sum() for value in controls))
	return metrics
'''

MARKED_DATA = FULL_BATCH_DATA.replace('''	return {"train": train_data, "test": test_data}''',
                                      '''	return {"train": train_data, "test": test_data, "resumed": "resume_marker" in raw_datas}''')
assert "resumed" in MARKED_DATA


def test_a_resumed_scaffold_job_continues_with_its_controls(kmelloddy_bundle, two_sites, tmp_path, kda_frame_factory):
    from nvflare_fdd.kda import import_file
    from nvflare_fdd.platform.config import PlatformConfig
    from nvflare_fdd.platform.runners.simulator import SimulatorRunner
    from nvflare_fdd.platform.service import Platform
    from nvflare_fdd.platform.storage import CONTROLS_CHECKPOINT, SqlStorage
    from nvflare_fdd.plugin.manager import FddPluginManager

    bundle = kmelloddy_bundle("mlp_scaffold", {"data.py": MARKED_DATA})
    (bundle / "train_eval.py").write_text((bundle / "train_eval.py").read_text() + REPORTS_CONTROLS)
    reference_sites = {}
    for name, url in two_sites.items():  # the same data with the marker: no interruption
        reference_sites[name] = f"sqlite:///{tmp_path / name}_reference.db"
        (tmp_path / f"{name}_reference.db").write_bytes(Path(url.removeprefix("sqlite:///")).read_bytes())
    marker = kda_frame_factory([0.0])
    marker["test"] = "Resume marker"
    marker.to_csv(tmp_path / "marker.csv", index=False)
    for url in reference_sites.values():
        import_file(url, tmp_path / "marker.csv")
    reference = run_simulation(bundle, reference_sites, 2, tmp_path / "reference", "SolubilityMLP", timeout=300,
                               algorithm="scaffold")  # fmt: skip
    expected = {row["site"]: float(row["value"]) for row in metrics_rows(reference.out_dir)
                if row["round"] == "2" and row["kind"] == "local" and row["metric"] == "c_global_norm"}  # fmt: skip
    assert len(expected) == 2 and all(value > 0 for value in expected.values())

    url = f"sqlite:///{tmp_path / 'platform.db'}"
    storage = SqlStorage(url)
    platform = Platform(PlatformConfig(home=tmp_path / "home", storage_url=url), storage=storage,
                        runner=SimulatorRunner(two_sites, url), plugins=FddPluginManager(autoload=False))  # fmt: skip
    failed = run_job(platform, bundle, "scaffold_job", model_class="SolubilityMLP", sites=two_sites, algorithm="scaffold")
    assert failed.state.value == "failed" and failed.failure["round"] == 2, failed.failure
    assert CONTROLS_CHECKPOINT in storage.artefacts("scaffold_job")  # saved with round 1's model

    for url in two_sites.values():
        import_file(url, tmp_path / "marker.csv")
    platform.resume_job(platform.user("alice"), "scaffold_job")
    resumed = run_to_the_end(platform, "scaffold_job")
    assert resumed.state.value == "completed", resumed.failure
    got = {m.site: m.value for m in storage.metrics("scaffold_job") if (m.round, m.kind, m.metric) == (2, "local", "c_global_norm")}
    assert got == pytest.approx(expected, rel=1e-5)  # round 2 ran with the controls round 1 left, not with zeros
    storage.close()

