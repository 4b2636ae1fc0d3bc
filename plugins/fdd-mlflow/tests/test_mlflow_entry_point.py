"""Installed, the plugin is found through the ``nvflare_fdd`` entry point: ``fdd plugins`` lists it, and it logs."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fdd_mlflow.plugin
from fdd_mlflow import JOB_TAG
from nvflare_fdd.plugin import ENTRY_POINT_GROUP
from nvflare_fdd.plugin.manager import FddPluginManager
from nvflare_fdd.testing import plugin_installed

pytestmark = pytest.mark.skipif(not plugin_installed("nvflare-fdd-mlflow"), reason="nvflare-fdd-mlflow is not installed (pip install -e plugins/fdd-mlflow)")


def test_fdd_plugins_lists_it():
    fdd = Path(sys.executable).parent / "fdd"
    env = {name: value for name, value in os.environ.items() if name != "FDD_DISABLE_PLUGIN_AUTOLOAD"}

    result = subprocess.run([str(fdd), "plugins"], env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    plugins = result.stdout.split("Plugins:")[1].split("Environment backends:")[0].split()
    assert "mlflow" in plugins


def test_the_entry_point_registers_the_plugin_that_reads_the_platforms_file(
    monkeypatch, tmp_path, platform_yaml, mlflow_server, mlflow_client, experiment
):
    monkeypatch.setenv("FDD_PLATFORM_CONFIG", str(platform_yaml(mlflow_server)))
    monkeypatch.setenv("FDD_HOME", str(tmp_path / "home"))  # where other installed plugins write
    monkeypatch.delenv("FDD_EVENT_LOG", raising=False)
    [entry_point] = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "mlflow"]

    manager = FddPluginManager(autoload=True)
    manager.notify("fdd_job_state_changed", job="ep_job", old_state=None, new_state="running", reason="external run")

    assert entry_point.value == "fdd_mlflow.plugin:plugin"
    assert manager.pm.get_plugin("mlflow") is fdd_mlflow.plugin.plugin
    found = mlflow_client.get_experiment_by_name(experiment)
    [run] = mlflow_client.search_runs([found.experiment_id], f"tags.`{JOB_TAG}` = 'ep_job'")
    assert run.info.status == "RUNNING"
