"""``fdd check``: the client round run locally on one site's data, without NVFlare.

It also builds the model the way the server will (the class from ``model.py``
with the ``config.yaml`` dict) and checks that every state dict the client
would send loads into it, so a bundle that passes here fails on a site only
for reasons of that site.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nvflare_fdd.client import runtime
from nvflare_fdd.client.phases import Phase, RoundError
from nvflare_fdd.client.round import ClientRound, PhaseListener, RoundResult, default_device
from nvflare_fdd.client.runtime import DEFAULT_FEDPROX_MU
from nvflare_fdd.controllers.scaffold import ScaffoldControls
from nvflare_fdd.errors import BundleError, FddError, ServerModelError
from nvflare_fdd.usercode import build_server_model


@dataclass
class CheckReport:
    """What ``check_bundle`` found: the server model and each round's result."""

    model_class: str
    num_parameters: int
    server_build_seconds: float
    rounds: list[RoundResult] = field(default_factory=list)


def check_bundle(
    bundle_dir: str | Path,
    fetch_raw_datas: Callable[[], Mapping[str, Any]],
    rounds: int = 1,
    model_class: str | None = None,
    site: str = "local",
    device: str | None = None,
    on_phase: PhaseListener | None = None,
    algorithm: str = "fedavg",
    fedprox_mu: float = DEFAULT_FEDPROX_MU,
    local_baseline: bool = False,
    requester: runtime.Requester | None = None,
) -> CheckReport:
    """Run the client round ``rounds`` times on one site's data, as a one-site federation would.

    Round 1 starts from the server's freshly built model; each later round starts
    from the previous round's update (the FedAvg of one site is its own update; with
    ``scaffold``, the global controls move by this site's control differences).

    Args:
        bundle_dir: a flat bundle folder (use ``nvflare_fdd.bundle.open_bundle`` for a zip).
        fetch_raw_datas: returns the site's ``{test_key: DataFrame}``.
        rounds: number of rounds, at least 1.
        model_class: the class the server builds; default the class of ``model_loader()``'s model.
        site: name shown in errors.
        device: ``cpu`` or ``cuda:N``; default ``cuda:0`` when present.
        on_phase: progress listener (see ``ClientRound``).
        algorithm: ``fedavg``, ``fedprox`` or ``scaffold``; ``fedprox_mu``: what the server would send.
        local_baseline: also train the local-only baseline each round (``RoundResult.baseline_metrics``).
        requester: answers user code's requests (``model_manager.download_model``), e.g. ``this_machines_platform``.

    Raises:
        RoundError: a client phase failed (its code is the K-MELLODDY code).
        ServerModelError: the server-side build of the model failed.
    """
    if rounds < 1:
        raise FddError(f"rounds must be at least 1, got {rounds}")
    device = device or default_device()
    settings = {"requester": requester} if requester is not None else {}
    with runtime.configured(device=device, algorithm=algorithm, fedprox_mu=fedprox_mu, local_baseline=local_baseline,
                            **settings):  # fmt: skip
        return _check(bundle_dir, fetch_raw_datas, rounds, model_class, site, device, on_phase, algorithm)


def this_machines_platform(what: str, arguments: dict) -> dict:
    """What user code may ask for outside a job (``fdd check``): pretrained models from this machine's platform store."""
    from nvflare_fdd.pretrained.cache import from_this_machine

    if what != "pretrained":
        raise FddError(f"fdd check cannot give user code {what!r}")
    return {"path": str(from_this_machine(arguments.get("name", "")))}


def _check(bundle_dir, fetch_raw_datas, rounds, model_class, site, device, on_phase, algorithm) -> CheckReport:
    with ClientRound(bundle_dir, fetch_raw_datas, site=site, device=device, on_phase=on_phase) as client:
        client.setup()
        class_name = model_class or _loader_class_name(client.model)
        started = time.perf_counter()
        server_model = _build_server_model(client.bundle_dir, class_name)
        report = CheckReport(
            model_class=class_name,
            num_parameters=sum(p.numel() for p in server_model.parameters()),
            server_build_seconds=time.perf_counter() - started,
        )
        global_params = server_model.state_dict()
        controls = ScaffoldControls(global_params) if algorithm == "scaffold" else None
        for round_num in range(1, rounds + 1):
            if controls is not None:
                controls.begin_round()
            result = client.run(round_num, global_params, controls.controls if controls is not None else None)
            _check_update_fits(server_model, result, site)
            if controls is not None:
                controls.add(result.control_diff, result.num_samples, site)
                controls.end_round()
            report.rounds.append(result)
            global_params = result.params
    return report


def _loader_class_name(model: Any) -> str:
    cls = type(model)
    if cls.__module__ != "model":
        raise FddError(
            f"model_loader() returned a {cls.__module__}.{cls.__name__}, which is not defined in model.py; "
            "pass --model-class with the model.py class the server should build"
        )
    return cls.__name__


def _build_server_model(bundle_dir: Path, class_name: str):
    try:
        return build_server_model(bundle_dir, class_name)
    except BundleError as exc:
        raise ServerModelError(str(exc)) from exc
    except Exception as exc:
        raise ServerModelError(
            f"the server could not build {class_name}(config): {type(exc).__name__}: {exc}",
            traceback.format_exc(),
        ) from exc


def _check_update_fits(server_model: Any, result: RoundResult, site: str) -> None:
    """Raise ``RoundError`` (8000) unless the update loads into the server's model."""
    server_state = server_model.state_dict()
    problems = []
    for key, value in result.params.items():
        if key not in server_state:
            problems.append(f"{key} is not in the server's model")
        elif tuple(value.shape) != tuple(server_state[key].shape):
            problems.append(f"{key} has shape {tuple(value.shape)}, the server's is {tuple(server_state[key].shape)}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise RoundError(
            Phase.SEND,
            site,
            result.round,
            f"the update does not fit the server's {type(server_model).__name__}: {shown}. "
            "model_loader() and the registered class must build the same architecture from config.yaml",
        )
    server_model.load_state_dict(result.params, strict=False)
