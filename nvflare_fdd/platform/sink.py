"""``StorageSink``: the NVFlare server's recorder writing a job's progress, metrics and outcome into platform storage.

It runs inside the job's server process, on the simulator and on a real deployment,
so the platform learns of every round as it happens without reaching into the
server's workspace. It finds the platform job by the NVFlare job's name; a job
submitted outside the platform (``nvflare job create -w fdd`` and the admin console)
gets a record of its own, owned by its submitter.

A storage error never breaks the training run: a write that fails for a reason that can
pass (the database is away, a lock timed out) is retried a few times with a growing wait,
then logged; one that can never succeed (no such job, a conflict) is logged at once. The
files the recorder writes next to it keep the full record, and the platform copies them in
when the run is over. When every write of a run succeeded, the sink says so in the results
folder (``STORAGE_COMPLETE``) and the platform copies nothing: a run's results are stored once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from nvflare_fdd.platform.contracts import Storage
from nvflare_fdd.platform.errors import NotFound
from nvflare_fdd.platform.records import Job, JobState, NewJob
from nvflare_fdd.results import atomic_write_bytes

log = logging.getLogger(__name__)

RETRIES = 3
RETRY_WAIT = 0.5


def transient(error: BaseException) -> bool:
    """Whether a storage error may pass if tried again: the database away or busy, not a refusal."""
    from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

    from nvflare_fdd.platform.db import StorageError

    if isinstance(error, IntegrityError):
        return False
    return isinstance(error, (OperationalError, StorageError)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


STORAGE_COMPLETE = "storage_complete.json"
"""Written into a run's results folder when the server's sink stored every record of the run."""
ARTEFACTS = ("global_model.pt", "global_model.safetensors", "best_global_model.pt", "best_global_model.safetensors")


def saved_state(results_dir: Path) -> tuple[Path | None, Path | None]:
    """The run's last saved global model and SCAFFOLD controls (each ``None`` when there is none)."""
    model, controls = results_dir / "global_model.safetensors", results_dir / "scaffold_controls.safetensors"
    return (model if model.is_file() else None), (controls if controls.is_file() else None)


def storage_complete(results_dir: Path) -> bool:
    """Whether the server's sink stored every record of the run in ``results_dir`` (nothing to copy in)."""
    return (Path(results_dir) / STORAGE_COMPLETE).is_file()


class StorageSink:
    """Mirrors ``RunRecorder``'s methods into platform storage.

    Args:
        storage: the platform storage (any backend).
        job_name: the NVFlare job's name (``meta.json`` ``name``), the platform job's name.
        submitter: who submitted it, for jobs that did not come through the platform.
        nvflare_job_id: NVFlare's job id, to tell apart two external runs of one job folder.
        results_dir: the run's results folder, whose models are stored when the job ends.
        events: called as ``events(hook_name, **kwargs)`` for platform events (plugins).
    """

    def __init__(
        self,
        storage: Storage,
        job_name: str,
        submitter: str = "",
        nvflare_job_id: str = "",
        results_dir: Path | None = None,
        events: Callable[..., None] | None = None,
    ):
        self.storage = storage
        self.job_name = job_name
        self.submitter = submitter or "nvflare"
        self.nvflare_job_id = nvflare_job_id
        self.results_dir = results_dir
        self.events = events or (lambda hook, **kwargs: None)
        self.external = False  # True once this run got a record of its own (not submitted by the platform)
        self.lost = 0  # writes that failed: the platform copies the run's files in

    # -- the RunRecorder interface ----------------------------------------------------------------

    def job_started(self, time_: float, sites: list[str], num_rounds: int) -> None:
        if self.results_dir is not None:  # a resumed run in the same folder: its record is not complete yet
            (self.results_dir / STORAGE_COMPLETE).unlink(missing_ok=True)
        self._write("attach the job", self._attach, sites, num_rounds)

    def round_started(self, round_num: int, time_: float) -> None:
        self._write("record a round start", self.storage.record_round, self.job_name, round_num, started=time_)

    def round_finished(self, round_num: int, time_: float) -> None:
        """The round's end, with its global model as the job's checkpoint (what ``fdd jobs resume`` starts from)."""
        checkpoint, controls = (saved_state(self.results_dir) if self.results_dir is not None else (None, None))
        self._write("record a round end", self.storage.record_round, self.job_name, round_num, finished=time_,
                    checkpoint=checkpoint, controls=controls)  # fmt: skip

    def site_round(
        self, round_num: int, site: str, phases: list[dict], num_samples: int | None, setup_phases: list[dict] | None = None,
        dropped_metrics: dict | None = None, personalized: bool = False,
    ) -> None:
        if setup_phases:
            self._write("record setup", self.storage.record_stage, self.job_name, 0, site, setup_phases, None)
        self._write("record progress", self.storage.record_stage, self.job_name, round_num, site, phases, num_samples,
                    dropped_metrics, personalized)  # fmt: skip
        self.events("fdd_round_progress", job=self.job_name, round=round_num, site=site, phases=phases)

    def site_setup(self, site: str, phases: list[dict]) -> None:
        """A site's environment, then its whole setup, as each ends (before its first round's result)."""
        self._write("record setup", self.storage.record_setup, self.job_name, site, phases)

    def metrics(self, round_num: int, site: str, kind: str, values: Mapping[str, float]) -> None:
        self._write("record metrics", self.storage.record_metrics, self.job_name, round_num, site, kind, values)
        self.events("fdd_metrics_recorded", job=self.job_name, round=round_num, site=site, kind=kind, metrics=dict(values))

    def finished(self, state: str, time_: float, failure: Mapping[str, Any] | None = None) -> None:
        if self.results_dir is not None:
            for name in ARTEFACTS:
                path = self.results_dir / name
                if path.is_file():
                    self._write(f"store {name}", self.storage.put_artefact, self.job_name, name, path)
        if self.external:
            # The platform settles its own jobs when its runner reports the run over: it first fills in
            # from the run's files whatever this sink could not write, then records the outcome.
            reason = "all rounds finished" if state == "completed" else (failure or {}).get("message", state)
            self._moved(self._write("record the outcome", self.storage.transition, self.job_name, JobState(state), reason,
                                    failure=failure, quiet=True, reason_code=f"event.run_{state}",
                                    reason_params={"detail": reason}))  # fmt: skip
        if self.results_dir is not None and not self.lost:
            record = {"job": self.job_name, "state": state, "stored_at": time.time()}
            atomic_write_bytes(self.results_dir / STORAGE_COMPLETE, json.dumps(record).encode())

    # -- internals --------------------------------------------------------------------------------

    def _attach(self, sites: list[str], num_rounds: int) -> None:
        """Use the platform's job of this name if it runs; else record an external job."""
        try:
            job = self.storage.get_job(self.job_name)
        except NotFound:
            job = None
        if job is not None and job.state == JobState.RUNNING:
            return
        if job is not None:  # a finished platform job of the same name: this is another, external run
            self.job_name = f"{self.job_name}_{self.nvflare_job_id[:8] or int(time.time())}"
        self.external = True
        owner = f"nvflare:{self.submitter}"
        self.storage.ensure_user(owner)
        self._moved(self.storage.create_job(
            NewJob(owner, self.job_name, None, num_rounds, tuple(sites), "submitted to NVFlare outside the platform",
                   external=True),
            state=JobState.RUNNING, reason=f"NVFlare job {self.nvflare_job_id or '?'} started",
            reason_code="event.external_started", reason_params={"id": self.nvflare_job_id or "?"},
        ))  # fmt: skip

    def _moved(self, job: Job | None) -> None:
        """Tell plugins of the state change storage recorded for this external run (``job.event``), if any."""
        if job is not None and job.event is not None:
            self.events("fdd_job_state_changed", job=job.name, old_state=job.event.from_state,
                        new_state=job.event.to_state, reason=job.event.reason)  # fmt: skip

    def _write(self, what: str, action: Callable, *args, **kwargs):
        retrying = Retrying(stop=stop_after_attempt(RETRIES), wait=wait_exponential(multiplier=RETRY_WAIT, max=5),
                            retry=retry_if_exception(transient), reraise=True)  # fmt: skip
        try:
            return retrying(action, *args, **kwargs)
        except Exception as exc:  # leave it to the run's files, which the platform copies in later
            self.lost += 1
            tries = f"after {RETRIES} tries" if transient(exc) else "(not retried: it cannot succeed)"
            log.error("platform storage: could not %s for job %s %s: %s", what, self.job_name, tries, exc)
            return None
