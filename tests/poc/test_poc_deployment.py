"""End to end on a real NVFlare POC deployment: the ``flare`` runner, stopping a job, and a console-submitted job.

The deployment (server + two client sites, each with its KDA) is started once per
session by ``conftest.poc``; the server's recorder writes into the same SQLite
platform database the tests' ``Platform`` reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from poc_helpers import flare_job_id, slow_train_eval, tick_until, wait_for

from nvflare_fdd.platform.poc import PocDeployment
from nvflare_fdd.platform.records import JobState
from nvflare_fdd.testing import MSE_EVALUATE, sgd_train, start_job

pytestmark = pytest.mark.slow

ROUND_CODES = [4000, 4001, 5000, 6000, 7000, 8000]
SETUP_CODES = [900, 1000, 2000, 2001, 3000]
JOB_TIMEOUT = 240  # seconds for a 2-round job from submission to its end (25-60 s seen)
USER_CODE = "nvflare_fdd.client.worker"  # the user-code process's module, in its command line

# For `nvflare job create -f ...`, which fails on bundles with a config.yaml (an NVFlare 2.9 bug).
NO_CONFIG_TRAIN_EVAL = sgd_train(epochs=3) + MSE_EVALUATE


def wait_for_flare_end(session, job_id: str, poc: PocDeployment, timeout: float) -> str:
    """The job's final NVFlare status (``FINISHED:...``)."""

    def finished():
        status = str(session.get_job_meta(job_id).get("status", ""))
        return status if status.startswith("FINISHED") else None

    return wait_for(finished, timeout, f"NVFlare job {job_id} to end", interval=1.0,
                    on_timeout=lambda: poc.log_tails(job_id))


def tick_until_final(platform, name: str, poc: PocDeployment, timeout: float = JOB_TIMEOUT):
    return tick_until(platform, name, lambda job: job.state.is_final, timeout, f"job {name} to end", poc, interval=1.0)


def assert_recorded(platform, name: str, sites: dict[str, int], rounds: int, metrics: set[str]) -> None:
    """Metrics for every round, site and kind; each round's phases and samples per site; each site's setup."""
    rows = platform.storage.metrics(name)
    assert {(m.round, m.site, m.kind, m.metric) for m in rows} == {
        (r, site, kind, metric)
        for r in range(1, rounds + 1) for site in sites for kind in ("global", "local") for metric in metrics
    }  # fmt: skip
    progress = platform.storage.progress(name)
    assert sorted(progress.rounds) == list(range(1, rounds + 1))
    for round_num, record in progress.rounds.items():
        assert record.started is not None and record.finished is not None, round_num
        assert set(record.sites) == set(sites)
        for site, size in sites.items():
            assert [p["code"] for p in record.sites[site].phases] == ROUND_CODES
            assert record.sites[site].num_samples == size
    assert {site: [p["code"] for p in phases] for site, phases in progress.setup.items()} == {
        site: SETUP_CODES for site in sites
    }


def test_a_platform_job_runs_on_the_poc_deployment(flare_platform, flare_session, poc, site_sizes, tiny_bundle, tmp_path):
    platform = flare_platform
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    assert platform.sites() == sorted(poc.sites)  # the deployment's connected clients
    platform.create_job(alice, "poc_fedavg", "TinyRegressor:1.0", rounds=2, sites=list(poc.sites))
    platform.start_job(alice, "poc_fedavg")

    job = tick_until_final(platform, "poc_fedavg", poc)

    job_id = flare_job_id(platform, "poc_fedavg")
    assert job.state == JobState.COMPLETED, f"{job.failure}\n{poc.log_tails(job_id)}"
    # the server's recorder settles the platform job as the last round ends; NVFlare ends the job just after
    assert wait_for_flare_end(flare_session, job_id, poc, timeout=60) == "FINISHED:COMPLETED"
    for site in poc.sites:  # it ran on the sites of the deployment
        assert (poc.site_dir(site) / job_id).is_dir(), site
    assert_recorded(platform, "poc_fedavg", site_sizes, rounds=2, metrics={"mse", "count"})
    counts = {m.site: m.value for m in platform.storage.metrics("poc_fedavg") if m.metric == "count"}
    assert counts == {site: float(size) for site, size in site_sizes.items()}

    assert {"global_model.pt", "global_model.safetensors"} <= set(platform.storage.artefacts("poc_fedavg"))
    saved = torch.load(platform.write_model(alice, "poc_fedavg", tmp_path / "global.pt"), weights_only=True)
    assert set(saved) == {"linear.weight", "linear.bias"}
    assert [e.to_state for e in platform.storage.job_events("poc_fedavg")] == ["ready", "queued", "running", "completed"]

    # the runner reads NVFlare's own exceptions: aborting a finished job does nothing, a closed session is reopened
    runner = platform.runner
    runner.abort(platform.storage.get_job("poc_fedavg").run_handle)
    runner._session.close()
    assert runner.sites() == sorted(poc.sites)


def test_stop_aborts_a_running_job_on_the_deployment(flare_platform, flare_session, poc, make_bundle):
    platform = flare_platform
    bob = platform.user("bob")
    bundle = make_bundle({"train_eval.py": slow_train_eval(3)}, name="slow")
    platform.register_model(bob, bundle, "TinyRegressor", "slow")
    platform.create_job(bob, "poc_slow", "TinyRegressor:slow", rounds=20, sites=list(poc.sites))
    platform.start_job(bob, "poc_slow")
    platform.tick()
    job_id = flare_job_id(platform, "poc_slow")

    def training_on_both_sites():
        platform.tick()
        assert platform.storage.get_job("poc_slow").state == JobState.RUNNING, platform.storage.get_job("poc_slow").failure
        rounds = platform.storage.progress("poc_slow").rounds
        workers = poc.processes(USER_CODE)
        return 1 in rounds and len(workers) >= len(poc.sites) and flare_session.get_job_meta(job_id)["status"] == "RUNNING"

    wait_for(training_on_both_sites, 180, "the slow job to train on both sites", interval=1.0,
             on_timeout=lambda: poc.log_tails(job_id))

    stopped = platform.stop_job(bob, "poc_slow")

    assert stopped.state == JobState.CANCELLED
    assert wait_for_flare_end(flare_session, job_id, poc, timeout=60) == "FINISHED:ABORTED"
    wait_for(lambda: not poc.processes(USER_CODE), 30, "the sites' user-code processes to exit", interval=1.0,
             on_timeout=lambda: str(poc.processes(USER_CODE)))  # fmt: skip
    platform.tick()
    job = platform.storage.get_job("poc_slow")
    assert job.state == JobState.CANCELLED  # neither the runner nor the server's recorder overrides the stop
    assert len(platform.storage.progress("poc_slow").rounds) < 20


def test_a_job_submitted_from_the_console_is_recorded_as_external(poc, site_sizes, make_bundle, flare_session, flare_platform,
                                                                  tmp_path):  # fmt: skip
    """... with its models streamed (``model_transfer=stream``): over the deployment's own cells, not a simulator's."""
    bundle = make_bundle({"train_eval.py": NO_CONFIG_TRAIN_EVAL, "config.yaml": None}, name="console_bundle")
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    fdd = [sys.executable, "-m", "nvflare_fdd.cli.main"]
    nvflare = [sys.executable, "-m", "nvflare.cli"]
    subprocess.run([*fdd, "templates", "register"], env=env, check=True, capture_output=True, timeout=60)
    job_dir = tmp_path / "console_job"
    created = subprocess.run(
        [*nvflare, "job", "create", "-w", "fdd", "-j", str(job_dir), "-sd", str(bundle),
         "-f", "config_fed_server.conf", "num_rounds=2", "model_class=TinyRegressor", "model_transfer=stream"],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr

    submitted = subprocess.run(
        [*nvflare, "--format", "json", "job", "submit", "-j", str(job_dir), "--startup-kit", str(poc.admin_startup_kit)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    job_id = json.loads(submitted.stdout)["data"]["job_id"]

    status = wait_for_flare_end(flare_session, job_id, poc, timeout=JOB_TIMEOUT)
    assert status == "FINISHED:COMPLETED", poc.log_tails(job_id)
    server_logs = [path.read_text(errors="replace") for path in poc.server_dir.rglob("*")
                   if path.suffix in (".log", ".txt") and path.is_file()]
    assert any("are streamed (model_transfer)" in log for log in server_logs)

    platform = flare_platform
    [job] = platform.storage.list_jobs(owner=f"nvflare:{poc.username}")
    assert job.external and job.model is None
    assert job.state == JobState.COMPLETED
    assert job.sites == tuple(sorted(poc.sites))
    assert_recorded(platform, job.name, site_sizes, rounds=2, metrics={"mse", "count"})
    assert "global_model.pt" in platform.storage.artefacts(job.name)
    platform.tick()  # the platform leaves external jobs to their recorder
    assert platform.storage.get_job(job.name).state == JobState.COMPLETED


def test_a_scaffold_job_with_a_pretrained_encoder_runs_on_the_poc_deployment(flare_platform, poc, site_sizes, tmp_path,
                                                                            kmelloddy_bundle):
    """K-MELLODDY's mlp_scaffold with the model of ``mlp_pretrained``: the server and each site build it from the
    platform's store, the sites fetching the encoder through NVFlare into caches of their own."""
    import hashlib

    import torch
    from safetensors.torch import save_file

    from nvflare_fdd.platform.storage import CONTROLS_CHECKPOINT
    from nvflare_fdd.pretrained.manifest import scan_source

    pretrained = kmelloddy_bundle("mlp_pretrained")
    bundle = kmelloddy_bundle("mlp_scaffold", {name: (pretrained / name).read_text() for name in ("model.py", "config.yaml")})
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    save_file(dict(torch.nn.Linear(3, 16).state_dict()), encoder / "model.safetensors")
    platform = flare_platform
    platform.storage.ensure_user("alice")
    found = scan_source(encoder)
    platform.storage.add_pretrained("alice", "solubility-encoder", found.kind, found.files)
    start_job(platform, bundle, "poc_scaffold", model_class="PretrainedEncoderMLP", version="poc-scaffold", sites=poc.sites,
              algorithm="scaffold")

    job = tick_until_final(platform, "poc_scaffold", poc)

    assert job.state == JobState.COMPLETED, f"{job.failure}\n{poc.log_tails(flare_job_id(platform, 'poc_scaffold'))}"
    assert job.algorithm == "scaffold"
    assert_recorded(platform, "poc_scaffold", site_sizes, rounds=2, metrics={"loss"})
    assert CONTROLS_CHECKPOINT in platform.storage.artefacts("poc_scaffold")  # the controls, saved with the model
    digest = hashlib.sha256((encoder / "model.safetensors").read_bytes()).hexdigest()
    for folder in [poc.server_dir, *(poc.site_dir(site) for site in poc.sites)]:
        [cached] = (folder / "pretrained_cache").glob("*/model.safetensors")
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == digest, folder
