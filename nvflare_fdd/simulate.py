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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nvflare_fdd.client.runtime import DEFAULT_FEDPROX_MU
from nvflare_fdd.errors import FddError, RunFailed
from nvflare_fdd.failures import describe_failure
from nvflare_fdd.jobs import JOB_NAME, create_job
from nvflare_fdd.results import FAILURE_JSON, METRICS_CSV, PROGRESS_JSON, read_failure, read_progress
from nvflare_fdd.site_config import KDA_URLS_ENV, SITE_CONFIG_FILE

RESULT_FILES = (
    METRICS_CSV,
    PROGRESS_JSON,
    FAILURE_JSON,
    "global_model.pt",
    "global_model.safetensors",
    "best_global_model.pt",
    "best_global_model.safetensors",
    "scaffold_controls.safetensors",
)
NVFLARE_FOLDER = "nvflare"
START_ATTEMPTS = 2
# Simulator log lines after which it never finishes by itself (a client worker is gone).
FATAL_MARKERS = (
    "Failed to create connection to the child process",
    "Subprocess died for client",
    "run_client_thread error",
)
LOG_FILE = "simulator.log"


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
    site_settings: Mapping[str, object] | None = None,
    metric_names: Sequence[str] = (),
    environment: tuple[str, Mapping[str, object]] | None = None,
    algorithm: str = "fedavg",
    fedprox_mu: float = DEFAULT_FEDPROX_MU,
    local_baseline: bool = False,
) -> RunOutcome:
    """Train ``bundle_dir`` with FedAvg (or FedProx, or SCAFFOLD) across ``sites`` in the NVFlare simulator.

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
        site_settings: ``fdd_site.json`` settings of every simulated participant (the simulator gives them all
            its workspace's ``local/`` folder), e.g. ``{"environment": {"backend": "docker"}}``.
        metric_names: metric names declared with the model (see ``nvflare_fdd.metric_names``).
        environment: ``(backend, options)`` every participant runs user code with (``fdd run --env-backend``),
            written into ``site_settings``' ``environment``; default: their own settings (``local``).
        algorithm: ``fedavg``, ``fedprox`` or ``scaffold``; ``fedprox_mu``: FedProx's coefficient.
        local_baseline: each site also trains a local-only baseline (``metrics.csv`` kind ``baseline``).

    Returns:
        The outcome, once the run completed.

    Raises:
        RunFailed: a site or the server failed, the simulator crashed, or the timeout passed.
    """
    check_sites(sites)
    out_dir = Path(out_dir)
    work = out_dir / NVFLARE_FOLDER
    if work.exists():
        shutil.rmtree(work)
    for name in RESULT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    work.mkdir(parents=True)
    job_dir = create_job(
        work / job_name, bundle_dir, model_class, rounds, sites=list(sites), name=job_name, server_vars=server_vars,
        metric_names=metric_names, algorithm=algorithm, fedprox_mu=fedprox_mu, local_baseline=local_baseline,
    )
    workspace, log_path = work / "workspace", work / LOG_FILE
    started = time.monotonic()
    if environment is not None:
        site_settings = {**(site_settings or {}), "environment": environment_section(*environment)}
    before_start = (lambda ws: write_site_settings(ws / "local", site_settings)) if site_settings else None
    return_code, fatal = simulate(job_dir, sites, workspace, log_path, on_progress=on_progress, timeout=timeout,
                                  progressed=_any_round_done, before_start=before_start)  # fmt: skip
    results = find_results(workspace)
    if results is not None:
        for name in RESULT_FILES:
            if (results / name).exists():
                shutil.copy2(results / name, out_dir / name)
    failure = read_failure(out_dir)
    if failure is not None:
        raise RunFailed(describe_failure(failure), failure, log_path)
    if fatal:
        raise RunFailed(f"the NVFlare simulator broke down and was stopped: {fatal}", None, log_path)
    if return_code is None:
        raise RunFailed(f"the run did not finish within {timeout:.0f} s and was stopped; see {log_path}", None, log_path)
    progress = read_progress(out_dir)
    if return_code != 0 or progress is None or progress.get("state") != "completed":
        raise RunFailed(
            f"the NVFlare simulator ended with exit code {return_code} before the run completed",
            None,
            log_path,
        )
    return RunOutcome(out_dir=out_dir, progress=progress, seconds=time.monotonic() - started)


def environment_section(backend: str, options: Mapping[str, object]) -> dict[str, object]:
    """``fdd_site.json``'s ``environment`` for a backend and its options."""
    return {"backend": backend, **dict(options)}


def write_site_settings(local_dir: Path, settings: Mapping[str, object]) -> Path:
    """Write ``settings`` as ``fdd_site.json`` in a workspace's ``local/`` folder."""
    local_dir.mkdir(parents=True, exist_ok=True)
    path = local_dir / SITE_CONFIG_FILE
    path.write_text(json.dumps(dict(settings), indent=2) + "\n")
    return path


def check_sites(sites: Mapping[str, str]) -> None:
    """Refuse an empty site list and site names NVFlare cannot use."""
    if not sites:
        raise FddError("give at least one site: --site NAME=KDA_URL")
    for site in sites:
        if not JOB_NAME.match(site):
            raise FddError(f"site name {site!r} may use only English letters, digits and _")


def simulator_command(job_dir: Path, workspace: Path, sites: Iterable[str]) -> list[str]:
    """``nvflare simulator`` for ``job_dir`` with each site a client, all of them at once."""
    sites = list(sites)
    return [
        sys.executable, "-m", "nvflare.cli", "simulator", str(job_dir),
        "-w", str(workspace), "-c", ",".join(sites), "-t", str(len(sites)),
    ]  # fmt: skip


def simulator_env(sites: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The simulator's environment: each site's KDA, and each site's share of this machine's cores."""
    env = dict(os.environ, **{KDA_URLS_ENV: json.dumps(dict(sites))}, **extra)
    # All simulated sites share this machine's cores: give each its share, or they oversubscribe
    # (3 sites on 2 cores ran the demo in 51 s with torch's default threads, 29 s with one each).
    threads = str(max(1, (os.cpu_count() or 1) // max(1, len(sites))))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(variable, threads)
    return env


def simulate(
    job_dir: Path,
    sites: Mapping[str, str],
    workspace: Path,
    log_path: Path,
    on_progress: Callable[[dict], None] | None = None,
    timeout: float | None = None,
    progressed: Callable[[Path], bool] = lambda workspace: False,
    env: Mapping[str, str] | None = None,
    before_start: Callable[[Path], object] | None = None,
    on_start: Callable[[subprocess.Popen], object] | None = None,
) -> tuple[int | None, str | None]:
    """Run the simulator on ``job_dir`` until it ends, stalls or times out (see ``watch_simulator``).

    NVFlare's simulator picks each client worker's port before binding it, so two sites starting
    at once can draw the same port and the run breaks down: when that happens before anything
    ``progressed``, it is started once more on a fresh workspace.

    Args:
        env: the process environment; default ``simulator_env(sites)``.
        before_start: called with the workspace before each start (e.g. to write its ``local/`` files).
        on_start: called with the simulator's process after each start.

    If the caller is interrupted (``KeyboardInterrupt``, ``SystemExit`` from a signal), the simulator's
    whole process tree is stopped before the exception goes on.

    Returns:
        ``(exit code, fatal log line)`` as ``watch_simulator`` reports them.
    """
    command = simulator_command(job_dir, workspace, sites)
    env = dict(env) if env is not None else simulator_env(sites)
    started = time.monotonic()
    for attempt in range(1, START_ATTEMPTS + 1):
        if before_start is not None:
            before_start(workspace)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                if on_start is not None:
                    on_start(process)
                return_code, fatal = watch_simulator(process, workspace, log_path, on_progress, timeout, started)
            finally:
                if process.poll() is None:
                    _kill_tree(process)
        if fatal and port_clash(log_path) and not progressed(workspace) and attempt < START_ATTEMPTS:
            shutil.rmtree(workspace, ignore_errors=True)
            continue
        return return_code, fatal
    return return_code, fatal


def watch_simulator(
    process, workspace: Path, log_path: Path, on_progress, timeout: float | None, started: float
) -> tuple[int | None, str | None]:
    """Wait for the simulator, reporting progress.

    Returns:
        ``(exit code, None)`` when it ended; ``(None, None)`` after a timeout; ``(None, line)`` when
        its log shows a breakdown it does not recover from (it would otherwise hang until the timeout).
    """
    last_seen = None
    log_offset = 0
    while True:
        return_code = process.poll()
        results = find_results(workspace)
        if on_progress is not None and results is not None:
            progress = _read_quietly(results / PROGRESS_JSON)
            if progress is not None and progress != last_seen:
                last_seen = progress
                on_progress(progress)
        if return_code is not None:
            return return_code, None
        log_offset, fatal = _scan_log(log_path, log_offset)
        if fatal:
            _kill_tree(process)
            return None, fatal
        if timeout is not None and time.monotonic() - started > timeout:
            _kill_tree(process)
            return None, None
        time.sleep(0.25)


def _scan_log(log_path: Path, offset: int) -> tuple[int, str | None]:
    """Read the log from ``offset``; return the new offset and the first fatal line, if any."""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return offset, None
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.decode(errors="replace").splitlines():
        if any(marker in line for marker in FATAL_MARKERS):
            return offset + len(complete), line.strip()
    return offset + len(complete), None


def port_clash(log_path: Path) -> bool:
    return "Address already in use" in log_path.read_text(errors="replace")


def _any_round_done(workspace: Path) -> bool:
    results = find_results(workspace)
    progress = _read_quietly(results / PROGRESS_JSON) if results is not None else None
    if not progress:
        return False
    return any(r.get("finished") for r in progress.get("rounds", {}).values())


def _kill_tree(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def find_results(workspace: Path) -> Path | None:
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


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a simulator log (for runs of platform code only: a training run's log also holds the sites' logs)."""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])
