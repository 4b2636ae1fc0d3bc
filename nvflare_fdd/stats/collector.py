"""``FddStatsCollector``: asks every site for its statistics once and keeps what passes the contract.

It broadcasts one ``stats`` task, checks each reply with ``screen_summary`` as it arrives (a reply
that carries anything off the contract, such as an exact count, is refused whole and recorded as
that site's failure), and writes ``<run dir>/fdd/stats.json``::

    {"format": "fdd-stats-run/1", "job": "...", "started_at": "...", "finished_at": "...",
     "sites": ["pharma_a", ...],
     "summaries": {"pharma_a": <summary exactly as received>, ...},
     "received_at": {"pharma_a": "...", ...},
     "failures": {"pharma_b": "one-line reason", ...}}

A site that fails or does not answer within ``task_timeout`` does not stop the others.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from nvflare.apis.controller_spec import ClientTask, Task
from nvflare.apis.dxo import DataKind, from_shareable
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable
from nvflare.apis.signal import Signal

from nvflare_fdd.controllers.base import FddController
from nvflare_fdd.results import atomic_write_bytes
from nvflare_fdd.stats.contract import RUN_FORMAT, STATS_JSON, StatsPayloadError, screen_summary
from nvflare_fdd.stats.executor import HEADER_STATS_ERROR, STATS_TASK
from nvflare_fdd.widgets.recorder import results_dir

_MAX_MESSAGE = 500


class FddStatsCollector(FddController):
    """The server workflow of the ``fdd_stats`` job template.

    Args:
        stats_task_name: the task the sites' ``FddStatsExecutor`` handles.
        task_timeout: seconds each site has to answer; 0 waits for ever.
        task_check_period: seconds between checks for replies.
    """

    def __init__(self, stats_task_name: str = STATS_TASK, task_timeout: int = 600, task_check_period: float = 0.05):
        super().__init__(task_check_period=task_check_period)
        if not isinstance(task_timeout, int) or task_timeout < 0:
            raise ValueError(f"task_timeout must be a whole number of seconds ≥ 0, got {task_timeout!r}")
        self.stats_task_name = stats_task_name
        self.task_timeout = task_timeout
        self.task_check_period = task_check_period
        self._summaries: dict[str, dict] = {}
        self._received_at: dict[str, str] = {}
        self._failures: dict[str, str] = {}

    def start_controller(self, fl_ctx: FLContext) -> None:
        self._summaries, self._received_at, self._failures = {}, {}, {}

    def control_flow(self, abort_signal: Signal, fl_ctx: FLContext) -> None:
        sites = sorted(client.name for client in fl_ctx.get_engine().get_clients())
        started_at = _now()
        task = Task(
            name=self.stats_task_name,
            data=Shareable(),
            timeout=self.task_timeout,
            result_received_cb=self._accept_result,
        )
        try:
            self.broadcast_and_wait(task, fl_ctx, targets=sites, min_responses=len(sites), abort_signal=abort_signal)
        finally:
            for site in sites:
                if site not in self._summaries and site not in self._failures:
                    self._failures[site] = "cancelled" if abort_signal.triggered else "no reply within the task timeout"
            path = self._write(fl_ctx, sites, started_at)
            self.log_info(fl_ctx, f"statistics of {len(self._summaries)}/{len(sites)} site(s) written to {path}")

    def stop_controller(self, fl_ctx: FLContext) -> None:
        pass

    def _accept_result(self, client_task: ClientTask, fl_ctx: FLContext) -> None:
        site = client_task.client.name
        result = client_task.result
        client_task.result = None
        return_code = result.get_return_code()
        if return_code != ReturnCode.OK:
            error = result.get_header(HEADER_STATS_ERROR)
            message = error.get("message") if isinstance(error, dict) else None
            self._fail(site, str(message) if message else f"the site returned {return_code}", fl_ctx)
            return
        try:
            dxo = from_shareable(result)
            if dxo.data_kind != DataKind.STATISTICS:
                raise StatsPayloadError(f"expected a {DataKind.STATISTICS.value} DXO, got {str(dxo.data_kind)[:40]}")
            if dxo.meta:
                raise StatsPayloadError(f"unexpected DXO meta keys: {', '.join(sorted(map(str, dxo.meta)))[:200]}")
            summary = screen_summary(dxo.data, institution=site)
        except (StatsPayloadError, ValueError, TypeError) as exc:
            self._fail(site, f"summary refused: {exc}", fl_ctx)
            return
        self._summaries[site] = summary
        self._received_at[site] = _now()
        self.log_info(fl_ctx, f"{site}: statistics of {len(summary['tests'])} test(s) accepted")

    def _fail(self, site: str, message: str, fl_ctx: FLContext) -> None:
        self._failures[site] = message[:_MAX_MESSAGE]
        self.log_error(fl_ctx, f"{site}: {message}")

    def _write(self, fl_ctx: FLContext, sites: list[str], started_at: str) -> Path:
        record = {
            "format": RUN_FORMAT,
            "job": fl_ctx.get_job_id(),
            "started_at": started_at,
            "finished_at": _now(),
            "sites": sites,
            "summaries": self._summaries,
            "received_at": self._received_at,
            "failures": self._failures,
        }
        path = results_dir(fl_ctx) / STATS_JSON
        atomic_write_bytes(path, (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        return path


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
