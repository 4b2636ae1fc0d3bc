"""Runs of the NVFlare simulator for the platform-cost benchmarks: ``fdd run`` beside plain NVFlare.

Both runs use the same bundle code, sites, KDA data, rounds and per-site thread share, and
``python -m nvflare.cli simulator`` in a child process; each is timed from job creation to
the simulator's exit, and the peak resident memory of its processes is followed on the side.

Round timing is read the same way on both sides, from the sites: a round's period is the
time from the last site receiving round r's task to the last site receiving round r+1's
(once every site holds the round's model; a site still setting up in round 1 does not
count against the round); its overhead is that period minus the slowest site's training
time in round r (nvflare-fdd's 6000 *train* phase in ``progress.json``; the plain script
logs its own train time).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import CACHE_DIR, PeakWatcher, simulator_roles, thread_env

PLAIN_CLIENT = Path(__file__).resolve().parent / "plain_nvflare" / "client.py"
BUNDLE_FILES = ("model.py", "data.py", "train_eval.py", "config.yaml")
TRAIN_PHASE = 6000
RECEIVE_PHASE = 4000


@contextlib.contextmanager
def _working_dir(path: Path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def warm_environment(bundle_dir: Path) -> str:
    """Build (or find) the bundle's job environment in the benchmark's cache, as a site that ran jobs before."""
    from nvflare_fdd.envs.local import LocalBackend

    cache = CACHE_DIR / "envs"
    requirements = (Path(bundle_dir) / "requirements.txt").read_text()
    LocalBackend(cache_dir=str(cache)).prepare(requirements)
    return str(cache)


class OutOfMemory(RuntimeError):
    """A run was stopped because the machine's available memory fell below the guard's floor."""


def run_fdd(bundle_dir: Path, sites: dict[str, str], rounds: int, out_dir: Path, model_class: str,
            timeout: float = 900, min_available: int | None = None) -> dict:
    """``fdd run`` (``run_simulation``): wall seconds, progress record, peak memory per process role.

    ``min_available``: stop the run (``OutOfMemory``) when ``MemAvailable`` falls below this many bytes.
    """
    from nvflare_fdd.simulate import run_simulation

    env_cache = warm_environment(bundle_dir)
    previous = os.environ.get("FDD_ENV_CACHE")
    os.environ["FDD_ENV_CACHE"] = env_cache
    workspace = out_dir / "nvflare"
    try:
        with PeakWatcher(simulator_roles(str(workspace)), min_available=min_available) as watcher:
            started = time.perf_counter()
            try:
                outcome = run_simulation(bundle_dir, sites, rounds, out_dir, model_class, timeout=timeout)
            except Exception as exc:
                if watcher.tripped is not None:
                    raise OutOfMemory(_stopped(watcher.tripped)) from exc
                raise
            seconds = time.perf_counter() - started
    finally:
        if previous is None:
            os.environ.pop("FDD_ENV_CACHE", None)
        else:
            os.environ["FDD_ENV_CACHE"] = previous
    return {"seconds": seconds, "progress": outcome.progress, **watcher.summary(),
            "rounds": fdd_round_records(outcome.progress)}


def _stopped(available: int) -> str:
    return f"stopped when the machine had {available / 2**30:.1f} GiB available (the memory guard's floor)"


def export_plain_job(bundle_dir: Path, model_class: str, model_args: dict, sites: list[str], rounds: int,
                     work: Path, timing_dir: Path) -> Path:
    """A plain NVFlare FedAvg job (``FedAvgRecipe``, Client API script) for the same bundle code."""
    from nvflare.app_opt.pt.recipes.fedavg import FedAvgRecipe

    source = work / "plain_src"
    source.mkdir(parents=True)
    shutil.copy2(PLAIN_CLIENT, source / "client.py")
    for name in BUNDLE_FILES:
        if (Path(bundle_dir) / name).is_file():
            shutil.copy2(Path(bundle_dir) / name, source / name)
    with _working_dir(source):  # a relative script path: the job carries the script, as NVFlare's examples do
        recipe = FedAvgRecipe(
            name="plain_fedavg",
            model={"class_path": f"model.{model_class}", "args": model_args},
            min_clients=len(sites),
            num_rounds=rounds,
            train_script="client.py",
            train_args=f"--timing-dir {timing_dir}",
            key_metric="rmse" if (source / "config.yaml").is_file() else "mse",
            key_metric_mode="min",
        )
        for name in BUNDLE_FILES:
            if (source / name).is_file() and name != "client.py":
                recipe.add_client_file(name)
        recipe.add_server_file("model.py")
        recipe.export(str(work / "jobs"))
    return work / "jobs" / "plain_fedavg"


def run_plain(bundle_dir: Path, sites: dict[str, str], rounds: int, work: Path, model_class: str,
              model_args: dict | None = None, timeout: float = 900, min_available: int | None = None) -> dict:
    """Plain NVFlare FedAvg of the same bundle code in the simulator: wall seconds, rounds, peak memory.

    ``min_available``: stop the run (``OutOfMemory``) when ``MemAvailable`` falls below this many bytes.
    """
    if work.exists():
        shutil.rmtree(work)
    timing_dir = work / "timing"
    timing_dir.mkdir(parents=True)
    workspace = work / "workspace"
    env = dict(os.environ, FDD_KDA_URLS=json.dumps(sites), **thread_env(len(sites)))
    log_path = work / "simulator.log"
    with PeakWatcher(simulator_roles(str(workspace)), min_available=min_available) as watcher:
        started = time.perf_counter()
        job_dir = export_plain_job(bundle_dir, model_class, model_args or {}, list(sites), rounds, work, timing_dir)
        command = [sys.executable, "-m", "nvflare.cli", "simulator", str(job_dir), "-w", str(workspace),
                   "-c", ",".join(sites), "-t", str(len(sites))]
        with open(log_path, "wb") as log:
            completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout)
        seconds = time.perf_counter() - started
    records = plain_round_records(timing_dir)
    if watcher.tripped is not None:
        raise OutOfMemory(_stopped(watcher.tripped))
    if completed.returncode != 0 or len(records) != rounds:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"plain NVFlare run failed (exit {completed.returncode}, {len(records)} rounds):\n{tail}")
    return {"seconds": seconds, **watcher.summary(), "rounds": records}


def fdd_round_records(progress: dict) -> dict[int, dict]:
    """Per round: each site's receive time and train seconds, and the server's round start and end."""
    records = {}
    for key, entry in progress.get("rounds", {}).items():
        sites = {}
        for site, info in entry.get("sites", {}).items():
            phases = {phase["code"]: phase for phase in info.get("phases", [])}
            sites[site] = {
                "received": phases[RECEIVE_PHASE]["start"],
                "train_s": phases[TRAIN_PHASE]["end"] - phases[TRAIN_PHASE]["start"],
            }
        records[int(key)] = {"sites": sites, "server_started": entry.get("started"),
                             "server_finished": entry.get("finished")}
    return dict(sorted(records.items()))


def plain_round_records(timing_dir: Path) -> dict[int, dict]:
    """The same per-round records, from the plain script's own log lines."""
    records: dict[int, dict] = {}
    for path in sorted(timing_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            sites = records.setdefault(row["round"], {"sites": {}})["sites"]
            sites[row["site"]] = {"received": row["received"], "train_s": row["train_end"] - row["train_start"]}
    return dict(sorted(records.items()))


def round_overheads(records: dict[int, dict]) -> list[dict]:
    """Per round r (but the last): period between the last receives of r and r+1, slowest training, overhead."""
    rounds = sorted(records)
    rows = []
    for current, following in zip(rounds, rounds[1:]):
        start = max(site["received"] for site in records[current]["sites"].values())
        end = max(site["received"] for site in records[following]["sites"].values())
        compute = max(site["train_s"] for site in records[current]["sites"].values())
        rows.append({"round": current, "period_s": end - start, "slowest_train_s": compute,
                     "overhead_s": end - start - compute})
    return rows
