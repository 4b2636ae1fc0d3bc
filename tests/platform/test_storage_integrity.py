"""Storage guarantees: schema from migrations, races decided once, big files, results export, the server's sink."""

from __future__ import annotations

import csv
import os
import shutil
import threading
import time
from datetime import UTC

import pytest
import torch
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from safetensors.torch import load_file, save_file

from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.runners import RunStatus
from nvflare_fdd.platform.schema import PlatformBase
from nvflare_fdd.platform.service import import_results
from nvflare_fdd.platform.sink import STORAGE_COMPLETE, StorageSink, storage_complete
from nvflare_fdd.platform.storage import CHUNK_BYTES, SqlStorage, StorageConflict
from nvflare_fdd.results import RunRecorder


def test_the_migrated_schema_is_the_models_schema(storage_url):
    storage = SqlStorage(storage_url)
    try:
        with storage.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), PlatformBase.metadata)
        assert differences == []
        SqlStorage(storage_url).close()  # opening again upgrades nothing and loses nothing
    finally:
        storage.close()


def race(action, count: int = 6) -> tuple[list, list]:
    """Run ``action(i)`` in ``count`` threads at once; returns (results, errors)."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results.append(action(index))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_a_job_name_race_has_exactly_one_winner(platform, tiny_bundle):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    users = [platform.user(f"user{i}") for i in range(6)]
    results, errors = race(lambda i: platform.create_job(users[i], "contested", "TinyRegressor:1.0", 1, ["site_a"]))
    assert len(results) == 1
    assert len(errors) == 5 and all(isinstance(e, StorageConflict) and "already exists" in str(e) for e in errors)


def test_the_queue_limit_holds_under_concurrent_starts(platform, tiny_bundle):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    for i in range(6):
        platform.create_job(alice, f"j{i}", "TinyRegressor:1.0", 1, ["site_a"])
    results, errors = race(lambda i: platform.start_job(alice, f"j{i}"))
    assert len(results) == 2
    assert all(isinstance(e, StorageConflict) for e in errors)
    assert len(platform.storage.list_jobs(states=[JobState.QUEUED])) == 2


def test_a_queued_job_is_claimed_by_one_scheduler_only(platform, tiny_bundle):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "once", "TinyRegressor:1.0", 1, ["site_a"])
    platform.start_job(alice, "once")
    claimed, errors = race(lambda i: platform.storage.claim_next_queued(capacity=5, runner="simulator"))
    assert errors == []
    assert [job.name for job in claimed if job is not None] == ["once"]


def test_large_files_are_stored_in_chunks_and_come_back_whole(platform, tiny_bundle, tmp_path):
    weights = tiny_bundle / "pretrained.pt"
    weights.write_bytes(os.urandom(2 * CHUNK_BYTES + 12345))
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.1")  # same content: stored once
    out = platform.storage.export_model_files("TinyRegressor", "1.1", tmp_path / "out")
    assert (out / "pretrained.pt").read_bytes() == weights.read_bytes()


def test_results_export_metrics_csv_and_models(platform, tiny_bundle, tmp_path):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "done", "TinyRegressor:1.0", 1, ["site_a"])
    storage = platform.storage
    storage.record_metrics("done", 1, "site_a", "global", {"rmse": 1.5, "r2": 0.25})
    storage.record_metrics("done", 1, "site_a", "global", {"rmse": 1.25})  # re-sent: replaced, not doubled
    model = {"w": torch.arange(4.0)}
    save_file(model, tmp_path / "global_model.safetensors")
    torch.save(model, tmp_path / "global_model.pt")
    storage.put_artefact("done", "global_model.safetensors", tmp_path / "global_model.safetensors")
    storage.put_artefact("done", "global_model.pt", tmp_path / "global_model.pt")

    with open(platform.write_metrics_csv(alice, "done", tmp_path / "m.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["metric"], float(r["value"])) for r in rows] == [("r2", 0.25), ("rmse", 1.25)]
    assert torch.equal(load_file(platform.write_model(alice, "done", tmp_path / "x.safetensors"))["w"], model["w"])
    assert torch.equal(torch.load(platform.write_model(alice, "done", tmp_path / "x.pt"), weights_only=True)["w"], model["w"])
    with pytest.raises(Exception, match="must end in .pt or .safetensors"):
        platform.write_model(alice, "done", tmp_path / "x.bin")
    with pytest.raises(Exception, match="has no best_global_model.pt"):
        platform.write_model(alice, "done", tmp_path / "best.pt", best=True)


def test_the_server_sink_attaches_to_a_running_platform_job(platform, runner, tiny_bundle, tmp_path):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "mine", "TinyRegressor:1.0", 2, ["site_a"])
    platform.start_job(alice, "mine")
    platform.tick()
    events = []
    sink = StorageSink(platform.storage, "mine", results_dir=tmp_path, events=lambda hook, **kw: events.append(hook))
    sink.job_started(1.0, ["site_a"], 2)
    sink.round_started(1, 1.0)
    sink.site_round(1, "site_a", [{"code": 4000, "name": "receive", "start": 1.0, "end": 2.0}], 30,
                    setup_phases=[{"code": 900, "name": "environment", "start": 0.0, "end": 1.0}])  # fmt: skip
    sink.metrics(1, "site_a", "local", {"rmse": 0.5})
    sink.round_finished(1, 3.0)
    torch.save({"w": torch.zeros(1)}, tmp_path / "global_model.pt")
    sink.finished("completed", 4.0)

    # the platform settles its own job when its runner says the run is over (after backfilling its files)
    assert platform.storage.get_job("mine").state == JobState.RUNNING
    runner.outcomes["mine"] = RunStatus("completed", "all rounds finished")
    platform.tick()
    job = platform.storage.get_job("mine")
    assert job.state == JobState.COMPLETED and not job.external
    progress = platform.progress(alice, "mine")
    assert progress.setup["site_a"][0]["code"] == 900
    assert progress.rounds[1].started == 1.0 and progress.rounds[1].finished == 3.0
    assert progress.rounds[1].sites["site_a"].num_samples == 30
    assert platform.storage.artefacts("mine") == {"global_model.pt": (tmp_path / "global_model.pt").stat().st_size}
    assert events == ["fdd_round_progress", "fdd_metrics_recorded"]


def test_a_job_submitted_outside_the_platform_gets_its_own_record(platform):
    told = []
    sink = StorageSink(platform.storage, "console_job", submitter="admin@nvidia.com", nvflare_job_id="abc123",
                       events=lambda hook, **event: told.append((event["old_state"], event["new_state"], event["reason"])))
    sink.job_started(1.0, ["site_a", "site_b"], 3)
    job = platform.storage.get_job("console_job")
    assert (job.external, job.owner, job.state, job.rounds) == (True, "nvflare:admin@nvidia.com", JobState.RUNNING, 3)
    sink.finished("failed", 2.0, failure={"code": 6000, "phase": "train", "site": "site_a", "round": 1, "message": "x", "trace": ""})
    assert platform.storage.get_job("console_job").state == JobState.FAILED
    # plugins hear each move as storage recorded it
    assert told == [(e.from_state, e.to_state, e.reason) for e in platform.storage.job_events("console_job")]
    # the same folder submitted again: a second record, not an overwrite of the first
    again = StorageSink(platform.storage, "console_job", submitter="admin@nvidia.com", nvflare_job_id="def456")
    again.job_started(5.0, ["site_a"], 1)
    assert platform.storage.get_job("console_job_def456").state == JobState.RUNNING
    assert platform.storage.get_job("console_job").state == JobState.FAILED


def test_a_write_that_cannot_succeed_is_logged_at_once_not_retried(platform, caplog):
    sink = StorageSink(platform.storage, "ghost")  # no such job: every write fails, and would fail again
    started = time.monotonic()
    sink.metrics(1, "site_a", "global", {"rmse": 1.0})
    assert "could not record metrics for job ghost (not retried: it cannot succeed)" in caplog.text
    assert time.monotonic() - started < 0.5  # no sleeping in the server's thread


def test_a_storage_outage_is_retried_then_left_to_the_files(tmp_path, caplog):
    from nvflare_fdd.platform.storage import SqlStorage

    storage = SqlStorage(f"sqlite:///{tmp_path / 'platform.db'}")
    storage.engine.dispose()
    (tmp_path / "platform.db").unlink()
    (tmp_path / "platform.db").mkdir()  # the database file is gone and cannot be opened: an outage
    sink = StorageSink(storage, "any_job")
    sink.metrics(1, "site_a", "global", {"rmse": 1.0})
    assert "could not record metrics for job any_job after 3 tries" in caplog.text


def test_processes_starting_together_migrate_the_schema_once(storage_url):
    """Several platform processes opening a new database at once must not trip over each other's migration."""
    storages, errors = race(lambda i: SqlStorage(storage_url), count=6)
    try:
        assert errors == []
        assert len(storages) == 6
    finally:
        for storage in storages:
            storage.close()


def test_time_stamps_come_back_in_utc(platform):
    """SQLite drops the zone of what it stores; records must still say UTC, or local displays are wrong."""

    user = platform.user("tz")
    assert user.created_at.tzinfo is not None
    assert user.created_at.utcoffset() == UTC.utcoffset(None)


def test_schedulers_claiming_at_once_never_exceed_the_capacity(platform, platform_factory, tiny_bundle):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    for index in range(4):
        platform.create_job(alice, f"job{index}", "TinyRegressor:1.0", 1, ["site_a"])
    for index in range(2):
        platform.start_job(alice, f"job{index}")
    schedulers = [platform_factory() for _ in range(4)]  # separate storages: separate connections, as separate processes
    claimed, errors = race(lambda i: schedulers[i].storage.claim_next_queued(capacity=1, runner="simulator"), count=4)
    assert errors == []
    assert len([job for job in claimed if job is not None]) == 1
    assert len(platform.storage.list_jobs(states=[JobState.RUNNING])) == 1


def test_two_writers_of_the_same_content_share_one_blob(platform_factory, tiny_bundle, tmp_path):
    writers = [platform_factory() for _ in range(4)]
    for index, writer in enumerate(writers):
        writer.user(f"user{index}")
    weights = tmp_path / "same.pt"
    weights.write_bytes(b"the same weights" * 1000)
    bundles = []
    for index in range(4):
        bundle = tmp_path / f"bundle{index}"
        shutil.copytree(tiny_bundle, bundle)
        shutil.copy(weights, bundle / "pretrained.pt")
        bundles.append(bundle)
    models, errors = race(lambda i: writers[i].register_model(writers[i].user(f"user{i}"), bundles[i], "TinyRegressor",
                                                                f"{i}.0"), count=4)  # fmt: skip
    assert errors == [] and len(models) == 4


def _record_a_round(sink: StorageSink) -> None:
    sink.job_started(1.0, ["site_a"], 1)
    sink.round_started(1, 1.0)
    sink.metrics(1, "site_a", "global", {"rmse": 0.5})
    sink.round_finished(1, 2.0)
    sink.finished("completed", 3.0)


@pytest.mark.parametrize("storage_fails", [False, True])
def test_a_run_the_sink_stored_whole_is_not_copied_in_again(platform, runner, tiny_bundle, tmp_path, monkeypatch,
                                                            storage_fails):  # fmt: skip
    import nvflare_fdd.platform.service.queue as queue

    folder = tmp_path / "fdd"
    folder.mkdir()
    runner.results_dir = lambda handle, work_dir: folder  # the run's results folder, as the simulator runner has it
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "once", "TinyRegressor:1.0", 1, ["site_a"])
    platform.start_job(alice, "once")
    platform.tick()
    recorder = RunRecorder(folder, job="once")
    _record_a_round(recorder)  # the run's own files, as the server's recorder writes them beside the sink
    sink = StorageSink(platform.storage, "once", results_dir=folder)
    if storage_fails:  # one write lost to an outage: the platform must copy the files in
        monkeypatch.setattr(platform.storage, "record_metrics", _outage)
    _record_a_round(sink)
    monkeypatch.undo()
    copied = []
    monkeypatch.setattr(queue, "import_results", lambda *args: copied.append(args) or import_results(*args))

    runner.outcomes["once"] = RunStatus("completed", "all rounds finished")
    platform.tick()

    assert storage_complete(folder) is not storage_fails
    assert len(copied) == int(storage_fails)
    assert [(m.round, m.site, m.metric, m.value) for m in platform.storage.metrics("once")] == [(1, "site_a", "rmse", 0.5)]
    assert platform.storage.get_job("once").state == JobState.COMPLETED


def _outage(*args, **kwargs):
    from sqlalchemy.exc import OperationalError

    raise OperationalError("INSERT", {}, Exception("the database is away"))


def test_a_resumed_run_is_not_complete_until_it_finishes_again(platform, tmp_path):
    (tmp_path / STORAGE_COMPLETE).write_text("{}")  # left by the run before the resume
    sink = StorageSink(platform.storage, "ghost", results_dir=tmp_path)
    sink.job_started(1.0, ["site_a"], 1)
    assert not storage_complete(tmp_path)
