"""Rounds on a real deployment: the demo job and plain NVFlare's FedAvg on one NVFlare POC deployment.

    python benchmarks/bench_poc_rounds.py [--quick] [--json out.json]

A POC deployment (``nvflare_fdd.platform.poc``: server and three client sites, each its own
process, talking over the network stack as separate machines would) is prepared in a temporary
folder and started; each demo institution is a site with its KDA. Through it, with the FLARE API
as the project admin, run one after another (each 3 times; the figures are the means):

- ``fdd``: the demo job of ``bench_rounds`` (``examples/solubility_mlp`` from the ``fdd`` job
  template, 3 sites × 5 rounds; the sites' job environment already cached), its server recording
  into the platform's database as a platform deployment's does;
- ``plain``: the same ``FedAvgRecipe`` job with the Client API script (``plain_nvflare/client.py``)
  that ``bench_rounds`` runs in the simulator, on the same data and sites.

Overhead a round is measured as ``bench_rounds`` measures it: the period between the last site's
receive of round r and of round r+1, minus the slowest site's training in round r, averaged over
rounds 2..R-1. Target ≤ 0.3 s a round. The deployment is stopped, and whatever of it is left
killed, at the end, whether the runs succeeded or not.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import CACHE_DIR, Figure, Result, standalone_main, thread_env

NAME = "poc_rounds"
FULL = {"rounds": 5, "repeats": 3}
QUICK = {"rounds": 2, "repeats": 1}
OVERHEAD_TARGET_S = 0.3
START_TIMEOUT = 180  # seconds for the deployment to start and every site to connect
JOB_TIMEOUT = 900  # seconds for one job, submission to its end


def run(quick: bool = False, **overrides) -> Result:
    from benchmarks._simulator import warm_environment
    from nvflare_fdd.demo import EXAMPLE_BUNDLE, prepare_demo
    from nvflare_fdd.platform.poc import prepare_poc
    from nvflare_fdd.platform.storage import SqlStorage

    config = dict(QUICK if quick else FULL, **overrides)
    sites = {site.name: site.url for site in prepare_demo(CACHE_DIR / "demo")}
    env_cache = warm_environment(EXAMPLE_BUNDLE)
    runs: dict[str, list[dict]] = {"plain": [], "fdd": []}
    details: dict = {"config": config, "sites": sorted(sites)}
    with tempfile.TemporaryDirectory(prefix="fdd-bench-poc-") as folder:
        work = Path(folder)
        # Every process of the deployment inherits this: the plain script's KDA URLs (fdd sites read theirs from
        # local/fdd_site.json, the same URLs) and each site's thread share, as in the simulator runs.
        with _environment({"FDD_KDA_URLS": json.dumps(sites), **thread_env(len(sites))}), _terminate_as_exit():
            storage_url = f"sqlite:///{work / 'platform.db'}"
            SqlStorage(storage_url).close()  # the schema, before the server's recorder opens it
            poc = prepare_poc(work / "poc", sites, storage_url=storage_url, env_cache=env_cache)
            session = None
            try:
                started = time.perf_counter()
                poc.start(timeout=START_TIMEOUT)
                details["deployment_start_s"] = time.perf_counter() - started
                session = poc.session(timeout=30)
                for repeat in range(config["repeats"]):
                    runs["plain"].append(run_plain_job(session, poc, sites, config["rounds"], work / f"plain-{repeat}"))
                    runs["fdd"].append(run_fdd_job(session, poc, sites, config["rounds"], work / f"fdd-{repeat}"))
            finally:
                if session is not None:
                    with contextlib.suppress(Exception):
                        session.close()
                poc.stop(timeout=60)
                details["leftover_processes_killed"] = poc.kill_leftovers(grace=2)
    details["runs"] = runs
    return Result(NAME, figures(runs, len(sites), config["rounds"]), details)


def run_plain_job(session, poc, sites: dict[str, str], rounds: int, work: Path) -> dict:
    """Plain NVFlare's FedAvg job (``bench_rounds``' own) submitted to the deployment; its rounds from the script's log."""
    from benchmarks._simulator import export_plain_job, plain_round_records
    from nvflare_fdd.demo import EXAMPLE_BUNDLE

    timing_dir = work / "timing"
    timing_dir.mkdir(parents=True)
    job_dir = export_plain_job(EXAMPLE_BUNDLE, "SolubilityMLP", {}, list(sites), rounds, work, timing_dir)
    job_id, seconds, status = submit_and_wait(session, poc, job_dir)
    records = plain_round_records(timing_dir)
    if status != "FINISHED:COMPLETED" or len(records) != rounds:
        raise RuntimeError(f"plain NVFlare job {job_id}: {status}, {len(records)} of {rounds} rounds logged\n"
                           f"{poc.log_tails(job_id)}")  # fmt: skip
    return measured(job_id, seconds, records)


def run_fdd_job(session, poc, sites: dict[str, str], rounds: int, work: Path) -> dict:
    """The demo job from the ``fdd`` template submitted to the deployment; its rounds from the server's progress record."""
    from benchmarks._simulator import fdd_round_records
    from nvflare_fdd.demo import EXAMPLE_BUNDLE
    from nvflare_fdd.jobs import create_job
    from nvflare_fdd.results import read_progress

    results = work / "results"  # outside the server's run folder, which NVFlare removes when the job ends
    job_dir = create_job(work / "fdd_rounds", EXAMPLE_BUNDLE, "SolubilityMLP", rounds, sites=list(sites),
                         name="fdd_rounds", server_vars={"results_dir": str(results)})  # fmt: skip
    job_id, seconds, status = submit_and_wait(session, poc, job_dir)
    progress = read_progress(results)
    if status != "FINISHED:COMPLETED" or progress is None or progress.get("state") != "completed":
        state = progress.get("state") if progress else "no progress record"
        raise RuntimeError(f"fdd job {job_id}: {status}, {state}\n{poc.log_tails(job_id)}")
    return measured(job_id, seconds, fdd_round_records(progress))


def submit_and_wait(session, poc, job_dir: Path, timeout: float = JOB_TIMEOUT) -> tuple[str, float, str]:
    """Submit a job folder; wait for its end. Returns its id, seconds from submission to the end, final status."""
    started = time.perf_counter()
    job_id = session.submit_job(str(job_dir))
    deadline = time.monotonic() + timeout
    while True:
        status = str(session.get_job_meta(job_id).get("status", ""))
        if status.startswith("FINISHED"):
            return job_id, time.perf_counter() - started, status
        if time.monotonic() > deadline:
            with contextlib.suppress(Exception):
                session.abort_job(job_id)
            raise TimeoutError(f"job {job_id} did not end within {timeout:.0f} s ({status})\n{poc.log_tails(job_id)}")
        time.sleep(0.5)


def measured(job_id: str, seconds: float, records: dict) -> dict:
    from benchmarks.bench_rounds import steady_overhead

    return {"job_id": job_id, "seconds": seconds, "rounds": records, "steady": steady_overhead(records)}


def figures(runs: dict[str, list[dict]], sites: int, rounds: int) -> list[Figure]:
    def mean(name: str, pick) -> float:
        return statistics.fmean(pick(entry) for entry in runs[name])

    total = {name: mean(name, lambda m: m["seconds"]) for name in runs}
    overhead = {name: mean(name, lambda m: m["steady"]["overhead_s"]) for name in runs}
    period = {name: mean(name, lambda m: m["steady"]["period_s"]) for name in runs}
    train = {name: mean(name, lambda m: m["steady"]["slowest_train_s"]) for name in runs}
    return [
        Figure(NAME, "overhead a round on a POC deployment (period - slowest train)", overhead["fdd"], "s",
               "plain NVFlare", overhead["plain"], target=f"≤ {OVERHEAD_TARGET_S} s",
               met=overhead["fdd"] <= OVERHEAD_TARGET_S),
        Figure(NAME, "round period on a POC deployment", period["fdd"], "s", "plain NVFlare", period["plain"],
               note=f"slowest train a round: fdd {train['fdd']:.2f} s, plain {train['plain']:.2f} s"),
        Figure(NAME, f"job wall time, submission to end, {sites} sites × {rounds} rounds", total["fdd"], "s",
               "plain NVFlare", total["plain"], note="each job starts its own server and site processes"),
    ]


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """``os.environ`` with ``values`` set for the block (the deployment's processes inherit it)."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _terminate_as_exit():
    """SIGTERM ends the block as an exception would, so the deployment is still stopped (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_signal(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> None:
    standalone_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
