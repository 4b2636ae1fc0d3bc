"""Jobs as their owners handle them: the site groups they run on, creating, starting, resuming, stopping, deleting."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from typing import cast

from nvflare_fdd.client.runtime import DEFAULT_FEDPROX_MU
from nvflare_fdd.errors import FddError
from nvflare_fdd.jobs import check_algorithm
from nvflare_fdd.platform.errors import NotFound, StorageConflict
from nvflare_fdd.platform.records import Job, JobState, NewJob, SiteGroup, User
from nvflare_fdd.platform.service.access import AccessRules
from nvflare_fdd.platform.service.checks import JOB_NAME, check_length, split_model

log = logging.getLogger(__name__)


class JobService(AccessRules):
    """A user's site groups and jobs, up to the queue (``QueueService`` runs them)."""

    def save_group(self, user: User, name: str, sites: Iterable[str]) -> SiteGroup:
        """Save (or overwrite: names differing only in letter case are one) one of ``user``'s site groups."""
        if not name.strip():
            raise FddError("a site group needs a name", code="group.name_required")
        check_length("group_name", name)
        sites = sorted(set(sites))
        if not sites:
            raise FddError("a site group needs at least one site", code="group.no_sites")
        self._check_sites(sites)
        return self.storage.save_group(user.name, name, sites)

    def groups(self, user: User) -> list[SiteGroup]:
        """``user``'s site groups, by name."""
        return self.storage.list_groups(user.name)

    def delete_group(self, user: User, name: str) -> None:
        """Delete one of ``user``'s site groups (``NotFound`` if there is none of that name)."""
        self.storage.delete_group(user.name, name)

    def create_job(self, user: User, name: str, model: str, rounds: int, sites: Iterable[str] = (),
                   group: str | None = None, description: str = "", min_sites: int = 0, algorithm: str = "fedavg",
                   fedprox_mu: float = DEFAULT_FEDPROX_MU, local_baseline: bool = False) -> Job:  # fmt: skip
        """A new job in state ``ready``: it waits for its owner to start it.

        Args:
            model: ``Class:version``.
            sites: the sites to train on; or ``group`` names a saved site group.
            min_sites: sites a round needs; 0 (the default) means all: a site that goes away fails the job.
            algorithm: ``fedavg``, ``fedprox`` or ``scaffold`` (DESIGN §9); ``fedprox_mu``: FedProx's coefficient.
            local_baseline: each site also trains a local-only baseline (its metrics: kind ``baseline``).
        """
        check_algorithm(algorithm, fedprox_mu)
        check_length("job_name", name or "")
        check_length("description", description)
        if not JOB_NAME.match(name or ""):
            raise FddError(f"job name {name!r} may use only English letters, digits and _ (no spaces, Korean or symbols)",
                           code="job.name_invalid", params={"name": name})
        if not isinstance(rounds, int) or rounds < 1:
            raise FddError(f"rounds must be a whole number ≥ 1, got {rounds!r}", code="job.rounds_invalid", params={"value": rounds})
        class_name, version = split_model(model)
        self.storage.get_model(class_name, version)  # exists?
        sites = list(sites)
        if group:
            matches = [g for g in self.storage.list_groups(user.name) if g.name == group]
            if not matches:
                raise NotFound(f"you have no site group named {group!r}; see `fdd groups list`", code="group.not_found",
                               params={"name": group})
            sites = list(matches[0].sites) + sites
        sites = sorted(set(sites))
        if not sites:
            raise FddError("choose at least one site (--site NAME, or --group NAME)", code="job.no_sites")
        self._check_sites(sites)
        if not isinstance(min_sites, int) or not 0 <= min_sites <= len(sites):
            raise FddError(f"min_sites must be between 0 (all sites) and the number of sites ({len(sites)}), got {min_sites!r}",
                           code="job.min_sites_invalid", params={"value": min_sites, "sites": len(sites)})
        job = self.storage.create_job(NewJob(user.name, name, (class_name, version), rounds, tuple(sites), description,
                                             min_sites, algorithm, float(fedprox_mu), bool(local_baseline)))  # fmt: skip
        self._moved(job)
        return job

    def start_job(self, user: User, name: str) -> Job:
        """``ready → queued`` (at most ``max_queued_per_user`` queued jobs per user); it runs when capacity frees."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        if job.state != JobState.READY:
            raise StorageConflict(f"job {name} is {job.state.value}; only a ready job can be started", code="job.start_state",
                                  params={"name": name, "state": job.state.value})
        job = self.storage.enqueue_job(name, self.config.max_queued_per_user, reason_code="event.start_requested",
                                       reason_params={"user": user.name})  # fmt: skip
        self._moved(job)
        return job

    def resume_job(self, user: User, name: str) -> Job:
        """Queue a failed or cancelled job again, to continue after its last saved round.

        The metrics of the rounds it completed stay; the run starts from the global model
        saved after the last finished round (or from scratch if no round finished).
        """
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        if job.external or job.model is None:
            raise FddError(f"job {name} was not created by the platform (or its model was deleted); it cannot be resumed",
                           code="job.not_resumable", params={"name": name})
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            raise StorageConflict(f"job {name} is {job.state.value}; only a failed or cancelled job can be resumed",
                                  code="job.resume_state", params={"name": name, "state": job.state.value})
        done = self.storage.last_checkpoint(name) or 0
        if done >= job.rounds:
            raise StorageConflict(f"job {name} already finished all {job.rounds} rounds", code="job.all_rounds_done",
                                  params={"name": name, "rounds": job.rounds})
        reason = f"resumed by {user.name} after round {done}" if done else f"restarted by {user.name} (no round had finished)"
        job = self.storage.enqueue_job(name, self.config.max_queued_per_user, resume_from=done, reason=reason,
                                       reason_code="event.resumed" if done else "event.restarted",
                                       reason_params={"user": user.name, "round": done})  # fmt: skip
        self._moved(job)
        return job

    def stop_job(self, user: User, name: str) -> Job:
        """Stop a queued or running job (``cancelled``); a running one is aborted on its runner."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        if job.state not in (JobState.QUEUED, JobState.RUNNING):
            raise StorageConflict(f"job {name} is {job.state.value}; only a queued or running job can be stopped",
                                  code="job.stop_state", params={"name": name, "state": job.state.value})
        stopped = self.storage.transition(name, JobState.CANCELLED, f"stopped by {user.name}", reason_code="event.stopped",
                                          reason_params={"user": user.name})  # fmt: skip
        self._moved(stopped)
        if job.state == JobState.RUNNING and job.run_handle:
            try:
                self.runner.abort(job.run_handle)
            except FddError as exc:
                log.error("job %s: abort on the runner failed: %s", name, exc)
        return cast(Job, stopped)  # not quiet: a refused move raises rather than returning None

    def delete_job(self, user: User, name: str) -> None:
        """Delete a job for good, with its progress, metrics and result files; refused while it is queued or running."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        self.storage.delete_job(name)
        shutil.rmtree(self.config.jobs_dir / name, ignore_errors=True)
        self._event(name, job.state.value, "deleted", f"deleted by {user.name}")
