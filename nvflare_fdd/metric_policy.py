"""Which values reported by a site may be stored: finite real scalars under bounded names.

Metrics are the one free-form channel from a site to the server, so they must
not become a way to move data off a site: strings, arrays, nested data,
NaN/inf, too many keys and over-long names are dropped (and reported).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_METRICS = 32
MAX_NAME_LENGTH = 64
_NAME = re.compile(r"^[A-Za-z0-9_.\-/@ ]+$")


@dataclass
class Screened:
    """The outcome of screening: what was kept and why the rest was dropped."""

    accepted: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)


def screen_metrics(
    metrics: Any, max_metrics: int = MAX_METRICS, max_name_length: int = MAX_NAME_LENGTH
) -> Screened:
    """Keep only finite real numbers (ints, floats, 0-d tensors/arrays) under valid names.

    Args:
        metrics: what the site sent for one evaluation; anything but a mapping is dropped whole.
        max_metrics: metrics kept at most, in the order sent; later ones are dropped.
        max_name_length: longest name kept.

    Returns:
        ``Screened`` with ``accepted`` as ``{name: float}`` and ``rejected`` as ``{name: reason}``
        (rejected names are truncated to ``max_name_length`` for logging).
    """
    screened = Screened()
    if not isinstance(metrics, Mapping):
        screened.rejected["*"] = f"metrics must be a mapping, got {type(metrics).__name__}"
        return screened
    for name, value in metrics.items():
        shown = str(name)[:max_name_length]
        if not isinstance(name, str) or not name or len(name) > max_name_length or not _NAME.match(name):
            screened.rejected[shown] = (
                f"names must be 1-{max_name_length} characters of letters, digits, space and _ . - / @"
            )
            continue
        number = _real_scalar(value)
        if number is None:
            screened.rejected[shown] = f"not a real number ({type(value).__name__})"
        elif not math.isfinite(number):
            screened.rejected[shown] = f"not finite ({number})"
        elif len(screened.accepted) >= max_metrics:
            screened.rejected[shown] = f"more than {max_metrics} metrics"
        else:
            screened.accepted[name] = number
    return screened


def _real_scalar(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if getattr(value, "ndim", None) == 0 and getattr(value, "dtype", None) is not None:  # 0-d tensor / ndarray
        kind = getattr(value.dtype, "kind", None)  # numpy dtypes
        is_real = kind in ("i", "u", "f") if kind else (value.dtype.is_floating_point or _is_torch_int(value))
        if is_real:
            return float(value.item())
    return None


def _is_torch_int(value: Any) -> bool:
    return str(value.dtype).startswith(("torch.int", "torch.uint"))
