"""``Platform``: the model registry, site groups, jobs and their queue, over a storage and a runner.

Every interface (the CLI, the web UI) goes through this class; it holds no state of
its own, so any number of platform processes can share one database. The queue
advances in ``tick()``: finished runs are settled, then queued jobs start while the
runner has capacity. ``fdd server run`` and ``fdd ui`` call it in a loop;
``fdd jobs start --wait`` does too, until its job ends.
"""

from __future__ import annotations

import csv
import logging
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nvflare_fdd.client.runtime import DEFAULT_FEDPROX_MU
from nvflare_fdd.errors import BundleError, FddError
from nvflare_fdd.jobs import check_algorithm
from nvflare_fdd.metric_names import check_declared
from nvflare_fdd.platform.config import PlatformConfig, load_config
from nvflare_fdd.platform.records import Job, JobState, MetricValue, Model, PretrainedModel, SiteGroup, User
from nvflare_fdd.platform.runners import Runner, RunStatus
from nvflare_fdd.platform.storage import CHECKPOINT, CONTROLS_CHECKPOINT, NotFound, StorageConflict
from nvflare_fdd.plugin.manager import FddPluginManager, plugin_manager

log = logging.getLogger(__name__)

JOB_NAME = re.compile(r"^[A-Za-z0-9_]+$")
RESUME_WEIGHTS = "fdd_resume.safetensors"
RESUME_CONTROLS = "fdd_resume_controls.safetensors"
VERSION = re.compile(r"^[A-Za-z0-9_.\-]+$")
LIMITS = {"job_name": 64, "class_name": 100, "version": 32, "group_name": 64, "description": 2000}
"""The longest each name or text may be, in characters (the web forms say so too)."""


class PermissionDenied(FddError):
    """The user may see this, but only its owner (or an admin) may change it."""


class BundleRejected(BundleError):
    """A bundle failed validation; ``problems`` lists every problem."""

    def __init__(self, problems: list):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the bundle:\n" + "\n".join(f"  {p}" for p in problems),
                         code="bundle.rejected", params={"count": len(problems)})


class Platform:
    """The platform service.

    Args:
        config: settings (storage, runner, capacity); default ``load_config()``.
        storage: a storage backend; default the one ``config.storage_backend`` names.
        runner: where jobs run; default the one ``config.runner`` names (built on first use).
        plugins: the plugin manager for events; default the process-wide one.
    """

    def __init__(self, config: PlatformConfig | None = None, storage=None, runner: Runner | None = None,
                 plugins: FddPluginManager | None = None):  # fmt: skip
        self.config = config or load_config()
        self.plugins = plugins or plugin_manager()
        if storage is None:
            backends = self.plugins.storage_backends()
            if self.config.storage_backend not in backends:
                raise FddError(f"no storage backend {self.config.storage_backend!r}; installed: {', '.join(sorted(backends))}",
                               code="platform.no_storage_backend", params={"backend": self.config.storage_backend})
            storage = backends[self.config.storage_backend](self.config.storage_url)
        self.storage = storage
        self._runner = runner

    # -- runner ---------------------------------------------------------------------------------

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            self._runner = self._make_runner()
        return self._runner

    def _make_runner(self) -> Runner:
        if self.config.runner == "flare":
            from nvflare_fdd.platform.runners.flare import FlareRunner

            flare = self.config.flare
            return FlareRunner(flare.get("username", ""), flare.get("startup_kit", ""), float(flare.get("timeout", 30)))
        from nvflare_fdd.platform.runners.simulator import SimulatorRunner

        sites = self.config.simulator_sites
        if not sites:  # the embedded default: the demo institutions
            from nvflare_fdd.demo import prepare_demo

            sites = {site.name: site.url for site in prepare_demo(self.config.home / "demo")}
        return SimulatorRunner(sites, self.config.storage_url, self.config.simulator_environment)

    def sites(self) -> list[str]:
        """The sites jobs can use (from the runner: the simulator's sites or the deployment's clients)."""
        return self.runner.sites()

    # -- users ----------------------------------------------------------------------------------

    def user(self, name: str) -> User:
        """The user ``name``, created on first use (local CLI users need no sign-up)."""
        return self.storage.ensure_user(name)

    # -- models ---------------------------------------------------------------------------------

    def register_model(self, user: User, bundle: str | Path, class_name: str, version: str, description: str = "",
                       metric_names: Iterable[str] = ()) -> Model:  # fmt: skip
        """Validate ``bundle`` (folder or zip) and register it as ``class_name`` ``version``.

        Args:
            metric_names: names ``evaluate()`` returns that are neither in the common vocabulary nor literal
                keys of its dict (DESIGN §8: only names known before a run leave a site).
        """
        check_length("class_name", class_name)
        check_length("version", version)
        check_length("description", description)
        _check_version(version)
        try:
            declared = check_declared(metric_names)
        except ValueError as exc:
            raise FddError(str(exc), code="model.metric_names_invalid", params={"names": " ".join(metric_names)}) from exc
        with self._validated_files(bundle, class_name) as files:
            return self.storage.add_model(user.name, class_name, version, description, files, declared)

    def replace_model_files(self, user: User, class_name: str, version: str, bundle: str | Path) -> Model:
        self._owned(user, self.storage.get_model(class_name, version).owner, "model", f"{class_name}:{version}")
        with self._validated_files(bundle, class_name) as files:
            return self.storage.replace_model_files(class_name, version, files)

    def describe_model(self, user: User, class_name: str, version: str, description: str) -> Model:
        self._owned(user, self.storage.get_model(class_name, version).owner, "model", f"{class_name}:{version}")
        check_length("description", description)
        return self.storage.update_model_description(class_name, version, description)

    def delete_model(self, user: User, class_name: str, version: str) -> None:
        """Delete a model for good; refused while any job uses it (the refusal names the jobs)."""
        self._owned(user, self.storage.get_model(class_name, version).owner, "model", f"{class_name}:{version}")
        self.storage.delete_model(class_name, version)

    # -- reads: a user sees their own models and jobs, and jobs shared with them; an admin sees all --

    def models(self, user: User) -> list[Model]:
        """The models ``user`` may see: their own (an admin: all)."""
        return self.storage.list_models(owner=None if user.is_admin else user.name)

    def model(self, user: User, class_name: str, version: str) -> Model:
        """One of ``user``'s models (an admin: anyone's); another user's is not found."""
        model = self.storage.get_model(class_name, version)
        if model.owner != user.name and not user.is_admin:
            raise NotFound(f"no model {class_name} version {version}; see `fdd models list`", code="model.not_found",
                           params={"model": f"{class_name}:{version}"})
        return model

    def export_model(self, user: User, class_name: str, version: str, folder: Path) -> Path:
        """Write one of ``user``'s models' files into ``folder``."""
        self.model(user, class_name, version)
        return self.storage.export_model_files(class_name, version, folder)

    def job(self, user: User, name: str) -> Job:
        """A job ``user`` may read: their own, one shared with them, or any for an admin."""
        job = self.storage.get_job(name)
        if not (user.is_admin or job.owner == user.name or user.name in job.shared_with):
            raise NotFound(f"no job named {name!r}; see `fdd jobs list`", code="job.not_found", params={"name": name})
        return job

    def jobs(self, user: User, states: Iterable[JobState] | None = None, mine: bool = False) -> list[Job]:
        """The jobs ``user`` may read (``mine``: only their own)."""
        if mine:
            return self.storage.list_jobs(owner=user.name, states=states)
        return self.storage.list_jobs(states=states, visible_to=None if user.is_admin else user.name)

    def progress(self, user: User, name: str):
        self.job(user, name)
        return self.storage.progress(name)

    def metrics(self, user: User, name: str) -> list[MetricValue]:
        self.job(user, name)
        return self.storage.metrics(name)

    def share_job(self, user: User, name: str, readers: Iterable[str]) -> Job:
        """Let ``readers`` read the owner's job ``name`` (its progress, metrics, failure and models), not change it."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        readers = sorted(set(readers) - {job.owner})
        for reader in readers:
            self.storage.get_user(reader)  # an unknown user is an error, not a silent no-op
        return self.storage.share_job(name, readers)

    def unshare_job(self, user: User, name: str, reader: str) -> Job:
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        return self.storage.unshare_job(name, reader)

    def _validated_files(self, bundle: str | Path, class_name: str):
        from contextlib import contextmanager

        from nvflare_fdd.bundle import open_bundle, validate_bundle

        @contextmanager
        def files():
            problems = validate_bundle(bundle, model_class=class_name)
            if problems:
                raise BundleRejected(problems)
            with open_bundle(bundle) as folder:
                yield {path.name: path for path in sorted(Path(folder).iterdir()) if path.is_file()}

        return files()

    # -- the pretrained-model store: shared by everyone signed in; its owner or an admin removes a model --

    def add_pretrained(self, user: User, name: str, path: str | Path, progress=None) -> PretrainedModel:
        """Add the folder (laid out like a Hugging Face model repository) or file at ``path`` as ``name``.

        Args:
            progress: ``progress(stage, file, nbytes)`` as the files are hashed and stored (see ``PretrainedStore``).

        Raises:
            PretrainedError: a bad name, path or file, or more than ``pretrained_max_gb``.
            StorageConflict: the name is taken.
        """
        from nvflare_fdd.pretrained.manifest import check_name, scan_source

        check_name(name)
        found = scan_source(path, self.config.pretrained_max_bytes)
        return self._pretrained_storage().add_pretrained(user.name, name, found.kind, found.files, progress)

    def pretrained_models(self) -> list[PretrainedModel]:
        """Every model in the store (anyone signed in may list and use them)."""
        return self._pretrained_storage().list_pretrained()

    def pretrained_model(self, name: str) -> PretrainedModel:
        """One model of the store with its files; ``NotFound`` names the missing name."""
        return self._pretrained_storage().get_pretrained(name)

    def remove_pretrained(self, user: User, name: str) -> None:
        """Remove a model from the store (its owner or an admin). A job that asks for it later fails, naming it."""
        storage = self._pretrained_storage()
        self._owned(user, storage.get_pretrained(name).owner, "pretrained model", name)
        storage.remove_pretrained(name)

    def _pretrained_storage(self):
        if not hasattr(self.storage, "get_pretrained"):
            raise FddError(f"the storage backend {self.config.storage_backend!r} has no pretrained-model store")
        return self.storage

    # -- site groups ----------------------------------------------------------------------------

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
        return self.storage.list_groups(user.name)

    def delete_group(self, user: User, name: str) -> None:
        self.storage.delete_group(user.name, name)

    # -- jobs -----------------------------------------------------------------------------------

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
        class_name, version = _split_model(model)
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
        job = self.storage.create_job(user.name, name, (class_name, version), description, rounds, sites, min_sites=min_sites,
                                      algorithm=algorithm, fedprox_mu=float(fedprox_mu),
                                      local_baseline=bool(local_baseline))  # fmt: skip
        self._event(job.name, None, JobState.READY.value, "created")
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
        self._event(name, "ready", "queued", "start requested by the user")
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
        previous = job.state.value
        job = self.storage.enqueue_job(name, self.config.max_queued_per_user, resume_from=done, reason=reason,
                                       reason_code="event.resumed" if done else "event.restarted",
                                       reason_params={"user": user.name, "round": done})  # fmt: skip
        self._event(name, previous, "queued", reason)
        return job

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
                if self.storage.transition(job.name, JobState.FAILED, reason, failure=_interrupted(reason), quiet=True,
                                           reason_code="event.interrupted_before_submit"):  # fmt: skip
                    self._event(job.name, "running", "failed", reason)
                    changed.append(job.name)
                continue
            if self._settle(job, job.run_handle):
                changed.append(job.name)
        return changed

    def stop_job(self, user: User, name: str) -> Job:
        """Stop a queued or running job (``cancelled``); a running one is aborted on its runner."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        if job.state not in (JobState.QUEUED, JobState.RUNNING):
            raise StorageConflict(f"job {name} is {job.state.value}; only a queued or running job can be stopped",
                                  code="job.stop_state", params={"name": name, "state": job.state.value})
        stopped = self.storage.transition(name, JobState.CANCELLED, f"stopped by {user.name}", reason_code="event.stopped",
                                          reason_params={"user": user.name})  # fmt: skip
        self._event(name, job.state.value, "cancelled", f"stopped by {user.name}")
        if job.state == JobState.RUNNING and job.run_handle:
            try:
                self.runner.abort(job.run_handle)
            except FddError as exc:
                log.error("job %s: abort on the runner failed: %s", name, exc)
        return stopped

    def delete_job(self, user: User, name: str) -> None:
        """Delete a job for good, with its progress, metrics and result files; refused while it is queued or running."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, "job", name)
        self.storage.delete_job(name)
        shutil.rmtree(self.config.jobs_dir / name, ignore_errors=True)
        self._event(name, job.state.value, "deleted", f"deleted by {user.name}")

    def write_metrics_csv(self, user: User, name: str, path: Path) -> Path:
        """All metrics of a job as CSV: ``round, site, kind, metric, value``."""
        rows = self.metrics(user, name)
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["round", "site", "kind", "metric", "value"])
            writer.writerows((m.round, m.site, m.kind, m.metric, repr(m.value)) for m in rows)
        return path

    def write_model(self, user: User, name: str, path: Path, best: bool = False) -> Path:
        """The job's global model (``.pt`` or ``.safetensors``, by ``path``'s suffix)."""
        self.job(user, name)
        suffix = Path(path).suffix
        if suffix not in (".pt", ".safetensors"):
            raise FddError(f"{path}: the model file must end in .pt or .safetensors", code="job.model_format")
        artefact = ("best_global_model" if best else "global_model") + suffix
        return self.storage.write_artefact(name, artefact, Path(path))

    # -- the queue ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Settle finished runs, then start queued jobs while the runner has capacity."""
        for job in self.storage.list_jobs(states=[JobState.RUNNING]):
            if job.runner == self.config.runner and job.run_handle and not job.external:
                self._settle(job, job.run_handle)
        while True:
            job = self.storage.claim_next_queued(self.config.capacity, self.config.runner)
            if job is None:
                return
            self._event(job.name, "queued", "running", f"started on the {self.config.runner} runner")
            self._submit(job)

    def _submit(self, job: Job) -> None:
        from nvflare_fdd.jobs import create_job

        work = self.config.jobs_dir / job.name
        shutil.rmtree(work, ignore_errors=True)
        try:
            class_name, version = _split_model(job.model or "")
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
            self.storage.transition(job.name, JobState.FAILED, reason, failure={
                "code": None, "phase": "submit", "site": "platform", "round": None, "message": str(exc), "trace": "",
            }, quiet=True, reason_code="event.could_not_start", reason_params={"error": str(exc)})  # fmt: skip
            self._event(job.name, "running", "failed", reason)
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
        if settled is not None:
            self._event(job.name, "running", status.state, status.reason)
        return True

    def _lost_round(self, job: Job, status: RunStatus) -> dict:
        """A run NVFlare ended without our server's account (it aborts a job when a site's job process
        exits): the round that was running and the sites whose result for it never came."""
        progress = self.storage.progress(job.name)
        open_rounds = [r for r, record in progress.rounds.items() if record.get("started") and not record.get("finished")]
        if not open_rounds:
            return _interrupted(f"NVFlare ended the job: {status.reason}")
        round_num = max(open_rounds)
        missing = sorted(set(job.sites) - set(progress.rounds[round_num].get("sites", {})))
        message = (f"NVFlare ended the job during round {round_num} ({status.reason}); "
                   f"no round {round_num} result came from {', '.join(missing) or 'no site'}")  # fmt: skip
        return {"code": None, "phase": "site lost" if missing else "interrupted", "site": ", ".join(missing) or "server",
                "round": round_num, "message": message, "trace": ""}  # fmt: skip

    def _backfill(self, job: Job) -> Path | None:
        """Copy what the run's own files hold into storage (idempotent): nothing the server recorder could not
        write while storage was away is lost. Returns the run's results folder, if the runner can reach it."""
        results_dir = getattr(self.runner, "results_dir", None)
        try:
            folder = results_dir(job.run_handle, self.config.jobs_dir / job.name) if results_dir else None
        except Exception as exc:  # e.g. the deployment is gone: storage keeps what the recorder wrote
            log.error("job %s: cannot reach the run's results: %s", job.name, exc)
            return None
        if folder is not None:
            try:
                import_results(self.storage, job.name, folder)
            except Exception as exc:  # the run's files are damaged or partial: keep what storage has
                log.error("job %s: could not backfill results from %s: %s", job.name, folder, exc)
        return folder

    # -- helpers --------------------------------------------------------------------------------

    def _check_sites(self, sites: list[str]) -> None:
        known = set(self.sites())
        unknown = [site for site in sites if site not in known]
        if unknown:
            raise FddError(f"unknown site(s) {', '.join(unknown)}; available: {', '.join(sorted(known))}", code="site.unknown",
                           params={"sites": ", ".join(unknown), "available": ", ".join(sorted(known))})

    @staticmethod
    def _owned(user: User, owner: str, kind: str, name: str) -> None:
        """Refuse a change by anyone but ``owner`` or an admin (``kind``: ``model``, ``job`` or ``pretrained model``)."""
        if user.name != owner and not user.is_admin:
            raise PermissionDenied(f"{kind} {name} belongs to {owner}; only its owner or an admin can change it",
                                   code=f"{kind.replace(' model', '')}.not_owner", params={"name": name, "owner": owner})

    def _event(self, job: str, old: str | None, new: str, reason: str) -> None:
        self.plugins.notify("fdd_job_state_changed", job=job, old_state=old, new_state=new, reason=reason)


def import_results(storage, name: str, folder: Path) -> None:
    """Load a run's results folder (metrics.csv, progress.json, models) into storage, idempotently."""
    import json
    from collections import defaultdict

    from nvflare_fdd.platform.sink import ARTEFACTS, saved_state
    from nvflare_fdd.results import METRICS_CSV, PROGRESS_JSON

    metrics_path = folder / METRICS_CSV
    if metrics_path.is_file():
        grouped: dict[tuple[int, str, str], dict[str, float]] = defaultdict(dict)
        with open(metrics_path, newline="") as handle:
            for row in csv.DictReader(handle):
                grouped[(int(row["round"]), row["site"], row["kind"])][row["metric"]] = float(row["value"])
        for (round_num, site, kind), values in grouped.items():
            storage.record_metrics(name, round_num, site, kind, values)
    progress_path = folder / PROGRESS_JSON
    if progress_path.is_file():
        progress = json.loads(progress_path.read_text())
        for site, phases in progress.get("setup", {}).items():
            storage.record_stage(name, 0, site, phases, None)
        finished = []
        for round_key, record in progress.get("rounds", {}).items():
            storage.record_round(name, int(round_key), started=record.get("started"), finished=record.get("finished"))
            if record.get("finished"):
                finished.append(int(round_key))
            for site, site_record in record.get("sites", {}).items():
                storage.record_stage(name, int(round_key), site, site_record.get("phases", []), site_record.get("num_samples"),
                                     site_record.get("dropped_metrics"), site_record.get("personalized_model_kept", False))  # fmt: skip
        checkpoint, controls = saved_state(folder)
        if finished and checkpoint is not None:  # the global model (and SCAFFOLD's controls) after the last finished round
            storage.record_round(name, max(finished), checkpoint=checkpoint, controls=controls)
    for artefact in ARTEFACTS:
        if (folder / artefact).is_file():
            storage.put_artefact(name, artefact, folder / artefact)


def check_length(field: str, value: str) -> None:
    """Refuse a name or text longer than ``LIMITS[field]`` characters.

    Raises:
        FddError: naming the field, its limit and the length given.
    """
    limit = LIMITS[field]
    if len(value or "") > limit:
        raise FddError(f"{field} may be at most {limit} characters long, got {len(value)}: shorten it",
                       code="field.too_long", params={"field": field, "limit": limit, "length": len(value)})


def _interrupted(reason: str) -> dict:
    return {"code": None, "phase": "interrupted", "site": "server", "round": None, "message": reason, "trace": ""}


def _split_model(label: str) -> tuple[str, str]:
    class_name, sep, version = label.partition(":")
    if not sep or not class_name or not version:
        raise FddError(f"name a model as Class:version (e.g. SolubilityMLP:1.0), got {label!r}", code="model.label_invalid",
                       params={"label": label})
    return class_name, version


def _check_version(version: str) -> None:
    if not VERSION.match(version or ""):
        raise FddError(f"version {version!r} may use letters, digits, '.', '-' and '_'", code="model.version_invalid",
                       params={"version": version})

