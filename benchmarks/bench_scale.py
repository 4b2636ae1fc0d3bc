"""Scale: models up to ~1B parameters, 2 sites × 2 rounds, ``fdd run`` beside plain NVFlare, size by size.

    python benchmarks/bench_scale.py [--quick] [--sizes 250M,500M,1B] [--json out.json]

Each size is a ``bundles/scale_linear`` model (square float32 layers, one tiny in-place step a round,
no gradients: see ``benchmarks._scale``), run in the NVFlare simulator by plain NVFlare (the
``FedAvgRecipe`` job of ``bench_rounds``, whose arrays NVFlare 2.9 streams in pieces) and by
``fdd run``, with the same bundle code, two small KDAs and per-site thread share.

The sizes form a ladder (default 100M, 250M, 500M, 1B). Before each run the memory it needs is
estimated and compared with ``MemAvailable``; what cannot fit is skipped, a side that runs out of
memory at one size is not tried at larger ones, and every run is stopped if the machine's available
memory falls below 1 GiB. A tiny-model run of each side first gives the memory that is not the
model's (interpreters, torch, NVFlare), which the estimates and the server's copies are taken above;
each completed size of 256 MB or more then replaces the estimate's copies per side with its own.

Figures per size: whether each side completed; the round period (the last site's receive of round 1,
or its setup's end where that is later, to the last site's receive of round 2); that period per GB
of one site's update (the model's float32 size); and the server's peak resident memory in model
copies (target ≤ 3: global model, accumulator, one update). Then the largest size each completed.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import Figure, Result

NAME = "scale"
LADDER = ("100M", "250M", "500M", "1B")
FULL = {"sizes": LADDER, "probe": "1M", "rounds": 2, "sites": 2, "timeout": 3600}
QUICK = {"sizes": ("4M",), "probe": None, "rounds": 2, "sites": 2, "timeout": 900}
SIDES = ("plain", "fdd")
SITE_ROWS = 1_000
COPIES_TARGET = 3.0
MODEL_CLASS = "ScaleLinear"


def run(quick: bool = False, **overrides) -> Result:
    from benchmarks._scale import MemoryModel, parse_size, prepare

    config = dict(QUICK if quick else FULL, **overrides)
    sites = prepare(config, SITE_ROWS)
    memory = MemoryModel()
    probe: dict[str, dict] = {}
    steps: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="fdd-bench-scale-") as folder:
        work = Path(folder)
        if config["probe"]:
            probe = run_probe(work, parse_size(config["probe"]), sites, config, memory)
        stopped: set[str] = set()
        for size in config["sizes"]:
            steps.append(run_step(work, parse_size(size), sites, config, memory, probe, stopped))
    details = {"config": config, "steps": steps, "probe": probe, "memory_model": memory.to_dict()}
    return Result(NAME, figures(steps), details)


def run_probe(work: Path, parameters: int, sites: dict, config: dict, memory) -> dict:
    """A tiny-model run of each side: the memory that is not the model's."""
    from benchmarks._scale import process_peak_sum, run_side, scale_bundle

    bundle, settings = scale_bundle(work, parameters)
    probe = {}
    for side in SIDES:
        measured = run_side(side, bundle, sites, config["rounds"], work / f"probe-{side}", MODEL_CLASS,
                            {"configs": settings}, config["timeout"])  # fmt: skip
        memory.learn_fixed(side, measured)
        probe[side] = {"peak_bytes": measured["peak_bytes"], "process_peak_sum_bytes": process_peak_sum(measured),
                       "total_peak_bytes": measured["total_peak_bytes"]}  # fmt: skip
    return probe


def run_step(work: Path, requested: int, sites: dict, config: dict, memory, probe: dict, stopped: set[str]) -> dict:
    """Both sides at one size: each skipped if it cannot fit, else run, guarded, and summarised."""
    from benchmarks._scale import fit_entry, run_entry, scale_bundle, size_entry

    step = size_entry(requested)
    model_bytes = step["model_bytes"] = 4 * step["parameters"]
    bundle, settings = scale_bundle(work, step["parameters"])
    for side in SIDES:
        entry = step[side] = {**fit_entry(memory, side, model_bytes), "estimate": memory.source[side]}
        if side in stopped:
            entry["status"] = "skipped: ran out of memory at a smaller size"
        elif "status" not in entry:  # it fits
            measured = run_entry(entry, side, bundle, sites, work / f"{side}-{step['label']}", MODEL_CLASS,
                                 {"configs": settings}, config, model_bytes, probe.get(side))  # fmt: skip
            if measured is not None:
                memory.learn(side, model_bytes, measured)
            elif entry["status"].startswith("stopped"):
                stopped.add(side)
    return step


def _pick(entry: dict, key: str) -> float:
    """A completed run's figure, else NaN (shown as ``-``)."""
    return entry.get(key, math.nan) if entry["status"] == "completed" else math.nan


def figures(steps: list[dict]) -> list[Figure]:
    rows = []
    for step in steps:
        fdd, plain = step["fdd"], step["plain"]
        done = {side: step[side]["status"] == "completed" for side in SIDES}
        size = f"{step['label']} parameters"
        rows.append(Figure(NAME, f"completes (1 = yes), {size}", float(done["fdd"]), "", "plain NVFlare",
                           float(done["plain"]), note=f"fdd: {fdd['status']}; plain: {plain['status']}"))
        if not any(done.values()):
            continue
        rows += [
            Figure(NAME, f"round period, {size}", _pick(fdd, "round_period_s"), "s", "plain NVFlare",
                   _pick(plain, "round_period_s")),
            Figure(NAME, f"seconds per GB of update a round, {size}", _pick(fdd, "s_per_gb"), "s/GB", "plain NVFlare",
                   _pick(plain, "s_per_gb"), note=f"one update: {step['model_bytes'] / 1e9:.2f} GB"),
            Figure(NAME, f"server peak memory in model copies, {size}", _pick(fdd, "server_copies"), "",
                   "plain NVFlare", _pick(plain, "server_copies"), target=f"≤ {COPIES_TARGET:g}",
                   met=(fdd["server_copies"] <= COPIES_TARGET) if done["fdd"] else None,
                   note=f"raw (with imports): fdd {_pick(fdd, 'server_copies_raw'):.2f}, "
                        f"plain {_pick(plain, 'server_copies_raw'):.2f}"),
        ]
    largest = {side: max((step["parameters"] for step in steps if step[side]["status"] == "completed"), default=0)
               for side in SIDES}  # fmt: skip
    rows.append(Figure(NAME, "largest size completed", largest["fdd"] / 1e6, "M parameters", "plain NVFlare",
                       largest["plain"] / 1e6))
    return rows


def main() -> None:
    from benchmarks._scale import ladder_main

    ladder_main(run, __doc__.splitlines()[0], LADDER, "comma-separated model sizes, e.g. 250M,1B")


if __name__ == "__main__":
    main()
