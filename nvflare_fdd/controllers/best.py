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


class BestModelTracker:
    """Picks the best global model as the rounds go: round ``r``'s Global eval scores the model sent in round ``r``,
    as the sites' sample-weighted mean of ``metric``.

    Args:
        metric: the Global eval metric; ``""`` takes the first one a site reports.
        mode: ``min``, ``max`` or ``auto`` (see ``higher_is_better``).
    """

    def __init__(self, metric: str = "", mode: str = "auto"):
        if mode not in BEST_MODES:
            raise ValueError(f"best_mode must be min, max or auto, got {mode!r}")
        self.metric = metric
        self.mode = mode
        self.best: float | None = None
        self._scores: list[tuple[float, int]] = []

    def begin_round(self) -> None:
        self._scores = []

    def note(self, metrics: dict[str, float], num_samples: int | None) -> None:
        """One site's Global eval metrics of this round."""
        if not self.metric and metrics:
            self.metric = next(iter(metrics))
        if self.metric in metrics and num_samples:
            self._scores.append((metrics[self.metric], num_samples))

    def round_is_best(self) -> bool:
        """Whether this round's score is the best so far (then it becomes ``best``); False without a score."""
        total = sum(weight for _, weight in self._scores)
        if not total:
            return False
        score = sum(value * weight for value, weight in self._scores) / total
        higher = higher_is_better(self.metric, self.mode)
        if self.best is not None and not (score > self.best if higher else score < self.best):
            return False
        self.best = score
        return True

    def selection_info(self, round_num: int, source: str) -> dict:
        """How the best model was picked, in the shape of NVFlare's ``METRICS_SELECTION_INFO``."""
        mode = "max" if higher_is_better(self.metric, self.mode) else "min"
        return {"source": source, "metric_source": "global eval", "best_round": round_num,
                "key_metric": {"name": self.metric, "mode": mode}, "best_metrics": {self.metric: self.best}}  # fmt: skip
