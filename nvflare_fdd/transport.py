"""What crosses between a site and the server, and how it is packed into NVFlare messages.

A train task carries the global weights as a ``WEIGHTS`` DXO of numpy arrays
(numpy is serialized natively by NVFlare 2.7 and 2.9 alike). A site's reply
carries its updated weights the same way, and in the DXO meta only: the
training-sample count, the Global and Local metric dicts, and the phase time
stamps. A large model's weights travel instead as a stream (``nvflare_fdd.streaming``):
the DXO's data is then empty and its meta carries the stream's reference, the global
model's under ``META_MODEL_REF`` and a site's update under ``META_UPDATE_REF``. A failed round replies with an error return code and the
``RoundError`` as plain data in a header.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

TRAIN_TASK = "train"

META_NUM_SAMPLES = "fdd_num_samples"
META_GLOBAL_METRICS = "fdd_global_metrics"
META_LOCAL_METRICS = "fdd_local_metrics"
META_PHASES = "fdd_phases"
META_SETUP_PHASES = "fdd_setup_phases"
SETUP_EVENT = "fdd.site_setup"
"""The federation event a site sends as soon as its environment (900) and then its setup (1000–3000) are done,
with ``phases``: the timings so far, so the platform shows each step ending when it ends."""
META_ROUND = "fdd_round"
META_DROPPED_METRICS = "fdd_dropped_metrics"  # {kind: {reason: count}}: what the site kept back, by count only
# Task meta: the job's algorithm (DESIGN §9), with NVFlare's own keys for FedProx's coefficient and SCAFFOLD's
# controls (server → site: the global controls; site → server: the site's control differences).
META_ALGORITHM = "fdd_algorithm"
META_LOCAL_BASELINE = "fdd_local_baseline"  # server → site: also train a local-only baseline
META_BASELINE_METRICS = "fdd_baseline_metrics"  # site → server: the baseline's metrics (kind "baseline")
META_PERSONALIZED = "fdd_personalized"  # site → server: it kept its last local model at the site (True/False)
META_FEDPROX_MU = "fedprox_mu"  # AlgorithmConstants.FEDPROX_MU in NVFlare 2.9
META_SCAFFOLD_CTRL_GLOBAL = "scaffold_c_global"  # AlgorithmConstants.SCAFFOLD_CTRL_GLOBAL
META_SCAFFOLD_CTRL_DIFF = "scaffold_c_diff"  # AlgorithmConstants.SCAFFOLD_CTRL_DIFF
META_MODEL_REF = "fdd_model_ref"  # server → site: the global model's stream (``streaming.reference``)
META_UPDATE_REF = "fdd_update_ref"  # site → server: the update's stream, only when the task came as one
HEADER_ERROR = "fdd_error"
# NVFlare's own aggregators read the weight from this key; we set it too so stock components weigh correctly.
META_NVFLARE_STEPS = "NUM_STEPS_CURRENT_ROUND"


def to_numpy(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """CPU tensors → numpy arrays without copying; bfloat16 (which numpy lacks) becomes float32.

    torch is not imported here: if the process never imported it, no value can be a tensor
    (a site's NVFlare client sends numpy only, and importing torch there cost seconds in round 1).
    """
    torch = sys.modules.get("torch")
    arrays = {}
    for key, value in params.items():
        if torch is not None and isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.dtype == torch.bfloat16:
                value = value.float()
            value = value.numpy()
        arrays[key] = np.asarray(value)
    return arrays


def to_tensors(params: Mapping[str, Any]) -> dict[str, Any]:
    """numpy arrays → tensors sharing their memory."""
    import torch

    return {key: torch.as_tensor(value) for key, value in params.items()}


def weights_shareable(params: Mapping[str, Any], round_index: int, num_rounds: int, meta: Mapping[str, Any] | None = None):
    """The train task's data: global weights (and ``meta``: the algorithm's), zero-based round and round count in the headers."""
    from nvflare.apis.dxo import DXO, DataKind
    from nvflare.app_common.app_constant import AppConstants

    shareable = DXO(data_kind=DataKind.WEIGHTS, data=to_numpy(params), meta=dict(meta or {})).to_shareable()
    shareable.set_header(AppConstants.CURRENT_ROUND, round_index)
    shareable.set_header(AppConstants.NUM_ROUNDS, num_rounds)
    return shareable


def update_shareable(params: Mapping[str, Any], meta: Mapping[str, Any]):
    """A site's reply: its weights and the meta keys above."""
    from nvflare.apis.dxo import DXO, DataKind

    dxo = DXO(data_kind=DataKind.WEIGHTS, data=to_numpy(params), meta=dict(meta))
    return dxo.to_shareable()


def error_shareable(error: Mapping[str, Any]):
    """A failed round's reply: ``EXECUTION_EXCEPTION`` with the error as plain data."""
    from nvflare.apis.fl_constant import ReturnCode
    from nvflare.apis.shareable import make_reply

    reply = make_reply(ReturnCode.EXECUTION_EXCEPTION)
    reply.set_header(HEADER_ERROR, dict(error))
    return reply
