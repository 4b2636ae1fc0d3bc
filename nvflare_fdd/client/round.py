"""The client round of DESIGN §3, independent of how it is transported.

``fdd check`` drives it locally; the NVFlare executor drives it on a site.
Both do the same thing::

    with ClientRound(bundle_dir, fetch_raw_datas, site="site-1") as client:
        client.setup()                        # 1000 config, 2000 data, 2001 data_loader, 3000 model_loader
        result = client.run(0, global_params) # 4001 load, 5000 global eval, 6000 train, 7000 local eval, 8000 send

Every phase is time-stamped; a failure raises ``RoundError`` with the phase code
and the user's traceback. Metrics are screened at the site: only finite real
scalars under bounded names are part of the result, so arrays, strings or
nested data returned by ``evaluate()`` never leave the site.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from nvflare_fdd.client import runtime
from nvflare_fdd.client.phases import Frame, Phase, PhaseTiming, RoundError, now
from nvflare_fdd.errors import ContractError
from nvflare_fdd.metric_policy import screen_metrics
from nvflare_fdd.transport import META_SCAFFOLD_CTRL_DIFF, META_SCAFFOLD_CTRL_GLOBAL
from nvflare_fdd.usercode import import_user_module, load_configs, user_function, user_modules

log = logging.getLogger(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
LOAD_BATCH_BYTES = 64 << 20
"""The global weights go into the model this many bytes at a time (``ClientRound._load_global``)."""

PhaseListener = Callable[[dict[str, Any]], None]
"""Receives ``{"site", "round", "code", "phase", "event": "start"|"end"|"failed", "time"}``."""


@dataclass
class RoundResult:
    """What a site sends after one round: parameters, sample count and scalar metrics."""

    round: int
    params: dict[str, Any]
    num_samples: int
    global_metrics: dict[str, Any]
    local_metrics: dict[str, Any]
    phases: list[PhaseTiming] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    dropped_metrics: dict[str, dict[str, str]] = field(default_factory=dict)
    """Metrics kept at the site, by kind then name, with the reason: only finite scalars leave a site."""
    control_diff: dict[str, Any] | None = None
    """SCAFFOLD: the change of this site's control variates (``FLScaffold.scaffold_meta()``), else ``None``."""
    baseline_metrics: dict[str, Any] | None = None
    """With the job's ``local_baseline``: the metrics of this site's local-only model after this round."""


def default_device() -> str:
    """``cuda:0`` when a GPU is present, else ``cpu`` (user code need not move the model)."""
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


class ClientRound:
    """One site's side of a job: set up once, then run rounds.

    Args:
        bundle_dir: the flat user bundle.
        fetch_raw_datas: returns the site's ``{test_key: DataFrame}`` (phase 2000).
        site: the site name used in errors and progress events.
        device: where the model trains; default ``cuda:0`` if present, else CPU.
        on_phase: called at the start and end of every phase (progress reporting).
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        fetch_raw_datas: Callable[[], Mapping[str, Any]],
        site: str = "local",
        device: str | None = None,
        on_phase: PhaseListener | None = None,
    ):
        self.bundle_dir = Path(bundle_dir).resolve()
        self.site = site
        self.device = device or default_device()
        self._fetch_raw_datas = fetch_raw_datas
        self._on_phase = on_phase
        self._stack = contextlib.ExitStack()
        self.configs = None
        self.data: Any = None
        self.model: Any = None
        self.setup_phases: list[PhaseTiming] = []
        self._train_eval: ModuleType | None = None
        self._baseline_state: dict[str, Any] | None = None  # the local-only model, trained on this site's data alone
        self._baseline_helpers: dict[str, Any] = {}  # its own FLScaffold / FLFedProx instances

    def __enter__(self) -> ClientRound:
        self._stack.enter_context(user_modules(self.bundle_dir))
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    # -- the round ---------------------------------------------------------------------------

    def setup(self) -> list[PhaseTiming]:
        """Config, data download, ``data_loader`` and ``model_loader``: once per job."""
        timings = self.setup_phases
        with self.phase(Phase.CONFIG, None, timings):
            self.configs = load_configs(self.bundle_dir)
        with self.phase(Phase.DATA_DOWNLOAD, None, timings):
            raw_datas = self._fetch_raw_datas()
        with self.phase(Phase.DATA_LOADER, None, timings):
            data_loader = user_function(import_user_module(self.bundle_dir, "data"), "data_loader")
            self.data = data_loader(raw_datas, self.configs)
        del raw_datas  # the user's data dict is what stays in memory
        with self.phase(Phase.MODEL, None, timings):
            import torch.nn as nn

            model_loader = user_function(import_user_module(self.bundle_dir, "model"), "model_loader")
            model = model_loader(self.configs)
            if not isinstance(model, nn.Module):
                raise ContractError("not_a_module", f"model_loader must return a torch.nn.Module, it returned {type(model).__name__}")
            self.model = model
        return timings

    def run(self, round_num: int, global_params: Mapping[str, Any] | None,
            global_controls: Mapping[str, Any] | None = None,
            send: Callable[[RoundResult], None] | None = None) -> RoundResult:  # fmt: skip
        """One round: load the global weights, global eval, train, local eval, package the update.

        With the job's algorithm ``scaffold`` (``nvflare_fdd.client.runtime``), the server's
        ``global_controls`` are loaded into ``FLScaffold`` before ``train()`` and its control
        differences are part of the result, as K-MELLODDY's client does. ``send`` (a transport's
        part of phase 8000, such as writing the update's file) runs inside the send phase.
        """
        if self.model is None:
            raise RuntimeError("ClientRound.setup() must run before ClientRound.run()")
        timings: list[PhaseTiming] = []
        missing: list[str] = []
        unexpected: list[str] = []
        with self.phase(Phase.LOAD_WEIGHTS, round_num, timings):
            if global_params:
                missing, unexpected = self._load_global(global_params)
            self.model.to(self.device)
            if runtime.current().local_baseline and self._baseline_state is None:
                self._baseline_state = _copy_state(self.model)  # the local-only model starts where the federation did
        with self.phase(Phase.GLOBAL_EVAL, round_num, timings):
            evaluate = user_function(self._train_eval_module(), "evaluate")
            global_metrics = screen_metrics(metrics_dict(evaluate(self.model, self.data, self.configs)))
        scaffold = runtime.current().algorithm == "scaffold"
        with self.phase(Phase.TRAIN, round_num, timings):
            if scaffold:
                self._load_global_controls(global_params, global_controls)
            train = user_function(self._train_eval_module(), "train")
            train_return = train(self.model, self.data, self.configs)
        with self.phase(Phase.LOCAL_EVAL, round_num, timings):
            local_metrics = screen_metrics(metrics_dict(evaluate(self.model, self.data, self.configs)))
        baseline_metrics = None
        if runtime.current().local_baseline:
            with self.phase(Phase.BASELINE, round_num, timings):
                baseline_metrics = self._baseline_round()
        with self.phase(Phase.SEND, round_num, timings):
            num_samples = count_training_samples(train_return, self.data)
            params = {key: value.detach().cpu() for key, value in self.model.state_dict().items()}
            control_diff = self._control_diff() if scaffold else None
            result = RoundResult(
                round=round_num,
                params=params,
                num_samples=num_samples,
                global_metrics=global_metrics.accepted,
                local_metrics=local_metrics.accepted,
                dropped_metrics={"global": global_metrics.rejected, "local": local_metrics.rejected},
                phases=timings,
                missing_keys=missing,
                unexpected_keys=unexpected,
                control_diff=control_diff,
                baseline_metrics=baseline_metrics.accepted if baseline_metrics is not None else None,
            )
            if send is not None:
                send(result)
        return result

    # -- helpers and phases -----------------------------------------------------------------------------

    def _train_eval_module(self) -> ModuleType:
        if self._train_eval is None:
            self._train_eval = import_user_module(self.bundle_dir, "train_eval")
        return self._train_eval

    def _baseline_round(self):
        """One round of the local-only baseline: the same training budget, on this site's data alone.

        The model trained from the global model is set aside; the baseline's own state is trained and
        evaluated, kept for the next round, and the federated model put back. The bundle's FedProx and
        SCAFFOLD helpers (one per process) get a separate instance for the baseline, so its training
        never touches the federated controls.
        """
        federated = _copy_state(self.model)
        self.model.load_state_dict(self._baseline_state, strict=False)
        with _separate_helpers(self._baseline_helpers):
            user_function(self._train_eval_module(), "train")(self.model, self.data, self.configs)
            metrics = screen_metrics(metrics_dict(user_function(self._train_eval_module(), "evaluate")(
                self.model, self.data, self.configs)))  # fmt: skip
        self._baseline_state = _copy_state(self.model)
        self.model.load_state_dict(federated, strict=False)
        return metrics

    def _load_global_controls(self, global_params: Mapping[str, Any] | None, controls: Mapping[str, Any] | None) -> None:
        """SCAFFOLD: the server's global controls into the process's ``FLScaffold`` (K-MELLODDY's ``script.py``)."""
        if not controls:
            raise ContractError("scaffold_no_controls", "the server sent no SCAFFOLD controls with the task")
        from nvflare.app_common.abstract.fl_model import FLModel

        controller_manager = importlib.import_module("controller_manager")
        input_model = FLModel(params=dict(global_params or {}), meta={META_SCAFFOLD_CTRL_GLOBAL: dict(controls)})
        controller_manager.FLScaffold(self.model).get_global_controls(input_model)

    def _control_diff(self) -> dict[str, Any]:
        controller_manager = importlib.import_module("controller_manager")
        scaffold = controller_manager.FLScaffold._instance
        try:
            meta = scaffold.scaffold_meta()
        except (AttributeError, ValueError) as exc:
            raise ContractError(
                "scaffold_not_updated",
                "with the job's algorithm scaffold, train() must call FLScaffold(model).set_global(model) and "
                "get_controls() at its start, scaffold_apply(model, optimizer) after each backward() and "
                f"scaffold_update(model, steps) at its end ({exc})",
            ) from exc
        return dict(meta[META_SCAFFOLD_CTRL_DIFF])

    def _load_global(self, global_params: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """``load_state_dict(strict=False)`` of the global weights, a few tensors at a time.

        ``global_params`` may read its tensors lazily (the worker's file): then only the model and one
        batch of ``LOAD_BATCH_BYTES`` are in memory, not a second copy of the model. Missing keys are
        those no batch filled, unexpected ones those any batch could not place.
        """
        import torch

        missing: set[str] | None = None
        unexpected: set[str] = set()
        batch: dict[str, Any] = {}
        size = 0
        keys = list(global_params)
        for index, key in enumerate(keys):
            value = batch[key] = torch.as_tensor(global_params[key])
            size += value.numel() * value.element_size()
            if size >= LOAD_BATCH_BYTES or index == len(keys) - 1:
                result = self.model.load_state_dict(batch, strict=False)
                missing = set(result.missing_keys) if missing is None else missing & set(result.missing_keys)
                unexpected |= set(result.unexpected_keys)
                batch, size = {}, 0
        if keys and len(unexpected) == len(keys):
            sample = ", ".join(sorted(unexpected)[:3])
            raise ContractError(
                "weights_do_not_fit",
                f"none of the {len(keys)} received weights belong to the model (e.g. {sample}); "
                "the server's model class and model_loader() must build the same architecture"
            )
        unfilled = missing or set()
        return [key for key in self.model.state_dict() if key in unfilled], [key for key in keys if key in unexpected]

    @contextlib.contextmanager
    def phase(self, phase: Phase, round_num: int | None, timings: list[PhaseTiming]) -> Iterator[None]:
        """Time the block as ``phase``; any error in it becomes a ``RoundError`` with that code.

        Transports use it for the phases they own (4000 receive, and their part of 8000 send).
        """
        start = now()
        self._emit(phase, round_num, "start", start)
        try:
            yield
        except RoundError:
            raise
        except (Exception, SystemExit) as exc:  # user code may call sys.exit()
            self._emit(phase, round_num, "failed", now())
            raise user_failure(phase, self.site, round_num, exc, self.bundle_dir) from exc
        end = now()
        timings.append(PhaseTiming(phase.value, phase.label, start, end))
        self._emit(phase, round_num, "end", end)

    def _emit(self, phase: Phase, round_num: int | None, event: str, time: float) -> None:
        if self._on_phase is None:
            return
        self._on_phase(
            {"site": self.site, "round": round_num, "code": phase.value, "phase": phase.label, "event": event, "time": time}
        )


def _copy_state(model) -> dict[str, Any]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


@contextlib.contextmanager
def _separate_helpers(own: dict) -> Iterator[None]:
    """Within the block, K-MELLODDY's one-per-process helpers (``FLScaffold``, ``FLFedProx``) are the instances in
    ``own`` (kept there across blocks), not the process's."""
    manager = sys.modules.get("controller_manager")
    classes = [getattr(manager, name) for name in ("FLScaffold", "FLFedProx") if hasattr(manager, name)] if manager else []
    saved = {cls: getattr(cls, "_instance", None) for cls in classes}
    for cls in classes:
        cls._instance = own.get(cls.__name__)
    try:
        yield
    finally:
        for cls in classes:
            own[cls.__name__] = getattr(cls, "_instance", None)
            cls._instance = saved[cls]


def count_training_samples(train_return: Any, data: Any) -> int:
    """The weight of this site's update: ``train()``'s ``{"num_samples": n}``, else ``len()`` of the training set.

    Raises:
        ContractError: neither is available; a silent weight of 1 would skew the average.
    """
    if isinstance(train_return, Mapping) and "num_samples" in train_return:
        value = train_return["num_samples"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            with contextlib.suppress(TypeError, ValueError, AttributeError):
                if float(value) == int(value) and int(value) >= 0:  # numpy ints, 0-d tensors
                    return int(value)
            raise ContractError("num_samples_invalid", f"train() returned num_samples={value!r}; it must be a whole number ≥ 0")
        return value
    train_set = data.get("train") if isinstance(data, Mapping) else None
    if train_set is not None:
        sized: Any = getattr(train_set, "dataset", train_set)  # a DataLoader's dataset, or the dataset itself
        with contextlib.suppress(TypeError):
            return len(sized)
    raise ContractError(
        "num_samples_unknown",
        "cannot tell how many training samples this site used: return {'num_samples': n} from train(), "
        "or put a sized dataset (or a DataLoader over one) under data['train'] in data_loader()"
    )


def metrics_dict(metrics: Any) -> dict[str, Any]:
    """``evaluate()``'s result as a plain dict; a list of dicts (Lightning's ``Trainer.test``) is merged.

    Raises:
        ContractError: the result is not a mapping of names to values.
    """
    if isinstance(metrics, list) and all(isinstance(item, Mapping) for item in metrics):
        merged: dict[str, Any] = {}
        for item in metrics:
            merged.update(item)
        metrics = merged
    if not isinstance(metrics, Mapping):
        raise ContractError("metrics_not_a_dict", f"evaluate() must return a dict of metric name → number, it returned {type(metrics).__name__}")
    return dict(metrics)


def user_failure(phase: Phase, site: str, round_num: int | None, exc: BaseException, bundle_dir: Path) -> RoundError:
    """``exc`` raised in ``phase`` as a ``RoundError``: its message and traceback, its type and the bundle's frames."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    reason = getattr(exc, "reason", "") or ("cuda_unavailable" if _needs_missing_gpu(exc) else "")
    return RoundError(
        phase, site, round_num, message, user_traceback(exc),
        exc_type=exception_type_name(type(exc)), frames=bundle_frames_of(exc, bundle_dir), reason=reason,
        exc_bases=tuple(exception_type_name(base) for base in type(exc).__mro__[1:] if issubclass(base, BaseException)),
    )  # fmt: skip


_NO_GPU_WORDS = ("not compiled with cuda enabled", "no cuda gpus are available", "found no nvidia driver",
                 "no cuda-capable device", "cuda driver initialization failed")  # fmt: skip


def _needs_missing_gpu(exc: BaseException) -> bool:
    """Whether ``exc`` is user code asking for a CUDA device on a site that has none (a hard-coded ``cuda:0``)."""
    text = str(exc).lower()
    if not any(words in text for words in _NO_GPU_WORDS):
        return False
    import torch

    return not torch.cuda.is_available()


def exception_type_name(cls: type) -> str:
    """``KeyError`` for built-in exceptions, else ``module.Class`` (``omegaconf.errors.ConfigKeyError``)."""
    module = getattr(cls, "__module__", "") or ""
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def bundle_frames_of(exc: BaseException, bundle_dir: Path) -> tuple[Frame, ...]:
    """The frames of ``exc``'s traceback that lie in the bundle's own files, outermost first."""
    frames = []
    for summary in traceback.extract_tb(exc.__traceback__):
        path = Path(summary.filename)
        if path.parent == bundle_dir and path.suffix == ".py":
            frames.append(Frame(path.name, summary.lineno or 0, summary.name, (summary.line or "").strip()))
    return tuple(frames)


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without the platform's own frames on top."""
    tb = exc.__traceback__
    while tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE_DIR):
        if tb.tb_next is None:
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))
