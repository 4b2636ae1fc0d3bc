"""Model registry and job lifecycle rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.runners import RunStatus
from nvflare_fdd.platform.service import BundleRejected, PermissionDenied
from nvflare_fdd.platform.storage import NotFound, StorageConflict


@pytest.fixture
def alice(platform):
    return platform.user("alice")


@pytest.fixture
def registered(platform, alice, tiny_bundle):
    return platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0", "a tiny regressor")


def new_job(platform, user, name, **kwargs):
    kwargs.setdefault("sites", ["site_a", "site_b"])
    return platform.create_job(user, name, "TinyRegressor:1.0", kwargs.pop("rounds", 2), **kwargs)


# -- models ----------------------------------------------------------------------------------------


def test_a_registered_model_keeps_its_files(platform, registered, tiny_bundle, tmp_path):
    assert registered.label == "TinyRegressor:1.0"
    assert [f.name for f in registered.files] == sorted(p.name for p in tiny_bundle.iterdir())
    exported = platform.storage.export_model_files("TinyRegressor", "1.0", tmp_path / "out")
    for path in tiny_bundle.iterdir():
        assert (exported / path.name).read_bytes() == path.read_bytes()


def test_class_and_version_are_unique_across_users(platform, registered, tiny_bundle):
    bob = platform.user("bob")
    with pytest.raises(StorageConflict, match="TinyRegressor version 1.0 already exists"):
        platform.register_model(bob, tiny_bundle, "TinyRegressor", "1.0")
    assert platform.register_model(bob, tiny_bundle, "TinyRegressor", "2.0").owner == "bob"


def test_an_invalid_bundle_is_refused_with_every_problem(platform, alice, make_bundle):
    bundle = make_bundle({"data.py": None, "train_eval.py": "def train(m, d):\n    pass\n"}, name="broken")
    with pytest.raises(BundleRejected) as caught:
        platform.register_model(alice, bundle, "TinyRegressor", "1.0")
    text = str(caught.value)
    assert "data.py" in text and "train" in text
    assert platform.storage.list_models() == []


def test_the_registered_class_must_exist(platform, alice, tiny_bundle):
    with pytest.raises(BundleRejected, match="NoSuchClass"):
        platform.register_model(alice, tiny_bundle, "NoSuchClass", "1.0")


def test_editing_replaces_the_files(platform, alice, registered, make_bundle):
    changed = make_bundle({"config.yaml": "n_features: 3\nlearning_rate: 0.5\nepochs: 1\n"}, name="changed")
    model = platform.replace_model_files(alice, "TinyRegressor", "1.0", changed)
    assert model.updated_at >= registered.updated_at
    assert next(f for f in model.files if f.name == "config.yaml").size == (changed / "config.yaml").stat().st_size


def test_only_the_owner_or_an_admin_changes_a_model(platform, registered):
    bob = platform.user("bob")
    with pytest.raises(PermissionDenied, match="belongs to alice"):
        platform.delete_model(bob, "TinyRegressor", "1.0")
    admin = platform.storage.ensure_user("root", is_admin=True)
    platform.describe_model(admin, "TinyRegressor", "1.0", "edited by an admin")


def test_a_model_in_use_cannot_be_deleted(platform, alice, registered, runner):
    new_job(platform, alice, "uses_it")
    platform.start_job(alice, "uses_it")  # queued
    with pytest.raises(StorageConflict, match="used by queued or running job uses_it"):
        platform.delete_model(alice, "TinyRegressor", "1.0")
    platform.tick()  # running
    with pytest.raises(StorageConflict):
        platform.delete_model(alice, "TinyRegressor", "1.0")
    runner.outcomes["uses_it"] = RunStatus("completed", "done")
    platform.tick()
    with pytest.raises(StorageConflict, match="job.s. uses_it use it") as refused:  # its jobs show it and resume from it
        platform.delete_model(alice, "TinyRegressor", "1.0")
    assert refused.value.code == "model.used_by_jobs" and refused.value.params["jobs"] == "uses_it"
    platform.delete_job(alice, "uses_it")
    platform.delete_model(alice, "TinyRegressor", "1.0")  # now allowed, and irreversible
    with pytest.raises(NotFound):
        platform.storage.get_model("TinyRegressor", "1.0")


# -- jobs: creation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["with space", "한글_job", "dash-ed", "semi;colon", ""])
def test_bad_job_names_are_refused(platform, alice, registered, name):
    with pytest.raises(FddError, match="only English letters, digits and _"):
        new_job(platform, alice, name)


def test_job_names_are_unique_across_users(platform, alice, registered):
    new_job(platform, alice, "same_name")
    with pytest.raises(StorageConflict, match="a job named 'same_name' already exists"):
        new_job(platform, platform.user("bob"), "same_name")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rounds": 0}, "rounds must be"),
        ({"sites": []}, "at least one site"),
        ({"sites": ["site_a", "site_z"]}, "unknown site"),
        ({"group": "nope", "sites": []}, "no site group named 'nope'"),
    ],
)
def test_bad_job_settings_are_refused(platform, alice, registered, kwargs, message):
    with pytest.raises(FddError, match=message):
        new_job(platform, alice, "bad", **kwargs)


def test_a_saved_site_group_picks_the_sites(platform, alice, registered):
    platform.save_group(alice, "both", ["site_b", "site_a"])
    job = new_job(platform, alice, "grouped", sites=[], group="both")
    assert job.sites == ("site_a", "site_b")
    assert [g.name for g in platform.groups(alice)] == ["both"]


# -- jobs: states ------------------------------------------------------------------------------------


def test_ready_queued_running_completed_with_every_step_recorded(platform, alice, registered, runner):
    assert new_job(platform, alice, "happy").state == JobState.READY
    assert platform.start_job(alice, "happy").state == JobState.QUEUED
    platform.tick()
    assert platform.storage.get_job("happy").state == JobState.RUNNING
    assert runner.submitted == ["happy"]
    runner.outcomes["happy"] = RunStatus("completed", "all rounds finished")
    platform.tick()
    job = platform.storage.get_job("happy")
    assert job.state == JobState.COMPLETED and job.finished_at is not None
    events = platform.storage.job_events("happy")
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, "ready"), ("ready", "queued"), ("queued", "running"), ("running", "completed")
    ]
    assert all(e.at and e.reason for e in events)


def test_a_failed_job_keeps_its_phase_code_site_and_trace(platform, alice, registered, runner):
    new_job(platform, alice, "breaks")
    platform.start_job(alice, "breaks")
    platform.tick()
    failure = {"code": 6000, "phase": "train", "site": "site_b", "round": 1, "message": "boom", "trace": "Traceback..."}
    runner.outcomes["breaks"] = RunStatus("failed", "boom", failure)
    platform.tick()
    job = platform.storage.get_job("breaks")
    assert job.state == JobState.FAILED
    assert job.failure == failure


def test_a_job_that_cannot_be_submitted_fails(platform, alice, registered, runner):
    runner.fail_submit.add("refused")
    new_job(platform, alice, "refused")
    platform.start_job(alice, "refused")
    platform.tick()
    job = platform.storage.get_job("refused")
    assert job.state == JobState.FAILED
    assert "the deployment refused the job" in job.failure["message"]


def test_stopping_a_queued_job_cancels_it_without_running_it(platform, alice, registered, runner):
    new_job(platform, alice, "never_runs")
    platform.start_job(alice, "never_runs")
    assert platform.stop_job(alice, "never_runs").state == JobState.CANCELLED
    platform.tick()
    assert runner.submitted == []


def test_stopping_a_running_job_aborts_it_on_the_runner(platform, alice, registered, runner):
    new_job(platform, alice, "long")
    platform.start_job(alice, "long")
    platform.tick()
    assert platform.stop_job(alice, "long").state == JobState.CANCELLED
    assert runner.aborted == ["long"]
    runner.outcomes["long"] = RunStatus("failed", "aborted")  # what the runner says afterwards changes nothing
    platform.tick()
    assert platform.storage.get_job("long").state == JobState.CANCELLED


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ([], "stop", "only a queued or running job can be stopped"),
        (["start"], "start", "only a ready job can be started"),
        (["start", "tick"], "start", "only a ready job can be started"),
        (["start", "stop"], "stop", "only a queued or running job can be stopped"),
    ],
)
def test_illegal_transitions_are_refused(platform, alice, registered, setup, action, message):
    new_job(platform, alice, "job1")
    for step in setup:
        {"start": lambda: platform.start_job(alice, "job1"), "tick": platform.tick, "stop": lambda: platform.stop_job(alice, "job1")}[step]()
    with pytest.raises(StorageConflict, match=message):
        (platform.start_job if action == "start" else platform.stop_job)(alice, "job1")


def test_only_the_owner_or_an_admin_starts_or_stops_a_job(platform, alice, registered):
    new_job(platform, alice, "alices")
    bob = platform.user("bob")
    with pytest.raises(PermissionDenied):
        platform.start_job(bob, "alices")
    platform.start_job(alice, "alices")
    with pytest.raises(PermissionDenied):
        platform.stop_job(bob, "alices")
    admin = platform.storage.ensure_user("root", is_admin=True)
    assert platform.stop_job(admin, "alices").state == JobState.CANCELLED


# -- the queue -----------------------------------------------------------------------------------------


def test_at_most_two_queued_jobs_per_user(platform_factory, tiny_bundle):
    platform = platform_factory(capacity=1, max_queued=2)
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    for name in ("q1", "q2", "q3"):
        new_job(platform, alice, name)
    platform.start_job(alice, "q1")
    platform.start_job(alice, "q2")
    with pytest.raises(StorageConflict, match="already have 2 jobs waiting in the queue"):
        platform.start_job(alice, "q3")
    assert platform.storage.get_job("q3").state == JobState.READY
    bob = platform.user("bob")  # the limit is per user
    new_job(platform, bob, "b1")
    assert platform.start_job(bob, "b1").state == JobState.QUEUED


def test_queued_jobs_start_in_order_as_capacity_frees(platform_factory, tiny_bundle, runner):
    platform = platform_factory(capacity=1)
    alice, bob = platform.user("alice"), platform.user("bob")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    for user, name in ((alice, "first"), (bob, "second")):
        new_job(platform, user, name)
        platform.start_job(user, name)
    platform.tick()
    assert [j.name for j in platform.storage.list_jobs(states=[JobState.RUNNING])] == ["first"]
    assert platform.storage.get_job("second").state == JobState.QUEUED
    runner.outcomes["first"] = RunStatus("completed")
    platform.tick()
    assert platform.storage.get_job("first").state == JobState.COMPLETED
    assert platform.storage.get_job("second").state == JobState.RUNNING
    assert runner.submitted == ["first", "second"]


def test_the_platform_takes_its_storage_backend_from_the_plugins(storage_url, tmp_path, runner):
    """No storage passed in: the backend named in the config comes through the fdd_storage_backends hook."""
    from nvflare_fdd.platform.config import PlatformConfig
    from nvflare_fdd.platform.service import Platform
    from nvflare_fdd.platform.storage import SqlStorage
    from nvflare_fdd.plugin.manager import FddPluginManager

    plugins = FddPluginManager(autoload=False)
    assert plugins.storage_backends()["sql"] is SqlStorage  # the built-in plugin's registration
    config = PlatformConfig(home=tmp_path, storage_url=storage_url, storage_backend="sql")
    platform = Platform(config, runner=runner, plugins=plugins)
    assert isinstance(platform.storage, SqlStorage)
    assert platform.user("someone").name == "someone"
    platform.storage.close()
    with pytest.raises(FddError, match="no storage backend 'nosql'"):
        Platform(PlatformConfig(home=tmp_path, storage_url=storage_url, storage_backend="nosql"), runner=runner,
                 plugins=FddPluginManager(autoload=False))  # fmt: skip
