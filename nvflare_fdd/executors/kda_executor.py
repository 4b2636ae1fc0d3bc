"""``KdaExecutor``: runs the client round (DESIGN §3) on the site's KDA data inside NVFlare.

The first train task sets the round up (config, data download, ``data_loader``,
``model_loader``); every task then runs one round and replies with the CPU
weights, the training-sample count, the Global/Local metrics and the phase
time stamps. A failure replies with the phase code, the site and the user's
traceback, which the server's controller turns into a failed job.
"""

from __future__ import annotations

from pathlib import Path

from nvflare.apis.dxo import from_shareable
from nvflare.apis.event_type import EventType
from nvflare.apis.executor import Executor
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.signal import Signal
from nvflare.app_common.app_constant import AppConstants

from nvflare_fdd.client.phases import Phase, RoundError
from nvflare_fdd.client.round import ClientRound
from nvflare_fdd.executors.site_config import kda_url_for
from nvflare_fdd.transport import (
    META_GLOBAL_METRICS,
    META_LOCAL_METRICS,
    META_NUM_SAMPLES,
    META_NVFLARE_STEPS,
    META_PHASES,
    META_ROUND,
    META_SETUP_PHASES,
    TRAIN_TASK,
    error_shareable,
    to_tensors,
    update_shareable,
)


class KdaExecutor(Executor):
    """Runs the bundle in the job's ``custom/`` folder against this site's KDA.

    Args:
        train_task_name: the task this executor handles.
        device: ``cpu`` or ``cuda:N``; empty means ``cuda:0`` when present, else CPU.
    """

    def __init__(self, train_task_name: str = TRAIN_TASK, device: str = ""):
        super().__init__()
        self.train_task_name = train_task_name
        self.device = device
        self._client: ClientRound | None = None
        self._setup_error: RoundError | None = None
        self._setup_sent = False

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type == EventType.END_RUN and self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None

    def execute(self, task_name: str, shareable: Shareable, fl_ctx: FLContext, abort_signal: Signal) -> Shareable:
        if task_name != self.train_task_name:
            return make_reply(ReturnCode.TASK_UNKNOWN)
        site = fl_ctx.get_identity_name()
        round_num = int(shareable.get_header(AppConstants.CURRENT_ROUND, 0)) + 1
        try:
            client = self._setup(site, fl_ctx)
            timings = []
            with client.phase(Phase.RECEIVE, round_num, timings):
                params = to_tensors(from_shareable(shareable).data)
            if abort_signal.triggered:
                return make_reply(ReturnCode.TASK_ABORTED)
            result = client.run(round_num, params)
            with client.phase(Phase.SEND, round_num, timings):
                meta = {
                    META_ROUND: round_num,
                    META_NUM_SAMPLES: result.num_samples,
                    META_NVFLARE_STEPS: result.num_samples,
                    META_GLOBAL_METRICS: result.global_metrics,
                    META_LOCAL_METRICS: result.local_metrics,
                    META_PHASES: [t.to_dict() for t in timings[:1] + result.phases + timings[1:]],
                }
                if not self._setup_sent:
                    meta[META_SETUP_PHASES] = [t.to_dict() for t in client.setup_phases]
                    self._setup_sent = True
                reply = update_shareable(result.params, meta)
            self.log_info(fl_ctx, f"round {round_num}: sent {len(result.params)} tensors, {result.num_samples} samples")
            return reply
        except RoundError as error:
            self.log_error(fl_ctx, f"{error}\n{error.trace}")
            return error_shareable(error.to_dict())

    def _setup(self, site: str, fl_ctx: FLContext) -> ClientRound:
        if self._setup_error is not None:
            raise self._setup_error
        if self._client is not None:
            return self._client
        workspace = fl_ctx.get_engine().get_workspace()
        bundle_dir = Path(workspace.get_app_custom_dir(fl_ctx.get_job_id()))

        def fetch_raw_datas():
            from nvflare_fdd.kda import load_raw_datas

            return load_raw_datas(kda_url_for(site, workspace.get_site_config_dir()))

        client = ClientRound(bundle_dir, fetch_raw_datas, site=site, device=self.device or None)
        client.__enter__()
        try:
            client.setup()
        except RoundError as error:
            client.__exit__(None, None, None)
            self._setup_error = error
            raise
        self._client = client
        self.log_info(fl_ctx, f"{site}: bundle ready on {client.device}")
        return client
