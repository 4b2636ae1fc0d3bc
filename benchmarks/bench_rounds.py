"""Round overhead: ``fdd run`` beside a plain NVFlare FedAvg job, same model, data and epochs.

    python benchmarks/bench_rounds.py [--quick] [--json out.json]

The three demo institutions train ``examples/solubility_mlp`` for 5 rounds in the NVFlare
simulator, both ways in the same run (each 3 times; the figures are the means):

- ``fdd``: ``nvflare_fdd.simulate.run_simulation`` (the ``fdd`` job template; the job
  environment from ``requirements.txt`` is already cached, as on a site that ran jobs before);
- ``plain``: NVFlare 2.9's ``FedAvgRecipe`` with a Client API script
  (``benchmarks/plain_nvflare/client.py``) that imports the same bundle files from its own
  folder, reads the same KDA rows and does the same work per round (Global eval, train,
  Local eval), run with the same simulator command and per-site thread share.

Figures: total wall time (job creation to simulator exit), and the per-round overhead: the
round's period (the last site's receive of round r to the last site's receive of round r+1) minus
the slowest site's training time in round r, averaged over rounds 2..R-1. Round 1 is left out
of the average because its period also holds start-up (nvflare-fdd sets a site up on its first
task, the plain script before it); start-up is in the total. Targets (issue 8): overhead
≤ 0.5 s a round, total no slower than plain NVFlare.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import CACHE_DIR, Figure, Result, run_child, standalone_main

NAME = "rounds"
FULL = {"rounds": 5, "repeats": 3}
QUICK = {"rounds": 3, "repeats": 1}
OVERHEAD_TARGET_S = 0.5


def steady_overhead(records: dict) -> dict:
    """Mean period, slowest training and overhead over rounds 2..R-1 (see the module docstring)."""
    from benchmarks._simulator import round_overheads

    rows = round_overheads(records)
    steady = [row for row in rows if row["round"] >= 2] or rows
    return {
        "per_round": rows,
        "period_s": statistics.fmean(row["period_s"] for row in steady),
        "slowest_train_s": statistics.fmean(row["slowest_train_s"] for row in steady),
        "overhead_s": statistics.fmean(row["overhead_s"] for row in steady),
        "rounds_averaged": [row["round"] for row in steady],
    }


def child_server_file_work(sites: int = 3, repeats: int = 5) -> dict:
    """In a fresh process: the file work the fdd server does each round between the last site's result
    and sending the next round, as the package does it (median of ``repeats``).

    ``saves``: the best model (``_keep_if_best``, when it improves) and the new global model
    (``save_weights``), each ``.pt`` + ``.safetensors`` fsynced; ``records``: the last site's progress
    entry and metric rows, ``round_finished`` and ``round_started`` (each written and fsynced).
    """
    import statistics
    import tempfile
    import time

    from nvflare_fdd.demo import EXAMPLE_BUNDLE
    from nvflare_fdd.persistors.model_persistor import BEST, LAST, save_state_dict
    from nvflare_fdd.results import RunRecorder
    from nvflare_fdd.usercode import build_server_model, user_modules

    with user_modules(EXAMPLE_BUNDLE):
        params = {key: value.clone() for key, value in build_server_model(EXAMPLE_BUNDLE, "SolubilityMLP").state_dict().items()}
    phases = [{"code": code, "name": "phase", "start": 0.0, "end": 1.0} for code in (4000, 4001, 5000, 6000, 7000, 8000)]
    saves, records = [], []
    with tempfile.TemporaryDirectory() as folder:
        recorder = RunRecorder(Path(folder), job="bench", sites=[f"site_{i}" for i in range(sites)], num_rounds=repeats + 1)
        for round_num in range(1, repeats + 1):
            for site in range(sites - 1):
                recorder.site_round(round_num, f"site_{site}", phases, 100)
            started = time.perf_counter()
            recorder.site_round(round_num, f"site_{sites - 1}", phases, 100)
            recorder.metrics(round_num, f"site_{sites - 1}", "global", {"rmse": 1.0, "mae": 0.8, "r2": 0.5})
            recorder.metrics(round_num, f"site_{sites - 1}", "local", {"rmse": 1.0, "mae": 0.8, "r2": 0.5})
            recorder.round_finished(round_num, time.time())
            recorder.round_started(round_num + 1, time.time())
            records.append(time.perf_counter() - started)
            started = time.perf_counter()
            save_state_dict(params, Path(folder), BEST)
            save_state_dict(params, Path(folder), LAST)
            saves.append(time.perf_counter() - started)
    return {"parameters": sum(value.numel() for value in params.values()),
            "saves_s": statistics.median(saves), "records_s": statistics.median(records),
            "samples": {"saves": saves, "records": records}}


def run(quick: bool = False, **overrides) -> Result:
    from benchmarks._simulator import run_fdd, run_plain
    from nvflare_fdd.demo import EXAMPLE_BUNDLE, prepare_demo

    config = dict(QUICK if quick else FULL, **overrides)
    sites = {site.name: site.url for site in prepare_demo(CACHE_DIR / "demo")}
    runs: dict[str, list[dict]] = {"plain": [], "fdd": []}
    with tempfile.TemporaryDirectory(prefix="fdd-bench-rounds-") as work:
        for repeat in range(config["repeats"]):
            plain = run_plain(EXAMPLE_BUNDLE, sites, config["rounds"], Path(work) / f"plain-{repeat}", "SolubilityMLP")
            fdd = run_fdd(EXAMPLE_BUNDLE, sites, config["rounds"], Path(work) / f"fdd-{repeat}", "SolubilityMLP")
            for name, measured in (("plain", plain), ("fdd", fdd)):
                measured["steady"] = steady_overhead(measured["rounds"])
                measured.pop("progress", None)
                runs[name].append(measured)

    def mean(name: str, pick) -> float:
        return statistics.fmean(pick(measured) for measured in runs[name])

    total = {name: mean(name, lambda m: m["seconds"]) for name in runs}
    overhead = {name: mean(name, lambda m: m["steady"]["overhead_s"]) for name in runs}
    period = {name: mean(name, lambda m: m["steady"]["period_s"]) for name in runs}
    train = {name: mean(name, lambda m: m["steady"]["slowest_train_s"]) for name in runs}
    label = f"{len(sites)} sites × {config['rounds']} rounds"
    figures = [
        Figure(NAME, f"total wall time, {label}", total["fdd"], "s", "plain NVFlare", total["plain"],
               target="≤ 1", met=total["fdd"] <= total["plain"]),
        Figure(NAME, "overhead a round (period - slowest train)", overhead["fdd"], "s", "plain NVFlare",
               overhead["plain"], target=f"≤ {OVERHEAD_TARGET_S} s", met=overhead["fdd"] <= OVERHEAD_TARGET_S),
        Figure(NAME, "round period", period["fdd"], "s", "plain NVFlare", period["plain"],
               note=f"slowest train a round: fdd {train['fdd']:.2f} s, plain {train['plain']:.2f} s"),
    ]
    file_work = run_child("bench_rounds", "child_server_file_work", {"sites": len(sites)})
    figures.append(
        Figure(NAME, "server file work a round: model saves (fsync)", file_work["saves_s"], "s",
               "fdd overhead a round", overhead["fdd"],
               note=f"+ {file_work['records_s']:.3f} s of progress/metrics writes; on the round's critical path")
    )
    details = {"config": config, "sites": sorted(sites), "runs": runs, "server_file_work": file_work}
    return Result(NAME, figures, details)


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
