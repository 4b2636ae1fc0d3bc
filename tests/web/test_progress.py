"""The job page's progress and metrics views, as pure functions of the platform's records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nvflare_fdd.platform.records import Job, JobProgress, JobState, MetricValue, RoundProgress
from nvflare_fdd.web.progress import metrics_view, progress_view

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_job(state: JobState, started: bool = True, finished: bool = False) -> Job:
    return Job(id=1, name="j", owner="alice", model="M:1", description="", rounds=2, sites=("a", "b"), state=state,
               created_at=T0, started_at=T0.replace(tzinfo=None) if started else None,  # SQLite gives naive UTC times
               finished_at=T0 + timedelta(seconds=60) if finished else None)  # fmt: skip


def phases(start: float, end: float) -> list[dict]:
    return [
        {"code": 900, "name": "environment", "start": start, "end": start + 1},
        {"code": 3000, "name": "model_loader", "start": start + 1, "end": end},
    ]


def test_a_failed_job_marks_the_step_it_broke_in():
    t = T0.timestamp()
    progress = JobProgress(
        job=make_job(JobState.FAILED, finished=True),
        setup={"a": phases(t, t + 3), "b": phases(t, t + 4)},
        rounds={1: RoundProgress(started=t, finished=t + 10), 2: RoundProgress(started=t + 10)},
    )

    view = progress_view(progress, now=t + 1000)

    assert view["start"] == {"status": "done", "at": t}
    assert view["environment"]["status"] == "done"
    assert [s["environment_seconds"] for s in view["environment"]["sites"]] == [1.0, 1.0]
    assert [(r["status"], r["elapsed"]) for r in view["rounds"]] == [("done", 10.0), ("failed", 50.0)]
    assert view["results"]["status"] == "failed"


def test_a_running_job_gives_the_start_of_what_runs_and_each_site_its_own_end():
    t = T0.timestamp()
    progress = JobProgress(job=make_job(JobState.RUNNING), setup={"a": phases(t, t + 3)},
                           rounds={1: RoundProgress(started=t)})  # fmt: skip

    view = progress_view(progress, now=t + 7)

    assert view["environment"]["status"] == "active"  # site b has not reported its setup yet
    assert [s["status"] for s in view["environment"]["sites"]] == ["done", "active"]  # a's ended when it ended
    assert view["environment"]["elapsed"] is None and view["environment"]["started"] == t
    assert [(r["status"], r["started"], r["elapsed"]) for r in view["rounds"]] == [("active", t, None), ("pending", None, None)]
    assert progress_view(progress, now=t + 8) == view  # nothing in it moves with the clock: the page times it (ETag)
    assert view["results"]["status"] == "pending"


def test_a_ready_job_has_every_step_pending():
    view = progress_view(JobProgress(job=make_job(JobState.READY, started=False)), now=0)

    statuses = [view["start"]["status"], view["environment"]["status"], view["results"]["status"]]
    assert statuses + [r["status"] for r in view["rounds"]] == ["pending"] * 5
    assert view["elapsed"] is None


def test_metrics_group_by_metric_then_site_then_kind():
    values = [MetricValue(2, "b", "global", "mse", 1.0), MetricValue(1, "b", "global", "mse", 2.0),
              MetricValue(1, "a", "local", "r2", 0.5)]  # fmt: skip

    view = metrics_view(values)

    assert view["metrics"] == ["mse", "r2"] and view["sites"] == ["a", "b"] and view["rounds"] == 2
    assert view["series"]["mse"]["b"] == {"global": [[1, 2.0], [2, 1.0]], "local": []}


def test_a_site_whose_environment_is_built_is_shown_so_before_its_setup_ends():
    t = T0.timestamp()
    environment_only = [{"code": 900, "name": "environment", "start": t, "end": t + 2, "sandboxed": False}]
    progress = JobProgress(job=make_job(JobState.RUNNING), setup={"a": phases(t, t + 3), "b": environment_only})

    sites = progress_view(progress, now=t + 5)["environment"]["sites"]

    assert [(s["site"], s["status"], s["environment"]) for s in sites] == [("a", "done", "done"), ("b", "active", "done")]
    assert sites[0]["setup_seconds"] == 3.0 and sites[0]["ended_at"] == t + 3 and sites[1]["sandboxed"] is False


def test_the_environment_step_ends_when_the_last_site_ended_its_setup():
    t = T0.timestamp()
    progress = JobProgress(job=make_job(JobState.RUNNING), setup={"a": phases(t, t + 3), "b": phases(t, t + 9)},
                           rounds={1: RoundProgress(started=t + 1)})  # fmt: skip

    view = progress_view(progress, now=t + 20)

    assert view["environment"]["status"] == "done" and view["environment"]["elapsed"] == 9.0
