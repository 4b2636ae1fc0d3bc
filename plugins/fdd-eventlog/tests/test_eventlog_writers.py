"""The log file under concurrent writers, failed writes, and reading it back from the end."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

import fdd_eventlog.log
from fdd_eventlog import EventLogError, append_event, encode_line, event_record, tail

WRITERS = 4
EVENTS_PER_WRITER = 40
PADDING = 48_000  # bytes per line: far above PIPE_BUF and a page, so unlocked partial writes would show


def write_events(writer: int, ready, start) -> None:
    """One process's share: events through the plugin manager, as the platform fires them."""
    import fdd_eventlog.plugin
    from nvflare_fdd.plugin.manager import FddPluginManager

    manager = FddPluginManager(autoload=False, plugins=(fdd_eventlog.plugin,))
    ready.wait()
    start.wait()
    for seq in range(EVENTS_PER_WRITER):
        metrics = {"writer": writer, "seq": seq, "padding": str(writer) * PADDING}
        manager.notify("fdd_metrics_recorded", job=f"job_{writer}", round=seq, site="s", kind="global", metrics=metrics)


def test_concurrent_processes_never_interleave_lines(event_log, read_log):
    context = multiprocessing.get_context("spawn")
    ready, start = context.Barrier(WRITERS), context.Event()
    processes = [context.Process(target=write_events, args=(writer, ready, start)) for writer in range(WRITERS)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=120)

    assert [process.exitcode for process in processes] == [0] * WRITERS
    events = read_log(event_log)
    assert len(events) == WRITERS * EVENTS_PER_WRITER
    for event in events:
        writer = event["metrics"]["writer"]
        assert event["job"] == f"job_{writer}" and event["metrics"]["padding"] == str(writer) * PADDING
    for writer in range(WRITERS):  # each process's lines, in the order it wrote them
        assert [e["metrics"]["seq"] for e in events if e["metrics"]["writer"] == writer] == list(range(EVENTS_PER_WRITER))
    assert len({e["pid"] for e in events}) == WRITERS


def test_a_short_write_is_cut_back_off(event_log, read_log, monkeypatch):
    append_event(event_record("job_state_changed", "kept"))
    real_write = os.write

    def half_write(fd: int, data: bytes) -> int:
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(fdd_eventlog.log.os, "write", half_write)
    with pytest.raises(EventLogError, match="cannot write to the event log .*only .* bytes could be written"):
        append_event(event_record("job_state_changed", "half"))
    monkeypatch.setattr(fdd_eventlog.log.os, "write", real_write)
    append_event(event_record("job_state_changed", "after"))

    assert [e["job"] for e in read_log(event_log)] == ["kept", "after"]


def write_jobs(path: Path, jobs: list[str]) -> None:
    """Lines as ``append_event`` writes them, in one go (no fsync per line: these tests are about reading)."""
    with open(path, "ab") as handle:
        handle.writelines(encode_line(event_record("job_state_changed", job, reason="x" * 200)) for job in jobs)


def test_tail_reads_the_last_events_across_blocks(tmp_path):
    path = tmp_path / "events.jsonl"
    write_jobs(path, [f"job_{i % 3}" for i in range(900)])  # ~300 kB: several 64 kB blocks
    assert path.stat().st_size > 4 * (1 << 16)

    last = tail(path, 4)
    only_job_1 = tail(path, 300, job="job_1")
    everything = tail(path, 10_000)

    assert [e["job"] for e in last.events] == ["job_2", "job_0", "job_1", "job_2"]
    assert len(only_job_1.events) == 300 and {e["job"] for e in only_job_1.events} == {"job_1"}
    assert len(everything.events) == 900 and everything.skipped == 0


def test_tail_passes_over_broken_lines_and_a_line_still_being_written(tmp_path):
    path = tmp_path / "events.jsonl"
    write_jobs(path, ["first"])
    with open(path, "ab") as handle:
        handle.write(b"not json\n[1, 2]\n")
    write_jobs(path, ["second"])
    with open(path, "ab") as handle:
        handle.write(b'{"at": "2025-06-01T00:00:00Z", "event": "job_sta')

    found = tail(path, 10)

    assert [e["job"] for e in found.events] == ["first", "second"]
    assert found.skipped == 2


@pytest.mark.parametrize("content", [b"", b"\n\n", b'{"job": "partial"'])
def test_tail_of_a_log_without_complete_events_is_empty(tmp_path, content):
    path = tmp_path / "events.jsonl"
    path.write_bytes(content)

    assert tail(path, 5) == ([], 0)


def test_tail_of_a_missing_log_names_it(tmp_path):
    with pytest.raises(EventLogError, match="no event log at .*nowhere.jsonl"):
        tail(tmp_path / "nowhere.jsonl", 5)
