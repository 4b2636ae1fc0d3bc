"""The embedded runner: each job runs in the NVFlare simulator, in a process of its own.

The job's launcher (``nvflare_fdd.platform.runners.launch``) is detached from the platform
(its own session), so a restarted platform finds it again by its handle: the launcher's pid
and start time (a recycled pid is not mistaken for the job), the workspace, the log and the
outcome file. The launcher watches the simulator as ``fdd run`` does: a port clash at start
is retried, and a simulator that broke down is stopped instead of hanging for ever.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nvflare_fdd.errors import FddError
from nvflare_fdd.failures import Failure
from nvflare_fdd.platform.config import STORAGE_URL_ENV
from nvflare_fdd.platform.records import Job
from nvflare_fdd.platform.runners import RunStatus
from nvflare_fdd.platform.runners.processes import alive, same_process, start_time
from nvflare_fdd.results import read_failure, read_progress
from nvflare_fdd.simulate import environment_section, find_results, simulator_env, write_site_settings


class SimulatorRunner:
    """Runs jobs in ``nvflare simulator`` on this machine.

    Args:
        sites: site name → KDA URL.
        storage_url: the platform database, where the job's server writes progress and metrics.
        environment: how the sites run user code: ``simulator.environment`` of ``platform.yaml``
            (``{"backend": "docker", "base_image": ...}``, the keys of ``fdd_site.json``'s ``environment``).

    Raises:
        FddError: no sites, or the environment backend refuses its options.
    """

    name = "simulator"

    def __init__(self, sites: dict[str, str], storage_url: str, environment: dict | None = None):
        if not sites:
            raise FddError("the simulator runner needs at least one site (simulator.sites in platform.yaml)")
        self._sites = dict(sites)
        self.storage_url = storage_url
        self.environment: tuple[str, dict] | None = None
        if environment:
            from nvflare_fdd.envs import make_backend
            from nvflare_fdd.site_config import DEFAULT_BACKEND

            options = dict(environment)
            backend = str(options.pop("backend", None) or DEFAULT_BACKEND)
            make_backend(backend, options, "simulator.environment in platform.yaml")
            self.environment = (backend, options)

    def sites(self) -> list[str]:
        return sorted(self._sites)

    def site_urls(self) -> dict[str, str]:
        """Site name → its KDA URL (what the statistics job reads, ``fdd data refresh``)."""
        return dict(self._sites)

    def submit(self, job: Job, job_dir: Path, work_dir: Path) -> str:
        unknown = sorted(set(job.sites) - set(self._sites))
        if unknown:
            raise FddError(f"unknown site(s) {', '.join(unknown)}; this platform has {', '.join(self.sites())}")
        workspace = work_dir / "workspace"
        log_path = work_dir / "simulator.log"
        outcome, simulator_pid = work_dir / "outcome.json", work_dir / "simulator.pid"
        for stale in (outcome, simulator_pid):
            stale.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "nvflare_fdd.platform.runners.launch", "--job", str(job_dir), "--workspace",
            str(workspace), "--log", str(log_path), "--sites", ",".join(job.sites), "--outcome", str(outcome),
            "--simulator-pid", str(simulator_pid),
        ]  # fmt: skip
        env = simulator_env({site: self._sites[site] for site in job.sites}, **{STORAGE_URL_ENV: self.storage_url})
        if self.environment is not None:  # every simulated participant reads the workspace's local/fdd_site.json
            write_site_settings(workspace / "local", {"environment": environment_section(*self.environment)})
        with open(work_dir / "launcher.log", "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        return json.dumps({"pid": process.pid, "started": start_time(process.pid), "workspace": str(workspace),
                           "log": str(log_path), "outcome": str(outcome), "simulator_pid": str(simulator_pid)})  # fmt: skip

    def poll(self, handle: str) -> RunStatus:
        info = json.loads(handle)
        if any(pid and same_process(pid, started) for pid, started in (_launcher(info), _simulator(info))):
            return RunStatus("running")  # the launcher, or a simulator it started that outlived it
        results = find_results(Path(info["workspace"]))
        progress = read_progress(results) if results else None
        failure = read_failure(results) if results else None
        if progress and progress.get("state") == "completed":
            return RunStatus("completed", "all rounds finished")
        if failure:
            return RunStatus("failed", failure.get("message", "a site failed"), failure)
        fatal = _outcome(info).get("fatal")
        if fatal:
            message = f"the NVFlare simulator broke down and was stopped: {fatal}"
            return RunStatus("failed", message, Failure.of("runner", message, trace=f"see {info['log']}").to_dict())
        # The simulator's log holds every simulated site's log too: it stays on this machine, named, not copied.
        return RunStatus("failed", "the simulator ended before the job finished", Failure.of(
            "runner", "the NVFlare simulator ended before the job finished",
            trace=f"see the simulator's log on the platform's machine: {info['log']}").to_dict())  # fmt: skip

    def results_dir(self, handle: str, work_dir: Path) -> Path | None:
        """The run's results folder (metrics.csv, progress.json, models) in the simulator's workspace."""
        return find_results(Path(json.loads(handle)["workspace"]))

    def abort(self, handle: str) -> None:
        """Stop the job: its launcher (which stops the simulator it runs), then whatever of the simulator is left."""
        info = json.loads(handle)
        groups = [pid for pid, started in (_launcher(info), _simulator(info)) if pid and same_process(pid, started)]
        for pid in groups:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                for _ in range(100):
                    if not alive(pid):
                        break
                    time.sleep(0.1)
                else:
                    continue
                break


def _launcher(info: dict) -> tuple[int, int | None]:
    return info["pid"], info.get("started")


def _simulator(info: dict) -> tuple[int | None, int | None]:
    """The simulator the launcher started, as its pid file says (``"pid start_time"``)."""
    try:
        pid, started = Path(info["simulator_pid"]).read_text().split()
        return int(pid), int(started) if started != "None" else None
    except (KeyError, OSError, ValueError):
        return None, None


def _outcome(info: dict) -> dict:
    try:
        return json.loads(Path(info["outcome"]).read_text())
    except (KeyError, OSError, ValueError):
        return {}
