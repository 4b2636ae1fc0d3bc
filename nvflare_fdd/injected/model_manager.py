"""``model_manager``: what K-MELLODDY gives user code about models, importable by bare name (DESIGN §9).

    from model_manager import download_model, DEVICE, get_lr_values, compute_model_diff

- ``DEVICE``: this site's device (``cuda:0`` where the site has a GPU, else ``cpu``); use it instead
  of a hard-coded ``"cuda:0"``, so the bundle also runs on a site without a GPU.
- ``download_model(name)``: the absolute path of a pretrained model from the platform's store
  (``fdd pretrained add NAME PATH``): a folder laid out like a Hugging Face repository, or one file.
  The site fetches it from the server through NVFlare the first time, then keeps it in its cache.
- ``get_lr_values(optimizer)``: the learning rate of each of the optimizer's parameter groups.
- ``compute_model_diff(model, global_model)``: ``(diff, norm)``, each tensor's change from the global
  model and the norm of all changes together.
- ``job_algorithm()`` (nvflare-fdd's addition): the job's algorithm as the server sent it (``fedavg``,
  ``fedprox`` or ``scaffold``), for a bundle that supports several (``examples/solubility_mlp``).

The platform puts this module on the path of the code it runs; a bundle need not (and should not)
ship a copy.
"""

from __future__ import annotations

import torch

from nvflare_fdd.client import runtime

__all__ = ["DEVICE", "compute_model_diff", "download_model", "get_lr_values", "job_algorithm"]

DEVICE = torch.device(runtime.current().device)


def download_model(name: str) -> str:
    """The local absolute path of the pretrained model ``name`` (a folder or a file).

    Raises:
        FddError: the platform's store has no model of that name (the job fails, naming it).
    """
    return runtime.current().request("pretrained", name=str(name))["path"]


def job_algorithm() -> str:
    """The job's algorithm: ``fedavg``, ``fedprox`` or ``scaffold`` (it can change between tasks only by a resume)."""
    return runtime.current().algorithm


def get_lr_values(optimizer: torch.optim.Optimizer) -> list[float]:
    """The learning rate of each parameter group of ``optimizer`` (K-MELLODDY's and NVFlare's helper)."""
    return [group["lr"] for group in optimizer.state_dict()["param_groups"]]


def compute_model_diff(model: torch.nn.Module, global_model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each tensor of ``model``'s state minus ``global_model``'s, and the L2 norm of all those differences.

    Raises:
        ValueError: the two models do not have the same tensors.
    """
    local_state, global_state = model.state_dict(), global_model.state_dict()
    missing = sorted(set(local_state) ^ set(global_state))
    if missing:
        raise ValueError(f"the models differ in tensors: {', '.join(missing[:5])}")
    diff = {}
    for key, value in local_state.items():
        reference = global_state[key]
        if value.is_floating_point():
            diff[key] = value.detach().cpu() - reference.detach().cpu()
    norm = torch.sqrt(sum((change.double() ** 2).sum() for change in diff.values())) if diff else torch.tensor(0.0)
    return diff, norm
