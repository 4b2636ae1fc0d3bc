"""The client round (DESIGN §3), shared by ``fdd check`` and the NVFlare executor."""

from nvflare_fdd.client.phases import Phase, PhaseTiming, RoundError
from nvflare_fdd.client.round import ClientRound, RoundResult, count_training_samples, metrics_dict

__all__ = [
    "ClientRound",
    "Phase",
    "PhaseTiming",
    "RoundError",
    "RoundResult",
    "count_training_samples",
    "metrics_dict",
]
