"""``FddFedAvg``: sample-weighted FedAvg (or FedProx, or SCAFFOLD) over the chosen sites, streaming, failing fast.

Each round sends the global model to every site, folds each result into one
``WeightedAccumulator`` as it arrives (so server memory does not grow with the
number of sites), and saves the new global model. A site's failure (its phase
code, round and trace) is recorded and ends the job at once instead of leaving
it waiting for the other sites.

The job's ``algorithm`` (DESIGN §9) goes to the sites with each task: ``fedprox`` adds
FedProx's ``mu`` (the proximal term is the bundle's, through ``controller_manager.FLFedProx``;
the aggregation is FedAvg's), ``scaffold`` adds the global control variates, whose sites'
changes are folded in like the updates (``nvflare_fdd.controllers.scaffold``) and saved with
the global model each round.

Each accepted result's metrics and phase records are screened
(``nvflare_fdd.result_policy``, whether or not the job also has the metric filter) and
recorded through the run's sink, under the round the server sent the task for; a late
result (its round already over) is logged and neither aggregated nor recorded.

A large model travels outside NVFlare's messages (``model_transfer``; DESIGN §5): each round
offers the global model through the server's download service, and each site's update is pulled
from the site and added into the accumulator chunk by chunk (``nvflare_fdd.streaming``), so the
server holds the global model, the accumulator and one chunk, whatever the model's size.

A site that goes away (its NVFlare client dies: NVFlare reports it disconnected
after ``dead_client_grace_period``; or it misses ``train_timeout``) ends the job
failed, naming the site and the round, unless the job allows fewer sites
(``min_sites``): then the round completes with the sites that remain. A job
resumed from a checkpoint starts at ``start_round``.
"""

from __future__ import annotations

import errno
import threading
import time
import traceback
from functools import partial
from typing import Any

from nvflare.apis.controller_spec import ClientTask, Task
from nvflare.apis.dxo import from_shareable
from nvflare.apis.event_type import EventType
from nvflare.apis.fl_constant import FLContextKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.signal import Signal
from nvflare.app_common.abstract.model import ModelLearnableKey
from nvflare.app_common.app_constant import AppConstants
from nvflare.app_common.app_event_type import AppEventType
from nvflare.fuel.f3.cellnet.fqcn import FQCN

from nvflare_fdd import streaming
from nvflare_fdd.aggregation import AggregationError, WeightedAccumulator
from nvflare_fdd.client.phases import Phase
from nvflare_fdd.client.runtime import ALGORITHMS, DEFAULT_FEDPROX_MU
from nvflare_fdd.controllers.base import FddController
from nvflare_fdd.controllers.best import BestModelTracker
from nvflare_fdd.controllers.saver import BackgroundSaver, SaveFailed
from nvflare_fdd.controllers.scaffold import ScaffoldControls
from nvflare_fdd.envs import JobEnvironmentError
from nvflare_fdd.errors import FddError, ServerModelError, StreamError
from nvflare_fdd.failures import Failure
from nvflare_fdd.metric_names import job_metric_names
from nvflare_fdd.persistors.builder import check_against_spec
from nvflare_fdd.persistors.model_persistor import LAST, START, FddModelPersistor
from nvflare_fdd.result_policy import ScreenedResult, screen_result
from nvflare_fdd.results import RunSink
from nvflare_fdd.transport import (
    HEADER_ERROR,
    META_ALGORITHM,
    META_FEDPROX_MU,
    META_LOCAL_BASELINE,
    META_MODEL_REF,
    META_NUM_SAMPLES,
    META_SCAFFOLD_CTRL_DIFF,
    META_SCAFFOLD_CTRL_GLOBAL,
    META_UPDATE_REF,
    TRAIN_TASK,
    to_numpy,
    to_tensors,
    weights_shareable,
)
from nvflare_fdd.widgets.recorder import RECORDER_ID, FanOut

MODEL_TRANSFERS = ("auto", "stream", "message")
STREAM_MIN_BYTES = 256 << 20
"""``model_transfer = "auto"`` streams a model of this many bytes or more."""


class FddFedAvg(FddController):
    """Sample-weighted FedAvg controller of the ``fdd`` job template.

    Args:
        num_rounds: rounds to run, at least 1.
        persistor_id: id of the ``FddModelPersistor``.
        recorder_id: id of the ``FddRecorder``.
        train_task_name: task name the sites' executor handles.
        train_timeout: seconds a round may take per site (default 6 hours); 0 waits for ever.
        best_metric: Global eval metric that picks the best global model; default the first one a site reports.
        best_mode: ``min``, ``max``, or ``auto`` (max for names like r2/accuracy/auc, else min).
        task_check_period: seconds between checks for results; small values shorten each round.
        min_sites: sites a round needs; 0 means all of them (a lost site fails the job).
        start_round: rounds already done (a resumed job); the run continues with the next one.
        algorithm: ``fedavg``, ``fedprox`` or ``scaffold``.
        fedprox_mu: FedProx's coefficient, sent to the sites with each task (``fedprox``).
        local_baseline: each site also trains a local-only copy of the initial model, with the same budget a round,
            and reports its metrics (kind ``baseline``): what the site would reach alone.
        metric_names: metric names declared with the model, besides the vocabulary and ``evaluate()``'s literal keys:
            with them, the only names recorded.
        model_transfer: ``message`` (the weights inside NVFlare's task and reply messages, where NVFlare's own task
            filters see them), ``stream`` (chunk by chunk over NVFlare's download service: the server never holds a
            whole update) or ``auto`` (``stream`` for models of ``STREAM_MIN_BYTES`` or more).
    """

    def __init__(
        self,
        num_rounds: int = 1,
        persistor_id: str = "persistor",
        recorder_id: str = RECORDER_ID,
        train_task_name: str = TRAIN_TASK,
        train_timeout: int = 21600,
        best_metric: str = "",
        best_mode: str = "auto",
        task_check_period: float = 0.05,
        min_sites: int = 0,
        start_round: int = 0,
        algorithm: str = "fedavg",
        fedprox_mu: float = DEFAULT_FEDPROX_MU,
        local_baseline: bool = False,
        metric_names: list[str] | None = None,
        model_transfer: str = "auto",
    ):
        super().__init__(task_check_period=task_check_period)
        if model_transfer not in MODEL_TRANSFERS:
            raise ValueError(f"model_transfer must be one of {', '.join(MODEL_TRANSFERS)}, got {model_transfer!r}")
        if model_transfer == "stream" and not streaming.available():
            raise ValueError("model_transfer \"stream\" needs NVFlare's download service (NVFlare 2.7 or later)")
        self.model_transfer = model_transfer
        self._stream = False
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
        if isinstance(fedprox_mu, bool) or not isinstance(fedprox_mu, (int, float)) or not fedprox_mu >= 0:
            raise ValueError(f"fedprox_mu must be a number ≥ 0, got {fedprox_mu!r}")
        self.algorithm = algorithm
        self.fedprox_mu = float(fedprox_mu)
        if not isinstance(local_baseline, bool):
            raise ValueError(f"local_baseline must be true or false, got {local_baseline!r}")
        self.local_baseline = local_baseline
        self.metric_names = list(metric_names or [])
        self._allowed_names: frozenset[str] | None = None
        self._saver = BackgroundSaver()
        self._controls: ScaffoldControls | None = None
        if not isinstance(num_rounds, int) or num_rounds < 1:
            raise ValueError(f"num_rounds must be a whole number ≥ 1, got {num_rounds!r}")
        self.num_rounds = num_rounds
        self.persistor_id = persistor_id
        self.recorder_id = recorder_id
        self.train_task_name = train_task_name
        self.train_timeout = train_timeout
        self._best = BestModelTracker(best_metric, best_mode)
        self.task_check_period = task_check_period
        if not isinstance(min_sites, int) or min_sites < 0:
            raise ValueError(f"min_sites must be a whole number ≥ 0 (0 = all sites), got {min_sites!r}")
        if not isinstance(start_round, int) or not 0 <= start_round < num_rounds:
            raise ValueError(f"start_round must be between 0 and num_rounds - 1, got {start_round!r}")
        self.min_sites = min_sites
        self.start_round = start_round
        self._lock = threading.Lock()
        self._live: set[str] = set()
        self._needed = 0
        self._round = 0
        self._round_targets: set[str] = set()
        self._task: Task | None = None
        self._persistor: FddModelPersistor | None = None
        self._recorder: RunSink | None = None
        self._accumulator: WeightedAccumulator | None = None
        self._failure: Failure | None = None

    # -- NVFlare controller API -------------------------------------------------------------

    def start_controller(self, fl_ctx: FLContext) -> None:
        engine = fl_ctx.get_engine()
        self._persistor = engine.get_component(self.persistor_id)
        if self._persistor is None:
            self.system_panic(f"no persistor component with id {self.persistor_id!r} in the server config", fl_ctx)
        elif not hasattr(self._persistor, "spec"):
            self.system_panic(f"the persistor {self.persistor_id!r} must be an FddModelPersistor: only it knows the "
                              "model's spec, which every site's update is checked against", fl_ctx)  # fmt: skip

    def control_flow(self, abort_signal: Signal, fl_ctx: FLContext) -> None:
        engine = fl_ctx.get_engine()
        self._recorder = getattr(engine.get_component(self.recorder_id), "recorder", None)
        sites = sorted(client.name for client in engine.get_clients())
        self._live = set(sites)
        self._needed = min(self.min_sites, len(sites)) if self.min_sites else len(sites)
        self._record().job_started(time.time(), sites, self.num_rounds)
        try:
            params = to_tensors(self._started_persistor().load_model(fl_ctx)[ModelLearnableKey.WEIGHTS])
        except JobEnvironmentError as exc:  # the server builds the job's environment too, to build the model class
            self._fail(Failure.of(Phase.ENVIRONMENT.label, str(exc), trace=exc.output[-4000:], code=Phase.ENVIRONMENT.value),
                       fl_ctx)
            return
        except ServerModelError as exc:  # model.py failed in its sandboxed process: its own output says why
            self._fail(Failure.of("server model", str(exc).splitlines()[0], trace=exc.trace[-8000:]), fl_ctx)
            return
        except Exception as exc:
            self._fail(Failure.of("server model", f"{type(exc).__name__}: {exc}", trace=traceback.format_exc()), fl_ctx)
            return
        if self.algorithm == "scaffold":
            try:
                self._controls = ScaffoldControls(params, self._started_persistor().load_controls(fl_ctx))
            except (ValueError, FddError) as exc:
                self._fail(Failure.of("server model", str(exc)), fl_ctx)
                return
        self._stream = self._streams(params)
        if self._stream:
            self.log_info(fl_ctx, "the global model and the sites' updates are streamed (model_transfer)")
        for round_index in range(self.start_round, self.num_rounds):
            round_num = self._round = round_index + 1
            self._record().round_started(round_num, time.time())
            accumulator = self._accumulator = WeightedAccumulator()
            self._best.begin_round()
            if self._controls is not None:
                self._controls.begin_round()
            with self._lock:
                targets = sorted(self._live)
                self._round_targets = set(targets)
            offer, meta = None, self._task_meta()
            if self._stream:
                offer = streaming.Offer(fl_ctx.get_engine().get_cell(), streaming.ArraysSource(to_numpy(params)),
                                        num_receivers=len(targets))  # fmt: skip
                meta[META_MODEL_REF] = offer.meta
            self._task = Task(
                name=self.train_task_name,
                data=weights_shareable({} if offer else params, round_index, self.num_rounds, meta),
                timeout=self.train_timeout,
                result_received_cb=self._accept_result,
            )
            if round_num == self.start_round + 1:  # the best model if this round's Global eval scores it at all
                saved = self._save(partial(self._saver.submit, round_num, partial(
                    self._started_persistor().save_weights, params, fl_ctx, START)), fl_ctx)  # fmt: skip
                if not saved:  # (no local keeps the partial: the start model goes once it is saved and replaced)
                    return
            try:
                self.broadcast_and_wait(self._task, fl_ctx, targets=targets, min_responses=len(targets),
                                        abort_signal=abort_signal)  # fmt: skip
            finally:
                if offer is not None:
                    offer.close()
            if self._failure is not None:
                return  # _fail() recorded it and ended the run
            if abort_signal.triggered:
                self._saver.close()
                self._discard_start(fl_ctx)
                self._record().finished("cancelled", time.time())
                return
            for site in sorted(set(targets) - set(accumulator.sources)):
                self._site_lost(site, "sent no result within the round (train_timeout)", fl_ctx)
            if self._failure is not None:
                return
            best, first_of_run = self._is_best(round_num, fl_ctx), round_num == self.start_round + 1
            try:
                params = accumulator.result(previous=params)
            except AggregationError as exc:
                self._fail(Failure.of("aggregation", str(exc), round=round_num), fl_ctx)
                return
            self._accumulator = None
            controls = None
            if self._controls is not None:
                self._controls.end_round()
                controls = dict(self._controls.controls)
            steps = partial(self._persist, round_num, first_of_run, best, params, controls, fl_ctx)
            if not self._save(partial(self._saver.submit, round_num, steps), fl_ctx):
                return  # the next round starts while this one is saved; a failed save ends the job
        if self._save(self._saver.wait, fl_ctx):
            self._record().finished("completed", time.time())

    def _persist(self, round_num: int, first_of_run: bool, best: bool, params: dict, controls: dict | None,
                 fl_ctx: FLContext) -> None:  # fmt: skip
        """Round ``round_num``'s files, in the saver's thread: the best model (the one sent this round: on the run's
        first round its start model, saved while the round ran, renamed; later the last one saved, hard-linked), the
        controls, the new global model, and only then the round's record (what resume starts from).

        The model sent is never kept for this: the server holds the global model and the accumulator, not a third.

        Raises:
            OSError: a file could not be written, or the best model's files are gone.
        """
        persistor = self._started_persistor()
        if best and first_of_run:
            if not persistor.keep_start_as_best(fl_ctx):
                raise FileNotFoundError(errno.ENOENT, f"the run's start model ({START}.pt and .safetensors), this "
                                                      "round's best, is no longer in the results folder")  # fmt: skip
        elif best and not persistor.keep_last_as_best(fl_ctx):
            raise FileNotFoundError(errno.ENOENT, f"round {round_num - 1}'s global model ({LAST}.pt and .safetensors), "
                                                  "this round's best, is no longer in the results folder")  # fmt: skip
        elif first_of_run:
            persistor.discard_start(fl_ctx)
        if controls is not None:
            persistor.save_controls(controls, fl_ctx)
        persistor.save_weights(params, fl_ctx, LAST)
        self._record().round_finished(round_num, time.time())

    def _discard_start(self, fl_ctx: FLContext) -> None:
        """A run that ends in its first round leaves no start model behind."""
        if self._persistor is not None and self._round == self.start_round + 1:
            try:
                self._persistor.discard_start(fl_ctx)
            except Exception as exc:  # the job's end is being recorded; a leftover hidden file must not stop it
                self.log_warning(fl_ctx, f"could not remove the run's start model: {exc}")

    def _save(self, action, fl_ctx: FLContext) -> bool:
        """Run a saver call; a failed save (a full disk, a lost mount) fails the job. True if all went well."""
        try:
            action()
        except SaveFailed as exc:
            self._fail(Failure.of("saving results", exc.explain(), round=exc.round), fl_ctx)
            return False
        return True

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        super().handle_event(event_type, fl_ctx)
        if event_type == EventType.CLIENT_DISCONNECTED:
            site = fl_ctx.get_prop(FLContextKey.DISCONNECTED_CLIENT_NAME)
            if site:
                self._site_lost(site, "stopped responding (NVFlare reports it disconnected)", fl_ctx)

    def _site_lost(self, site: str, why: str, fl_ctx: FLContext) -> None:
        """Go on without ``site`` if the job allows it, else fail the job naming it and the round."""
        with self._lock:
            if site not in self._live:
                return
            self._live.discard(site)
            remaining = len(self._live)
        if remaining < self._needed:
            self._fail(Failure.of("site lost", f"site {site} {why} in round {self._round}; {remaining} site(s) remain "
                                               f"and the job needs {self._needed} (min_sites)", site=site,
                                  round=self._round or None), fl_ctx)  # fmt: skip
            return
        self.log_warning(fl_ctx, f"round {self._round}: going on without {site}, which {why}")
        self._end_round_if_complete(fl_ctx)

    def _end_round_if_complete(self, fl_ctx: FLContext) -> None:
        """End the round once every site still alive has answered (a lost site's task would wait for ever)."""
        with self._lock:
            waiting = self._live - set(self._accumulator.sources if self._accumulator else ())
        if not waiting and self._task is not None:
            self.cancel_task(self._task, fl_ctx=fl_ctx)

    def stop_controller(self, fl_ctx: FLContext) -> None:
        self._saver.close()
        self._accumulator = None

    # -- results ------------------------------------------------------------------------------

    def _accept_result(self, client_task: ClientTask, fl_ctx: FLContext) -> None:
        site = client_task.client.name
        result = client_task.result
        client_task.result = None  # the update is folded in below; do not keep it
        round_num = client_task.task.data.get_header("current_round", 0) + 1
        return_code = result.get_return_code()
        if return_code != ReturnCode.OK:
            error = result.get_header(HEADER_ERROR)
            if not isinstance(error, dict):
                error = {"message": f"the site returned {return_code}"}
            self._fail(Failure.from_site(error, site, round_num), fl_ctx)
            return
        try:
            dxo = from_shareable(result)
        except (ValueError, TypeError) as exc:
            self._fail(Failure.of("aggregation", f"the result is not a model update: {exc}", site=site, round=round_num),
                       fl_ctx)
            return
        streamed = dxo.meta.get(META_UPDATE_REF)
        try:  # only the server's model's tensors, as the server's model has them, enter a global model
            if streamed is not None:
                fqcn, ref_id, layout = self._update_reference(streamed, site)
                check_against_spec({info.key: info for info in layout}, self._started_persistor().spec, f"site {site}")
            else:
                check_against_spec(dxo.data, self._started_persistor().spec, f"site {site}")
        except (ValueError, StreamError) as exc:
            self._fail(Failure.of("parameters", str(exc), site=site, round=round_num), fl_ctx)
            return
        try:
            with self._lock:
                if self._accumulator is None:  # the run was stopped while this result was on its way
                    return
                if streamed is not None:
                    self._add_streamed(fl_ctx, fqcn, ref_id, layout, dxo.meta.get(META_NUM_SAMPLES), site)
                else:
                    self._accumulator.add(dxo.data, dxo.meta.get(META_NUM_SAMPLES), source=site)
                if self._controls is not None:
                    self._controls.add(dxo.meta.get(META_SCAFFOLD_CTRL_DIFF), dxo.meta.get(META_NUM_SAMPLES), site)
        except (AggregationError, ValueError, TypeError) as exc:
            self._fail(Failure.of("aggregation", str(exc), site=site, round=round_num), fl_ctx)
            return
        screened = screen_result(dxo.meta, self._allowed(fl_ctx))
        self._record_result(round_num, site, screened, fl_ctx)
        self._best.note(screened.metrics.get("global", {}), screened.num_samples)
        if self._live != self._round_targets:  # a site was lost this round: nobody may be left to wait for
            self._end_round_if_complete(fl_ctx)

    def _streams(self, params: dict) -> bool:
        """Whether this job's models travel as streams (``model_transfer``)."""
        if self.model_transfer != "auto":
            return self.model_transfer == "stream"
        size = sum(tensor.numel() * tensor.element_size() for tensor in params.values())
        return size >= STREAM_MIN_BYTES and streaming.available()

    def _update_reference(self, ref: object, site: str) -> tuple[str, str, list[streaming.TensorInfo]]:
        """A streamed update's sender, id and layout; only the site's own cell may be the sender.

        Raises:
            StreamError: the reference is malformed, names another cell, or the job does not stream.
        """
        if not self._stream:
            raise StreamError(f"site {site} streamed its update, but this job sends models in messages")
        fqcn, ref_id, layout = streaming.reference(ref, f"site {site}'s update")  # type: ignore[arg-type]
        if FQCN.get_root(fqcn) != site:
            raise StreamError(f"site {site}'s update names another sender ({fqcn!r})")
        return fqcn, ref_id, layout

    def _add_streamed(self, fl_ctx: FLContext, fqcn: str, ref_id: str, layout: list, num_samples: object,
                      site: str) -> None:  # fmt: skip
        """Pull a site's update and fold it into the accumulator chunk by chunk (under the lock: one at a time).

        Raises:
            AggregationError: a bad weight or shape, or the stream broke off (the round cannot complete).
        """
        assert self._accumulator is not None
        update = self._accumulator.begin(layout, num_samples, source=site)  # type: ignore[arg-type]
        sink = streaming.AccumulatorSink(layout, update.add_chunk)
        try:
            streaming.fetch(fl_ctx.get_engine().get_cell(), fqcn, ref_id, sink)
        except StreamError as exc:
            update.fail(f"site {site}'s update did not arrive whole: {exc}")
        update.finish()

    def _started_persistor(self) -> FddModelPersistor:
        """The persistor ``start_controller`` found (it stops the run when there is none)."""
        if self._persistor is None:
            raise RuntimeError(f"no persistor {self.persistor_id!r}: the controller was not started")
        return self._persistor

    def _task_meta(self) -> dict[str, Any]:
        """What the sites need of the algorithm with each task."""
        meta: dict[str, Any] = {META_ALGORITHM: self.algorithm, META_FEDPROX_MU: self.fedprox_mu,
                                META_LOCAL_BASELINE: self.local_baseline}  # fmt: skip
        if self._controls is not None:
            meta[META_SCAFFOLD_CTRL_GLOBAL] = self._controls.task_meta()
        return meta

    def _allowed(self, fl_ctx: FLContext) -> frozenset[str]:
        """The job's metric names, read once from the server's copy of the bundle."""
        if self._allowed_names is None:
            self._allowed_names = job_metric_names(fl_ctx, self.metric_names)
        return self._allowed_names

    def _record_result(self, round_num: int, site: str, screened: ScreenedResult, fl_ctx: FLContext) -> None:
        """Record what may be kept of ``site``'s accepted result of ``round_num``."""
        for line in screened.dropped:  # only what the metric filter, if the job has it, did not drop already
            self.log_warning(fl_ctx, f"{site} round {round_num}: dropped {line}")
        recorder = self._record()
        for kind, values in screened.metrics.items():
            if values:
                recorder.metrics(round_num, site, kind, values)
        recorder.site_round(round_num, site, screened.phases, screened.num_samples, screened.setup_phases,
                            screened.dropped_counts or None, screened.personalized)  # fmt: skip

    def _is_best(self, round_num: int, fl_ctx: FLContext) -> bool:
        """Whether the model sent in round ``round_num`` is the best so far (its Global eval says so). If it is,
        NVFlare's ``GLOBAL_BEST_MODEL_AVAILABLE`` event tells the job's other components, with the score as
        ``VALIDATION_RESULT``; the model is saved as ``best_global_model.*`` with the round's files."""
        if not self._best.round_is_best():
            return False
        score = self._best.best
        self.log_info(fl_ctx, f"round {round_num}: best global model so far ({self._best.metric}={score:.4g})")
        fl_ctx.set_prop(AppConstants.VALIDATION_RESULT, score, private=True, sticky=False)
        if hasattr(AppConstants, "METRICS_SELECTION_INFO"):  # NVFlare 2.9
            info = self._best.selection_info(round_num, type(self).__name__)
            fl_ctx.set_prop(AppConstants.METRICS_SELECTION_INFO, info, private=True, sticky=False)
        self.fire_event(AppEventType.GLOBAL_BEST_MODEL_AVAILABLE, fl_ctx)
        return True

    def _fail(self, failure: Failure, fl_ctx: FLContext) -> None:
        if self._failure is not None:
            return  # the first failure is the one that ended the job
        self._failure = failure
        self._saver.close()  # a round being saved completes (and is recorded) before the job ends
        self._discard_start(fl_ctx)
        self.log_error(fl_ctx, failure.describe())
        self._record().finished("failed", time.time(), failure.to_dict())
        self.cancel_all_tasks(fl_ctx=fl_ctx)
        self.system_panic(failure.describe(), fl_ctx)

    def _record(self) -> RunSink:
        """The run's recorder; one that records nothing when the job has no ``FddRecorder``."""
        return self._recorder if self._recorder is not None else FanOut([])
