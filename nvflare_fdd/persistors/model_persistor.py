"""``FddModelPersistor``: builds the bundle's model class for the server and saves the global model.

The registered class is built from the job's ``model.py`` with the ``config.yaml``
contents as a plain dict (``Class(config)``; ``Class()`` without a config), exactly
as K-MELLODDY's persistor does — but never inside the NVFlare server process: a
sandboxed child process in the job's environment builds it and returns its
initial weights (``nvflare_fdd.persistors.builder``, DESIGN §8). A wrapper class
that loads bundled weights by ``__file__``-relative path in its ``__init__`` works,
since the bundle's files sit next to ``model.py``. The initial weights give the
model's *spec* (``spec``): the keys, shapes and dtypes a site's update may hold.

Every round's global model is saved atomically as ``global_model.pt`` and
``global_model.safetensors``; the controller asks for the best one to be kept as
``best_global_model.*``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from nvflare.apis.event_type import EventType
from nvflare.apis.fl_context import FLContext
from nvflare.app_common.abstract.model import ModelLearnable, ModelLearnableKey, make_model_learnable
from nvflare.app_common.abstract.model_persistor import ModelPersistor
from nvflare.app_common.model_desc import ModelDescriptor

from nvflare_fdd.envs.prepare import prepare_environment
from nvflare_fdd.errors import BundleError, FddError, StreamError
from nvflare_fdd.persistors.builder import (
    DEFAULT_TIMEOUT,
    ModelSpec,
    TensorSpec,
    build_initial_model,
    check_against_spec,
    spec_of,
)
from nvflare_fdd.pretrained.site import site_cache_dir
from nvflare_fdd.results import atomic_save
from nvflare_fdd.site_config import site_policy
from nvflare_fdd.transport import to_tensors
from nvflare_fdd.usercode import keep_out_of_process
from nvflare_fdd.widgets.recorder import results_dir

LAST = "global_model"
BEST = "best_global_model"
START = ".start_global_model"
"""The model a run starts from, saved while its first round runs: the best model after that round, by a rename."""
CONTROLS = "scaffold_controls"
"""SCAFFOLD's global controls after the last saved round (``scaffold_controls.safetensors``)."""


def save_state_dict(params: dict[str, Any], folder: Path, stem: str) -> None:
    """Save ``params`` as ``stem.pt`` and ``stem.safetensors`` in ``folder``, each atomically.

    Raises:
        OSError: the file system refused (a full disk is ``ENOSPC``); no partial file is left.
    """
    tensors = {key: value.detach().cpu().contiguous() for key, value in to_tensors(params).items()}
    atomic_save(folder / f"{stem}.pt", lambda path: _torch_save(tensors, path))
    atomic_save(folder / f"{stem}.safetensors", lambda path: _safetensors_save(tensors, path))


def _torch_save(tensors: dict, path: str) -> None:
    import torch

    try:
        with open(path, "wb") as handle:  # through a Python file, a write error is an OSError...
            torch.save(tensors, handle)
    except RuntimeError as exc:  # ... which torch's zip writer may raise again as a RuntimeError
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError):
            raise cause from exc
        raise


def _safetensors_save(tensors: dict, path: str) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, path)
    except SafetensorError as exc:  # "... I/O error: No space left on device (os error 28)"
        code = re.search(r"os error (\d+)", str(exc))
        if code is None:
            raise
        raise OSError(int(code[1]), os.strerror(int(code[1])), str(path)) from exc


def _only_model_class(bundle_dir: Path) -> str:
    from nvflare_fdd.bundle import model_classes

    found = model_classes(bundle_dir)
    if len(found) != 1:
        listed = ", ".join(found) or "none"
        raise BundleError(
            f"model.py has {len(found)} torch.nn.Module classes ({listed}); set model_class in "
            "config_fed_server.conf to the registered one"
        )
    return found[0]


def _initial_weights(path: Path, spec: ModelSpec):
    """A saved global model (safetensors: no pickle) to start from; every tensor must be one of the model's."""
    from nvflare_fdd.streaming import read_arrays

    if not path.is_file():
        raise BundleError(f"initial_weights {path.name} is not in the job's custom folder")
    try:
        state = read_arrays(path)
    except StreamError as exc:
        raise BundleError(f"initial_weights {path.name}: {exc}") from exc
    try:
        check_against_spec(state, spec, path.name)
    except ValueError as exc:
        raise BundleError(str(exc)) from exc
    return state


class FddModelPersistor(ModelPersistor):
    """Loads the initial global model from the bundle's class and saves each round's global model.

    Args:
        model_class: name of the ``torch.nn.Module`` class in the bundle's ``model.py``; empty means
            the only such class there (an error if there are several).
        results_dir: where models are saved; default the run's results folder (``<run dir>/fdd``); a relative
            folder is taken from the run dir.
        seed: seeds torch before the class is built, so a job's initial global model (and so the
            whole run, for a deterministic bundle) is reproducible.
        initial_weights: a ``.safetensors`` file in the job's ``custom/`` folder whose weights replace the
            built model's (a resumed job's last saved global model); empty for none.
        build_timeout: seconds building the model class may take.
        initial_controls: SCAFFOLD's controls saved by an earlier run (a ``.safetensors`` file in ``custom/``).
    """

    def __init__(self, model_class: str = "", results_dir: str = "", seed: int = 0, initial_weights: str = "",
                 build_timeout: float = DEFAULT_TIMEOUT, initial_controls: str = ""):  # fmt: skip
        super().__init__()
        self.model_class = model_class
        self.results_dir = results_dir
        self.seed = seed
        self.initial_weights = initial_weights
        self.build_timeout = build_timeout
        self.initial_controls = initial_controls
        self.spec: dict[str, TensorSpec] = {}
        """Each tensor of the server's model: its shape and dtype (known once ``load_model`` ran)."""

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        if event_type == EventType.START_RUN:
            imported = keep_out_of_process(self._bundle_dir(fl_ctx))
            if imported:
                self.system_panic(f"bundle modules were imported into the NVFlare server process: {', '.join(imported)}", fl_ctx)

    def load_model(self, fl_ctx: FLContext) -> ModelLearnable:
        bundle_dir = self._bundle_dir(fl_ctx)
        class_name = self.model_class or _only_model_class(bundle_dir)
        site_dir = fl_ctx.get_engine().get_workspace().get_site_config_dir()
        policy = site_policy(site_dir)
        environment = prepare_environment(bundle_dir, site_dir, policy, log=lambda line: self.log_info(fl_ctx, f"environment: {line}"))
        cache_dir = site_cache_dir(site_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        weights = build_initial_model(bundle_dir, class_name, environment, seed=self.seed, timeout=self.build_timeout,
                                      sandboxed=policy.sandbox, log=lambda line: self.log_info(fl_ctx, line),
                                      read_only_dirs=[str(cache_dir)],
                                      handlers={"pretrained": lambda arguments: self._pretrained(arguments, fl_ctx, cache_dir)})  # fmt: skip
        self.spec = spec_of(weights)
        parameters = sum(int(np.prod(value.shape)) for value in weights.values())
        self.log_info(fl_ctx, f"built {class_name} from {bundle_dir} in a sandboxed process ({parameters:,} values)")
        if self.initial_weights:
            weights.update(_initial_weights(bundle_dir / self.initial_weights, self.spec))
            self.log_info(fl_ctx, f"starting from the saved global model {self.initial_weights}")
        return make_model_learnable(weights=weights, meta_props={})

    def _pretrained(self, arguments: dict, fl_ctx: FLContext, cache_dir: Path) -> dict:
        """``model_manager.download_model(name)`` while the server builds the model: straight from the platform's store."""
        from nvflare_fdd.pretrained.server import PRETRAINED_SERVER_ID

        name = arguments.get("name", "")
        store = fl_ctx.get_engine().get_component(PRETRAINED_SERVER_ID)
        if store is None:
            raise FddError(f"model.py asked for pretrained model {name!r}, and the job's server has no "
                           f"{PRETRAINED_SERVER_ID!r} component (the fdd job template has it)")  # fmt: skip
        path = store.materialize(name, fl_ctx, cache_dir)
        self.log_info(fl_ctx, f"pretrained model {name} for the server's model: {path}")
        return {"path": str(path)}

    def save_model(self, model_learnable: ModelLearnable, fl_ctx: FLContext) -> None:
        self.save_weights(model_learnable[ModelLearnableKey.WEIGHTS], fl_ctx, LAST)

    def get_model_inventory(self, fl_ctx: FLContext) -> dict[str, ModelDescriptor]:
        """NVFlare's model-locator API: the saved global models, ``global_model`` and ``best_global_model``, by name.

        A model is listed once both its files are complete (each is written to a temporary name and renamed).
        NVFlare's tools that take a persistor's inventory (model locators, cross-site evaluation) find them here.
        """
        folder = results_dir(fl_ctx, self.results_dir)
        inventory = {}
        for stem in (LAST, BEST):
            tensors, torch_file = folder / f"{stem}.safetensors", folder / f"{stem}.pt"
            if tensors.is_file() and torch_file.is_file():
                inventory[stem] = ModelDescriptor(name=stem, location=str(tensors), model_format="safetensors",
                                                  props={"pt": str(torch_file)})  # fmt: skip
        return inventory

    def get_model(self, model_file: str, fl_ctx: FLContext) -> ModelLearnable | None:
        """NVFlare's model-locator API: the saved model ``model_file`` (a name from ``get_model_inventory``) as numpy
        weights, or ``None`` when there is no such model."""
        descriptor = self.get_model_inventory(fl_ctx).get(model_file)
        if descriptor is None:
            return None
        from safetensors.numpy import load_file

        return make_model_learnable(load_file(descriptor.location), {})

    def save_weights(self, params: dict[str, Any], fl_ctx: FLContext, stem: str = LAST) -> Path:
        """Save ``params`` under ``stem`` (``global_model`` or ``best_global_model``); returns the folder."""
        folder = results_dir(fl_ctx, self.results_dir)
        save_state_dict(params, folder, stem)
        return folder

    def save_controls(self, controls: dict[str, Any], fl_ctx: FLContext) -> Path:
        """Save SCAFFOLD's global controls as ``scaffold_controls.safetensors``, atomically; returns the file."""
        folder = results_dir(fl_ctx, self.results_dir)
        path = folder / f"{CONTROLS}.safetensors"
        atomic_save(path, lambda temp: _safetensors_save(to_tensors(controls), temp))
        return path

    def load_controls(self, fl_ctx: FLContext) -> dict[str, Any] | None:
        """The controls a resumed job starts from (``initial_controls``), or ``None``."""
        if not self.initial_controls:
            return None
        from safetensors.numpy import load_file

        path = self._bundle_dir(fl_ctx) / self.initial_controls
        if not path.is_file():
            raise BundleError(f"initial_controls {path.name} is not in the job's custom folder")
        return load_file(str(path))

    def keep_start_as_best(self, fl_ctx: FLContext) -> bool:
        """Make the run's saved start model (``START``) the best one, by renames; False when it is not there."""
        folder = results_dir(fl_ctx, self.results_dir)
        if not all((folder / f"{START}{suffix}").is_file() for suffix in (".pt", ".safetensors")):
            return False
        for suffix in (".pt", ".safetensors"):
            os.replace(folder / f"{START}{suffix}", folder / f"{BEST}{suffix}")
        return True

    def discard_start(self, fl_ctx: FLContext) -> None:
        """Remove the run's saved start model (its first round was not the best)."""
        folder = results_dir(fl_ctx, self.results_dir)
        for suffix in (".pt", ".safetensors"):
            (folder / f"{START}{suffix}").unlink(missing_ok=True)

    def keep_last_as_best(self, fl_ctx: FLContext) -> bool:
        """Make the saved last global model the best one, by hard links (no second serialisation).

        Returns False when there is no saved last model (the caller saves the weights itself).
        """
        folder = results_dir(fl_ctx, self.results_dir)
        for suffix in (".pt", ".safetensors"):
            if not (folder / f"{LAST}{suffix}").is_file():
                return False
        for suffix in (".pt", ".safetensors"):
            temp = folder / f".{BEST}{suffix}.link"
            temp.unlink(missing_ok=True)
            os.link(folder / f"{LAST}{suffix}", temp)
            os.replace(temp, folder / f"{BEST}{suffix}")
        return True

    @staticmethod
    def _bundle_dir(fl_ctx: FLContext) -> Path:
        workspace = fl_ctx.get_engine().get_workspace()
        return Path(workspace.get_app_custom_dir(fl_ctx.get_job_id()))
