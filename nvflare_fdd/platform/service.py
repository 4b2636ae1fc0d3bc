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

from nvflare_fdd.errors import BundleError, FddError
from nvflare_fdd.platform.config import PlatformConfig, load_config
from nvflare_fdd.platform.records import Job, JobState, MetricValue, Model, SiteGroup, User
from nvflare_fdd.platform.runners import Runner
from nvflare_fdd.platform.storage import NotFound, StorageConflict
from nvflare_fdd.plugin.manager import FddPluginManager, plugin_manager

log = logging.getLogger(__name__)

JOB_NAME = re.compile(r"^[A-Za-z0-9_]+$")
VERSION = re.compile(r"^[A-Za-z0-9_.\-]+$")


class PermissionDenied(FddError):
    """The user may see this, but only its owner (or an admin) may change it."""


class BundleRejected(BundleError):
    """A bundle failed validation; ``problems`` lists every problem."""

    def __init__(self, problems: list):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the bundle:\n" + "\n".join(f"  {p}" for p in problems))


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
                raise FddError(f"no storage backend {self.config.storage_backend!r}; installed: {', '.join(sorted(backends))}")
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
        return SimulatorRunner(sites, self.config.storage_url)

    def sites(self) -> list[str]:
        """The sites jobs can use (from the runner: the simulator's sites or the deployment's clients)."""
        return self.runner.sites()

    # -- users ----------------------------------------------------------------------------------

    def user(self, name: str) -> User:
        """The user ``name``, created on first use (local CLI users need no sign-up)."""
        return self.storage.ensure_user(name)

    # -- models ---------------------------------------------------------------------------------

    def register_model(self, user: User, bundle: str | Path, class_name: str, version: str, description: str = "") -> Model:
        """Validate ``bundle`` (folder or zip) and register it as ``class_name`` ``version``."""
        _check_version(version)
        with self._validated_files(bundle, class_name) as files:
            return self.storage.add_model(user.name, class_name, version, description, files)

    def replace_model_files(self, user: User, class_name: str, version: str, bundle: str | Path) -> Model:
        self._owned(user, self.storage.get_model(class_name, version).owner, f"model {class_name}:{version}")
        with self._validated_files(bundle, class_name) as files:
            return self.storage.replace_model_files(class_name, version, files)

    def describe_model(self, user: User, class_name: str, version: str, description: str) -> Model:
        self._owned(user, self.storage.get_model(class_name, version).owner, f"model {class_name}:{version}")
        return self.storage.update_model_description(class_name, version, description)

    def delete_model(self, user: User, class_name: str, version: str) -> None:
        """Delete a model for good; refused while a queued or running job uses it."""
        self._owned(user, self.storage.get_model(class_name, version).owner, f"model {class_name}:{version}")
        self.storage.delete_model(class_name, version)

    def models(self) -> list[Model]:
        return self.storage.list_models()

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

    # -- site groups ----------------------------------------------------------------------------

    def save_group(self, user: User, name: str, sites: Iterable[str]) -> SiteGroup:
        sites = sorted(set(sites))
        self._check_sites(sites)
        return self.storage.save_group(user.name, name, sites)

    def groups(self, user: User) -> list[SiteGroup]:
        return self.storage.list_groups(user.name)

    def delete_group(self, user: User, name: str) -> None:
        self.storage.delete_group(user.name, name)

    # -- jobs -----------------------------------------------------------------------------------

    def create_job(self, user: User, name: str, model: str, rounds: int, sites: Iterable[str] = (),
                   group: str | None = None, description: str = "") -> Job:  # fmt: skip
        """A new job in state ``ready``: it waits for its owner to start it.

        Args:
            model: ``Class:version``.
            sites: the sites to train on; or ``group`` names a saved site group.
        """
        if not JOB_NAME.match(name or ""):
            raise FddError(f"job name {name!r} may use only English letters, digits and _ (no spaces, Korean or symbols)")
        if not isinstance(rounds, int) or rounds < 1:
            raise FddError(f"rounds must be a whole number ≥ 1, got {rounds!r}")
        class_name, version = _split_model(model)
        self.storage.get_model(class_name, version)  # exists?
        sites = list(sites)
        if group:
            matches = [g for g in self.storage.list_groups(user.name) if g.name == group]
            if not matches:
                raise NotFound(f"you have no site group named {group!r}; see `fdd groups list`")
            sites = list(matches[0].sites) + sites
        sites = sorted(set(sites))
        if not sites:
            raise FddError("choose at least one site (--site NAME, or --group NAME)")
        self._check_sites(sites)
        job = self.storage.create_job(user.name, name, (class_name, version), description, rounds, sites)
        self._event(job.name, None, JobState.READY.value, "created")
        return job

    def start_job(self, user: User, name: str) -> Job:
        """``ready → queued`` (at most ``max_queued_per_user`` queued jobs per user); it runs when capacity frees."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, f"job {name}")
        if job.state != JobState.READY:
            raise StorageConflict(f"job {name} is {job.state.value}; only a ready job can be started")
        job = self.storage.enqueue_job(name, self.config.max_queued_per_user)
        self._event(name, "ready", "queued", "start requested by the user")
        return job

    def stop_job(self, user: User, name: str) -> Job:
        """Stop a queued or running job (``cancelled``); a running one is aborted on its runner."""
        job = self.storage.get_job(name)
        self._owned(user, job.owner, f"job {name}")
        if job.state not in (JobState.QUEUED, JobState.RUNNING):
            raise StorageConflict(f"job {name} is {job.state.value}; only a queued or running job can be stopped")
        stopped = self.storage.transition(name, JobState.CANCELLED, f"stopped by {user.name}")
        self._event(name, job.state.value, "cancelled", f"stopped by {user.name}")
        if job.state == JobState.RUNNING and job.run_handle:
            try:
                self.runner.abort(job.run_handle)
            except FddError as exc:
                log.error("job %s: abort on the runner failed: %s", name, exc)
        return stopped

    def job(self, name: str) -> Job:
        return self.storage.get_job(name)

    def jobs(self, owner: str | None = None, states: Iterable[JobState] | None = None) -> list[Job]:
        return self.storage.list_jobs(owner=owner, states=states)

    def progress(self, name: str):
        return self.storage.progress(name)

    def metrics(self, name: str) -> list[MetricValue]:
        return self.storage.metrics(name)

    def write_metrics_csv(self, name: str, path: Path) -> Path:
        """All metrics of a job as CSV: ``round, site, kind, metric, value``."""
        rows = self.storage.metrics(name)
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["round", "site", "kind", "metric", "value"])
            writer.writerows((m.round, m.site, m.kind, m.metric, repr(m.value)) for m in rows)
        return path

    def write_model(self, name: str, path: Path, best: bool = False) -> Path:
        """The job's global model (``.pt`` or ``.safetensors``, by ``path``'s suffix)."""
        suffix = Path(path).suffix
        if suffix not in (".pt", ".safetensors"):
            raise FddError(f"{path}: the model file must end in .pt or .safetensors")
        artefact = ("best_global_model" if best else "global_model") + suffix
        return self.storage.write_artefact(name, artefact, Path(path))

    # -- the queue ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Settle finished runs, then start queued jobs while the runner has capacity."""
        for job in self.storage.list_jobs(states=[JobState.RUNNING]):
            if job.runner == self.config.runner and job.run_handle and not job.external:
                self._settle(job)
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
            job_dir = create_job(work / "job", bundle, class_name, job.rounds, sites=list(job.sites), name=job.name)
            handle = self.runner.submit(job, job_dir, work)
        except Exception as exc:
            reason = f"could not start: {exc}"
            self.storage.transition(job.name, JobState.FAILED, reason, failure={
                "code": None, "phase": "submit", "site": "platform", "round": None, "message": str(exc), "trace": "",
            }, quiet=True)  # fmt: skip
            self._event(job.name, "running", "failed", reason)
            return
        self.storage.set_run_handle(job.name, handle)

    def _settle(self, job: Job) -> None:
        try:
            status = self.runner.poll(job.run_handle)
        except FddError as exc:
            log.warning("job %s: cannot poll the runner: %s", job.name, exc)
            return
        if not status.finished:
            return
        settled = self.storage.transition(job.name, JobState(status.state), status.reason, failure=status.failure, quiet=True)
        if settled is not None:
            self._event(job.name, "running", status.state, status.reason)

    # -- helpers --------------------------------------------------------------------------------

    def _check_sites(self, sites: list[str]) -> None:
        known = set(self.sites())
        unknown = [site for site in sites if site not in known]
        if unknown:
            raise FddError(f"unknown site(s) {', '.join(unknown)}; available: {', '.join(sorted(known))}")

    @staticmethod
    def _owned(user: User, owner: str, what: str) -> None:
        if user.name != owner and not user.is_admin:
            raise PermissionDenied(f"{what} belongs to {owner}; only its owner or an admin can change it")

    def _event(self, job: str, old: str | None, new: str, reason: str) -> None:
        self.plugins.notify("fdd_job_state_changed", job=job, old_state=old, new_state=new, reason=reason)


def _split_model(label: str) -> tuple[str, str]:
    class_name, sep, version = label.partition(":")
    if not sep or not class_name or not version:
        raise FddError(f"name a model as Class:version (e.g. SolubilityMLP:1.0), got {label!r}")
    return class_name, version


def _check_version(version: str) -> None:
    if not VERSION.match(version or ""):
        raise FddError(f"version {version!r} may use letters, digits, '.', '-' and '_'")

