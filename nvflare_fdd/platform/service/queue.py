"""The queue: finished runs are settled, queued jobs are submitted while the runner has capacity, and after a
restart the records are brought in line with the runner."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from nvflare_fdd.errors import FddError
from nvflare_fdd.failures import Failure
from nvflare_fdd.platform.contracts import CHECKPOINT, CONTROLS_CHECKPOINT
from nvflare_fdd.platform.records import Job, JobState
from nvflare_fdd.platform.runners import RunStatus
from nvflare_fdd.platform.service.base import PlatformBase
from nvflare_fdd.platform.service.checks import split_model
from nvflare_fdd.platform.service.results import import_results
from nvflare_fdd.platform.sink import storage_complete

log = logging.getLogger(__name__)

RESUME_WEIGHTS = "fdd_resume.safetensors"
RESUME_CONTROLS = "fdd_resume_controls.safetensors"


class QueueService(PlatformBase):
    """What ``fdd server run``, ``fdd ui`` and ``fdd jobs start --wait`` call in a loop."""

    def tick(self) -> None:
        """Settle finished runs, then start queued jobs while the runner has capacity."""
        for running in self.storage.list_jobs(states=[JobState.RUNNING]):
            if running.runner == self.config.runner and running.run_handle and not running.external:
                self._settle(running, running.run_handle)
        while True:
            job = self.storage.claim_next_queued(self.config.capacity, self.config.runner)
            if job is None:
                return
            self._moved(job)
            self._submit(job)

    def reconcile(self) -> list[str]:
        """Bring records in line with the runner after the platform was down; returns what changed.

        Running jobs are polled (a run that ended meanwhile is settled, its results backfilled);
        a job claimed but never submitted (the platform stopped in between) is marked failed.
        """
        changed = []
        for job in self.storage.list_jobs(states=[JobState.RUNNING]):
            if job.external or job.runner != self.config.runner:
                continue
            if not job.run_handle:
                reason = "interrupted: the platform stopped before the job was submitted; resume it"
                failed = self.storage.transition(job.name, JobState.FAILED, reason, failure=_interrupted(reason), quiet=True,
                                                 reason_code="event.interrupted_before_submit")  # fmt: skip
                if failed is not None:
                    self._moved(failed)
                    changed.append(job.name)
                continue
            if self._settle(job, job.run_handle):
                changed.append(job.name)
        return changed

    def _submit(self, job: Job) -> None:
        from nvflare_fdd.jobs import create_job

        work = self.config.jobs_dir / job.name
        shutil.rmtree(work, ignore_errors=True)
        try:
            class_name, version = split_model(job.model or "")
            bundle = self.storage.export_model_files(class_name, version, work / "bundle")
            metric_names = self.storage.get_model(class_name, version).metric_names
            server_vars: dict[str, Any] = {"min_sites": job.min_sites}
            if job.resume_from:
                self.storage.write_artefact(job.name, CHECKPOINT, bundle / RESUME_WEIGHTS)
                server_vars.update(start_round=job.resume_from, initial_weights=RESUME_WEIGHTS)
                if job.algorithm == "scaffold" and CONTROLS_CHECKPOINT in self.storage.artefacts(job.name):
                    self.storage.write_artefact(job.name, CONTROLS_CHECKPOINT, bundle / RESUME_CONTROLS)
                    server_vars.update(initial_controls=RESUME_CONTROLS)
            job_dir = create_job(work / "job", bundle, class_name, job.rounds, sites=list(job.sites), name=job.name,
                                 server_vars=server_vars, min_clients=job.min_sites, metric_names=metric_names,
                                 algorithm=job.algorithm, fedprox_mu=job.fedprox_mu,
                                 local_baseline=job.local_baseline)  # fmt: skip
            handle = self.runner.submit(job, job_dir, work)
        except Exception as exc:
            reason = f"could not start: {exc}"
            self._moved(self.storage.transition(
                job.name, JobState.FAILED, reason, failure=Failure.of("submit", str(exc), site="platform").to_dict(),
                quiet=True, reason_code="event.could_not_start", reason_params={"error": str(exc)}))  # fmt: skip
            return
        self.storage.set_run_handle(job.name, handle)

    def _settle(self, job: Job, handle: str) -> bool:
        """Poll a running job (its runner's ``handle``); if its run ended, backfill its results and record the outcome.
        True if it ended."""
        reachable, code = True, None
        try:
            status = self.runner.poll(handle)
        except FddError as exc:
            reason = f"interrupted: the runner cannot tell how the job is doing ({exc}); resume it when NVFlare is back"
            status, reachable, code = RunStatus("failed", reason, _interrupted(reason)), False, "event.runner_unreachable"
        if not status.finished:
            return False
        folder = self._backfill(job) if reachable else None
        failure = status.failure
        if status.state == "failed":
            from nvflare_fdd.results import read_failure

            # the site, round, phase code and trace the server recorded; else what storage shows of the last round
            failure = (read_failure(folder) if folder is not None else None) or failure or self._lost_round(job, status)
        settled = self.storage.transition(job.name, JobState(status.state), status.reason, failure=failure, quiet=True,
                                          reason_code=code or f"event.run_{status.state}",
                                          reason_params={"detail": status.reason})  # fmt: skip
        self._moved(settled)
        return True

    def _lost_round(self, job: Job, status: RunStatus) -> dict:
        """A run NVFlare ended without our server's account (it aborts a job when a site's job process
        exits): the round that was running and the sites whose result for it never came."""
        progress = self.storage.progress(job.name)
        open_rounds = [r for r, record in progress.rounds.items() if record.started and not record.finished]
        if not open_rounds:
            return _interrupted(f"NVFlare ended the job: {status.reason}")
        round_num = max(open_rounds)
        missing = sorted(set(job.sites) - set(progress.rounds[round_num].sites))
        message = (f"NVFlare ended the job during round {round_num} ({status.reason}); "
                   f"no round {round_num} result came from {', '.join(missing) or 'no site'}")  # fmt: skip
        return Failure.of("site lost" if missing else "interrupted", message, site=", ".join(missing) or "server",
                          round=round_num).to_dict()

    def _backfill(self, job: Job) -> Path | None:
        """Copy what the run's own files hold into storage (idempotent): nothing the server recorder could not
        write while storage was away is lost. A run whose recorder stored everything is not copied again.
        Returns the run's results folder, if the runner can reach it."""
        results_dir = getattr(self.runner, "results_dir", None)
        try:
            folder = results_dir(job.run_handle, self.config.jobs_dir / job.name) if results_dir else None
        except Exception as exc:  # e.g. the deployment is gone: storage keeps what the recorder wrote
            log.error("job %s: cannot reach the run's results: %s", job.name, exc)
            return None
        if folder is not None and storage_complete(folder):
            log.info("job %s: the server stored every record of the run; nothing to copy from %s", job.name, folder)
        elif folder is not None:
            try:
                import_results(self.storage, job.name, folder)
            except Exception as exc:  # the run's files are damaged or partial: keep what storage has
                log.error("job %s: could not backfill results from %s: %s", job.name, folder, exc)
        return folder


def _interrupted(reason: str) -> dict:
    return Failure.of("interrupted", reason).to_dict()
