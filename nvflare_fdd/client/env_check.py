"""``fdd check --env``: the local dry run in the job's real environment, as a site runs it.

The bundle's ``requirements.txt`` is installed by the chosen environment backend
(phase 900: a cached virtual environment, or a container image), and the client
round runs in a sandboxed user-code process started the way a site's executor
starts it (``WorkerProcess``), so a requirement that does not install, or code that
needs something the site's environment lacks, fails here before any federated run.
The server's side (building the model class, loading each update into it) runs in
this process, as the server would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nvflare_fdd.client import runtime
from nvflare_fdd.client.check import CheckReport, _build_server_model, _check_update_fits, this_machines_platform
from nvflare_fdd.client.handover import load_arrays, save_arrays
from nvflare_fdd.client.phases import Phase, RoundError
from nvflare_fdd.client.process import WorkerProcess
from nvflare_fdd.client.requests import pretrained_handler
from nvflare_fdd.client.round import PhaseListener, RoundResult
from nvflare_fdd.client.runtime import DEFAULT_FEDPROX_MU
from nvflare_fdd.controllers.scaffold import ScaffoldControls
from nvflare_fdd.envs import JobEnvironmentError, Logger, make_backend
from nvflare_fdd.errors import FddError
from nvflare_fdd.pretrained.cache import default_cache_dir, from_this_machine
from nvflare_fdd.usercode import user_modules


def check_in_environment(
    bundle_dir: str | Path,
    raw_datas: Callable[[], Mapping[str, Any]],
    backend: str,
    options: Mapping[str, Any],
    model_class: str,
    rounds: int = 1,
    site: str = "local",
    device: str = "",
    on_phase: PhaseListener | None = None,
    log: Logger = lambda line: None,
    algorithm: str = "fedavg",
    fedprox_mu: float = DEFAULT_FEDPROX_MU,
    local_baseline: bool = False,
) -> tuple[CheckReport, str]:
    """Run ``rounds`` client rounds of ``bundle_dir`` in the environment ``backend`` builds for it.

    Args:
        bundle_dir: a flat bundle folder.
        raw_datas: reads the site's KDA (``{test_key: DataFrame}``); called in phase 2000.
        backend: the environment backend (``local``, ``docker``...).
        options: its options, as in ``fdd_site.json``'s ``environment``.
        model_class: the ``model.py`` class the server builds.
        rounds: rounds to run, each from the previous round's update.
        site: the name shown in messages.
        device: ``cpu`` / ``cuda:N``; empty for the worker's default.
        on_phase: receives the worker's phase events.
        log: receives the environment backend's progress (phase 900).
        algorithm: ``fedavg``, ``fedprox`` or ``scaffold``; ``fedprox_mu``: what the server would send.

    Returns:
        The report, and the environment's description.

    Raises:
        RoundError: a phase failed, phase 900 (environment) included.
        ServerModelError: the server could not build the model class.
    """
    if rounds < 1:
        raise FddError(f"rounds must be at least 1, got {rounds}")
    import torch
    from safetensors.torch import load_file, save_file

    bundle_dir = Path(bundle_dir)
    requirements_path = bundle_dir / "requirements.txt"
    requirements = requirements_path.read_text() if requirements_path.is_file() else ""
    _event(on_phase, site, Phase.ENVIRONMENT, "start")
    try:
        environment = make_backend(backend, options, f"the {backend} environment backend").prepare(requirements, log=log)
    except JobEnvironmentError as exc:
        _event(on_phase, site, Phase.ENVIRONMENT, "failed")
        raise RoundError(Phase.ENVIRONMENT, site, None, str(exc)) from exc  # the message ends with the output
    _event(on_phase, site, Phase.ENVIRONMENT, "end")
    cache_dir = default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(environment, bundle_dir, site, raw_datas, device=device, on_phase=on_phase, share_error_messages=True,
                           read_only_dirs=[str(cache_dir)], handlers={"pretrained": pretrained_handler(from_this_machine)})  # fmt: skip
    try:
        try:
            worker.start()
        except RoundError:
            raise
        except FddError as exc:  # the backend could not form the command (no sandbox, a bad mount)
            raise RoundError(Phase.ENVIRONMENT, site, None, str(exc)) from exc
        job = {"algorithm": algorithm, "fedprox_mu": fedprox_mu, "local_baseline": local_baseline}
        worker.setup(**job)
        started = time.perf_counter()
        with user_modules(bundle_dir), runtime.configured(requester=this_machines_platform):  # the server's side, here
            server_model = _build_server_model(bundle_dir, model_class)
        report = CheckReport(model_class, sum(p.numel() for p in server_model.parameters()), time.perf_counter() - started)
        global_params = {key: value.detach().cpu().contiguous() for key, value in server_model.state_dict().items()}
        controls = ScaffoldControls(global_params) if algorithm == "scaffold" else None
        for round_num in range(1, rounds + 1):
            params_path = worker.exchange / f"global-{round_num}.safetensors"
            save_file(global_params, str(params_path))
            controls_path = None
            if controls is not None:
                controls.begin_round()
                controls_path = worker.exchange / f"controls-{round_num}.safetensors"
                save_arrays(controls.controls, str(controls_path))
            reply = worker.run_round(round_num, params_path, controls_path, **job)
            update = load_file(str(reply.params))
            result = RoundResult(round_num, update, reply.num_samples, dict(reply.global_metrics or {}),
                                 dict(reply.local_metrics or {}), reply.phases,
                                 baseline_metrics=dict(reply.baseline_metrics) if local_baseline else None)  # fmt: skip
            _check_update_fits(server_model, result, site)
            if controls is not None:
                controls.add(load_arrays(str(reply.control_diff)), result.num_samples, site)
                controls.end_round()
            report.rounds.append(result)
            global_params = {key: torch.as_tensor(value) for key, value in update.items()}
    finally:
        worker.stop()
    return report, environment.description


def _event(on_phase: PhaseListener | None, site: str, phase: Phase, event: str) -> None:
    if on_phase is not None:
        on_phase({"site": site, "round": None, "code": phase.value, "phase": phase.label, "event": event, "time": time.time()})
