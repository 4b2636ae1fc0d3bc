"""Sample-weighted FedAvg maths: weights, partial state dicts, integer buffers, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nvflare_fdd.aggregation import AggregationError, WeightedAccumulator, weighted_average


def test_mean_is_weighted_by_sample_counts():
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor(0.0)}
    b = {"w": torch.tensor([4.0, 8.0]), "b": torch.tensor(3.0)}
    result = weighted_average([(a, 1), (b, 2)])
    torch.testing.assert_close(result["w"], torch.tensor([3.0, 6.0]))
    torch.testing.assert_close(result["b"], torch.tensor(2.0))


def test_matches_a_float64_reference_on_random_updates():
    generator = np.random.default_rng(0)
    updates = [({"w": generator.normal(size=(50, 20)).astype(np.float32)}, int(n)) for n in (10, 250, 37, 1)]
    expected = sum(p["w"].astype(np.float64) * n for p, n in updates) / sum(n for _, n in updates)
    result = weighted_average(updates)
    np.testing.assert_allclose(result["w"].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert result["w"].dtype == torch.float32


def test_the_running_mean_stays_accurate_over_many_sites_of_very_different_sizes():
    generator = np.random.default_rng(2)
    counts = [1, 1_000_000, 3, 250_000, *generator.integers(1, 50_000, size=28)]
    updates = [({"w": (generator.normal(size=4096) * 10 + i).astype(np.float32)}, int(n)) for i, n in enumerate(counts)]
    expected = sum(p["w"].astype(np.float64) * n for p, n in updates) / sum(n for _, n in updates)
    result = weighted_average(updates)
    np.testing.assert_allclose(result["w"].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_same_arrival_order_gives_bit_identical_results():
    generator = np.random.default_rng(1)
    updates = [({"w": torch.from_numpy(generator.normal(size=1000).astype(np.float32))}, n) for n in (3, 5, 7)]
    first = weighted_average(updates)["w"]
    second = weighted_average(updates)["w"]
    assert torch.equal(first, second)


def test_inputs_are_not_modified():
    a = {"w": torch.ones(3)}
    weighted_average([(a, 2), ({"w": torch.zeros(3)}, 1)])
    assert torch.equal(a["w"], torch.ones(3))


def test_partial_state_dicts_average_only_the_keys_sent():
    previous = {"frozen": torch.full((2,), 9.0), "lora": torch.zeros(2)}
    site_a = {"lora": torch.tensor([1.0, 1.0])}
    site_b = {"lora": torch.tensor([4.0, 4.0]), "head": torch.tensor([2.0])}
    result = weighted_average([(site_a, 2), (site_b, 1)], previous=previous)
    torch.testing.assert_close(result["lora"], torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(result["head"], torch.tensor([2.0]))  # only site b sent it
    torch.testing.assert_close(result["frozen"], torch.full((2,), 9.0))  # nobody sent it


def test_integer_buffers_take_the_heaviest_sites_value_and_keep_their_dtype():
    a = {"bn.num_batches_tracked": torch.tensor(10), "bn.running_mean": torch.tensor([0.0])}
    b = {"bn.num_batches_tracked": torch.tensor(30), "bn.running_mean": torch.tensor([1.0])}
    result = weighted_average([(a, 5), (b, 20)])
    assert result["bn.num_batches_tracked"].dtype == torch.int64
    assert int(result["bn.num_batches_tracked"]) == 30
    torch.testing.assert_close(result["bn.running_mean"], torch.tensor([0.8]))


def test_half_precision_is_accumulated_in_float32_and_returned_in_its_dtype():
    previous = {"w": torch.zeros(4, dtype=torch.bfloat16)}
    updates = [({"w": torch.full((4,), 1.0, dtype=torch.bfloat16)}, 1), ({"w": torch.full((4,), 2.0, dtype=torch.bfloat16)}, 3)]
    result = weighted_average(updates, previous=previous)
    assert result["w"].dtype == torch.bfloat16
    torch.testing.assert_close(result["w"].float(), torch.full((4,), 1.75))


def test_a_zero_weight_site_contributes_nothing():
    result = weighted_average([({"w": torch.tensor([100.0])}, 0), ({"w": torch.tensor([2.0])}, 4)])
    torch.testing.assert_close(result["w"], torch.tensor([2.0]))


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([None], "whole number"),
        ([1.5], "whole number"),
        ([True], "whole number"),
        (["3"], "whole number"),
        ([-1], "negative"),
        ([0, 0], "total training-sample count"),
    ],
)
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(AggregationError, match=message):
        weighted_average([({"w": torch.ones(1)}, w) for w in weights])


def test_shape_mismatch_names_the_site_and_key():
    accumulator = WeightedAccumulator()
    accumulator.add({"w": torch.ones(2)}, 1, source="site-1")
    with pytest.raises(AggregationError, match=r"site-2: w has shape \(3,\)"):
        accumulator.add({"w": torch.ones(3)}, 1, source="site-2")


def test_no_updates_is_an_error():
    with pytest.raises(AggregationError, match="no site updates"):
        WeightedAccumulator().result()
