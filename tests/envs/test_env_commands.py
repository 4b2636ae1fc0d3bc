"""Choosing and keeping job environments: ``--env-backend``/``--env-option``, ``simulator.environment``
in ``platform.yaml`` (both written to the simulated participants' ``fdd_site.json``), and ``fdd env
list``/``prune`` over the local cache."""

from __future__ import annotations

import json
import os
import time

import click
import pytest
from click.testing import CliRunner

from nvflare_fdd.cli.common import checked_environment, parse_env_options
from nvflare_fdd.cli.env import parse_duration
from nvflare_fdd.cli.main import main
from nvflare_fdd.envs import CachedEnvironment, JobEnvironmentError, make_backend
from nvflare_fdd.envs.local import MARKER, LocalBackend
from nvflare_fdd.simulate import environment_section, write_site_settings
from nvflare_fdd.site_config import ENV_BACKEND_ENV, environment_settings


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("base_image=nvflare-fdd:latest", "gpus="), {"base_image": "nvflare-fdd:latest", "gpus": ""}),
        (("build_timeout=600", "extra_run_args=[\"--shm-size\", \"8g\"]"), {"build_timeout": 600, "extra_run_args": ["--shm-size", "8g"]}),
        (("user=1000:1000", "cache_dir=/srv/envs"), {"user": "1000:1000", "cache_dir": "/srv/envs"}),
    ],
)
def test_env_options_are_key_value_pairs_read_as_json_when_they_are(values, expected):
    assert parse_env_options(None, None, values) == expected


@pytest.mark.parametrize("value", ["gpus", "=all"])
def test_a_malformed_env_option_is_refused(value):
    with pytest.raises(click.BadParameter, match="KEY=VALUE"):
        parse_env_options(None, None, (value,))


def test_env_options_are_checked_like_a_site_file(monkeypatch):
    monkeypatch.delenv(ENV_BACKEND_ENV, raising=False)
    assert checked_environment(None, {}) is None
    assert checked_environment("local", {"timeout": 60}) == ("local", {"timeout": 60})
    with pytest.raises(click.ClickException, match="--env-option: bad options for the environment backend 'local'"):
        checked_environment(None, {"base_image": "x"})
    with pytest.raises(click.ClickException, match="no environment backend 'nope' is installed; installed: .*local"):
        checked_environment("nope", {})


def test_make_backend_names_the_source_of_bad_options():
    with pytest.raises(JobEnvironmentError, match="^platform.yaml: bad options"):
        make_backend("local", {"no_such_option": 1}, "platform.yaml")


def test_simulated_sites_read_the_backend_and_its_options_from_the_workspace_site_file(tmp_path):
    local = tmp_path / "workspace" / "local"
    write_site_settings(local, {"environment": environment_section("docker", {"base_image": "site/fdd:1", "gpus": ""})})

    assert environment_settings(local) == ("docker", {"base_image": "site/fdd:1", "gpus": ""})


def test_platform_yaml_sets_the_simulator_sites_environment(tmp_path, monkeypatch):
    from nvflare_fdd.errors import FddError
    from nvflare_fdd.platform.config import load_config
    from nvflare_fdd.platform.runners.simulator import SimulatorRunner

    config_file = tmp_path / "platform.yaml"
    config_file.write_text("simulator:\n  sites:\n    a: sqlite:////tmp/a.db\n  environment:\n    backend: local\n    timeout: 60\n")
    config = load_config(config_file)
    assert config.simulator_environment == {"backend": "local", "timeout": 60}
    runner = SimulatorRunner(config.simulator_sites, "sqlite://", config.simulator_environment)
    assert runner.environment == ("local", {"timeout": 60})
    monkeypatch.setattr("subprocess.Popen", lambda *args, **kwargs: type("P", (), {"pid": 1})())
    job = type("Job", (), {"sites": ["a"]})()
    runner.submit(job, tmp_path / "job", tmp_path / "work")
    assert environment_settings(tmp_path / "work" / "workspace" / "local") == ("local", {"timeout": 60})
    with pytest.raises(FddError, match="simulator.environment in platform.yaml: bad options"):
        SimulatorRunner(config.simulator_sites, "sqlite://", {"backend": "local", "gpus": ""})


@pytest.mark.parametrize(("text", "seconds"), [("30d", 2592000), ("12h", 43200), ("1w2d", 777600), ("90m", 5400), ("45s", 45)])
def test_durations(text, seconds):
    assert parse_duration(None, None, text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "3", "5y", "1d junk"])
def test_bad_durations_are_refused(text):
    with pytest.raises(click.BadParameter, match="not a duration"):
        parse_duration(None, None, text)


def fake_environment(cache, key: str, requirements: str, age: float) -> None:
    folder = cache / key
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "payload").write_bytes(b"x" * 2048)
    (folder / MARKER).write_text(json.dumps({"key": key, "requirements": requirements, "built": time.time() - age}))
    os.utime(folder / MARKER, (time.time() - age, time.time() - age))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "envs"
    monkeypatch.setenv("FDD_ENV_CACHE", str(folder))
    fake_environment(folder, "a" * 20, "tabulate==0.9.0\n", age=40 * 86400)
    fake_environment(folder, "b" * 20, "rdkit\n# chemistry\n", age=3600)
    (folder / ("c" * 20)).mkdir()  # half-built: no marker, not listed
    return folder


def test_the_local_backend_lists_its_cached_environments(cache):
    entries = {entry.name: entry for entry in LocalBackend().cached()}

    assert set(entries) == {"a" * 20, "b" * 20}
    assert isinstance(entries["a" * 20], CachedEnvironment)
    assert entries["a" * 20].description == "tabulate==0.9.0" and entries["b" * 20].description == "rdkit"
    assert entries["a" * 20].size >= 2048 and entries["a" * 20].prunable and not entries["a" * 20].in_use
    assert entries["a" * 20].last_used < time.time() - 39 * 86400


def test_fdd_env_list_and_prune_by_age(cache):
    runner = CliRunner()
    listing = runner.invoke(main, ["env", "list"])
    assert listing.exit_code == 0, listing.output
    assert "tabulate==0.9.0" in listing.output and "rdkit" in listing.output

    dry = runner.invoke(main, ["env", "prune", "--older-than", "30d", "--dry-run"])
    assert dry.exit_code == 0 and "would remove local " + "a" * 20 in dry.output
    assert (cache / ("a" * 20)).is_dir()

    pruned = runner.invoke(main, ["env", "prune", "--older-than", "30d"])
    assert pruned.exit_code == 0, pruned.output
    assert not (cache / ("a" * 20)).exists() and (cache / ("b" * 20)).is_dir()
    assert "1 environment(s) removed" in pruned.output

    everything = runner.invoke(main, ["env", "prune"])
    assert everything.exit_code == 0 and not (cache / ("b" * 20)).exists()
