"""End to end: a platform job in the NVFlare simulator, logged by the plugin in both processes, read back from MLflow.

The platform service (this process) has the plugin registered directly; the simulator's
NVFlare server finds it through its entry point, as a deployment's server does, reading the
same ``platform.yaml`` through ``$FDD_PLATFORM_CONFIG``. The bundle and the two sites' data are
written here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fdd_mlflow import JOB_TAG, MlflowPlugin, metric_key
from nvflare_fdd.platform.config import load_config
from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.runners.simulator import SimulatorRunner
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import FddPluginManager
from nvflare_fdd.testing import (
    MSE_EVALUATE,
    TINY_DATA,
    ZERO_INIT_MODEL,
    plugin_installed,
    run_job,
    sgd_train,
    write_bundle,
    write_site_kdas,
)

pytestmark = pytest.mark.slow

SITE_SIZES = {"site_a": 30, "site_b": 90}

# Zero-initialised, so every run starts from the same global model; no config.yaml.
BUNDLE = {"model.py": ZERO_INIT_MODEL, "data.py": TINY_DATA, "train_eval.py": sgd_train() + MSE_EVALUATE, "requirements.txt": ""}


@pytest.fixture
def simulated(tmp_path, monkeypatch, storage_url):
    """``simulated(platform_yaml)``: a ``Platform`` on the simulator runner with the two e2e sites and the tiny zero-init
    model registered, the plugin registered in it and, through the environment, in the NVFlare server it starts."""
    if not plugin_installed("nvflare-fdd-mlflow", entry_point="mlflow"):
        pytest.fail("the simulator's NVFlare server finds the plugin by its entry point: pip install -e plugins/fdd-mlflow")
    sites = write_site_kdas(tmp_path, SITE_SIZES)
    bundle = write_bundle(tmp_path / "bundle", BUNDLE)
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


def test_a_simulated_job_is_read_back_from_mlflow_as_platform_storage_recorded_it(
    simulated, platform_yaml, mlflow_server, mlflow_client, experiment, tmp_path, caplog
):
    platform = simulated(platform_yaml(mlflow_server))
    with caplog.at_level(logging.INFO, logger="fdd_mlflow"):
        job = run_job(platform, None, "mlflow_e2e", rounds=2)  # TinyRegressor:1.0 is registered

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
        job = run_job(platform, None, "mlflow_down", rounds=2)

    assert job.state == JobState.COMPLETED, job.failure
    assert len(platform.storage.metrics("mlflow_down")) == 16  # 2 rounds × 2 sites × 2 kinds × 2 metrics (mse, count)
    assert f"MLflow at {unreachable_uri}: could not record that job mlflow_down is completed" in caplog.text
    server_log = (platform.config.jobs_dir / "mlflow_down" / "simulator.log").read_text(errors="replace")
    assert f"MLflow at {unreachable_uri}: could not log round 1" in server_log  # the server's plugin tried, and went on
