"""nvflare-fdd-mlflow: each nvflare-fdd job as an MLflow run.

Parameters (model, version, algorithm, rounds, sites), every site's Global and Local
metrics by round, and the final global model, logged to the tracking server named by
``mlflow.tracking_uri`` in ``platform.yaml`` (see ``fdd_mlflow.settings``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from fdd_mlflow.plugin import MlflowPlugin, job_params, job_tags  # noqa: E402
from fdd_mlflow.settings import MlflowSettings, load_settings  # noqa: E402
from fdd_mlflow.tracker import FINAL_STATUS, JOB_TAG, RunTracker, metric_key  # noqa: E402

__all__ = [
    "FINAL_STATUS",
    "JOB_TAG",
    "MlflowPlugin",
    "MlflowSettings",
    "RunTracker",
    "__version__",
    "job_params",
    "job_tags",
    "load_settings",
    "metric_key",
]
