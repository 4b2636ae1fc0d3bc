"""Resume after a failure, reconcile after a platform restart, backfill from a run's files."""

from __future__ import annotations

import json

import pytest
import torch
from pyhocon import ConfigFactory
from safetensors.torch import save_file

from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.runners import RunStatus
from nvflare_fdd.platform.service import RESUME_WEIGHTS, import_results
from nvflare_fdd.platform.storage import StorageConflict
from nvflare_fdd.results import RunRecorder
from nvflare_fdd.testing import start_job


@pytest.fixture
def running(platform, tiny_bundle):
    """Alice's job ``resumable`` of five rounds, started and run by the fake runner; alice."""
    start_job(platform, tiny_bundle, "resumable", rounds=5)
    platform.tick()
    return platform.user("alice")


def checkpoint_after(platform, round_num, tmp_path):
    model = tmp_path / f"global-{round_num}.safetensors"
    save_file({"linear.weight": torch.full((1, 3), float(round_num)), "linear.bias": torch.zeros(1)}, model)
    platform.storage.record_metrics("resumable", round_num, "site_a", "global", {"mse": 1.0 / round_num})
    platform.storage.record_round("resumable", round_num, started=1.0, finished=2.0, checkpoint=model)


def test_a_failed_job_resumes_after_its_last_saved_round(platform, running, runner, tmp_path):
    checkpoint_after(platform, 1, tmp_path)
    checkpoint_after(platform, 2, tmp_path)
    runner.outcomes["resumable"] = RunStatus("failed", "the NVFlare server went away")
    platform.tick()
    assert platform.storage.get_job("resumable").state == JobState.FAILED
    runner.outcomes.clear()

    job = platform.resume_job(running, "resumable")
    assert (job.state, job.resume_from, job.failure) == (JobState.QUEUED, 2, None)
    platform.tick()
    assert runner.submitted == ["resumable", "resumable"]
    job_dir = platform.config.jobs_dir / "resumable" / "job"
    server = ConfigFactory.parse_file(str(job_dir / "app/config/config_fed_server.conf"))
    assert (server["start_round"], server["initial_weights"]) == (2, RESUME_WEIGHTS)
    resumed = job_dir / "app" / "custom" / RESUME_WEIGHTS
    from safetensors.torch import load_file

    assert torch.equal(load_file(resumed)["linear.weight"], torch.full((1, 3), 2.0))  # round 2's model
    assert [m.round for m in platform.storage.metrics("resumable")] == [1, 2]  # finished rounds' metrics kept
    assert platform.storage.job_events("resumable")[-2].reason == "resumed by alice after round 2"


def test_a_job_with_no_finished_round_restarts_from_scratch(platform, running, runner):
    platform.stop_job(running, "resumable")
    job = platform.resume_job(running, "resumable")
    assert job.resume_from == 0
    platform.tick()
    server = ConfigFactory.parse_file(str(platform.config.jobs_dir / "resumable/job/app/config/config_fed_server.conf"))
    assert (server["start_round"], server["initial_weights"]) == (0, "")


@pytest.mark.parametrize("state", ["ready", "queued", "running", "completed"])
def test_only_failed_or_cancelled_jobs_resume(platform, tiny_bundle, runner, state):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "j", "TinyRegressor:1.0", 2, ["site_a"])
    if state != "ready":
        platform.start_job(alice, "j")
    if state in ("running", "completed"):
        platform.tick()
    if state == "completed":
        runner.outcomes["j"] = RunStatus("completed")
        platform.tick()
    with pytest.raises(StorageConflict, match="only a failed or cancelled job can be resumed"):
        platform.resume_job(alice, "j")


def test_reconcile_fails_a_job_claimed_but_never_submitted(platform, tiny_bundle):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "orphan", "TinyRegressor:1.0", 2, ["site_a"])
    platform.start_job(alice, "orphan")
    platform.storage.claim_next_queued(capacity=1, runner="simulator")  # the platform died right after this
    assert platform.reconcile() == ["orphan"]
    job = platform.storage.get_job("orphan")
    assert job.state == JobState.FAILED and job.failure["phase"] == "interrupted"


def test_reconcile_settles_runs_that_ended_while_the_platform_was_down(platform, running, runner):
    runner.outcomes["resumable"] = RunStatus("completed", "all rounds finished")
    assert platform.reconcile() == ["resumable"]
    assert platform.storage.get_job("resumable").state == JobState.COMPLETED
    assert platform.reconcile() == []


def test_an_unreachable_runner_marks_the_job_interrupted(platform, running, runner, monkeypatch):
    from nvflare_fdd.errors import FddError

    def unreachable(handle):
        raise FddError("cannot reach the NVFlare server")

    monkeypatch.setattr(runner, "poll", unreachable)
    platform.tick()
    job = platform.storage.get_job("resumable")
    assert job.state == JobState.FAILED
    assert "interrupted" in job.failure["message"] and "cannot reach" in job.failure["message"]


def test_backfill_from_a_runs_files_is_complete_and_idempotent(platform, running, tmp_path):
    folder = tmp_path / "fdd"
    recorder = RunRecorder(folder)
    recorder.round_started(1, 10.0)
    recorder.site_round(1, "site_a", [{"code": 4000, "name": "receive", "start": 10.0, "end": 11.0}], 30,
                        [{"code": 900, "name": "environment", "start": 9.0, "end": 9.5}])  # fmt: skip
    recorder.metrics(1, "site_a", "global", {"mse": 0.5, "count": 30.0})
    recorder.metrics(1, "site_a", "local", {"mse": 0.25})
    recorder.round_finished(1, 12.0)
    save_file({"linear.weight": torch.ones(1, 3), "linear.bias": torch.zeros(1)}, folder / "global_model.safetensors")

    for _ in range(2):  # twice: nothing is doubled
        import_results(platform.storage, "resumable", folder)
    assert [(m.kind, m.metric, m.value) for m in platform.storage.metrics("resumable")] == [
        ("global", "count", 30.0), ("global", "mse", 0.5), ("local", "mse", 0.25)
    ]
    progress = platform.storage.progress("resumable")
    assert progress.setup["site_a"][0]["code"] == 900
    assert progress.rounds[1].finished == 12.0
    assert platform.storage.last_checkpoint("resumable") == 1
    assert json.loads((folder / "progress.json").read_text())["rounds"]["1"]["sites"]["site_a"]["num_samples"] == 30


def test_a_run_nvflare_ended_on_its_own_names_the_round_and_the_silent_sites(platform, running, runner):
    """NVFlare 2.9 aborts a job when a site's job process exits, so our server writes no failure of its own."""
    storage = platform.storage
    storage.record_round("resumable", 1, started=1.0, finished=2.0)
    storage.record_round("resumable", 2, started=3.0)
    storage.record_stage("resumable", 2, "site_a", [{"code": 8000, "name": "send", "start": 3.0, "end": 4.0}], 30)
    runner.outcomes["resumable"] = RunStatus("failed", "NVFlare reports an execution exception")
    platform.tick()
    failure = platform.storage.get_job("resumable").failure
    assert (failure["phase"], failure["site"], failure["round"]) == ("site lost", "site_b", 2)
    assert "no round 2 result came from site_b" in failure["message"]


def test_resuming_a_cancelled_job_says_it_was_cancelled(platform, running):
    events = []
    platform.plugins.notify = lambda hook, **event: events.append(event)  # what the plugins are told
    platform.stop_job(running, "resumable")
    platform.resume_job(running, "resumable")
    assert [(e["old_state"], e["new_state"]) for e in events] == [("running", "cancelled"), ("cancelled", "queued")]


def test_plugins_are_told_each_move_as_storage_recorded_it(platform, tiny_bundle, runner):
    told = []
    platform.plugins.notify = lambda hook, **event: told.append((event["job"], event["old_state"], event["new_state"],
                                                                 event["reason"]))  # fmt: skip
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "told", "TinyRegressor:1.0", 2, ["site_a"])
    platform.start_job(alice, "told")
    platform.tick()
    runner.outcomes["told"] = RunStatus("failed", "the NVFlare server went away")
    platform.tick()

    recorded = [("told", e.from_state, e.to_state, e.reason) for e in platform.storage.job_events("told")]
    assert told == recorded and [state for _, _, state, _ in told] == ["ready", "queued", "running", "failed"]


def test_a_move_a_race_already_decided_is_not_told(platform, tiny_bundle, runner, monkeypatch):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "raced", "TinyRegressor:1.0", 2, ["site_a"])
    platform.start_job(alice, "raced")
    told = []
    platform.plugins.notify = lambda hook, **event: told.append(event["new_state"])

    def submit_while_stopped(job, job_dir, work_dir):  # another platform process stops the job as it is submitted
        platform.storage.transition(job.name, JobState.CANCELLED, "stopped meanwhile")
        raise RuntimeError("the deployment refused the job")

    monkeypatch.setattr(runner, "submit", submit_while_stopped)
    platform.tick()

    assert platform.storage.get_job("raced").state == JobState.CANCELLED
    assert told == ["running"]  # not "failed": storage refused that move, the job was already cancelled
