"""The hooks driven directly, as the platform service and the NVFlare server's recorder call them, against a real tracking server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file

from fdd_mlflow import JOB_TAG, MlflowPlugin, job_params, metric_key
from nvflare_fdd.platform.records import JobState, NewJob
from nvflare_fdd.platform.sink import StorageSink
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import FddPluginManager

SITES = ("site_a", "site_b")


@pytest.fixture
def storage(tmp_path: Path):
    """The platform storage the ``platform_yaml`` files name."""
    storage = SqlStorage(f"sqlite:///{tmp_path / 'platform.db'}")
    yield storage
    storage.close()


@pytest.fixture
def tracked(mlflow_server, platform_yaml):
    """``(manager, plugin)``: a plugin manager with an ``MlflowPlugin`` reading a ``platform.yaml`` that names the test server."""
    plugin = MlflowPlugin(config=platform_yaml(mlflow_server))
    return FddPluginManager(autoload=False, plugins=(plugin,)), plugin


def make_job(storage: SqlStorage, name: str = "sol_1", rounds: int = 2, description: str = "") -> str:
    storage.ensure_user("alice")
    if not storage.list_models():
        storage.add_model("alice", "SolubilityMLP", "1.0", "", files={})
    storage.create_job(NewJob("alice", name, ("SolubilityMLP", "1.0"), rounds, tuple(SITES), description))
    return name


def metrics_of(round_num: int, site: str, kind: str) -> dict[str, float]:
    """Distinct values for every round, site and kind, so a value logged in the wrong place shows."""
    base = round_num + SITES.index(site) / 10 + (0.05 if kind == "local" else 0.0)
    return {"mse": 1 / base, "r2": 1 - 1 / (base + 1)}


def record(storage: SqlStorage, manager: FddPluginManager | None, job: str, rounds: range) -> None:
    """Metrics stored as the server's recorder stores them, and (with a manager) the event it fires after."""
    for round_num in rounds:
        for site in SITES:
            for kind in ("global", "local"):
                values = metrics_of(round_num, site, kind)
                storage.record_metrics(job, round_num, site, kind, values)
                if manager is not None:
                    manager.notify("fdd_metrics_recorded", job=job, round=round_num, site=site, kind=kind, metrics=values)


def store_model(storage: SqlStorage, job: str, folder: Path) -> bytes:
    path = folder / "global_model.safetensors"
    save_file({"linear.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "linear.bias": torch.tensor([0.5, -1.0])}, path)
    storage.put_artefact(job, "global_model.safetensors", path)
    return path.read_bytes()


def move(manager: FddPluginManager, storage: SqlStorage, job: str, old: str | None, new: str, reason: str) -> None:
    """A state change as the platform service makes it: in storage, then the event."""
    storage.transition(job, JobState(new), reason)
    manager.notify("fdd_job_state_changed", job=job, old_state=old, new_state=new, reason=reason)


def start(manager: FddPluginManager, storage: SqlStorage, job: str) -> None:
    move(manager, storage, job, "ready", "queued", "start requested by the user")
    move(manager, storage, job, "queued", "running", "started on the simulator runner")


def runs_of(client, experiment: str, job: str) -> list:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client.search_runs([found.experiment_id], f"tags.`{JOB_TAG}` = '{job}'")


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((point.step, point.value) for point in client.get_metric_history(run_id, key))


def assert_every_stored_value_logged_once(client, run_id: str, storage: SqlStorage, job: str) -> None:
    stored = storage.metrics(job)
    expected: dict[str, list[tuple[int, float]]] = {}
    for value in stored:
        expected.setdefault(metric_key(value.site, value.kind, value.metric), []).append((value.round, value.value))
    assert stored and set(client.get_run(run_id).data.metrics) == set(expected)
    for key, points in expected.items():
        assert history(client, run_id, key) == sorted(points), key


# -- a job's life --------------------------------------------------------------------------------


def test_a_completed_job_is_one_finished_run_with_params_metrics_and_model(
    tracked, storage, mlflow_client, experiment, tmp_path, caplog
):
    manager, _ = tracked
    job = make_job(storage, rounds=2, description="solubility, two pharmas")
    start(manager, storage, job)
    record(storage, manager, job, range(1, 3))
    model = store_model(storage, job, tmp_path)
    with caplog.at_level(logging.INFO, logger="fdd_mlflow"):
        move(manager, storage, job, "running", "completed", "all rounds finished")

    [run] = runs_of(mlflow_client, experiment, job)
    assert run.data.params == {"model": "SolubilityMLP", "version": "1.0", "algorithm": "fedavg", "rounds": "2",
                               "sites": "site_a,site_b"}  # fmt: skip
    assert run.info.status == "FINISHED" and run.info.run_name == job
    tags = run.data.tags
    assert (tags["fdd.state"], tags["fdd.reason"], tags["fdd.owner"], tags["fdd.external"]) == (
        "completed", "all rounds finished", "alice", "false")  # fmt: skip
    assert tags["mlflow.note.content"] == "solubility, two pharmas"
    assert history(mlflow_client, run.info.run_id, "site_b/local/mse") == [(r, metrics_of(r, "site_b", "local")["mse"]) for r in (1, 2)]
    assert_every_stored_value_logged_once(mlflow_client, run.info.run_id, storage, job)
    assert "filled in" not in caplog.text  # every value came with its event
    [artifact] = mlflow_client.list_artifacts(run.info.run_id)
    assert artifact.path == "global_model.safetensors"
    downloaded = mlflow_client.download_artifacts(run.info.run_id, "global_model.safetensors", str(tmp_path / "back"))
    assert Path(downloaded).read_bytes() == model


@pytest.mark.parametrize(("state", "status"), [("failed", "FAILED"), ("cancelled", "KILLED")])
def test_a_failed_or_cancelled_job_ends_its_run_so(tracked, storage, mlflow_client, experiment, state, status, tmp_path):
    manager, _ = tracked
    job = make_job(storage)
    start(manager, storage, job)
    record(storage, manager, job, range(1, 2))
    store_model(storage, job, tmp_path)  # a checkpoint of round 1: not the final model
    traceback = "site site_b, round 2, phase 6000:\nTraceback (most recent call last):\nValueError: bad"
    reason = traceback if state == "failed" else "stopped by alice"
    move(manager, storage, job, "running", state, reason)

    [run] = runs_of(mlflow_client, experiment, job)
    assert run.info.status == status
    assert (run.data.tags["fdd.state"], run.data.tags["fdd.reason"]) == (state, reason)
    assert mlflow_client.list_artifacts(run.info.run_id) == []
    assert_every_stored_value_logged_once(mlflow_client, run.info.run_id, storage, job)


def test_a_job_cancelled_before_it_ran_gets_no_run(tracked, storage, mlflow_client, experiment):
    manager, _ = tracked
    job = make_job(storage)
    move(manager, storage, job, "ready", "queued", "start requested by the user")
    move(manager, storage, job, "queued", "cancelled", "stopped by alice")

    assert runs_of(mlflow_client, experiment, job) == []


def test_a_resumed_job_continues_its_run(tracked, storage, mlflow_client, experiment, tmp_path):
    manager, _ = tracked
    job = make_job(storage, rounds=3)
    start(manager, storage, job)
    record(storage, manager, job, range(1, 2))
    move(manager, storage, job, "running", "failed", "interrupted: the platform stopped")
    [failed] = runs_of(mlflow_client, experiment, job)
    assert failed.info.status == "FAILED"

    move(manager, storage, job, "failed", "queued", "resumed by alice after round 1")
    move(manager, storage, job, "queued", "running", "started on the simulator runner")
    [resumed] = runs_of(mlflow_client, experiment, job)
    record(storage, manager, job, range(2, 4))
    store_model(storage, job, tmp_path)
    move(manager, storage, job, "running", "completed", "all rounds finished")

    [finished] = runs_of(mlflow_client, experiment, job)
    assert failed.info.run_id == resumed.info.run_id == finished.info.run_id
    assert (resumed.info.status, finished.info.status) == ("RUNNING", "FINISHED")
    assert [step for step, _ in history(mlflow_client, finished.info.run_id, "site_a/global/mse")] == [1, 2, 3]
    assert_every_stored_value_logged_once(mlflow_client, finished.info.run_id, storage, job)


# -- several processes, late and missed events -----------------------------------------------------

SERVER_SIDE = """
import json, os, sys
from nvflare_fdd.plugin.manager import FddPluginManager
from fdd_mlflow.plugin import plugin

manager = FddPluginManager(autoload=False, plugins=(plugin,))
for event in json.loads(sys.argv[1]):
    manager.notify("fdd_metrics_recorded", **event)
print(os.getpid())
"""


def test_metrics_from_the_servers_process_land_in_the_services_run(
    tracked, storage, mlflow_client, experiment, platform_yaml, mlflow_server, caplog
):
    """The NVFlare server is another process: it finds the run the service opened by its tag."""
    import json

    manager, _ = tracked
    job = make_job(storage)
    start(manager, storage, job)
    events = []
    for round_num in (1, 2):
        for site in SITES:
            for kind in ("global", "local"):
                values = metrics_of(round_num, site, kind)
                storage.record_metrics(job, round_num, site, kind, values)
                events.append({"job": job, "round": round_num, "site": site, "kind": kind, "metrics": values})
    env = dict(os.environ, FDD_PLATFORM_CONFIG=str(platform_yaml(mlflow_server)))
    server = subprocess.run([sys.executable, "-c", textwrap.dedent(SERVER_SIDE), json.dumps(events)], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert server.returncode == 0, server.stderr
    with caplog.at_level(logging.INFO, logger="fdd_mlflow"):
        move(manager, storage, job, "running", "completed", "all rounds finished")

    [run] = runs_of(mlflow_client, experiment, job)
    assert run.info.status == "FINISHED"
    assert_every_stored_value_logged_once(mlflow_client, run.info.run_id, storage, job)
    assert "filled in" not in caplog.text, "the server's process did not log its metrics"


def test_the_first_event_a_process_sees_opens_the_run(tracked, storage, mlflow_client, experiment):
    """The server's first metrics before any ``running`` event reached MLflow (it was down then): the run is made there."""
    manager, _ = tracked
    job = make_job(storage)
    storage.transition(job, JobState.QUEUED, "start requested")
    storage.transition(job, JobState.RUNNING, "started")
    record(storage, manager, job, range(1, 2))

    [run] = runs_of(mlflow_client, experiment, job)
    assert run.info.status == "RUNNING"
    assert run.data.params["model"] == "SolubilityMLP" and run.data.params["sites"] == "site_a,site_b"
    assert_every_stored_value_logged_once(mlflow_client, run.info.run_id, storage, job)


def test_metrics_the_run_missed_are_filled_in_from_storage_when_the_job_ends(
    tracked, storage, mlflow_client, experiment, tmp_path, caplog
):
    manager, _ = tracked
    job = make_job(storage, rounds=3)
    start(manager, storage, job)
    record(storage, None, job, range(1, 3))  # stored, but their events never reached MLflow
    record(storage, manager, job, range(3, 4))
    store_model(storage, job, tmp_path)
    with caplog.at_level(logging.INFO, logger="fdd_mlflow"):
        move(manager, storage, job, "running", "completed", "all rounds finished")

    [run] = runs_of(mlflow_client, experiment, job)
    assert_every_stored_value_logged_once(mlflow_client, run.info.run_id, storage, job)
    assert "16 metric value(s) the run lacked were filled in" in caplog.text  # 2 rounds × 2 sites × 2 kinds × 2 metrics


def test_a_job_submitted_outside_the_platform_is_logged_by_the_servers_recorder(tracked, storage, mlflow_client, experiment, tmp_path):
    manager, _ = tracked
    results = tmp_path / "results"
    results.mkdir()
    sink = StorageSink(storage, "ext_job", submitter="admin@site", nvflare_job_id="abc123", results_dir=results,
                       events=manager.notify)  # fmt: skip
    sink.job_started(0.0, list(SITES), 1)
    for site in SITES:
        sink.metrics(1, site, "global", metrics_of(1, site, "global"))
    save_file({"w": torch.ones(4)}, results / "global_model.safetensors")
    sink.finished("completed", 0.0)

    [run] = runs_of(mlflow_client, experiment, "ext_job")
    assert run.data.params == {"algorithm": "fedavg", "rounds": "1", "sites": "site_a,site_b"}  # no model: not known
    assert (run.info.status, run.data.tags["fdd.external"], run.data.tags["fdd.owner"]) == ("FINISHED", "true", "nvflare:admin@site")
    assert_every_stored_value_logged_once(mlflow_client, run.info.run_id, storage, "ext_job")
    downloaded = mlflow_client.download_artifacts(run.info.run_id, "global_model.safetensors", str(tmp_path / "back"))
    assert Path(downloaded).read_bytes() == (results / "global_model.safetensors").read_bytes()


def test_names_mlflow_would_refuse_are_made_safe(tracked, storage, mlflow_client, experiment):
    manager, _ = tracked
    job = make_job(storage)
    start(manager, storage, job)
    manager.notify("fdd_metrics_recorded", job=job, round=1, site="site-1.eu", kind="global", metrics={"auc@0.5": 0.75})

    [run] = runs_of(mlflow_client, experiment, job)
    assert run.data.metrics == {"site-1.eu/global/auc_0.5": 0.75}


def test_the_algorithm_is_the_jobs_own_when_its_record_has_one():
    job = SimpleNamespace(model="SolubilityMLP:2.0", rounds=5, sites=("a", "b", "c"), external=False)

    assert job_params(job)["algorithm"] == "fedavg"
    assert job_params(SimpleNamespace(**vars(job), algorithm="scaffold")) == {
        "model": "SolubilityMLP", "version": "2.0", "algorithm": "scaffold", "rounds": "5", "sites": "a,b,c"}  # fmt: skip


# -- nothing configured, nothing reachable ---------------------------------------------------------


def test_without_a_tracking_uri_nothing_is_logged_and_it_says_so_once(mlflow_server, platform_yaml, storage, mlflow_client,
                                                                      experiment, caplog):  # fmt: skip
    manager = FddPluginManager(autoload=False, plugins=(MlflowPlugin(config=platform_yaml(None)),))
    job = make_job(storage)
    with caplog.at_level(logging.DEBUG, logger="fdd_mlflow"):
        start(manager, storage, job)
        record(storage, manager, job, range(1, 2))
        move(manager, storage, job, "running", "completed", "all rounds finished")

    assert [r.levelname for r in caplog.records if r.name.startswith("fdd_mlflow")] == ["DEBUG"]
    assert "no mlflow.tracking_uri in" in caplog.text
    assert mlflow_client.get_experiment_by_name(experiment) is None
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # the MLflow client was never set up


def test_a_bad_mlflow_section_is_reported_once_and_the_platform_goes_on(tmp_path, storage, caplog):
    path = tmp_path / "platform.yaml"
    path.write_text("mlflow: http://mlflow:5000\n")
    manager = FddPluginManager(autoload=False, plugins=(MlflowPlugin(config=path),))
    job = make_job(storage)
    with caplog.at_level(logging.DEBUG, logger="fdd_mlflow"):
        start(manager, storage, job)
        manager.notify("fdd_metrics_recorded", job=job, round=1, site="site_a", kind="global", metrics={"mse": 1.0})

    [message] = [r.getMessage() for r in caplog.records if r.name.startswith("fdd_mlflow")]
    assert "mlflow must be a mapping such as {tracking_uri: http://host:5000}" in message and str(path) in message


def test_an_unreachable_server_never_raises_and_costs_one_failed_call_per_pause(platform_yaml, unreachable_uri, storage, caplog):
    manager = FddPluginManager(autoload=False, plugins=(MlflowPlugin(config=platform_yaml(unreachable_uri)),))
    job = make_job(storage, rounds=5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="fdd_mlflow"):
        start(manager, storage, job)
        record(storage, manager, job, range(1, 6))  # 20 events
        move(manager, storage, job, "running", "completed", "all rounds finished")
    elapsed = time.monotonic() - started

    messages = [r.getMessage() for r in caplog.records if r.name.startswith("fdd_mlflow")]
    assert sum("could not log round 1 global metrics of site_a" in m for m in messages) == 1
    assert sum("could not log" in m for m in messages) == 1, "metrics events must pause after a failure"
    assert sum(f"could not record that job {job} is" in m for m in messages) == 2  # running, completed
    assert all(unreachable_uri in m and "the job goes on" in m for m in messages)
    # three failed calls, each with MLflow's retries as the plugin sets them (2 retries, backoff 1 s, jitter ≤ 1 s)
    assert elapsed < 45, f"{elapsed:.1f} s: the MLflow client retried far longer than the plugin's defaults"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2" and os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"


def test_the_environment_keeps_its_own_mlflow_retry_settings(platform_yaml, unreachable_uri, storage, monkeypatch, caplog):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    manager = FddPluginManager(autoload=False, plugins=(MlflowPlugin(config=platform_yaml(unreachable_uri)),))
    job = make_job(storage)
    started = time.monotonic()
    start(manager, storage, job)

    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0" and os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
    assert time.monotonic() - started < 10  # no retries at all: connection refused at once
