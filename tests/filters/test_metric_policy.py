"""Only finite real scalars under bounded names leave a site as metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nvflare_fdd.metric_policy import screen_metrics


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (1, 1.0),
        (0.25, 0.25),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7.0),
        (torch.tensor(1.5), 1.5),
        (torch.tensor(3), 3.0),
        (np.array(2.0), 2.0),
    ],
)
def test_real_scalars_pass(value, kept):
    screened = screen_metrics({"rmse": value})
    assert screened.accepted == {"rmse": kept}
    assert isinstance(screened.accepted["rmse"], float)
    assert screened.rejected == {}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("CCO", "not a real number"),
        (b"CCO", "not a real number"),
        ([1.0, 2.0], "not a real number"),
        ({"nested": 1.0}, "not a real number"),
        (np.array([1.0, 2.0]), "not a real number"),
        (torch.ones(3), "not a real number"),
        (None, "not a real number"),
        (True, "not a real number"),
        (1 + 2j, "not a real number"),
        (torch.tensor(True), "not a real number"),
        (float("nan"), "not finite"),
        (float("inf"), "not finite"),
        (torch.tensor(float("-inf")), "not finite"),
    ],
)
def test_everything_else_is_dropped_with_a_reason(value, reason):
    screened = screen_metrics({"rmse": 1.0, "leak": value})
    assert screened.accepted == {"rmse": 1.0}
    assert reason in screened.rejected["leak"]


@pytest.mark.parametrize("name", ["", "x" * 65, "a\nb", "smiles=CCO;", 42, "ünïcode"])
def test_names_must_be_short_and_plain(name):
    screened = screen_metrics({name: 1.0})
    assert screened.accepted == {}
    assert len(screened.rejected) == 1


def test_the_number_of_metrics_is_bounded_in_the_order_sent():
    screened = screen_metrics({f"m{i}": float(i) for i in range(40)}, max_metrics=32)
    assert list(screened.accepted) == [f"m{i}" for i in range(32)]
    assert set(screened.rejected) == {f"m{i}" for i in range(32, 40)}


def test_a_non_mapping_is_dropped_whole():
    screened = screen_metrics([("rmse", 1.0)])
    assert screened.accepted == {}
    assert "mapping" in screened.rejected["*"]
