"""A large model: ~100M parameters, 2 sites, 2 rounds, ``fdd run`` beside plain NVFlare.

    python benchmarks/bench_large_model.py [--quick] [--json out.json]

``benchmarks/bundles/large_mlp`` (4 square layers of width 5000 and a head: 100.0M float32
parameters, 400 MB a copy) takes one tiny SGD step a round, so what is measured is the
platform's cost of moving, averaging and saving a large model. Both runs use the NVFlare
simulator with the same bundle code and two small KDAs (see ``bench_rounds`` for how the plain
NVFlare job is built and how rounds are timed).

Figures: the round period (last site's receive of round 1 to last site's receive of round 2, which holds
sending the model out, one step, the updates coming back, averaging and saving; it starts at the last
site's setup end where that is later, as nvflare-fdd sets a site up on its first task), the total
wall time, and the peak resident memory of the simulator's server process, beside plain NVFlare.
The issue sets no target here; the ratios say what the platform costs on top of NVFlare.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import MB, Figure, Result, benchmark_bundle, run_child, standalone_main

NAME = "large_model"
BUNDLE = "large_mlp"
FULL = {"width": 5000, "layers": 4, "rounds": 2, "sites": 2}
QUICK = {"width": 1000, "layers": 2, "rounds": 2, "sites": 2}
SITE_ROWS = 1_000


def parameter_count(width: int, layers: int) -> int:
    return layers * (width * width + width) + width + 1


def child_file_work(parameters: int, tensors: int = 10) -> dict:
    """In a fresh process: the file work nvflare-fdd adds per round for a model this size, and cheaper variants.

    - ``persist``: the persistor's ``save_state_dict`` (``.pt`` and ``.safetensors``, each fsynced), once a
      round for the last global model;
    - ``persist_best_as_link``: keeping the best model, which is the last global model already on disk,
      as hard links of those files (what ``FddModelPersistor.keep_last_as_best`` does);
    - ``exchange_tmp`` / ``exchange_shm``: one safetensors save + load (the executor ↔ user-code process
      hand-over; four of these a round per site) in ``/tmp`` (where it is now) and in ``/dev/shm``.
    """
    import os
    import tempfile
    import time

    import numpy as np
    import torch
    from safetensors.numpy import load_file, save_file

    from nvflare_fdd.persistors.model_persistor import BEST, LAST, save_state_dict

    rng = np.random.default_rng(0)
    arrays = {f"layer{i}": rng.random(parameters // tensors, dtype=np.float32) for i in range(tensors)}
    params = {key: torch.as_tensor(value) for key, value in arrays.items()}
    seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        started = time.perf_counter()
        save_state_dict(params, folder, LAST)
        seconds["persist"] = time.perf_counter() - started
        started = time.perf_counter()
        for suffix in (".pt", ".safetensors"):
            os.link(folder / f"{LAST}{suffix}", folder / f"{BEST}{suffix}.tmp")
            os.replace(folder / f"{BEST}{suffix}.tmp", folder / f"{BEST}{suffix}")
        seconds["persist_best_as_link"] = time.perf_counter() - started
    for name, base in (("exchange_tmp", tempfile.gettempdir()), ("exchange_shm", "/dev/shm")):
        if not os.path.isdir(base):
            continue
        with tempfile.TemporaryDirectory(dir=base) as folder:
            started = time.perf_counter()
            save_file(arrays, os.path.join(folder, "params.safetensors"))
            load_file(os.path.join(folder, "params.safetensors"))
            seconds[name] = time.perf_counter() - started
    return seconds


def run(quick: bool = False, **overrides) -> Result:
    from benchmarks._kda_data import large_kda
    from benchmarks._scale import round_periods
    from benchmarks._simulator import round_overheads, run_fdd, run_plain

    config = dict(QUICK if quick else FULL, **overrides)
    parameters = parameter_count(config["width"], config["layers"])
    url = large_kda(SITE_ROWS)
    sites = {f"site_{index + 1}": url for index in range(config["sites"])}
    model_args = {"configs": {"width": config["width"], "layers": config["layers"]}}
    with tempfile.TemporaryDirectory(prefix="fdd-bench-large-") as work:
        bundle = benchmark_bundle(BUNDLE, Path(work) / "large_mlp", width=config["width"], layers=config["layers"])
        plain = run_plain(bundle, sites, config["rounds"], Path(work) / "plain", "LargeMLP", model_args)
        fdd = run_fdd(bundle, sites, config["rounds"], Path(work) / "fdd", "LargeMLP")
    file_work = run_child("bench_large_model", "child_file_work", {"parameters": parameters})
    for measured in (plain, fdd):
        measured["per_round"] = round_overheads(measured["rounds"])
        measured["round_period_s"] = round_periods(measured)[0]
    fdd.pop("progress", None)
    model_mb = 4 * parameters / MB
    server = {name: measured["peak_bytes"].get("server", 0) / MB for name, measured in (("fdd", fdd), ("plain", plain))}
    figures = [
        Figure(NAME, f"round period, {parameters / 1e6:.0f}M parameters, {config['sites']} sites",
               fdd["round_period_s"], "s", "plain NVFlare", plain["round_period_s"]),
        Figure(NAME, f"total wall time, {config['rounds']} rounds", fdd["seconds"], "s", "plain NVFlare",
               plain["seconds"]),
        Figure(NAME, "server peak memory", server["fdd"], "MB", "plain NVFlare", server["plain"],
               note=f"{server['fdd'] / model_mb:.1f} vs {server['plain'] / model_mb:.1f} model copies"),
        Figure(NAME, "persist a global model (.pt + .safetensors, fsync)", file_work["persist"], "s",
               "round period", fdd["round_period_s"], note="once a round"),
        Figure(NAME, "keep the best model (hard links of the last)", file_work["persist_best_as_link"], "s",
               "persist", file_work["persist"], note="FddModelPersistor.keep_last_as_best"),
    ]
    if "exchange_shm" in file_work:
        figures.append(
            Figure(NAME, "executor/user-code hand-over in /dev/shm (not adopted)", file_work["exchange_shm"], "s",
                   "in /tmp (now)", file_work["exchange_tmp"], note="one save + load; 2 a round each way per site")
        )
    details = {"config": config, "parameters": parameters, "model_mb": model_mb, "fdd": fdd, "plain": plain,
               "file_work_s": file_work}
    return Result(NAME, figures, details)


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
