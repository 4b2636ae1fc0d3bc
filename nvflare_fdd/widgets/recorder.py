"""``FddRecorder``: the server component that keeps a run's results.

Always as files in the run's ``fdd`` folder (see ``nvflare_fdd.results``); and, when
the server knows the platform's storage (``storage_url`` in the server's
``local/fdd_site.json``, or ``$FDD_STORAGE_URL``), in the platform's storage too,
as the run goes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nvflare.apis.event_type import EventType
from nvflare.apis.fl_component import FLComponent
from nvflare.apis.fl_constant import FLContextKey, ReservedKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable

from nvflare_fdd.results import RunRecorder, RunSink
from nvflare_fdd.transport import SETUP_EVENT

RECORDER_ID = "fdd_recorder"
RESULTS_FOLDER = "fdd"

log = logging.getLogger(__name__)


def results_dir(fl_ctx: FLContext, configured: str = "") -> Path:
    """Where a run's results live on the server: ``<run dir>/fdd`` (downloaded with the job's result), or the
    ``configured`` folder (a relative one is taken from the run dir)."""
    workspace = fl_ctx.get_engine().get_workspace()
    run_dir = Path(workspace.get_run_dir(fl_ctx.get_job_id()))
    if configured:
        return Path(configured) if os.path.isabs(configured) else run_dir / configured
    return run_dir / RESULTS_FOLDER


class FanOut:
    """A ``RunSink`` that calls every sink in turn; a failing sink is logged and does not stop the others."""

    def __init__(self, sinks: list[RunSink]):
        self.sinks = sinks

    def _each(self, method: str, call: Callable[[RunSink], None]) -> None:
        for sink in self.sinks:
            try:
                call(sink)
            except Exception:
                log.exception("recorder sink %s failed in %s", type(sink).__name__, method)

    def job_started(self, time: float, sites: list[str], num_rounds: int, /) -> None:
        self._each("job_started", lambda sink: sink.job_started(time, sites, num_rounds))

    def round_started(self, round_num: int, time: float, /) -> None:
        self._each("round_started", lambda sink: sink.round_started(round_num, time))

    def round_finished(self, round_num: int, time: float, /) -> None:
        self._each("round_finished", lambda sink: sink.round_finished(round_num, time))

    def site_round(self, round_num: int, site: str, phases: list[dict], num_samples: int | None, /,
                   setup_phases: list[dict] | None = None, dropped_metrics: dict | None = None,
                   personalized: bool = False) -> None:  # fmt: skip
        self._each("site_round", lambda sink: sink.site_round(round_num, site, phases, num_samples, setup_phases,
                                                              dropped_metrics, personalized))  # fmt: skip

    def site_setup(self, site: str, phases: list[dict], /) -> None:
        self._each("site_setup", lambda sink: sink.site_setup(site, phases))

    def metrics(self, round_num: int, site: str, kind: str, values: Mapping[str, float], /) -> None:
        self._each("metrics", lambda sink: sink.metrics(round_num, site, kind, values))

    def finished(self, state: str, time: float, failure: Mapping[str, Any] | None = None, /) -> None:
        self._each("finished", lambda sink: sink.finished(state, time, failure))


class FddRecorder(FLComponent):
    """Holds the recorder of the current run; the controller writes through it.

    Args:
        results_dir: where to write files; default ``<run dir>/fdd`` (relative paths are taken from the run dir).
    """

    def __init__(self, results_dir: str = ""):
        super().__init__()
        self.results_dir = results_dir
        self.recorder: FanOut | None = None

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type == EventType.START_RUN:
            folder = results_dir(fl_ctx, self.results_dir)
            sinks: list[RunSink] = [RunRecorder(folder, job=fl_ctx.get_job_id())]
            storage_sink = self._storage_sink(fl_ctx, folder)
            if storage_sink is not None:
                sinks.append(storage_sink)
            self.recorder = FanOut(sinks)
            self.log_info(fl_ctx, f"recording results in {folder}" + (" and the platform's storage" if storage_sink else ""))
        elif event_type == SETUP_EVENT and self.recorder is not None:
            self._site_setup(self.recorder, fl_ctx)

    def _site_setup(self, recorder: FanOut, fl_ctx: FLContext) -> None:
        """A site's environment or setup just ended: record its phases now, not with its first round."""
        from nvflare_fdd.result_policy import clean_phases

        data = fl_ctx.get_prop(FLContextKey.EVENT_DATA)
        if not isinstance(data, Shareable):
            return
        site = data.get_peer_prop(ReservedKey.IDENTITY_NAME, None)
        phases = clean_phases(data.get("phases"))
        if site and phases:
            recorder.site_setup(site, phases)

    def _storage_sink(self, fl_ctx: FLContext, folder: Path) -> RunSink | None:
        from nvflare_fdd.site_config import read_site_file, server_storage_backend, server_storage_url

        workspace = fl_ctx.get_engine().get_workspace()
        settings = read_site_file(workspace.get_site_config_dir())
        url = server_storage_url(settings)
        if not url:
            return None
        from nvflare_fdd.platform.sink import StorageSink
        from nvflare_fdd.plugin.manager import plugin_manager

        meta = _job_meta(Path(workspace.get_run_dir(fl_ctx.get_job_id())))
        backend = server_storage_backend(settings)
        try:
            storage = plugin_manager().storage_backends()[backend](url)
        except Exception as exc:
            self.log_error(fl_ctx, f"platform storage {url} unreachable; results are kept as files only: {exc}")
            return None
        return StorageSink(
            storage,
            job_name=meta.get("name") or fl_ctx.get_job_id(),
            submitter=meta.get("submitter_name", ""),
            nvflare_job_id=meta.get("job_id") or fl_ctx.get_job_id(),
            results_dir=folder,
            events=plugin_manager().notify,
        )


def _job_meta(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return {}
