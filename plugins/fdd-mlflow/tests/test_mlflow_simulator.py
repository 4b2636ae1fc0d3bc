"""End to end: a platform job in the NVFlare simulator, logged by the plugin in both processes, read back from MLflow.

The platform service (this process) has the plugin registered directly; the simulator's
NVFlare server finds it through its entry point, as a deployment's server does, reading the
same ``platform.yaml`` through ``$FDD_PLATFORM_CONFIG``. The bundle and the two sites' data are
written here.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import time
from pathlib import Path

import pytest

from fdd_mlflow import JOB_TAG, MlflowPlugin, metric_key
from nvflare_fdd.platform.config import load_config
from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.runners.simulator import SimulatorRunner
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import FddPluginManager

pytestmark = pytest.mark.slow

SITE_SIZES = {"site_a": 30, "site_b": 90}

MODEL = """
import torch.nn as nn


class TinyRegressor(nn.Module):
    def __init__(self, configs=None):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        return self.linear(x).squeeze(-1)


def model_loader(configs):
    return TinyRegressor(configs)
"""

DATA = """
import torch
from torch.utils.data import DataLoader, TensorDataset


def data_loader(raw_datas, configs):
    frame = raw_datas["solubility"]
    smiles = frame["smiles_structure_parent"].astype(str)
    x = torch.tensor([[len(s) / 10.0, s.count("C") / 10.0, s.count("O") / 10.0] for s in smiles], dtype=torch.float32)
    y = torch.tensor(frame["measurement_value"].to_numpy(), dtype=torch.float32)
    loader = DataLoader(TensorDataset(x, y), batch_size=len(y))
    return {"train": loader, "test": loader}
"""

TRAIN_EVAL = """
import torch


def train(model, data, configs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for x, y in data["train"]:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


def evaluate(model, data, configs):
    x, y = next(iter(data["test"]))
    with torch.no_grad():
        return {"mse": torch.nn.functional.mse_loss(model(x), y).item(), "count": len(y)}
"""


def write_bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in {"model.py": MODEL, "data.py": DATA, "train_eval.py": TRAIN_EVAL, "requirements.txt": ""}.items():
        (folder / name).write_text(text)
    return folder


def write_sites(folder: Path) -> dict[str, str]:
    """One SQLite KDA per site, each with its own number of solubility rows: site name → URL."""
    import pandas as pd

    from nvflare_fdd.kda import import_file

    sites = {}
    for offset, (name, size) in enumerate(SITE_SIZES.items()):
        frame = pd.DataFrame({
            "chemical_id": [f"C-{i:04d}" for i in range(size)],
            "smiles_structure_parent": [("C" * (1 + i % 7)) + ("O" * (i % 3)) for i in range(size)],
            "test": "Solubility", "measurement_type": "logS", "measurement_relation": "=",
            "measurement_value": [-(i % 9) * 0.5 - offset for i in range(size)], "data_type": "ADMET",
        })  # fmt: skip
        frame.to_csv(folder / f"{name}.csv", index=False)
        sites[name] = f"sqlite:///{folder / name}.db"
        import_file(sites[name], folder / f"{name}.csv", institution=name)
    return sites


def installed() -> bool:
    return importlib.util.find_spec("fdd_mlflow") is not None and any(
        ep.name == "mlflow" for ep in importlib.metadata.entry_points(group="nvflare_fdd")
    )


@pytest.fixture
def simulated(tmp_path, monkeypatch, storage_url):
    """``simulated(platform_yaml)``: a ``Platform`` on the simulator runner with the two e2e sites and the tiny zero-init
    model registered, the plugin registered in it and, through the environment, in the NVFlare server it starts."""
    if not installed():
        pytest.fail("the simulator's NVFlare server finds the plugin by its entry point: pip install -e plugins/fdd-mlflow")
    sites = write_sites(tmp_path)
    bundle = write_bundle(tmp_path / "bundle")
    monkeypatch.setenv("FDD_ENV_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.setenv("FDD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FDD_DISABLE_PLUGIN_AUTOLOAD", raising=False)  # the server loads entry-point plugins
    monkeypatch.delenv("FDD_EVENT_LOG", raising=False)
    storages = []

    def make(config: Path) -> Platform:
        monkeypatch.setenv("FDD_PLATFORM_CONFIG", str(config))  # the simulator passes the environment on to the server
        storage = SqlStorage(storage_url)
        storages.append(storage)
        manager = FddPluginManager(autoload=False, plugins=(MlflowPlugin(config=config, storage=storage),))
        platform = Platform(load_config(config), storage=storage, runner=SimulatorRunner(sites, storage_url), plugins=manager)
        platform.register_model(platform.user("alice"), bundle, "TinyRegressor", "1.0")
        return platform

    yield make
    for storage in storages:
        storage.close()


@pytest.fixture
def storage_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'platform.db'}"  # the one platform_yaml writes


def run_job(platform: Platform, name: str, rounds: int, timeout: float = 300):
    alice = platform.user("alice")
    platform.create_job(alice, name, "TinyRegressor:1.0", rounds, ["site_a", "site_b"])
    platform.start_job(alice, name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        platform.tick()
        job = platform.storage.get_job(name)
        if job.state.is_final:
            return job
        time.sleep(0.5)
    raise AssertionError(f"{name} did not finish in {timeout} s: {platform.storage.get_job(name)}")


def test_a_simulated_job_is_read_back_from_mlflow_as_platform_storage_recorded_it(
    simulated, platform_yaml, mlflow_server, mlflow_client, experiment, tmp_path, caplog
):
    platform = simulated(platform_yaml(mlflow_server))
    with caplog.at_level(logging.INFO, logger="fdd_mlflow"):
        job = run_job(platform, "mlflow_e2e", rounds=2)

    assert job.state == JobState.COMPLETED, job.failure
    found = mlflow_client.get_experiment_by_name(experiment)
    [run] = mlflow_client.search_runs([found.experiment_id], f"tags.`{JOB_TAG}` = 'mlflow_e2e'")
    assert run.info.status == "FINISHED"
    assert run.data.params == {"model": "TinyRegressor", "version": "1.0", "algorithm": "fedavg", "rounds": "2",
                               "sites": "site_a,site_b"}  # fmt: skip
    stored = platform.storage.metrics("mlflow_e2e")
    assert {(m.round, m.site, m.kind) for m in stored} == {(r, s, k) for r in (1, 2) for s in ("site_a", "site_b")
                                                          for k in ("global", "local")}  # fmt: skip
    expected: dict[str, list[tuple[int, float]]] = {}
    for m in stored:
        expected.setdefault(metric_key(m.site, m.kind, m.metric), []).append((m.round, m.value))
    assert set(run.data.metrics) == set(expected)
    for key, points in expected.items():
        logged = sorted((point.step, point.value) for point in mlflow_client.get_metric_history(run.info.run_id, key))
        assert logged == sorted(points), key
    # the NVFlare server's process logged every value as it arrived: none was left for the service to fill in
    assert "filled in" not in caplog.text, caplog.text
    downloaded = mlflow_client.download_artifacts(run.info.run_id, "global_model.safetensors", str(tmp_path / "back"))
    model = platform.write_model(platform.user("alice"), "mlflow_e2e", tmp_path / "stored.safetensors")
    assert Path(downloaded).read_bytes() == model.read_bytes()


def test_an_unreachable_tracking_server_leaves_the_job_completed(simulated, platform_yaml, unreachable_uri, caplog):
    platform = simulated(platform_yaml(unreachable_uri))
    with caplog.at_level(logging.WARNING, logger="fdd_mlflow"):
        job = run_job(platform, "mlflow_down", rounds=2)

    assert job.state == JobState.COMPLETED, job.failure
    assert len(platform.storage.metrics("mlflow_down")) == 16  # 2 rounds × 2 sites × 2 kinds × 2 metrics (mse, count)
    assert f"MLflow at {unreachable_uri}: could not record that job mlflow_down is completed" in caplog.text
    server_log = (platform.config.jobs_dir / "mlflow_down" / "simulator.log").read_text(errors="replace")
    assert f"MLflow at {unreachable_uri}: could not log round 1" in server_log  # the server's plugin tried, and went on
