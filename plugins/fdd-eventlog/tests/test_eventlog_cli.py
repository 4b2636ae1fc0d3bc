"""``fdd-eventlog tail``: the last events, in words or as stored."""

from __future__ import annotations

import importlib.metadata
import json

import pytest
from click.testing import CliRunner

from fdd_eventlog import append_event, event_record
from fdd_eventlog.cli import main

PHASES = [
    {"code": 1000, "name": "config", "start": 100.0, "end": 100.5},
    {"code": 6000, "name": "train", "start": 100.5, "end": 110.0},
]


@pytest.fixture
def filled_log(event_log):
    """Four events of two jobs, as the plugin writes them."""
    append_event(event_record("job_state_changed", "sol_1", old_state=None, new_state="ready", reason="created"))
    append_event(event_record("job_state_changed", "sol_1", old_state="ready", new_state="queued", reason="start requested by the user"))
    append_event(event_record("round_progress", "sol_1", round=1, site="pharma_a", phases=PHASES))
    append_event(event_record("metrics_recorded", "logd_20", round=1, site="pharma_b", kind="global",
                              metrics={"mse": 0.123456, "r2": "NaN"}))  # fmt: skip
    return event_log


def test_tail_prints_each_kind_of_event_in_words(filled_log):
    result = CliRunner().invoke(main, ["tail"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("sol_1    state    new → ready: created")
    assert lines[1].endswith("sol_1    state    ready → queued: start requested by the user")
    assert lines[2].endswith("sol_1    round 1  pharma_a finished in 10.0 s (config 0.5 s, train 9.5 s)")
    assert lines[3].endswith("logd_20  metrics  round 1  pharma_b  global  mse=0.1235 r2=NaN")
    assert all(line[4] == "-" and line[10] == " " and line[13] == ":" for line in lines)  # 2025-06-01 12:00:03


def test_tail_limits_and_filters(filled_log):
    last_two = CliRunner().invoke(main, ["tail", "-n", "2"])
    one_job = CliRunner().invoke(main, ["tail", "--job", "sol_1", "--lines", "2"])

    assert [line.split()[-1] for line in last_two.output.splitlines()] == ["s)", "r2=NaN"]
    assert "queued" not in last_two.output
    assert len(one_job.output.splitlines()) == 2
    assert "logd_20" not in one_job.output and "ready → queued" in one_job.output


def test_tail_json_prints_the_stored_events(filled_log):
    result = CliRunner().invoke(main, ["tail", "--json", "--job", "logd_20"])

    [event] = [json.loads(line) for line in result.output.splitlines()]
    assert (event["event"], event["metrics"]) == ("metrics_recorded", {"mse": 0.123456, "r2": "NaN"})


def test_tail_reads_another_file(tmp_path, event_log):
    other = tmp_path / "archive.jsonl"
    append_event(event_record("job_state_changed", "old_job", old_state="running", new_state="completed",
                              reason="all rounds finished"), other)  # fmt: skip

    result = CliRunner().invoke(main, ["tail", "--file", str(other)])

    assert result.exit_code == 0 and "old_job  state    running → completed" in result.output


def test_a_missing_log_says_where_it_looked_and_what_to_do(event_log):
    result = CliRunner().invoke(main, ["tail"])

    assert result.exit_code == 1
    assert f"no event log at {event_log}" in result.output and "--file or $FDD_EVENT_LOG" in result.output
    assert "Traceback" not in result.output


def test_no_events_of_a_job_is_not_an_error(filled_log):
    result = CliRunner().invoke(main, ["tail", "--job", "nope"])

    assert result.exit_code == 0 and "no events of job nope" in result.output


def test_a_count_below_one_is_refused(filled_log):
    result = CliRunner().invoke(main, ["tail", "-n", "0"])

    assert result.exit_code == 2 and "-n" in result.output


@pytest.mark.skipif(
    not any(ep.name == "fdd-eventlog" for ep in importlib.metadata.entry_points(group="console_scripts")),
    reason="nvflare-fdd-eventlog is not installed (pip install -e plugins/fdd-eventlog)",
)
def test_the_console_script_is_fdd_eventlog():
    [script] = [ep for ep in importlib.metadata.entry_points(group="console_scripts") if ep.name == "fdd-eventlog"]

    assert script.load() is main
