"""Which way a metric is better: the rule that picks the best global model (``FddFedAvg``'s ``best_mode``).

Pages that compare results (the web UI's per-site payoff) use the same rule, so "better" means one thing.
"""

from __future__ import annotations

BEST_MODES = ("min", "max", "auto")
HIGHER_IS_BETTER = ("r2", "acc", "auc", "precision", "recall", "f1", "pearson", "spearman", "score")
"""With ``auto``, a metric whose name contains one of these is better higher; any other (loss, rmse, mae…) lower."""


def higher_is_better(metric: str, mode: str = "auto") -> bool:
    """Whether a higher value of ``metric`` is better under ``mode`` (``min``, ``max`` or ``auto``)."""
    if mode not in BEST_MODES:
        raise ValueError(f"best_mode must be min, max or auto, got {mode!r}")
    return mode == "max" or (mode == "auto" and any(word in metric.lower() for word in HIGHER_IS_BETTER))
