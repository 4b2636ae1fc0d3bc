"""End to end: a platform job in the NVFlare simulator, logged by the plugin in both processes, read back from MLflow.

The platform service (this process) has the plugin registered directly; the simulator's
NVFlare server finds it through its entry point, as a deployment's server does, reading the
same ``platform.yaml`` through ``$FDD_PLATFORM_CONFIG``. The bundle and the site data are the
ones of the suite's ``tests/e2e`` runs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import time
from pathlib import Path
from types import ModuleType
from unittest.mock import patch

import pytest

from nvflare_fdd.platform.config import load_config
from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.runners.simulator import SimulatorRunner
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import FddPluginManager

from fdd_mlflow import JOB_TAG, MlflowPlugin, metric_key

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[3]


def _suite_module(relative: str, name: str) -> ModuleType:
    """A module of the main test suite, by its path (its conftest files are not on this folder's path).

    The environment is left as it was: the suite's conftest sets ``$FDD_DISABLE_PLUGIN_AUTOLOAD`` for its own tests.
    """
    spec = importlib.util.spec_from_file_location(name, REPOSITORY / relative)
    module = importlib.util.module_from_spec(spec)
    with patch.dict(os.environ):
        spec.loader.exec_module(module)
    return module


SUITE = _suite_module("tests/conftest.py", "fdd_suite_conftest")
E2E = _suite_module("tests/e2e/conftest.py", "fdd_suite_e2e_conftest")


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
    sites = SUITE.write_site_kdas(tmp_path, E2E.SITE_SIZES)
    bundle = SUITE.write_bundle(tmp_path / "bundle", {"model.py": E2E.ZERO_INIT_MODEL})
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
        job = platform.job(name)
        if job.state.is_final:
            return job
        time.sleep(0.5)
    raise AssertionError(f"{name} did not finish in {timeout} s: {platform.job(name)}")


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
    stored = platform.metrics("mlflow_e2e")
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
    model = platform.write_model("mlflow_e2e", tmp_path / "stored.safetensors")
    assert Path(downloaded).read_bytes() == model.read_bytes()


def test_an_unreachable_tracking_server_leaves_the_job_completed(simulated, platform_yaml, unreachable_uri, caplog):
    platform = simulated(platform_yaml(unreachable_uri))
    with caplog.at_level(logging.WARNING, logger="fdd_mlflow"):
        job = run_job(platform, "mlflow_down", rounds=2)

    assert job.state == JobState.COMPLETED, job.failure
    assert len(platform.metrics("mlflow_down")) == 16  # 2 rounds × 2 sites × 2 kinds × 2 metrics (mse, count)
    assert f"MLflow at {unreachable_uri}: could not record that job mlflow_down is completed" in caplog.text
    server_log = (platform.config.jobs_dir / "mlflow_down" / "simulator.log").read_text(errors="replace")
    assert f"MLflow at {unreachable_uri}: could not log round 1" in server_log  # the server's plugin tried, and went on
