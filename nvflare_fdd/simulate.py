"""Run a bundle across sites in the NVFlare simulator and collect its results.

The embedded runner of the platform: it builds the job from the ``fdd``
template, runs ``nvflare simulator`` in a child process (each site a client,
its KDA given by ``$FDD_KDA_URLS``), reports progress while it runs, and copies
the results (``metrics.csv``, ``progress.json``, the global models, and
``failure.json`` on failure) into the output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nvflare_fdd.errors import FddError
from nvflare_fdd.executors.site_config import KDA_URLS_ENV
from nvflare_fdd.jobs import JOB_NAME, create_job
from nvflare_fdd.results import FAILURE_JSON, METRICS_CSV, PROGRESS_JSON, read_failure, read_progress

RESULT_FILES = (
    METRICS_CSV,
    PROGRESS_JSON,
    FAILURE_JSON,
    "global_model.pt",
    "global_model.safetensors",
    "best_global_model.pt",
    "best_global_model.safetensors",
)
NVFLARE_FOLDER = "nvflare"
LOG_FILE = "simulator.log"


class RunFailed(FddError):
    """The federated run failed; ``failure`` holds the site, round, phase code and trace when known."""

    def __init__(self, message: str, failure: dict | None = None, log_path: Path | None = None):
        self.failure = failure
        self.log_path = log_path
        super().__init__(message)


@dataclass
class RunOutcome:
    """A finished run: where its results are and its final progress record."""

    out_dir: Path
    progress: dict
    seconds: float


def run_simulation(
    bundle_dir: str | Path,
    sites: Mapping[str, str],
    rounds: int,
    out_dir: str | Path,
    model_class: str,
    job_name: str = "fdd_run",
    on_progress: Callable[[dict], None] | None = None,
    timeout: float | None = None,
    server_vars: Mapping[str, object] | None = None,
) -> RunOutcome:
    """Train ``bundle_dir`` with FedAvg across ``sites`` in the NVFlare simulator.

    Args:
        bundle_dir: a flat, valid user bundle.
        sites: site name → KDA URL; each site is one simulated client.
        rounds: federated rounds.
        out_dir: where the results go; the job and the simulator workspace go to ``out_dir/nvflare``.
        model_class: the ``model.py`` class the server builds.
        job_name: the NVFlare job name.
        on_progress: called with the progress record (``progress.json``) whenever it changes.
        timeout: seconds before the run is stopped; ``None`` waits for ever.
        server_vars: extra top-level server-config values (e.g. ``{"task_check_period": 0.05}``).

    Returns:
        The outcome, once the run completed.

    Raises:
        RunFailed: a site or the server failed, the simulator crashed, or the timeout passed.
    """
    if not sites:
        raise FddError("give at least one site: --site NAME=KDA_URL")
    for site in sites:
        if not JOB_NAME.match(site):
            raise FddError(f"site name {site!r} may use only English letters, digits and _")
    out_dir = Path(out_dir)
    work = out_dir / NVFLARE_FOLDER
    if work.exists():
        shutil.rmtree(work)
    for name in RESULT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    work.mkdir(parents=True)
    job_dir = create_job(
        work / job_name, bundle_dir, model_class, rounds, sites=list(sites), name=job_name, server_vars=server_vars
    )
    workspace = work / "workspace"
    log_path = work / LOG_FILE
    command = [
        sys.executable, "-m", "nvflare.cli", "simulator", str(job_dir),
        "-w", str(workspace), "-c", ",".join(sites), "-t", str(len(sites)),
    ]  # fmt: skip
    env = dict(os.environ, **{KDA_URLS_ENV: json.dumps(dict(sites))})
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        return_code = _watch(process, workspace, on_progress, timeout, started)
    results = _find_results(workspace)
    if results is not None:
        for name in RESULT_FILES:
            if (results / name).exists():
                shutil.copy2(results / name, out_dir / name)
    failure = read_failure(out_dir)
    if failure is not None:
        raise RunFailed(_describe(failure), failure, log_path)
    if return_code is None:
        raise RunFailed(f"the run did not finish within {timeout:.0f} s and was stopped; see {log_path}", None, log_path)
    progress = read_progress(out_dir)
    if return_code != 0 or progress is None or progress.get("state") != "completed":
        raise RunFailed(
            f"the NVFlare simulator ended with exit code {return_code} before the run completed:\n{_tail(log_path)}",
            None,
            log_path,
        )
    return RunOutcome(out_dir=out_dir, progress=progress, seconds=time.monotonic() - started)


def _watch(process, workspace: Path, on_progress, timeout: float | None, started: float) -> int | None:
    """Wait for the simulator, reporting progress; returns its exit code, or ``None`` after a timeout."""
    last_seen = None
    while True:
        return_code = process.poll()
        results = _find_results(workspace)
        if on_progress is not None and results is not None:
            progress = _read_quietly(results / PROGRESS_JSON)
            if progress is not None and progress != last_seen:
                last_seen = progress
                on_progress(progress)
        if return_code is not None:
            return return_code
        if timeout is not None and time.monotonic() - started > timeout:
            _kill_tree(process)
            return None
        time.sleep(0.25)


def _kill_tree(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _find_results(workspace: Path) -> Path | None:
    """The server's ``fdd`` results folder inside a simulator workspace (its depth differs across NVFlare versions)."""
    for path in workspace.glob("**/server/**/fdd"):
        if path.is_dir():
            return path
    return None


def _read_quietly(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _describe(failure: dict) -> str:
    code = failure.get("code")
    phase = failure.get("phase") or ""
    where = f"site {failure.get('site')}" + (f", round {failure['round']}" if failure.get("round") else "")
    head = f"{code} ({phase})" if code else phase
    return f"{where}: {head} failed: {failure.get('message', '')}"


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])
