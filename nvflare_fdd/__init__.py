"""nvflare-fdd: federated drug discovery on NVIDIA FLARE."""

__version__ = "0.1.0"
