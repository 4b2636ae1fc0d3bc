"""The plugin as nvflare-fdd finds it: through the ``nvflare_fdd`` entry point, and from a site's options."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

import fdd_docker.plugin
from fdd_docker import DockerBackend, docker_backend
from nvflare_fdd.plugin import ENTRY_POINT_GROUP
from nvflare_fdd.plugin.manager import FddPluginManager
from nvflare_fdd.site_config import environment_settings
from nvflare_fdd.testing import plugin_installed


@pytest.mark.skipif(not plugin_installed("nvflare-fdd-docker"), reason="nvflare-fdd-docker is not installed (pip install -e plugins/fdd-docker)")
def test_the_entry_point_makes_docker_a_backend_beside_local():
    [entry_point] = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "docker"]

    backends = FddPluginManager(autoload=True).environment_backends()

    assert entry_point.value == "fdd_docker.plugin"
    assert {"docker", "local"} <= set(backends)
    assert backends["docker"] is docker_backend


def test_the_plugin_module_registers_docker():
    backends = FddPluginManager(autoload=False, plugins=(fdd_docker.plugin,)).environment_backends()

    assert backends["docker"] is docker_backend
    assert "local" in backends


def test_the_plugin_adds_build_base_to_fdd_env():
    from fdd_docker.cli import build_base

    commands = FddPluginManager(autoload=False, plugins=(fdd_docker.plugin,)).env_commands()

    assert commands == {"build-base": build_base}


def test_a_site_file_selects_and_configures_the_backend(tmp_path):
    settings = {"environment": {"backend": "docker", "base_image": "pharma/nvflare-fdd:2.1", "gpus": ""}}
    (tmp_path / "fdd_site.json").write_text(json.dumps(settings))
    backends = FddPluginManager(autoload=False, plugins=(fdd_docker.plugin,)).environment_backends()

    name, options = environment_settings(tmp_path)
    backend = backends[name](**options)

    assert isinstance(backend, DockerBackend)
    assert (backend.base_image, backend.gpus) == ("pharma/nvflare-fdd:2.1", "")
