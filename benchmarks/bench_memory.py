"""Server memory of the aggregation: peak resident memory for 2, 8 and 32 sites.

    python benchmarks/bench_memory.py [--quick] [--json out.json]

Each configuration runs in a fresh Python process. The process holds the previous global
model (as the server does), then receives the sites' updates one at a time — each is
generated as it "arrives", folded in and dropped — and computes the new global model.
The figure is the peak resident memory above the process's memory after its imports,
over the measured resident size of one copy of the model (the baseline). Target (issue 8):
flat in the number of sites, at most the model twice (global + accumulator) plus one update,
i.e. ≤ 3 model copies. NVFlare's ``WeightedAggregationHelper`` is measured the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import MB, Figure, Result, run_child, standalone_main

NAME = "memory"
FULL = {"sites": [2, 8, 32], "parameters": 25_000_000, "tensors": 10, "nvflare_sites": 8}
QUICK = {"sites": [2, 4], "parameters": 2_000_000, "tensors": 10, "nvflare_sites": 4}
#: Allowance over 3 model copies for the allocator and Python objects.
SLACK = 0.05


def child_peak(sites: int, parameters: int, tensors: int, method: str = "ours") -> dict:
    """In a fresh process: peak memory of aggregating ``sites`` updates that arrive one at a time."""
    import numpy as np
    import torch
    from nvflare.app_common.aggregators.weighted_aggregation_helper import WeightedAggregationHelper

    from benchmarks._common import peak_rss_bytes, reset_peak_rss, rss_bytes
    from nvflare_fdd.aggregation import WeightedAccumulator

    sizes = [parameters // tensors + (1 if i < parameters % tensors else 0) for i in range(tensors)]
    rng = np.random.default_rng(0)

    def arriving_update() -> dict[str, np.ndarray]:
        update = {}
        for index, size in enumerate(sizes):
            values = rng.random(size, dtype=np.float32)
            values -= 0.5
            update[f"layer{index}.weight"] = values
        return update

    before_model = rss_bytes()
    previous = {f"layer{i}.weight": torch.full((size,), 0.01) for i, size in enumerate(sizes)}
    model_rss = rss_bytes() - before_model
    reset_peak_rss()
    start = rss_bytes()
    if method == "ours":
        accumulator = WeightedAccumulator()
        for site in range(sites):
            update = arriving_update()
            accumulator.add(update, 1000 + 37 * site, source=f"site-{site}")
            del update
        averaged = accumulator.result(previous)
    else:
        helper = WeightedAggregationHelper()
        for site in range(sites):
            update = arriving_update()
            helper.add(update, 1000 + 37 * site, f"site-{site}", 0)
            del update
        averaged = helper.get_result()
    peak = peak_rss_bytes()
    assert len(averaged) == tensors
    return {
        "sites": sites,
        "method": method,
        "model_bytes": 4 * parameters,
        "model_rss_bytes": model_rss,
        # the previous global model counts: the server holds it while it aggregates
        "peak_above_imports_bytes": peak - start + model_rss,
        "rss_after_imports_bytes": before_model,
    }


def run(quick: bool = False, **overrides) -> Result:
    config = dict(QUICK if quick else FULL, **overrides)
    measured = [
        run_child("bench_memory", "child_peak", {"sites": n, "parameters": config["parameters"],
                                                 "tensors": config["tensors"], "method": "ours"})
        for n in config["sites"]
    ]
    nvflare = run_child("bench_memory", "child_peak", {"sites": config["nvflare_sites"],
                                                       "parameters": config["parameters"],
                                                       "tensors": config["tensors"], "method": "nvflare"})
    figures = []
    limit = 3 * (1 + SLACK)
    for row in measured:
        copies = row["peak_above_imports_bytes"] / row["model_rss_bytes"]
        figures.append(
            Figure(NAME, f"peak, {row['sites']} sites (in model copies)", row["peak_above_imports_bytes"] / MB, "MB",
                   "one model copy", row["model_rss_bytes"] / MB, ratio=copies,
                   target="≤ 3 (2 models + 1 update)", met=copies <= limit)
        )
    first, last = measured[0], measured[-1]
    growth = last["peak_above_imports_bytes"] / first["peak_above_imports_bytes"]
    figures.append(
        Figure(NAME, f"flat: peak {last['sites']} sites vs {first['sites']} sites", last["peak_above_imports_bytes"] / MB,
               "MB", f"{first['sites']} sites", first["peak_above_imports_bytes"] / MB, ratio=growth,
               target=f"≤ {1 + SLACK:.2f}", met=growth <= 1 + SLACK)
    )
    figures.append(
        Figure(NAME, f"NVFlare helper peak, {nvflare['sites']} sites (in model copies)",
               nvflare["peak_above_imports_bytes"] / MB, "MB", "one model copy", nvflare["model_rss_bytes"] / MB,
               ratio=nvflare["peak_above_imports_bytes"] / nvflare["model_rss_bytes"], note="reference")
    )
    return Result(NAME, figures, {"config": config, "ours": measured, "nvflare": nvflare})


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
