"""The user bundle (DESIGN §2): its contract, its validation, and safe access to zipped bundles.

Example::

    from nvflare_fdd.bundle import validate_bundle

    for problem in validate_bundle("my_bundle.zip", model_class="MLP"):
        print(problem)  # e.g. "train_eval.py:8: train takes 2 positional argument(s) ..."

Validation never imports or executes the bundle's code.
"""

from __future__ import annotations

from nvflare_fdd.bundle.archive import open_bundle
from nvflare_fdd.bundle.contract import (
    CONFIG_FILE,
    ENTRY_POINTS,
    MAX_WEIGHTS_BYTES,
    OTHER_SUFFIXES,
    REQUIRED_FILES,
    WEIGHT_SUFFIXES,
    Problem,
    format_size,
)
from nvflare_fdd.bundle.rules_model import model_classes
from nvflare_fdd.bundle.validate import BundleReport, inspect_bundle, validate_bundle

__all__ = [
    "CONFIG_FILE",
    "ENTRY_POINTS",
    "MAX_WEIGHTS_BYTES",
    "OTHER_SUFFIXES",
    "REQUIRED_FILES",
    "WEIGHT_SUFFIXES",
    "BundleReport",
    "Problem",
    "format_size",
    "inspect_bundle",
    "model_classes",
    "open_bundle",
    "validate_bundle",
]
