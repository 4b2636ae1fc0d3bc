"""The deployment runner: jobs go to a real NVFlare deployment (POC or provisioned) through the FLARE API.

It needs an admin startup kit. Sites come from the server's list of connected
clients. The job's server writes progress and metrics into the platform's
storage itself (``storage_url`` in its ``local/fdd_site.json``, or ``$FDD_STORAGE_URL``, names it).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nvflare_fdd.errors import FddError
from nvflare_fdd.failures import Failure
from nvflare_fdd.platform.records import Job
from nvflare_fdd.platform.runners import RunStatus

if TYPE_CHECKING:
    from nvflare.fuel.flare_api.flare_api import Session

# NVFlare job-meta statuses → platform outcome
_FINISHED = {
    "FINISHED:COMPLETED": ("completed", "NVFlare reports the job completed"),
    "FINISHED:ABORTED": ("cancelled", "NVFlare reports the job aborted"),
    "FINISHED:ABNORMAL": ("failed", "NVFlare reports the job ended abnormally"),
    "FINISHED:EXECUTION_EXCEPTION": ("failed", "NVFlare reports an execution exception"),
    "FAILED_TO_RUN": ("failed", "NVFlare could not run the job"),
}
_ACTIVE = ("RUNNING", "DISPATCHED")
_LOST = (
    "interrupted: the NVFlare server restarted during the run and the run did not survive it "
    "(NVFlare still lists it as running); resume it"
)


class FlareRunner:
    """Submits, polls and aborts jobs on an NVFlare deployment.

    Args:
        username: the admin user of the startup kit (e.g. ``admin@nvidia.com``).
        startup_kit: the admin's startup kit folder (holding ``startup/``).
        timeout: seconds to wait for the admin connection.
    """

    name = "flare"

    def __init__(self, username: str, startup_kit: str, timeout: float = 30.0):
        if not username or not startup_kit:
            raise FddError("the flare runner needs flare.username and flare.startup_kit in platform.yaml")
        if not Path(startup_kit).is_dir():
            raise FddError(f"flare.startup_kit {startup_kit} is not a folder; point it at the admin's startup kit")
        self.username = username
        self.startup_kit = str(startup_kit)
        self.timeout = timeout
        self._session: Session | None = None
        self._lock = threading.Lock()

    def sites(self) -> list[str]:
        info = self._call(lambda session: session.get_system_info())
        return sorted(client.name for client in info.client_info)

    def submit(self, job: Job, job_dir: Path, work_dir: Path) -> str:
        job_id = self._call(lambda session: session.submit_job(str(job_dir)))
        return json.dumps({"job_id": job_id})

    def poll(self, handle: str) -> RunStatus:
        job_id = json.loads(handle)["job_id"]
        meta = self._call(lambda session: session.get_job_meta(job_id))
        status = str(meta.get("status", ""))
        if status in _FINISHED:
            state, reason = _FINISHED[status]
            return RunStatus(state, reason)
        if status in _ACTIVE and self._lost_in_server_restart(job_id, meta):
            return RunStatus("failed", _LOST, Failure.of("interrupted", _LOST).to_dict())
        return RunStatus("running")

    def _lost_in_server_restart(self, job_id: str, meta: dict) -> bool:
        """A job started before the server process now running, and not among its runs: it died with the old one.

        NVFlare 2.9 keeps such a job ``RUNNING`` in its job store for ever after the server restarts.
        """
        started = _timestamp(meta.get("start_time"))
        if started is None:
            return False
        info = self._call(lambda session: session.get_system_info())
        server_started = getattr(info.server_info, "start_time", None)
        if not isinstance(server_started, (int, float)) or server_started <= started:
            return False
        return all(run.job_id != job_id for run in info.job_info)

    def results_dir(self, handle: str, work_dir: Path) -> Path | None:
        """Download the finished job's result and return its server-side ``fdd`` results folder."""
        job_id = json.loads(handle)["job_id"]
        destination = work_dir / "download"
        destination.mkdir(parents=True, exist_ok=True)
        location = Path(self._call(lambda session: session.download_job_result(job_id, str(destination))))
        found = [path for path in location.glob("**/fdd") if (path / "progress.json").is_file()]
        return found[0] if found else None

    def abort(self, handle: str) -> None:
        from nvflare.fuel.flare_api.api_spec import JobNotFound, JobNotRunning

        job_id = json.loads(handle)["job_id"]
        try:
            self._call(lambda session: session.abort_job(job_id))
        except FddError as exc:  # already finished (or deleted): nothing to abort
            if not isinstance(exc.__cause__, (JobNotRunning, JobNotFound)):
                raise

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _call(self, action):
        """Run ``action(session)``, reconnecting once if the admin session was closed or its connection lost.

        Raises:
            FddError: the server cannot be reached, or the command failed (NVFlare's exception is its cause).
        """
        from nvflare.fuel.flare_api import api_spec
        from nvflare.fuel.flare_api.flare_api import new_secure_session

        # the session or its connection went away (SessionExpired is NVFlare 2.9's)
        lost = tuple(getattr(api_spec, name) for name in ("NoConnection", "SessionClosed", "SessionExpired")
                     if hasattr(api_spec, name))  # fmt: skip
        with self._lock:
            for attempt in (1, 2):
                if self._session is None:
                    try:
                        self._session = new_secure_session(self.username, self.startup_kit, timeout=self.timeout)
                    except Exception as exc:
                        raise FddError(f"cannot reach the NVFlare server as {self.username}: {exc}") from exc
                try:
                    return action(self._session)
                except lost as exc:
                    if attempt == 2:
                        raise FddError(f"NVFlare admin command failed: {exc}") from exc
                    self._session.close()
                    self._session = None
                except Exception as exc:
                    raise FddError(f"NVFlare admin command failed: {exc}") from exc


def _timestamp(value) -> float | None:
    """Seconds since the epoch of a job-meta time (NVFlare writes ISO 8601 strings), or ``None``."""
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None
