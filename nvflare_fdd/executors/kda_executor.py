"""``KdaExecutor``: runs the client round (DESIGN §3) on the site's KDA data, in the job's environment.

On the first train task it builds (or reuses) the job's environment from the
bundle's ``requirements.txt`` with the site's environment backend (phase 900),
starts the user-code process there, sandboxed, and sets the round up (config,
data download, ``data_loader``, ``model_loader``). In phase 2000 the executor
itself reads the site's KDA, read-only, and hands the frames to the user code.
Each task then runs one round in that process and replies with the CPU weights,
the training-sample count, the Global/Local metrics and the phase time stamps.

This is where a site enforces DESIGN §8: user code never runs in the NVFlare
client's own process, and of what it reports only the allowed parts leave the
site (``nvflare_fdd.client.boundary``): tensors of the global model it received,
a sample count within the rows it was served, metrics under the job's known names,
and failures as phase code, exception type and the bundle's own frames. The rest
(messages, output, dropped names) goes to this site's log.
"""

from __future__ import annotations

import shutil
import time
from functools import partial
from pathlib import Path

from nvflare.apis.dxo import from_shareable
from nvflare.apis.event_type import EventType
from nvflare.apis.executor import Executor
from nvflare.apis.fl_constant import ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable, make_reply
from nvflare.apis.signal import Signal
from nvflare.app_common.app_constant import AppConstants

from nvflare_fdd import streaming
from nvflare_fdd.client.boundary import check_num_samples, check_update, screen_site_metrics
from nvflare_fdd.client.handover import exchange_parent_for, load_arrays, save_arrays
from nvflare_fdd.client.phases import Phase, PhaseTiming, RoundError, now
from nvflare_fdd.client.process import WorkerProcess
from nvflare_fdd.client.requests import pretrained_handler
from nvflare_fdd.client.runtime import ALGORITHMS, DEFAULT_FEDPROX_MU
from nvflare_fdd.envs.prepare import prepare_environment
from nvflare_fdd.errors import FddError
from nvflare_fdd.kda.raw import load_raw_datas
from nvflare_fdd.metric_names import allowed_metric_names
from nvflare_fdd.pretrained.manifest import PretrainedError
from nvflare_fdd.pretrained.site import JobPretrained, site_cache_dir
from nvflare_fdd.site_config import SitePolicy, kda_url_for, site_policy
from nvflare_fdd.transport import (
    META_ALGORITHM,
    META_BASELINE_METRICS,
    META_DROPPED_METRICS,
    META_FEDPROX_MU,
    META_GLOBAL_METRICS,
    META_LOCAL_BASELINE,
    META_LOCAL_METRICS,
    META_MODEL_REF,
    META_NUM_SAMPLES,
    META_NVFLARE_STEPS,
    META_PERSONALIZED,
    META_PHASES,
    META_ROUND,
    META_SCAFFOLD_CTRL_DIFF,
    META_SCAFFOLD_CTRL_GLOBAL,
    META_SETUP_PHASES,
    META_UPDATE_REF,
    SETUP_EVENT,
    TRAIN_TASK,
    error_shareable,
    update_shareable,
)
from nvflare_fdd.usercode import keep_out_of_process

USER_CODE_LOG = "fdd_user_code.log"
"""In the site's run folder: the user code's output and what the executor kept at the site (never sent)."""
PERSONALIZED_MODEL = "fdd_personalized_model.safetensors"
"""In the site's run folder: the last round's local model, which stays at the site."""
OUTGOING = "fdd_outgoing"
"""In the site's run folder: a streamed round's update, until the server has pulled it."""


class KdaExecutor(Executor):
    """Runs the bundle in the job's ``custom/`` folder against this site's KDA.

    Args:
        train_task_name: the task this executor handles.
        device: ``cpu`` or ``cuda:N``; empty means ``cuda:0`` when present, else CPU.
        metric_names: metric names declared with the model, besides the vocabulary and ``evaluate()``'s keys.
    """

    def __init__(self, train_task_name: str = TRAIN_TASK, device: str = "", metric_names: list[str] | None = None):
        super().__init__()
        self.train_task_name = train_task_name
        self.device = device
        self.metric_names = list(metric_names or [])
        self._worker: WorkerProcess | None = None
        self._setup_phases: list[dict] | None = None
        self._setup_error: RoundError | None = None
        self._abort: Signal | None = None
        self._policy = SitePolicy()
        self._allowed_metrics: frozenset[str] = frozenset()
        self._site_log = Path(USER_CODE_LOG)
        self._pretrained: JobPretrained | None = None
        self._task_ctx: FLContext | None = None
        self._offers: list[streaming.Offer] = []

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type == EventType.START_RUN:
            workspace = fl_ctx.get_engine().get_workspace()
            self._site_log = Path(workspace.get_run_dir(fl_ctx.get_job_id())) / USER_CODE_LOG
            custom_dir = workspace.get_app_custom_dir(fl_ctx.get_job_id())
            imported = keep_out_of_process(custom_dir)
            if imported:
                self.system_panic(f"bundle modules were imported into the NVFlare client process: {', '.join(imported)}", fl_ctx)
        if event_type in (EventType.END_RUN, EventType.ABORT_TASK) and self._worker is not None:
            self._worker.stop()
            self._worker = None
        if event_type == EventType.END_RUN:
            for offer in self._offers:
                offer.close()
            self._offers = []

    def execute(self, task_name: str, shareable: Shareable, fl_ctx: FLContext, abort_signal: Signal) -> Shareable:
        if task_name != self.train_task_name:
            return make_reply(ReturnCode.TASK_UNKNOWN)
        self._abort, self._task_ctx = abort_signal, fl_ctx
        site = fl_ctx.get_identity_name()
        round_num = int(shareable.get_header(AppConstants.CURRENT_ROUND, 0)) + 1
        outgoing: Path | None = None
        try:
            received = now()
            try:
                task = from_shareable(shareable)
                job = _job_settings(task.meta)
                stream = task.meta.get(META_MODEL_REF)
                if stream is not None:
                    fqcn, ref_id, layout = streaming.reference(stream, "global model")
            except Exception as exc:
                raise RoundError(Phase.RECEIVE, site, round_num, f"cannot read the task: {exc}") from exc
            global_params = {info.key: info for info in layout} if stream is not None else task.data
            worker = self._start(site, fl_ctx, job, sum(int(getattr(v, "nbytes", 0)) for v in global_params.values()))
            params_path = worker.exchange / f"global-{round_num}.safetensors"
            controls_path = None
            controls = task.meta.get(META_SCAFFOLD_CTRL_GLOBAL) if job["algorithm"] == "scaffold" else None
            try:
                if stream is not None:  # straight into the user code's file, chunk by chunk
                    streaming.fetch(fl_ctx.get_engine().get_cell(), fqcn, ref_id, streaming.FileSink(params_path, layout),
                                    abort_signal)  # fmt: skip
                else:
                    save_arrays(global_params, str(params_path))
                if controls is not None:
                    controls_path = worker.exchange / f"controls-{round_num}.safetensors"
                    save_arrays(controls, str(controls_path))
            except Exception as exc:
                raise RoundError(Phase.RECEIVE, site, round_num, f"cannot read the global model: {exc}") from exc
            reply = worker.run_round(round_num, params_path, controls_path, **job)
            try:
                if stream is not None:  # a copy the user code cannot touch; only its checked tensors are offered
                    outgoing = self._outgoing(round_num)
                    shutil.copyfile(str(reply.params), outgoing)
                    update_layout, offsets = streaming.read_layout(outgoing)
                    update = {info.key: info for info in update_layout}
                else:
                    update = load_arrays(str(reply.params))
            except Exception as exc:
                raise RoundError(Phase.SEND, site, round_num, "the update is not a readable safetensors file",
                                 detail=str(exc)) from exc  # fmt: skip
            finally:  # the files were read: free the exchange folder (shared memory, often)
                _remove(params_path, reply.params)
            check_update(update, global_params, site, round_num)
            control_diff = None
            if controls is not None:
                control_diff = load_arrays(str(reply.control_diff))
                _remove(controls_path, reply.control_diff)
                check_update(control_diff, controls, site, round_num, what="SCAFFOLD control differences")
            num_samples = check_num_samples(reply.num_samples, worker.served_rows, site, round_num)
            metrics, dropped = {}, {}
            reported = [("global", reply.global_metrics), ("local", reply.local_metrics)]
            if job["local_baseline"]:
                reported.append(("baseline", reply.baseline_metrics))
            for kind, raw in reported:
                screened = screen_site_metrics(raw, self._allowed_metrics, self._policy.metric_digits)
                metrics[kind] = screened.accepted
                if screened.dropped:
                    dropped[kind] = screened.dropped
                    self.log_warning(fl_ctx, f"round {round_num}: {sum(screened.dropped.values())} {kind} metric(s) kept "
                                             f"at this site; their names are in {self._site_log.name}")  # fmt: skip
                    for name, why in screened.dropped_names.items():
                        self._note(f"round {round_num}: {kind} metric {name!r} kept at this site: {why}")
            phases = [timing.to_dict() for timing in reply.phases]
            if phases:
                phases[0] = dict(phases[0], start=received)  # receiving began here, before the worker's part
                phases[-1] = dict(phases[-1], end=now())
            meta = {
                META_ROUND: round_num,
                META_NUM_SAMPLES: num_samples,
                META_NVFLARE_STEPS: num_samples,
                META_GLOBAL_METRICS: metrics["global"],
                META_LOCAL_METRICS: metrics["local"],
                **({META_BASELINE_METRICS: metrics["baseline"]} if job["local_baseline"] else {}),
                META_PHASES: phases,
            }
            if dropped:
                meta[META_DROPPED_METRICS] = dropped
            if control_diff is not None:
                meta[META_SCAFFOLD_CTRL_DIFF] = control_diff
            if self._setup_phases is not None:
                meta[META_SETUP_PHASES] = self._setup_phases
                self._setup_phases = None  # sent once, with the first round
            if round_num == int(shareable.get_header(AppConstants.NUM_ROUNDS, 0) or 0):
                keep = (partial(shutil.copyfile, outgoing) if outgoing is not None
                        else lambda temp: save_arrays(update, temp))  # fmt: skip
                meta[META_PERSONALIZED] = self._keep_personalized(keep, fl_ctx)
            self.log_info(fl_ctx, f"round {round_num}: sending {len(update)} tensors, {num_samples} samples")
            if outgoing is not None:
                source = streaming.FileSource(outgoing, update_layout, offsets, receivers=[fqcn])  # the server only
                offer = streaming.Offer(fl_ctx.get_engine().get_cell(), source, num_receivers=1)
                self._offers.append(offer)
                meta[META_UPDATE_REF] = offer.meta
                return update_shareable({}, meta)
            return update_shareable(update, meta)
        except RoundError as error:
            _remove(outgoing)  # nothing is offered of a failed round
            self.log_error(fl_ctx, f"{error}\n{error.trace}" + (f"\n(the details stay at this site: {self._site_log})"
                                                                 if error.detail else ""))  # fmt: skip
            if error.detail:
                self._note(f"{error}\n{error.detail}")
            return error_shareable(error.to_dict())

    def _outgoing(self, round_num: int) -> Path:
        """Where this round's update waits for the server: the run folder, which user code does not see."""
        for offer in self._offers:  # the server pulled earlier rounds' updates before it sent this task
            offer.close()
        self._offers = []
        folder = self._site_log.parent / OUTGOING
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder / f"update-{round_num}.safetensors"

    def _keep_personalized(self, write, fl_ctx: FLContext) -> bool:
        """Keep the last round's local model (the global model plus one round on this site's data) at the site.

        It is what the site would deploy: it never leaves the site (only the update goes, as every round).
        """
        from nvflare_fdd.results import atomic_save

        path = self._site_log.parent / PERSONALIZED_MODEL
        try:
            atomic_save(path, write)
        except OSError as exc:
            self.log_warning(fl_ctx, f"could not keep the personalized model at {path}: {exc}")
            return False
        self.log_info(fl_ctx, f"kept this site's personalized model (never sent) at {path}")
        return True

    def _note(self, text: str) -> None:
        """Write to this site's own log of the job's user code, which never leaves the site.

        NVFlare's log is not the place: in the simulator it is one stream with the server's.
        """
        try:
            with open(self._site_log, "a", encoding="utf-8") as log:
                log.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')} fdd executor] {text}\n")
        except OSError:
            pass

    def _start(self, site: str, fl_ctx: FLContext, job: dict, model_bytes: int) -> WorkerProcess:
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
                self._policy = site_policy(site_dir)
                kda_url = kda_url_for(site, site_dir)
            except FddError as exc:
                raise RoundError(Phase.DATA_DOWNLOAD, site, None, str(exc)) from exc
            self._allowed_metrics = allowed_metric_names(bundle_dir, self.metric_names)
            started = now()
            try:
                environment = prepare_environment(bundle_dir, site_dir, self._policy,
                                                  log=lambda line: self.log_info(fl_ctx, f"environment: {line}"))
            except FddError as exc:
                raise RoundError(Phase.ENVIRONMENT, site, None, str(exc), getattr(exc, "output", "")[-4000:]) from exc
            env_timing = dict(PhaseTiming(Phase.ENVIRONMENT.value, Phase.ENVIRONMENT.label, started, now()).to_dict(),
                              sandboxed=self._policy.sandbox)  # fmt: skip
            self._announce(fl_ctx, [env_timing])
            if not self._policy.sandbox:
                self.log_warning(fl_ctx, "user code runs UNSANDBOXED (\"sandbox\": false in fdd_site.json); the job records it")
            try:
                cache_dir = site_cache_dir(site_dir)
                cache_dir.mkdir(parents=True, exist_ok=True)
            except (PretrainedError, OSError) as exc:
                raise RoundError(Phase.ENVIRONMENT, site, None, f"the site's pretrained-model cache: {exc}") from exc
            pretrained = self._pretrained = JobPretrained(cache_dir)
            worker = WorkerProcess(
                environment,
                bundle_dir,
                site,
                raw_datas=lambda: load_raw_datas(kda_url),
                device=self.device,
                log_path=self._site_log,
                should_stop=lambda: self._abort is not None and self._abort.triggered,
                sandboxed=self._policy.sandbox,
                share_error_messages=self._policy.share_error_messages,
                exchange_parent=exchange_parent_for(model_bytes),
                read_only_dirs=[str(cache_dir)],
                handlers={"pretrained": pretrained_handler(lambda name: pretrained.path(name, self._task_ctx),
                                                           self._note)},
            )
            try:
                worker.start()
            except RoundError:
                raise
            except FddError as exc:  # the backend could not form the command (no sandbox, a bad mount)
                raise RoundError(Phase.ENVIRONMENT, site, None, str(exc), getattr(exc, "output", "")) from exc
            try:
                reply = worker.setup(**job)
            except RoundError:
                worker.stop()
                raise
        except RoundError as error:
            self._setup_error = error
            raise
        self._setup_phases = [env_timing, *(timing.to_dict() for timing in reply.phases)]
        self._announce(fl_ctx, self._setup_phases)
        self._worker = worker
        self.log_info(fl_ctx, f"{site}: user code ready in {environment.description}, on {reply.device}, "
                              f"{'sandboxed' if self._policy.sandbox else 'UNSANDBOXED'}; {worker.served_rows} KDA rows served")  # fmt: skip
        return worker


    def _announce(self, fl_ctx: FLContext, phases: list[dict]) -> None:
        """Tell the server at once that setup phases ended (``SETUP_EVENT``); the first round's reply repeats them."""
        try:
            event = Shareable()
            event["phases"] = phases
            self.fire_fed_event(SETUP_EVENT, event, fl_ctx)
        except Exception as exc:  # progress reporting never breaks the run
            self.log_warning(fl_ctx, f"could not report setup progress to the server: {exc}")


def _remove(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def _job_settings(meta: dict) -> dict:
    """The job's algorithm and FedProx coefficient, as the server sent them with the task."""
    algorithm = meta.get(META_ALGORITHM, "fedavg")
    if algorithm not in ALGORITHMS:
        raise FddError(f"the server asked for an unknown algorithm {algorithm!r}")
    mu = meta.get(META_FEDPROX_MU, DEFAULT_FEDPROX_MU)
    if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not mu >= 0:
        raise FddError(f"the server sent an invalid fedprox_mu {mu!r}")
    return {"algorithm": algorithm, "fedprox_mu": float(mu), "local_baseline": meta.get(META_LOCAL_BASELINE) is True}
