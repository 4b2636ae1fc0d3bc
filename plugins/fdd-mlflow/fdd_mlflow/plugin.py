"""The plugin the ``nvflare_fdd`` entry point names: each platform job as an MLflow run.

- ``fdd_job_state_changed`` (the platform service; the NVFlare server's recorder for jobs
  submitted outside the platform): ``running`` opens the job's run (created with the job's
  parameters, or continued when the job was resumed); ``completed``, ``failed`` and
  ``cancelled`` fill in the metrics the run lacks from platform storage, log the final global
  model (on ``completed``) and end the run ``FINISHED``, ``FAILED`` or ``KILLED``.
- ``fdd_metrics_recorded`` (the NVFlare server's recorder): each site's metrics of a round, as
  ``<site>/<kind>/<metric>`` at step = round.

A tracking server that cannot be reached never stops a job: the hook logs a warning and
returns. After a failed metrics event the process sends no metrics for
``pause_after_failure`` seconds, so a server that is down costs one timeout, not one per event.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdd_mlflow.settings import MlflowSettings, apply_http_defaults, config_path, load_settings
from fdd_mlflow.tracker import FINAL_STATUS, RunTracker
from nvflare_fdd import hookimpl

log = logging.getLogger(__name__)

MODEL_ARTEFACT = "global_model.safetensors"


@dataclass
class _Target:
    """What one ``platform.yaml`` says: its settings, and the tracker and storage opened for it."""

    path: Path
    settings: MlflowSettings
    tracker: RunTracker | None = None
    storage: Any = None
    runs: dict[str, str] = field(default_factory=dict)  # job → run id, in this process
    paused_until: float = 0.0


class MlflowPlugin:
    """Logs each job as an MLflow run (see the module docstring).

    Args:
        config: the ``platform.yaml`` to read the ``mlflow`` section and the storage from;
            default: the platform's (``$FDD_PLATFORM_CONFIG``, else the one in ``$FDD_HOME``),
            looked up at each event.
        storage: the platform storage to read jobs, metrics and models from; default the one
            that file names (``storage_url``, ``$FDD_STORAGE_URL``), opened on first use.
    """

    def __init__(self, config: str | Path | None = None, storage: Any = None):
        self.config = Path(config) if config is not None else None
        self._storage = storage
        self._targets: dict[Path, _Target | None] = {}
        self._lock = threading.RLock()

    # -- the hooks ----------------------------------------------------------------------------------

    @hookimpl
    def fdd_job_state_changed(self, job: str, old_state: str | None, new_state: str, reason: str) -> None:
        if new_state != "running" and new_state not in FINAL_STATUS:
            return  # ready and queued: nothing has run yet
        with self._lock:
            target = self._target()
            if target is None:
                return
            try:
                if new_state == "running":
                    target.runs[job] = self._open(target, job, reopen=True)
                else:
                    self._finish(target, job, old_state, new_state, reason)
            except Exception as exc:
                target.runs.pop(job, None)
                log.warning("MLflow at %s: could not record that job %s is %s (%s); the job goes on",
                            target.settings.tracking_uri, job, new_state, _brief(exc))  # fmt: skip

    @hookimpl
    def fdd_metrics_recorded(self, job: str, round: int, site: str, kind: str, metrics: dict[str, float]) -> None:
        with self._lock:
            target = self._target()
            if target is None or time.monotonic() < target.paused_until:
                return
            try:
                run_id = target.runs.get(job) or self._open(target, job)
                target.runs[job] = run_id
                target.tracker.log_metrics(run_id, round, site, kind, metrics)
            except Exception as exc:
                target.runs.pop(job, None)
                pause = target.settings.pause_after_failure
                target.paused_until = time.monotonic() + pause
                log.warning("MLflow at %s: could not log round %s %s metrics of %s for job %s (%s); the job goes on, "
                            "metrics are not sent for %g s and are filled in from platform storage when the job ends",
                            target.settings.tracking_uri, round, kind, site, job, _brief(exc), pause)  # fmt: skip

    # -- runs ---------------------------------------------------------------------------------------

    def _open(self, target: _Target, job: str, reopen: bool = False, create: bool = True) -> str | None:
        params, tags = self._job_facts(target, job)
        return target.tracker.open_run(job, params, tags, reopen=reopen, create=create)

    def _finish(self, target: _Target, job: str, old_state: str | None, new_state: str, reason: str) -> None:
        """Fill in the run from storage and end it; a job that never ran (cancelled while queued) gets no run."""
        target.runs.pop(job, None)
        run_id = self._open(target, job, create=old_state == "running")
        if run_id is None:
            return
        storage = self._storage_of(target)
        if storage is not None:
            try:
                filled = target.tracker.fill_metrics(run_id, storage.metrics(job))
                if filled:
                    log.info("MLflow: job %s: %d metric value(s) the run lacked were filled in from platform storage", job, filled)
            except Exception as exc:  # the run still gets its outcome
                log.warning("MLflow: job %s: could not fill in metrics from platform storage (%s)", job, _brief(exc))
            if new_state == "completed":
                self._log_model(target, storage, job, run_id)
        target.tracker.close_run(run_id, new_state, reason)

    def _log_model(self, target: _Target, storage: Any, job: str, run_id: str) -> None:
        from nvflare_fdd.platform.storage import NotFound

        with tempfile.TemporaryDirectory(prefix="fdd-mlflow-") as folder:
            path = Path(folder) / MODEL_ARTEFACT
            try:
                storage.write_artefact(job, MODEL_ARTEFACT, path)
            except NotFound:
                log.warning("MLflow: job %s completed without a stored %s; the run has no model", job, MODEL_ARTEFACT)
                return
            target.tracker.log_artifact(run_id, path)

    def _job_facts(self, target: _Target, job: str) -> tuple[dict[str, str], dict[str, str]]:
        """The job's parameters and tags from platform storage; none if storage cannot tell (they are added later)."""
        storage = self._storage_of(target)
        if storage is None:
            return {}, {}
        try:
            record = storage.get_job(job)
        except Exception as exc:
            log.warning("MLflow: job %s: not found in platform storage (%s); its run gets its parameters later", job, _brief(exc))
            return {}, {}
        return job_params(record), job_tags(record)

    # -- configuration ------------------------------------------------------------------------------

    def _target(self) -> _Target | None:
        """The settings of the current ``platform.yaml`` with their tracker; ``None`` when nothing is to be logged."""
        path = self.config or config_path()
        if path in self._targets:
            return self._targets[path]
        target = None
        try:
            settings = load_settings(path)
            if not settings.tracking_uri:
                log.debug("MLflow: no mlflow.tracking_uri in %s; jobs are not logged to MLflow", path)
            else:
                apply_http_defaults()
                target = _Target(path, settings, RunTracker(settings.tracking_uri, settings.experiment))
        except ImportError as exc:
            log.error("MLflow: cannot log jobs, the MLflow client is missing (%s): pip install nvflare-fdd-mlflow", exc)
        except Exception as exc:
            log.error("MLflow: cannot log jobs: %s", _brief(exc))
        self._targets[path] = target  # decided once per file and process, so each message appears once
        return target

    def _storage_of(self, target: _Target) -> Any:
        """The platform storage: the one given, else the one ``platform.yaml`` names; ``None`` if it cannot be opened."""
        if self._storage is not None:
            return self._storage
        if target.storage is None:
            from nvflare_fdd.platform.config import load_config
            from nvflare_fdd.plugin.manager import plugin_manager

            try:
                config = load_config(target.path)
                target.storage = plugin_manager().storage_backends()[config.storage_backend](config.storage_url)
            except Exception as exc:
                log.warning("MLflow: cannot open platform storage (%s); runs lack parameters, filled-in metrics and "
                            "models until it can", _brief(exc))  # fmt: skip
                return None
        return target.storage


def job_params(job: Any) -> dict[str, str]:
    """A job record's run parameters: model, version, algorithm, rounds, sites.

    A job submitted outside the platform has no model; a job without an algorithm is ``fedavg``.
    """
    params: dict[str, str] = {}
    if job.model:
        params["model"], _, params["version"] = job.model.partition(":")
    params["algorithm"] = str(getattr(job, "algorithm", None) or "fedavg")
    params["rounds"] = str(job.rounds)
    params["sites"] = ",".join(job.sites)
    return params


def job_tags(job: Any) -> dict[str, str]:
    """Tags of a new run: the owner, the job's description (MLflow's run note), and whether it came from outside."""
    tags = {"fdd.owner": job.owner, "fdd.external": str(bool(job.external)).lower()}
    if job.description:
        tags["mlflow.note.content"] = job.description
    return tags


def _brief(exc: BaseException) -> str:
    """An exception in one line (MLflow's messages can span many, with the whole URL and retry history)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}{'…' if len(text) > 300 else ''}"


plugin = MlflowPlugin()
"""The instance the entry point registers: it reads the platform's own ``platform.yaml``."""
