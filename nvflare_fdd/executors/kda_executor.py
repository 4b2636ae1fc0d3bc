"""``KdaExecutor``: runs the client round (DESIGN §3) on the site's KDA data, in the job's environment.

On the first train task it builds (or reuses) the job's environment from the
bundle's ``requirements.txt`` with the site's environment backend (phase 900),
starts the user-code process there and sets the round up (config, data
download, ``data_loader``, ``model_loader``). Each task then runs one round in
that process and replies with the CPU weights, the training-sample count, the
Global/Local metrics and the phase time stamps. User code never runs in the
NVFlare client's own process: whatever ends it is reported as a failure with the
phase code, the site and the process's last output.
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

from nvflare_fdd.client.phases import Phase, PhaseTiming, RoundError, now
from nvflare_fdd.client.process import WorkerProcess
from nvflare_fdd.errors import FddError
from nvflare_fdd.executors.site_config import environment_settings, kda_url_for
from nvflare_fdd.plugin.manager import plugin_manager
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
        self._worker: WorkerProcess | None = None
        self._setup_phases: list[dict] | None = None
        self._setup_error: RoundError | None = None
        self._abort: Signal | None = None

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type in (EventType.END_RUN, EventType.ABORT_TASK) and self._worker is not None:
            self._worker.stop()
            self._worker = None

    def execute(self, task_name: str, shareable: Shareable, fl_ctx: FLContext, abort_signal: Signal) -> Shareable:
        if task_name != self.train_task_name:
            return make_reply(ReturnCode.TASK_UNKNOWN)
        self._abort = abort_signal
        site = fl_ctx.get_identity_name()
        round_num = int(shareable.get_header(AppConstants.CURRENT_ROUND, 0)) + 1
        try:
            worker = self._start(site, fl_ctx)
            received = now()
            params_path = str(worker.exchange / f"global-{round_num}.safetensors")
            try:
                _save_numpy(from_shareable(shareable).data, params_path)
            except Exception as exc:
                raise RoundError(Phase.RECEIVE, site, round_num, f"cannot read the global model: {exc}") from exc
            reply = worker.run_round(round_num, params_path)
            try:
                update = _load_numpy(reply["params"])
            except Exception as exc:
                raise RoundError(Phase.SEND, site, round_num, f"cannot read the site's update: {exc}") from exc
            phases = reply["phases"]
            phases[0] = dict(phases[0], start=received)  # receiving began here, before the worker's part
            phases[-1] = dict(phases[-1], end=now())
            meta = {
                META_ROUND: round_num,
                META_NUM_SAMPLES: reply["num_samples"],
                META_NVFLARE_STEPS: reply["num_samples"],
                META_GLOBAL_METRICS: reply["global_metrics"],
                META_LOCAL_METRICS: reply["local_metrics"],
                META_PHASES: phases,
            }
            if self._setup_phases is not None:
                meta[META_SETUP_PHASES] = self._setup_phases
                self._setup_phases = None  # sent once, with the first round
            for kind, dropped in reply.get("dropped_metrics", {}).items():
                for name, reason in dropped.items():
                    self.log_warning(fl_ctx, f"round {round_num}: {kind} metric {name!r} kept at this site: {reason}")
            self.log_info(fl_ctx, f"round {round_num}: sending {len(update)} tensors, {reply['num_samples']} samples")
            return update_shareable(update, meta)
        except RoundError as error:
            self.log_error(fl_ctx, f"{error}\n{error.trace}")
            return error_shareable(error.to_dict())

    def _start(self, site: str, fl_ctx: FLContext) -> WorkerProcess:
        """Environment, user-code process and setup, once per job; a setup failure is kept and re-raised."""
        if self._setup_error is not None:
            raise self._setup_error
        if self._worker is not None:
            return self._worker
        workspace = fl_ctx.get_engine().get_workspace()
        job_id = fl_ctx.get_job_id()
        bundle_dir = Path(workspace.get_app_custom_dir(job_id))
        site_dir = workspace.get_site_config_dir()
        try:
            try:
                kda_url = kda_url_for(site, site_dir)
            except FddError as exc:
                raise RoundError(Phase.DATA_DOWNLOAD, site, None, str(exc)) from exc
            started = now()
            try:
                environment = self._environment(bundle_dir, site_dir, fl_ctx)
            except FddError as exc:
                raise RoundError(Phase.ENVIRONMENT, site, None, str(exc), getattr(exc, "output", "")) from exc
            env_timing = PhaseTiming(Phase.ENVIRONMENT.value, Phase.ENVIRONMENT.label, started, now())
            worker = WorkerProcess(
                environment,
                bundle_dir,
                site,
                kda_url,
                device=self.device,
                log_path=Path(workspace.get_run_dir(job_id)) / "fdd_user_code.log",
                should_stop=lambda: self._abort is not None and self._abort.triggered,
            )
            try:
                worker.start(shared_dirs=_sqlite_dirs(kda_url))
            except RoundError:
                raise
            except FddError as exc:  # the backend could not form the command (e.g. a bad mount)
                raise RoundError(Phase.ENVIRONMENT, site, None, str(exc), getattr(exc, "output", "")) from exc
            try:
                reply = worker.setup()
            except RoundError:
                worker.stop()
                raise
        except RoundError as error:
            self._setup_error = error
            raise
        self._setup_phases = [env_timing.to_dict(), *reply["phases"]]
        self._worker = worker
        self.log_info(fl_ctx, f"{site}: user code ready in {environment.description}, on {reply.get('device')}")
        return worker

    def _environment(self, bundle_dir: Path, site_dir: str, fl_ctx: FLContext):
        backend_name, options = environment_settings(site_dir)
        backends = plugin_manager().environment_backends()
        if backend_name not in backends:
            raise FddError(f"no environment backend {backend_name!r} is installed; installed: {', '.join(sorted(backends))}")
        try:
            backend = backends[backend_name](**options)
        except TypeError as exc:
            raise FddError(f"environment backend {backend_name!r}: bad options in fdd_site.json's \"environment\": {exc}") from exc
        requirements_path = bundle_dir / "requirements.txt"
        requirements = requirements_path.read_text() if requirements_path.is_file() else ""
        return backend.prepare(requirements, log=lambda line: self.log_info(fl_ctx, f"environment: {line}"))


def _save_numpy(params: dict, path: str) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    save_file({key: np.ascontiguousarray(value) for key, value in params.items()}, path)


def _load_numpy(path: str) -> dict:
    from safetensors.numpy import load_file

    return load_file(path)


def _sqlite_dirs(kda_url: str) -> list[str]:
    """A file-based KDA's folder, which a containerised worker must also see."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(kda_url)
    except Exception:
        return []
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return [str(Path(url.database).resolve().parent)]
    return []
