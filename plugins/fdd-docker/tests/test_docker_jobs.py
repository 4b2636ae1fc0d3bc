"""Jobs whose user code runs in containers: the NVFlare simulator across two sites, and the executor's worker.

Skipped without a Docker engine (failing instead under ``$FDD_REQUIRE_DOCKER``); the
base image is the session's (``conftest.base_image``).
"""

from __future__ import annotations

import csv
import socket
import subprocess
import time
from pathlib import Path

import pytest
from fdd_docker_bundles import write_bundle, write_site_kdas

from fdd_docker import DockerBackend
from fdd_docker.environment import CONTAINER_PREFIX
from nvflare_fdd.client.process import WorkerProcess
from nvflare_fdd.kda import load_raw_datas
from nvflare_fdd.plugin import DISABLE_AUTOLOAD_ENV
from nvflare_fdd.simulate import RunFailed, run_simulation

pytestmark = pytest.mark.slow
BAD_REQUIREMENT = "fdd-no-such-package-anywhere==1.0"


@pytest.fixture
def sites(tmp_path: Path) -> dict[str, str]:
    return write_site_kdas(tmp_path, {"site_a": 30, "site_b": 90})


@pytest.fixture
def docker_sites(base_image, engine_cache, monkeypatch) -> tuple[str, dict]:
    """What ``fdd run --env-backend docker --env-option base_image=... --env-option gpus=`` hands the sites."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)  # the simulated sites find the plugin by its entry point
    return "docker", {"base_image": base_image.tag, "gpus": ""}


def worker_containers() -> list[str]:
    done = subprocess.run(["docker", "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True, timeout=60)
    return [name for name in done.stdout.split() if name.startswith(CONTAINER_PREFIX)]


def test_a_bundle_needing_a_package_the_base_lacks_trains_in_containers_across_two_sites(docker_sites, sites, tmp_path):
    with socket.socket() as server:  # a service on the host's loopback, which user code must not reach
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        bundle = write_bundle(tmp_path / "bundle", "tabulate==0.9.0\n", probe_port=server.getsockname()[1])
        outcome = run_simulation(bundle, sites, rounds=2, out_dir=tmp_path / "out", model_class="TinyRegressor",
                                 timeout=300, environment=docker_sites)  # fmt: skip

    assert outcome.progress["state"] == "completed"
    for phases in outcome.progress["setup"].values():
        assert phases[0]["code"] == 900 and phases[0]["name"] == "environment"
    with open(tmp_path / "out" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    last = {(row["site"], row["metric"]): float(row["value"]) for row in rows if row["round"] == "2" and row["kind"] == "local"}
    for site in sites:
        assert last[(site, "table_width")] > 0  # tabulate, which only the job image has, ran
        assert last[(site, "reached_host")] == 0.0
        assert last[(site, "wrote_root_fs")] == 0.0
        assert last[(site, "runs_as_root")] == 0.0
    assert worker_containers() == []


def test_an_uninstallable_requirement_fails_the_job_at_900_naming_it(docker_sites, sites, tmp_path):
    bundle = write_bundle(tmp_path / "bundle", f"tabulate==0.9.0\n{BAD_REQUIREMENT}\n")

    with pytest.raises(RunFailed) as caught:
        run_simulation(bundle, sites, rounds=1, out_dir=tmp_path / "out", model_class="TinyRegressor", timeout=300,
                       environment=docker_sites)  # fmt: skip

    failure = caught.value.failure
    assert failure["code"] == 900 and failure["phase"] == "environment"
    assert failure["site"] == "server"  # the server builds the job's environment first, to build the model class
    assert BAD_REQUIREMENT in failure["message"]


def test_stopping_the_worker_of_a_job_removes_its_container(base_image, engine_cache, sites, tmp_path):
    environment = DockerBackend(base_image=base_image.tag, gpus="").prepare("")
    bundle = write_bundle(tmp_path / "bundle", "")
    (bundle / "train_eval.py").write_text((bundle / "train_eval.py").read_text().replace("import tabulate\n", ""))
    worker = WorkerProcess(environment, bundle, "site_a", lambda: load_raw_datas(sites["site_a"]), device="cpu")
    started = time.monotonic()
    worker.start()
    connected = time.monotonic() - started
    reply = worker.setup()
    [name] = environment.containers
    assert reply.device == "cpu" and name in worker_containers()

    worker.stop()

    assert name not in worker_containers()
    assert connected < 30


def test_fdd_check_env_runs_the_bundle_in_its_container_and_reports_a_bad_requirement_at_900(
    base_image, engine_cache, sites, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from nvflare_fdd.cli.main import main

    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.setattr("nvflare_fdd.plugin.manager._manager", None)  # one that finds the plugin by its entry point
    bundle = write_bundle(tmp_path / "bundle", "tabulate==0.9.0\n")
    options = ["--env-backend", "docker", "--env-option", f"base_image={base_image.tag}", "--env-option", "gpus="]

    good = CliRunner().invoke(main, ["check", str(bundle), "--kda", sites["site_a"], "--env", *options])

    assert good.exit_code == 0, good.output
    assert "900 environment    done" in good.output and "table_width=4" in good.output and "runs_as_root=0" in good.output
    last = good.output.splitlines()[-1]
    assert last.startswith(f"OK: {bundle} ran 1 round(s)") and " image fdd-env:" in last

    (bundle / "requirements.txt").write_text(f"tabulate==0.9.0\n{BAD_REQUIREMENT}\n")
    bad = CliRunner().invoke(main, ["check", str(bundle), "--kda", sites["site_a"], *options])  # --env-backend implies --env

    assert bad.exit_code == 1
    assert "phase 900 (environment) failed: could not build the job image" in bad.output
    assert f"({BAD_REQUIREMENT})" in bad.output
