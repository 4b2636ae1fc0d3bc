"""The plugin as nvflare-fdd calls it: through the plugin manager, the platform service and the server's recorder."""

from __future__ import annotations

import importlib.metadata
import logging
import math
import re
from datetime import UTC, datetime, timedelta

import pytest

import fdd_eventlog.plugin
from fdd_eventlog import EventLogError, append_event, event_record, log_path
from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.sink import StorageSink
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin import ENTRY_POINT_GROUP
from nvflare_fdd.plugin.manager import FddPluginManager
from nvflare_fdd.testing import plugin_installed

PHASES = [
    {"code": 1000, "name": "config", "start": 100.0, "end": 100.5},
    {"code": 6000, "name": "train", "start": 100.5, "end": 110.0},
    {"code": 8000, "name": "send", "start": 110.0, "end": 110.25},
]


@pytest.fixture
def manager() -> FddPluginManager:
    return FddPluginManager(autoload=False, plugins=(fdd_eventlog.plugin,))


def test_each_event_becomes_one_json_line(event_log, read_log, manager):
    before = datetime.now(UTC)

    manager.notify("fdd_job_state_changed", job="sol_1", old_state="ready", new_state="queued", reason="start requested")
    manager.notify("fdd_round_progress", job="sol_1", round=1, site="pharma_a", phases=PHASES)
    manager.notify("fdd_metrics_recorded", job="sol_1", round=1, site="pharma_a", kind="global", metrics={"mse": 0.5})

    state, progress, metrics = read_log(event_log)
    assert state == {"at": state["at"], "event": "job_state_changed", "job": "sol_1", "old_state": "ready",
                     "new_state": "queued", "reason": "start requested", "pid": state["pid"]}  # fmt: skip
    assert (progress["event"], progress["round"], progress["site"], progress["phases"]) == ("round_progress", 1, "pharma_a", PHASES)
    assert (metrics["event"], metrics["kind"], metrics["metrics"]) == ("metrics_recorded", "global", {"mse": 0.5})
    for line in (state, progress, metrics):
        at = datetime.fromisoformat(line["at"].replace("Z", "+00:00"))
        assert at.utcoffset() == timedelta(0) and before - timedelta(seconds=1) <= at <= datetime.now(UTC)


def test_the_default_log_is_in_the_platform_home(tmp_path, monkeypatch, read_log, manager):
    monkeypatch.delenv("FDD_EVENT_LOG", raising=False)
    monkeypatch.setenv("FDD_HOME", str(tmp_path / "home"))

    manager.notify("fdd_job_state_changed", job="j", old_state=None, new_state="ready", reason="created")

    assert log_path() == tmp_path / "home" / "event-log.jsonl"
    assert read_log(log_path())[0]["old_state"] is None


@pytest.mark.parametrize(
    ("value", "stored"),
    [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"), (0.25, 0.25)],
)
def test_non_finite_metrics_keep_the_line_strict_json(event_log, read_log, manager, value, stored):
    manager.notify("fdd_metrics_recorded", job="j", round=2, site="s", kind="local", metrics={"r2": value})

    assert read_log(event_log)[0]["metrics"] == {"r2": stored}


def test_a_multi_line_reason_stays_on_one_line(event_log, read_log, manager):
    reason = "site pharma_b, round 3, phase 6000:\nTraceback (most recent call last):\n  ...\nValueError: bad"

    manager.notify("fdd_job_state_changed", job="j", old_state="running", new_state="failed", reason=reason)

    assert event_log.read_text().count("\n") == 1
    assert read_log(event_log)[0]["reason"] == reason


def test_an_unwritable_log_is_logged_and_the_platform_goes_on(tmp_path, monkeypatch, caplog, manager):
    (tmp_path / "a_file").write_text("not a folder")
    bad = tmp_path / "a_file" / "events.jsonl"
    monkeypatch.setenv("FDD_EVENT_LOG", str(bad))

    with caplog.at_level(logging.ERROR):
        manager.notify("fdd_job_state_changed", job="j", old_state="ready", new_state="queued", reason="r")

    assert "failed in fdd_job_state_changed" in caplog.text
    with pytest.raises(EventLogError, match=f"cannot open the event log {re.escape(str(bad))}.*FDD_EVENT_LOG"):
        append_event(event_record("job_state_changed", "j"))


def test_the_platform_service_logs_its_state_changes(tmp_path, event_log, read_log, manager):
    class Sites:  # the service needs only the runner's site list to create a job
        def sites(self):
            return ["pharma_a", "pharma_b"]

    url = f"sqlite:///{tmp_path / 'platform.db'}"
    platform = Platform(PlatformConfig(home=tmp_path, storage_url=url), runner=Sites(), plugins=manager)
    alice = platform.user("alice")
    platform.storage.add_model("alice", "SolubilityMLP", "1.0", "", files={})

    platform.create_job(alice, "sol_1", "SolubilityMLP:1.0", rounds=2, sites=["pharma_a"])
    platform.start_job(alice, "sol_1")
    platform.stop_job(alice, "sol_1")

    moves = [(e["job"], e["old_state"], e["new_state"]) for e in read_log(event_log)]
    assert moves == [("sol_1", None, "ready"), ("sol_1", "ready", "queued"), ("sol_1", "queued", "cancelled")]


def test_the_servers_recorder_logs_rounds_metrics_and_the_outcome(tmp_path, event_log, read_log, manager):
    storage = SqlStorage(f"sqlite:///{tmp_path / 'platform.db'}")
    sink = StorageSink(storage, "ext_job", submitter="admin@site", nvflare_job_id="abc123", events=manager.notify)

    sink.job_started(0.0, ["pharma_a"], 1)
    sink.site_round(1, "pharma_a", PHASES, 40)
    sink.metrics(1, "pharma_a", "local", {"mse": 0.75})
    sink.finished("completed", 0.0)

    events = read_log(event_log)
    assert [e["event"] for e in events] == ["job_state_changed", "round_progress", "metrics_recorded", "job_state_changed"]
    assert {e["job"] for e in events} == {"ext_job"}
    assert (events[0]["old_state"], events[0]["new_state"]) == (None, "running")
    assert (events[-1]["old_state"], events[-1]["new_state"], events[-1]["reason"]) == ("running", "completed", "all rounds finished")
    assert events[2]["metrics"] == {"mse": 0.75}
    storage.close()


@pytest.mark.skipif(not plugin_installed("nvflare-fdd-eventlog"), reason="nvflare-fdd-eventlog is not installed (pip install -e plugins/fdd-eventlog)")
def test_the_entry_point_loads_the_plugin(event_log, read_log):
    [entry_point] = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "eventlog"]

    manager = FddPluginManager(autoload=True)
    manager.notify("fdd_job_state_changed", job="j", old_state="queued", new_state="running", reason="started")

    assert entry_point.value == "fdd_eventlog.plugin"
    assert "eventlog" in manager.plugin_names()
    assert read_log(event_log)[0]["new_state"] == "running"
