"""Aggregation throughput: sample-weighted FedAvg of site updates, in GB/s of updates consumed.

    python benchmarks/bench_aggregation.py [--quick] [--json out.json]

8 sites × 25M float32 parameters in 10 tensors, arriving as numpy arrays (what the
server receives), averaged by their sample counts. Three ways, interleaved, best of N:

- ``ours``: ``nvflare_fdd.aggregation.WeightedAccumulator`` (``add`` each update, then ``result``);
- ``nvflare``: NVFlare's ``WeightedAggregationHelper`` (``add`` each update, then ``get_result``);
- ``bound``: the machine's streaming bound, ``acc.add_(update, alpha=w)`` over the same tensors
  into preallocated accumulators (no first-update copy, no allocation, no division).

Targets (issue 8): ours ≥ 1.8× NVFlare's helper, ≥ 0.8 of the streaming bound, and the same
bits every time for a fixed arrival order.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from benchmarks._common import Figure, Result, standalone_main, summary

NAME = "aggregation"
FULL = {"sites": 8, "parameters": 25_000_000, "tensors": 10, "repeats": 7}
QUICK = {"sites": 3, "parameters": 300_000, "tensors": 10, "repeats": 2}


def make_updates(sites: int, parameters: int, tensors: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """One state dict of float32 numpy arrays per site; the sizes add up to ``parameters``."""
    rng = np.random.default_rng(seed)
    sizes = [parameters // tensors + (1 if i < parameters % tensors else 0) for i in range(tensors)]
    return [
        {f"layer{i}.weight": rng.random(size, dtype=np.float32) - 0.5 for i, size in enumerate(sizes)}
        for _ in range(sites)
    ]


def sample_counts(sites: int) -> list[int]:
    return [1000 + 337 * site for site in range(sites)]


def aggregate_ours(updates, counts, previous):
    from nvflare_fdd.aggregation import WeightedAccumulator

    accumulator = WeightedAccumulator()
    for index, (update, count) in enumerate(zip(updates, counts)):
        accumulator.add(update, count, source=f"site-{index}")
    return accumulator.result(previous)


def aggregate_nvflare(updates, counts, previous):
    from nvflare.app_common.aggregators.weighted_aggregation_helper import WeightedAggregationHelper

    helper = WeightedAggregationHelper()
    for index, (update, count) in enumerate(zip(updates, counts)):
        helper.add(update, count, f"site-{index}", 0)
    return helper.get_result()


def streaming_bound(updates, counts, accumulators):
    """The fused multiply-add alone, into accumulators that already exist (zeroed outside the timing)."""
    for update, count in zip(updates, counts):
        for key, value in update.items():
            accumulators[key].add_(torch.as_tensor(value), alpha=count)
    return accumulators


def same_bits(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(
        torch.equal(torch.as_tensor(first[key]).view(torch.int32), torch.as_tensor(second[key]).view(torch.int32))
        for key in first
    )


METHODS = {
    "ours": aggregate_ours,
    "nvflare": aggregate_nvflare,
    "bound": None,  # streaming_bound, with its own preallocated accumulators
}


def measure(updates, counts, repeats: int) -> dict:
    """Seconds per method (interleaved repetitions), bit stability of ``ours``, agreement with NVFlare."""
    previous = {key: torch.zeros(value.shape, dtype=torch.float32) for key, value in updates[0].items()}
    accumulators = {key: torch.zeros(value.shape, dtype=torch.float32) for key, value in updates[0].items()}
    seconds: dict[str, list[float]] = {name: [] for name in METHODS}
    reference = None
    stable = True
    max_diff = {"nvflare": 0.0}
    for _ in range(repeats):
        for name, method in METHODS.items():
            gc.collect()
            if method is None:
                for tensor in accumulators.values():
                    tensor.zero_()
            started = time.perf_counter()
            if method is None:
                averaged = streaming_bound(updates, counts, accumulators)
            else:
                averaged = method(updates, counts, previous)
            seconds[name].append(time.perf_counter() - started)
            if name == "ours":
                if reference is None:
                    reference = {key: value.clone() for key, value in averaged.items()}
                else:
                    stable = stable and same_bits(reference, averaged)
            elif name in max_diff:
                difference = max(float((torch.as_tensor(averaged[k]) - reference[k]).abs().max()) for k in reference)
                max_diff[name] = max(max_diff[name], difference)
            del averaged
    return {"seconds": seconds, "bit_stable": stable, "max_abs_diff": max_diff}


def run(quick: bool = False, **overrides) -> Result:
    config = dict(QUICK if quick else FULL, **overrides)
    updates = make_updates(config["sites"], config["parameters"], config["tensors"])
    counts = sample_counts(config["sites"])
    consumed = sum(value.nbytes for update in updates for value in update.values())
    default_threads = torch.get_num_threads()
    figures, details = [], {"config": config, "bytes_consumed": consumed, "by_threads": {}}
    stable_everywhere = True
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        try:
            measured = measure(updates, counts, config["repeats"])
        finally:
            torch.set_num_threads(default_threads)
        seconds = measured["seconds"]
        rates = {name: consumed / min(samples) / 1e9 for name, samples in seconds.items()}
        label = f"{threads} torch thread{'s' if threads > 1 else ''}"
        stable_everywhere = stable_everywhere and measured["bit_stable"]
        figures += [
            Figure(NAME, f"ours vs NVFlare helper ({label})", rates["ours"], "GB/s", "nvflare", rates["nvflare"],
                   target="≥ 1.8", met=rates["ours"] / rates["nvflare"] >= 1.8),
            Figure(NAME, f"ours vs streaming bound ({label})", rates["ours"], "GB/s", "bound", rates["bound"],
                   target="≥ 0.8", met=rates["ours"] / rates["bound"] >= 0.8),
        ]
        details["by_threads"][str(threads)] = {
            "seconds": {name: summary(samples) for name, samples in seconds.items()},
            "gb_per_s_best": rates,
            "gb_per_s_median": {name: consumed / summary(s)["median"] / 1e9 for name, s in seconds.items()},
            "bit_stable": measured["bit_stable"],
            "max_abs_diff_vs_ours": measured["max_abs_diff"],
        }
    figures.append(
        Figure(NAME, "same bits for a fixed arrival order", float(stable_everywhere), "", "repeats",
               float(config["repeats"]), ratio=float(stable_everywhere), target="identical", met=stable_everywhere)
    )
    details["bit_stable"] = stable_everywhere
    return Result(NAME, figures, details)


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
