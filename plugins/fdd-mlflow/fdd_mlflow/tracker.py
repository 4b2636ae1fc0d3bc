"""``RunTracker``: one MLflow run per platform job, found again by its ``fdd.job`` tag.

Any process can open a job's run: the platform service (job states) and the NVFlare
server (metrics) log into the same run because each looks it up by tag, and a resumed
job continues its run. Should two processes ever create one at once, every process
picks the oldest, so they still agree.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.entities import Run

    from nvflare_fdd.platform.records import MetricValue

JOB_TAG = "fdd.job"
STATE_TAG = "fdd.state"
REASON_TAG = "fdd.reason"
MAX_TAG_VALUE = 5000  # MLflow's limit is 8000 characters; a user traceback can be longer
BATCH = 1000  # MLflow takes at most 1000 metrics per log_batch
FINAL_STATUS = {"completed": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}
"""Platform job state → MLflow run status."""

_NOT_IN_NAME = re.compile(r"[^\w.\- :/]")  # MLflow names: alphanumerics, _ - . space : /


def metric_key(site: str, kind: str, metric: str) -> str:
    """``<site>/<kind>/<metric>``, with any character MLflow does not allow in a name (e.g. ``@``) as ``_``."""
    return "/".join(_NOT_IN_NAME.sub("_", part) for part in (site, kind, metric))


class RunTracker:
    """The runs of platform jobs in one experiment of one tracking server.

    Args:
        tracking_uri: the tracking server (or any URI MLflow's client accepts).
        experiment: the experiment's name; it is created on first use.
    """

    def __init__(self, tracking_uri: str, experiment: str):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri)
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self._experiment_id: str | None = None

    def experiment_id(self) -> str:
        """The experiment's id, creating the experiment if there is none of that name."""
        if self._experiment_id is None:
            from mlflow.exceptions import MlflowException

            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                try:
                    self._experiment_id = self.client.create_experiment(self.experiment)
                except MlflowException:  # another process created it first
                    found = self.client.get_experiment_by_name(self.experiment)
                    if found is None:
                        raise
            if self._experiment_id is None:
                self._experiment_id = found.experiment_id
        return self._experiment_id

    def find_run(self, job: str) -> Run | None:
        """The job's run (the oldest, should there be several); deleted runs do not count."""
        from mlflow.entities import ViewType

        quoted = job.replace("\\", "\\\\").replace("'", "\\'")
        runs = self.client.search_runs(
            [self.experiment_id()], f"tags.`{JOB_TAG}` = '{quoted}'", run_view_type=ViewType.ACTIVE_ONLY,
            max_results=10, order_by=["attributes.start_time ASC"],
        )  # fmt: skip
        return min(runs, key=lambda run: (run.info.start_time, run.info.run_id)) if runs else None

    def open_run(
        self, job: str, params: Mapping[str, str], tags: Mapping[str, str] | None = None, reopen: bool = False,
        create: bool = True,
    ) -> str | None:  # fmt: skip
        """The id of the job's run, created if it has none; ``params`` the run lacks are logged.

        Args:
            params: the job's parameters, logged once (MLflow's parameters never change).
            tags: tags for a run that is created here.
            reopen: set a finished run back to ``RUNNING`` (the job was resumed).
            create: create the run if there is none; else return ``None``.
        """
        from mlflow.entities import Param

        run = self.find_run(job)
        if run is None and not create:
            return None
        if run is None:
            created = self.client.create_run(self.experiment_id(), run_name=job, tags={**(tags or {}), JOB_TAG: job})
            run_id, logged = created.info.run_id, {}
        else:
            run_id, logged = run.info.run_id, run.data.params
            if reopen and run.info.status != "RUNNING":
                self.client.update_run(run_id, status="RUNNING")
        missing = [Param(key, str(value)) for key, value in params.items() if key not in logged]
        if missing:
            self.client.log_batch(run_id, params=missing)
        return run_id

    def log_metrics(self, run_id: str, round_num: int, site: str, kind: str, metrics: Mapping[str, float]) -> None:
        """One site's ``kind`` metrics of a round, at step ``round_num``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(metric_key(site, kind, name), float(value), now, round_num) for name, value in metrics.items()]
        if batch:
            self.client.log_batch(run_id, metrics=batch)

    def fill_metrics(self, run_id: str, values: Iterable[MetricValue]) -> int:
        """Log the values the run lacks (a step missing, or holding another value); returns how many were logged."""
        from mlflow.entities import Metric

        by_key: dict[str, list[MetricValue]] = {}
        for value in values:
            by_key.setdefault(metric_key(value.site, value.kind, value.metric), []).append(value)
        now = int(time.time() * 1000)
        missing = []
        for key, wanted in by_key.items():
            logged: dict[int, float] = {}
            for point in sorted(self.client.get_metric_history(run_id, key), key=lambda m: (m.timestamp, m.step)):
                logged[point.step] = point.value  # the latest value at each step
            missing += [Metric(key, float(v.value), now, v.round) for v in wanted if logged.get(v.round) != float(v.value)]
        for start in range(0, len(missing), BATCH):
            self.client.log_batch(run_id, metrics=missing[start : start + BATCH])
        return len(missing)

    def log_artifact(self, run_id: str, path: Path) -> None:
        """A file at the run's artifact root."""
        self.client.log_artifact(run_id, str(path))

    def close_run(self, run_id: str, state: str, reason: str) -> None:
        """End the run with the status of the job's final ``state``, and the state and reason as tags."""
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(STATE_TAG, state), RunTag(REASON_TAG, reason[:MAX_TAG_VALUE])])
        self.client.set_terminated(run_id, FINAL_STATUS[state])
