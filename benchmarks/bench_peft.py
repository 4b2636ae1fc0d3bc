"""PEFT-style job: a frozen trunk and a small adapter that alone is trained and sent, beside the full model.

    python benchmarks/bench_peft.py [--quick] [--sizes 250M,500M,1B] [--json out.json]

Both runs are ``fdd run`` of ``bundles/scale_linear`` on the same trunk (square float32 layers),
2 sites × 2 rounds in the NVFlare simulator, in the same run:

- ``full``: ``ScaleLinear``, every value trained and sent (what ``bench_scale`` runs);
- ``peft``: ``PeftLinear``, the same layers frozen and a rank-8 adapter (2 × width × 8 values)
  that alone trains; its ``state_dict()`` holds only the adapter (K-MELLODDY's PEFT pattern,
  ``tests/kmelloddy/bundles/llm_peft``), so the server's model, the tasks and the updates are the
  adapter's, while each site and the server's model build still hold the trunk.

The trunk is the largest size of the ladder (default 1B, 500M, 250M, 100M, tried in that order) whose
full-model run fits in the memory available (estimated first, guarded while it runs; see
``benchmarks._scale``). Figures: the round period (as ``bench_scale`` measures it) of the PEFT job
beside the full model's, the total wall time, the size of one update and the server's peak memory.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import MB, Figure, Result

NAME = "peft"
LADDER = ("1B", "500M", "250M", "100M")
FULL = {"sizes": LADDER, "rounds": 2, "sites": 2, "adapter_rank": 8, "timeout": 3600}
QUICK = {"sizes": ("4M",), "rounds": 2, "sites": 2, "adapter_rank": 8, "timeout": 900}
SITE_ROWS = 1_000


def run(quick: bool = False, **overrides) -> Result:
    from benchmarks._scale import MemoryModel, parse_size, prepare

    config = dict(QUICK if quick else FULL, **overrides)
    sites = prepare(config, SITE_ROWS)
    memory = MemoryModel()
    tried: list[dict] = []
    chosen = None
    with tempfile.TemporaryDirectory(prefix="fdd-bench-peft-") as folder:
        for size in sorted((parse_size(size) for size in config["sizes"]), reverse=True):
            attempt = run_pair(Path(folder), size, sites, config, memory)
            tried.append(attempt)
            if attempt["full"]["status"] == "completed":
                chosen = attempt
                break
    details = {"config": config, "tried": tried, "memory_model": memory.to_dict()}
    if chosen is None:
        statuses = "; ".join(f"{attempt['label']}: {attempt['full']['status']}" for attempt in tried)
        raise RuntimeError(f"no trunk size's full-model run completed ({statuses})")
    return Result(NAME, figures(chosen), details)


def run_pair(work: Path, requested: int, sites: dict, config: dict, memory) -> dict:
    """The full model at one trunk size (if it fits), then the PEFT job on the same trunk."""
    from benchmarks._scale import adapter_count, fit_entry, run_entry, scale_bundle, size_entry

    attempt = size_entry(requested)
    parameters = attempt["parameters"]
    rank = config["adapter_rank"]
    attempt["adapter_parameters"] = adapter_count(attempt["width"], rank)
    for kind, side, peft in (("full", "fdd", False), ("peft", "peft", True)):
        trained_bytes = 4 * (attempt["adapter_parameters"] if peft else parameters)
        entry = attempt[kind] = {**fit_entry(memory, side, 4 * parameters), "update_bytes": trained_bytes}
        if "status" not in entry:  # it fits
            bundle, _ = scale_bundle(work, parameters, peft=peft, adapter_rank=rank)
            run_entry(entry, side, bundle, sites, work / f"{kind}-{attempt['label']}", "PeftLinear" if peft else "ScaleLinear",
                      {}, config, trained_bytes, None)  # fmt: skip
        if entry["status"] != "completed" and kind == "full":
            return attempt
    return attempt


def figures(attempt: dict) -> list[Figure]:
    full, peft = attempt["full"], attempt["peft"]
    trunk = f"{attempt['label']} trunk"
    if peft["status"] != "completed":
        return [Figure(NAME, f"PEFT job completes (1 = yes), {trunk}", 0.0, "", "full model", 1.0,
                       note=f"peft: {peft['status']} {peft.get('error', '')[:200]}")]
    adapter = attempt["adapter_parameters"]
    return [
        Figure(NAME, f"round period, adapter of {adapter / 1e3:.0f}k values on a frozen {trunk}",
               peft["round_period_s"], "s", "full model, same trunk", full["round_period_s"]),
        Figure(NAME, f"total wall time, 2 rounds, {trunk}", peft["seconds"], "s", "full model, same trunk",
               full["seconds"], note="each holds the setup: environment, user-code process, model_loader"),
        Figure(NAME, "one update (what a site sends a round)", peft["update_bytes"] / MB, "MB", "full model",
               full["update_bytes"] / MB, note="from the state dicts"),
        Figure(NAME, "server peak memory", peft["server_peak_bytes"] / MB, "MB", "full model",
               full["server_peak_bytes"] / MB, note="the server builds the whole model once, in a child process"),
        Figure(NAME, "all processes' peak memory, summed", peft["process_peak_sum_bytes"] / MB, "MB", "full model",
               full["process_peak_sum_bytes"] / MB, note="each site still holds the trunk"),
    ]


def main() -> None:
    from benchmarks._scale import ladder_main

    ladder_main(run, __doc__.splitlines()[0], LADDER, "comma-separated trunk sizes to try, largest first")


if __name__ == "__main__":
    main()
