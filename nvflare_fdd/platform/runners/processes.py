"""Processes the platform started and finds again by pid: alive, and the same process (pids get reused)."""

from __future__ import annotations

import os


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot, ``/proc/<pid>/stat`` field 22), or ``None``."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process(pid: int, started: int | None) -> bool:
    """``pid`` runs, and is the process that started at ``started`` (when known), not one that got its pid since."""
    return alive(pid) and (started is None or start_time(pid) == started)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (works for processes this platform did not start)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)  # reap our own child
        except ChildProcessError:
            pass
        return False
    return True

