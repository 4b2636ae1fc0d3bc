"""Load: 25 users submitting 50 jobs at once through the service, with two schedulers running the queue.

The runner here completes each job a moment after it is submitted (the real runners are
covered end to end elsewhere); what is under load is the service and its database.
"""

from __future__ import annotations

import json
import statistics
import threading
import time

import pytest

from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.runners import RunStatus
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage, StorageConflict
from nvflare_fdd.plugin.manager import FddPluginManager

pytestmark = pytest.mark.slow

USERS = 25
JOBS_PER_USER = 2


class QuickRunner:
    """Finishes every job 0.2 s after submission; thread-safe, shared by both schedulers."""

    name = "simulator"

    def __init__(self):
        self.submitted: list[str] = []
        self._lock = threading.Lock()

    def sites(self):
        return ["site_a", "site_b"]

    def submit(self, job, job_dir, work_dir):
        with self._lock:
            self.submitted.append(job.name)
        return json.dumps({"job": job.name, "at": time.monotonic()})

    def poll(self, handle):
        return RunStatus("completed", "done") if time.monotonic() - json.loads(handle)["at"] > 0.2 else RunStatus("running")

    def abort(self, handle):
        pass


def test_fifty_jobs_from_twenty_five_users_at_once(storage_url, tmp_path, tiny_bundle, capsys):
    runner = QuickRunner()

    def make_platform() -> Platform:
        config = PlatformConfig(home=tmp_path / "home", storage_url=storage_url, capacity=4, max_queued_per_user=2)
        return Platform(config, storage=SqlStorage(storage_url), runner=runner, plugins=FddPluginManager(autoload=False))

    setup = make_platform()
    setup.register_model(setup.user("owner"), tiny_bundle, "TinyRegressor", "1.0")
    users = [setup.user(f"user{i:02d}") for i in range(USERS)]

    platforms = [make_platform() for _ in range(USERS)]  # one service connection pool per user session
    timings: list[float] = []
    refusals: dict[str, list[str]] = {"name taken": [], "queue full": []}
    lock = threading.Lock()
    barrier = threading.Barrier(USERS)
    errors: list[BaseException] = []

    def timed(action):
        started = time.perf_counter()
        try:
            return action()
        finally:
            with lock:
                timings.append(time.perf_counter() - started)

    def user_session(index: int) -> None:
        platform = platforms[index]
        user = users[index]
        barrier.wait(timeout=60)
        for number in range(JOBS_PER_USER):
            name = f"u{index:02d}_job{number}"
            timed(lambda name=name: platform.create_job(user, name, "TinyRegressor:1.0", 1, ["site_a", "site_b"]))
            try:
                timed(lambda name=name: platform.start_job(user, name))
            except StorageConflict:
                with lock:
                    refusals["queue full"].append(name)
        try:  # everyone also races for one name
            timed(lambda: platform.create_job(user, "the_contested_name", "TinyRegressor:1.0", 1, ["site_a"]))
        except StorageConflict as exc:
            assert "already exists" in str(exc)
            with lock:
                refusals["name taken"].append(user.name)
        try:  # a third start always exceeds the limit while two are queued, or succeeds once one runs
            extra = f"u{index:02d}_extra"
            timed(lambda: platform.create_job(user, extra, "TinyRegressor:1.0", 1, ["site_a"]))
            timed(lambda: platform.start_job(user, extra))
        except StorageConflict as exc:
            assert "waiting in the queue" in str(exc)
            with lock:
                refusals["queue full"].append(extra)

    stop = threading.Event()

    def scheduler() -> None:
        platform = make_platform()
        while not stop.is_set():
            platform.tick()
            time.sleep(0.05)

    # daemon threads, stopped in `finally`: a failing assertion must not leave them ticking (pytest would never exit)
    schedulers = [threading.Thread(target=scheduler, daemon=True) for _ in range(2)]
    started = time.perf_counter()
    for thread in schedulers:
        thread.start()
    def guarded(index: int) -> None:
        try:
            user_session(index)
        except BaseException as exc:  # reported below, not lost in a thread
            with lock:
                errors.append(exc)

    sessions = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(USERS)]
    try:
        for thread in sessions:
            thread.start()
        for thread in sessions:
            thread.join()

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            waiting = setup.storage.list_jobs(states=[JobState.QUEUED, JobState.RUNNING])
            if not waiting:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in schedulers:
            thread.join(timeout=30)
    elapsed = time.perf_counter() - started

    assert errors == []
    jobs = setup.storage.list_jobs()
    started_jobs = [j for j in jobs if j.state != JobState.READY]
    assert len(refusals["name taken"]) == USERS - 1  # exactly one user got the contested name
    assert sum(1 for j in jobs if j.name == "the_contested_name") == 1
    assert all(j.state in (JobState.COMPLETED, JobState.READY) for j in jobs), [(j.name, j.state) for j in jobs]
    assert sorted(runner.submitted) == sorted(j.name for j in started_jobs)  # each started job ran exactly once
    for job in started_jobs:  # the queue limit held: no user ever had more than 2 queued at once
        events = setup.storage.job_events(job.name)
        assert [e.to_state for e in events] == ["ready", "queued", "running", "completed"]
    assert _max_queued_per_user(setup) <= 2
    assert 1 <= _max_running(setup) <= 4  # two schedulers never ran more than the capacity at once
    with capsys.disabled():
        print(f"\n[load {storage_url.split(':')[0]}] {len(started_jobs)} jobs completed in {elapsed:.1f} s "
              f"= {60 * len(started_jobs) / elapsed:.0f} jobs/min; {len(timings)} requests, "
              f"median {1000 * statistics.median(timings):.0f} ms, slowest {1000 * max(timings):.0f} ms; "
              f"refused: {len(refusals['queue full'])} starts (queue limit), {len(refusals['name taken'])} names")  # fmt: skip


def _max_running(platform: Platform) -> int:
    """Replay every job's state history: the most jobs running at the same time."""
    changes = []
    for job in platform.storage.list_jobs():
        for event in platform.storage.job_events(job.name):
            if event.to_state == "running":
                changes.append((event.at, 1))
            elif event.from_state == "running":
                changes.append((event.at, -1))
    level = worst = 0
    for _, delta in sorted(changes):  # at a tie, the job leaving counts first
        level += delta
        worst = max(worst, level)
    return worst


def _max_queued_per_user(platform: Platform) -> int:
    """Replay every user's state history: the most jobs they ever had queued at the same time."""
    changes: dict[str, list[tuple]] = {}
    for job in platform.storage.list_jobs():
        for event in platform.storage.job_events(job.name):
            if "queued" in (event.from_state, event.to_state):
                changes.setdefault(job.owner, []).append((event.at, 1 if event.to_state == "queued" else -1))
    worst = 0
    for events in changes.values():
        level = 0
        for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
            level += delta
            worst = max(worst, level)
    return worst
