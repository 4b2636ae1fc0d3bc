"""The rule for which way a metric is better, shared by the best global model and the web UI's payoff table."""

import pytest

from nvflare_fdd.controllers.best import higher_is_better


@pytest.mark.parametrize("metric, higher", [("rmse", False), ("eval_loss", False), ("mae", False), ("r2", True),
                                            ("test_acc", True), ("roc_auc", True), ("Pearson", True)])  # fmt: skip
def test_auto_reads_the_name(metric, higher):
    assert higher_is_better(metric) is higher


def test_min_and_max_override_the_name_and_other_modes_are_refused():
    assert higher_is_better("rmse", "max") and not higher_is_better("r2", "min")
    with pytest.raises(ValueError, match="min, max or auto"):
        higher_is_better("rmse", "best")
