"""``FddRecorder``: the server component that keeps a run's results (see ``nvflare_fdd.results``)."""

from __future__ import annotations

import os
from pathlib import Path

from nvflare.apis.event_type import EventType
from nvflare.apis.fl_component import FLComponent
from nvflare.apis.fl_context import FLContext

from nvflare_fdd.results import RunRecorder

RECORDER_ID = "fdd_recorder"
RESULTS_FOLDER = "fdd"


def results_dir(fl_ctx: FLContext) -> Path:
    """Where a run's results live on the server: ``<run dir>/fdd``, downloaded with the job's result."""
    workspace = fl_ctx.get_engine().get_workspace()
    return Path(workspace.get_run_dir(fl_ctx.get_job_id())) / RESULTS_FOLDER


class FddRecorder(FLComponent):
    """Holds the ``RunRecorder`` of the current run; the controller and the metric filter write through it.

    Args:
        results_dir: where to write; default ``<run dir>/fdd`` (relative paths are taken from the run dir).
    """

    def __init__(self, results_dir: str = ""):
        super().__init__()
        self.results_dir = results_dir
        self.recorder: RunRecorder | None = None

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type == EventType.START_RUN:
            folder = results_dir(fl_ctx)
            if self.results_dir:
                folder = folder.parent / self.results_dir if not os.path.isabs(self.results_dir) else Path(self.results_dir)
            self.recorder = RunRecorder(folder, job=fl_ctx.get_job_id())
            self.log_info(fl_ctx, f"recording results in {folder}")
