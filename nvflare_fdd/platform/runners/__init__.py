"""Where jobs run: the NVFlare simulator on this machine, or a real deployment through the FLARE API.

A runner submits a prepared job folder, reports whether it still runs, and aborts it.
Progress and metrics do not come through the runner: the job's server-side recorder
writes them into the platform's storage as they happen (see ``platform.sink``), on
the simulator and on a real deployment alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nvflare_fdd.platform.records import Job


@dataclass(frozen=True)
class RunStatus:
    """What a runner knows of a submitted job: ``running``, or how it ended."""

    state: str  # running | completed | failed | cancelled
    reason: str = ""
    failure: dict | None = None

    @property
    def finished(self) -> bool:
        return self.state != "running"


class Runner(Protocol):
    name: str

    def sites(self) -> list[str]:
        """The sites jobs can use."""

    def submit(self, job: Job, job_dir: Path, work_dir: Path) -> str:
        """Start the NVFlare job folder ``job_dir``; returns a handle to poll and abort it by."""

    def poll(self, handle: str) -> RunStatus:
        """The job's status now."""

    def abort(self, handle: str) -> None:
        """Stop the job (what it started included)."""
