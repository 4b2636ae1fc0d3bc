"""The platform end to end on the embedded simulator runner: queue, run, live results in storage, stop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.runners.processes import alive
from nvflare_fdd.platform.runners.simulator import SimulatorRunner
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import FddPluginManager
from nvflare_fdd.testing import MSE_EVALUATE, run_job, run_until, sgd_train, start_job

pytestmark = pytest.mark.slow


@pytest.fixture
def platform(tmp_path, two_sites):
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    config = PlatformConfig(home=tmp_path / "home", storage_url=url)
    storage = SqlStorage(url)
    yield Platform(config, storage=storage, runner=SimulatorRunner(two_sites, url), plugins=FddPluginManager(autoload=False))
    storage.close()


def test_a_job_runs_and_its_results_arrive_in_storage(platform, zero_init_bundle, tmp_path):
    job = run_job(platform, zero_init_bundle, "sim_job", timeout=240)

    assert job.state == JobState.COMPLETED, job.failure
    metrics = platform.storage.metrics("sim_job")
    assert {(m.round, m.site, m.kind) for m in metrics} == {
        (r, s, k) for r in (1, 2) for s in ("site_a", "site_b") for k in ("global", "local")
    }
    progress = platform.storage.progress("sim_job")
    assert sorted(progress.setup) == ["site_a", "site_b"]
    assert [p["code"] for p in progress.setup["site_a"]][0] == 900
    assert all(r.started and r.finished for r in progress.rounds.values())
    assert set(platform.storage.artefacts("sim_job")) >= {"global_model.pt", "global_model.safetensors"}
    assert platform.write_metrics_csv(platform.user("alice"), "sim_job", tmp_path / "m.csv").read_text().count("\n") == 1 + len(metrics)


SLOW_TRAIN = '''
import time


def train(model, data, configs):
    time.sleep(2)


def evaluate(model, data, configs):
    return {"loss": 1.0}
'''


def test_stop_cancels_a_running_job_and_ends_its_processes(platform, make_bundle):
    alice = platform.user("alice")
    start_job(platform, make_bundle({"train_eval.py": SLOW_TRAIN}, name="slow"), "slow_job", rounds=30)
    run_until(platform, "slow_job", lambda j: 1 in platform.storage.progress("slow_job").rounds and j.state == JobState.RUNNING)
    handle = json.loads(platform.storage.get_job("slow_job").run_handle)

    simulator = int(Path(handle["simulator_pid"]).read_text().split()[0])
    started = time.monotonic()
    assert platform.stop_job(alice, "slow_job").state == JobState.CANCELLED
    assert not alive(handle["pid"]) and not alive(simulator)  # the launcher and the simulator it ran
    assert time.monotonic() - started < 15
    platform.tick()
    assert platform.storage.get_job("slow_job").state == JobState.CANCELLED
    reasons = [e.reason for e in platform.storage.job_events("slow_job")]
    assert reasons[-1] == "stopped by alice"
    deadline = time.monotonic() + 10
    while (workers := [p for p in Path("/proc").glob("[0-9]*")
                       if b"nvflare_fdd.client.worker" in _cmdline(p) and b"slow" in _cmdline(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert workers == [], "user-code processes outlived the stopped job"


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


# Rounds long enough to kill a run mid-job, or to take its database away.
STEADY_TRAIN = sgd_train() + '''
import time

_train = train


def train(model, data, configs):
    time.sleep(1.5)
    _train(model, data, configs)
''' + MSE_EVALUATE


def test_a_killed_run_is_marked_failed_and_resumes_from_its_last_round(platform, make_bundle, zero_init_bundle):
    """The NVFlare server (here the simulator) killed mid-job: failed on the next check; resume finishes the job."""
    import os
    import signal

    alice = platform.user("alice")
    bundle = make_bundle({"model.py": (zero_init_bundle / "model.py").read_text(), "train_eval.py": STEADY_TRAIN}, name="steady")
    start_job(platform, bundle, "killed", rounds=4)
    run_until(platform, "killed", lambda j: platform.storage.last_checkpoint("killed") == 2)
    handle = json.loads(platform.storage.get_job("killed").run_handle)
    for pid in (handle["pid"], int(Path(handle["simulator_pid"]).read_text().split()[0])):  # the whole run, at once
        os.killpg(pid, signal.SIGKILL)

    job = run_until(platform, "killed", lambda j: j.state.is_final, timeout=30)
    assert job.state == JobState.FAILED
    before = {(m.round, m.site, m.kind, m.metric): m.value for m in platform.storage.metrics("killed") if m.round <= 2}
    assert {key[0] for key in before} == {1, 2}

    platform.resume_job(alice, "killed")
    job = run_until(platform, "killed", lambda j: j.state.is_final)
    assert job.state == JobState.COMPLETED, job.failure
    after = {(m.round, m.site, m.kind, m.metric): m.value for m in platform.storage.metrics("killed")}
    assert {key[0] for key in after} == {1, 2, 3, 4}
    assert {key: after[key] for key in before} == before  # completed rounds' metrics intact
    # round 3 started from round 2's model: its Global eval equals round 2's global model quality, not a fresh start
    round3_global = after[(3, "site_a", "global", "mse")]
    round1_global = after[(1, "site_a", "global", "mse")]
    assert round3_global < round1_global
    events = [(e.from_state, e.to_state) for e in platform.storage.job_events("killed")]
    assert events[-4:] == [("running", "failed"), ("failed", "queued"), ("queued", "running"), ("running", "completed")]


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for one test (dropped afterwards)."""
    import os
    import uuid

    from sqlalchemy import create_engine, make_url, text

    base = os.environ.get("FDD_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("FDD_REQUIRE_POSTGRES"):
            pytest.fail("FDD_TEST_POSTGRES_URL is not set but FDD_REQUIRE_POSTGRES is")
        pytest.skip("no PostgreSQL: run `eval \"$(scripts/postgres.sh)\"`")
    name = f"fdd_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False), admin, name
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_storage_outage_during_a_run_loses_nothing(postgres_url, two_sites, make_bundle, zero_init_bundle, tmp_path):
    """The platform database refuses connections for a while mid-run: the server's writes fail (retried, logged),
    and when the run is settled its own files fill the gap."""
    from sqlalchemy import text

    url, admin, name = postgres_url
    storage = SqlStorage(url)
    platform = Platform(PlatformConfig(home=tmp_path / "home", storage_url=url), storage=storage,
                        runner=SimulatorRunner(two_sites, url), plugins=FddPluginManager(autoload=False))  # fmt: skip
    bundle = make_bundle({"model.py": (zero_init_bundle / "model.py").read_text(), "train_eval.py": STEADY_TRAIN}, name="steady2")
    start_job(platform, bundle, "outage", rounds=5)
    run_until(platform, "outage", lambda j: 1 in {m.round for m in platform.storage.metrics("outage")})

    storage.engine.dispose()
    with admin.connect() as connection:  # the database goes away: no new connections, current ones cut
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
    time.sleep(8)  # at least one round ends while it is away
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    job = run_until(platform, "outage", lambda j: j.state.is_final)
    assert job.state == JobState.COMPLETED, job.failure
    log = (platform.config.jobs_dir / "outage" / "simulator.log").read_text()
    assert "platform storage: could not" in log  # the server noticed, retried and said so
    keys = {(m.round, m.site, m.kind) for m in platform.storage.metrics("outage")}
    assert keys == {(r, s, k) for r in range(1, 6) for s in ("site_a", "site_b") for k in ("global", "local")}
    assert all(record.finished for record in platform.storage.progress("outage").rounds.values())
    storage.close()


def test_a_recycled_pid_is_not_taken_for_a_running_job(platform, tmp_path):
    """A handle whose launcher ended long ago, its pid since given to another process, is a finished run."""
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        handle = json.dumps({"pid": other.pid, "started": 1, "workspace": str(tmp_path / "gone"), "log": str(tmp_path / "log"),
                             "outcome": str(tmp_path / "outcome.json"), "simulator_pid": str(tmp_path / "none.pid")})  # fmt: skip
        status = platform.runner.poll(handle)
    finally:
        other.kill()
    assert status.finished and status.state == "failed"
