"""``controller_manager``: K-MELLODDY's FedProx and SCAFFOLD helpers, importable by bare name (DESIGN §9).

Bundles written for K-MELLODDY use it as they are::

    from controller_manager import *

    def train(model, data, configs):
        fl_fedprox = FLFedProx(0.01)          # or FLScaffold(model), see below
        fl_fedprox.set_global(model)
        ...
        loss = fl_fedprox.fedprox_apply(model, loss)

- ``FLFedProx(mu)``: ``set_global(model)`` keeps a frozen copy of the global model;
  ``fedprox_apply(model, loss)`` adds ``mu/2 · ‖w − w_global‖²`` (NVFlare's ``PTFedProxLoss``) when
  ``mu > 0``. ``FLFedProx()`` without ``mu`` takes the job's ``fedprox_mu``, which the server sends
  with each task.
- ``FLScaffold(model)``: NVFlare's ``PTScaffoldHelper``. The platform loads the server's global
  controls before ``train()`` (``get_global_controls``) and sends ``scaffold_meta()``'s control
  differences after it; ``train()`` calls ``set_global(model)`` and ``get_controls()`` at its start,
  ``scaffold_apply(model, optimizer)`` after each ``backward()``, and
  ``scaffold_update(model, steps)`` at its end.

Both are singletons per process (one per job at a site), as in K-MELLODDY. The platform puts this
module on the path of the code it runs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from model_manager import DEVICE, compute_model_diff, get_lr_values
from nvflare.app_common.app_constant import AlgorithmConstants
from nvflare.app_opt.pt.fedproxloss import PTFedProxLoss
from nvflare.app_opt.pt.scaffold import PTScaffoldHelper

from nvflare_fdd.client import runtime

__all__ = ["DEVICE", "FLFedProx", "FLScaffold", "compute_model_diff", "get_lr_values"]

SCAFFOLD_CTRL_GLOBAL = AlgorithmConstants.SCAFFOLD_CTRL_GLOBAL
SCAFFOLD_CTRL_DIFF = AlgorithmConstants.SCAFFOLD_CTRL_DIFF


def _frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    copied = copy.deepcopy(model)
    for parameter in copied.parameters():
        parameter.requires_grad = False
    return copied


class _OnePerProcess:
    """One instance per class and process: the first construction sets it up (``_setup``), later ones return it."""

    _instance: _OnePerProcess | None = None

    def __new__(cls, *args: Any):
        if cls._instance is None:
            instance = super().__new__(cls)
            instance._setup(*args)
            cls._instance = instance
        return cls._instance

    def _setup(self, *args: Any) -> None:
        raise NotImplementedError

    @classmethod
    def reset(cls) -> None:
        """Forget the instance (a new job in the same process starts afresh)."""
        cls._instance = None


class FLScaffold(_OnePerProcess):
    """SCAFFOLD's control variates around NVFlare's ``PTScaffoldHelper``; one per process."""

    _instance: FLScaffold | None = None
    scaffold_helper: PTScaffoldHelper
    global_model: torch.nn.Module | None
    steps: int | None
    curr_lr: float | None

    def __new__(cls, model: torch.nn.Module):
        return super().__new__(cls, model)

    def _setup(self, model: torch.nn.Module) -> None:
        self.scaffold_helper = PTScaffoldHelper()
        self.scaffold_helper.init(model)
        self.global_model = None
        self.steps = None
        self.curr_lr = None

    def set_global(self, model: torch.nn.Module) -> None:
        """Keep a frozen copy of the model as received: the reference of this round's control update."""
        self.global_model = _frozen_copy(model)

    def get_global_controls(self, input_model: Any) -> None:
        """Load the server's global controls: ``input_model.meta[SCAFFOLD_CTRL_GLOBAL]`` (or the controls themselves).

        Raises:
            ValueError: there are none.
        """
        meta = getattr(input_model, "meta", None)
        if meta is None and isinstance(input_model, Mapping):
            meta = {SCAFFOLD_CTRL_GLOBAL: input_model}
        if not meta or SCAFFOLD_CTRL_GLOBAL not in meta:
            raise ValueError(f"expected the global model's meta to hold {SCAFFOLD_CTRL_GLOBAL!r}")
        controls = meta[SCAFFOLD_CTRL_GLOBAL]
        if not controls:
            raise ValueError("the server's global controls are empty")
        self.scaffold_helper.load_global_controls(weights={key: torch.as_tensor(value) for key, value in controls.items()})

    def get_controls(self) -> None:
        """This round's global and local controls (call at the start of ``train()``)."""
        self.c_global_para, self.c_local_para = self.scaffold_helper.get_params()

    def scaffold_apply(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Correct the model by ``c_global − c_local`` (call after each ``backward()``)."""
        self.curr_lr = get_lr_values(optimizer)[0]
        self.scaffold_helper.model_update(model=model, curr_lr=self.curr_lr, c_global_para=self.c_global_para,
                                          c_local_para=self.c_local_para)  # fmt: skip

    def scaffold_update(self, model: torch.nn.Module, steps: int) -> None:
        """Update the local controls from this round's ``steps`` (call at the end of ``train()``)."""
        if self.global_model is None:
            raise ValueError("FLScaffold.set_global(model) must be called at the start of train()")
        self.steps = steps
        self.scaffold_helper.terms_update(model=model, curr_lr=self.curr_lr, c_global_para=self.c_global_para,
                                          c_local_para=self.c_local_para, model_global=self.global_model)  # fmt: skip
        self.scaffold_diff(model)

    def scaffold_diff(self, model: torch.nn.Module) -> None:
        self.model_diff, self.diff_norm = compute_model_diff(model, self.global_model)

    def scaffold_meta(self) -> dict[str, Any]:
        """What the site sends with its update: the round's steps and the control differences."""
        return {"NUM_STEPS_CURRENT_ROUND": self.steps, SCAFFOLD_CTRL_DIFF: self.scaffold_helper.get_delta_controls()}


class FLFedProx(_OnePerProcess):
    """FedProx's proximal term around NVFlare's ``PTFedProxLoss``; one per process."""

    _instance: FLFedProx | None = None
    fedproxloss_mu: float
    criterion_prox: PTFedProxLoss | None
    global_model: torch.nn.Module | None

    def __new__(cls, fedproxloss_mu: float | None = None):
        return super().__new__(cls, fedproxloss_mu)

    def _setup(self, fedproxloss_mu: float | None) -> None:
        self.fedproxloss_mu = runtime.current().fedprox_mu if fedproxloss_mu is None else float(fedproxloss_mu)
        self.criterion_prox = self.fedprox_init()
        self.global_model = None

    def fedprox_init(self) -> PTFedProxLoss | None:
        return PTFedProxLoss(mu=self.fedproxloss_mu) if self.fedproxloss_mu > 0 else None

    def set_global(self, model: torch.nn.Module) -> None:
        """Keep a frozen copy of the model as received, the term's reference."""
        self.global_model = _frozen_copy(model)

    def fedprox_apply(self, model: torch.nn.Module, loss: torch.Tensor) -> torch.Tensor:
        """``loss`` plus the proximal term (unchanged when ``mu`` is 0).

        Raises:
            ValueError: ``set_global`` was not called this round.
        """
        if self.criterion_prox is None:
            return loss
        if self.global_model is None:
            raise ValueError("FLFedProx.set_global(model) must be called at the start of train()")
        return loss + self.criterion_prox(model, self.global_model)
