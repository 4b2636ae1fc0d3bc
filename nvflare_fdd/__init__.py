"""nvflare-fdd: federated drug discovery on NVIDIA FLARE."""

__version__ = "0.1.0"

from nvflare_fdd.plugin import hookimpl  # noqa: E402  (re-exported for plugin authors)

__all__ = ["__version__", "hookimpl"]
