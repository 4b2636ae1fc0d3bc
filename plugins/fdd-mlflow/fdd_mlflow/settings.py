"""Where runs are logged: the ``mlflow`` section of the platform's ``platform.yaml``.

The file is the one the platform reads (``$FDD_PLATFORM_CONFIG``, else ``platform.yaml`` in
``$FDD_HOME`` or ``~/.local/share/nvflare-fdd``)::

    mlflow:
      tracking_uri: http://mlflow.example.org:5000   # no URI: the plugin does nothing
      experiment: nvflare-fdd                        # the default
      pause_after_failure: 60                        # seconds; see MlflowSettings

How hard the MLflow client tries to reach the server is MLflow's own business: its
``MLFLOW_HTTP_REQUEST_*`` variables. ``apply_http_defaults`` gives the ones left unset
values that suit a recorder inside a training run (a few seconds, not MLflow's minutes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.config import CONFIG_ENV, CONFIG_FILE
from nvflare_fdd.platform.db import default_home

SECTION = "mlflow"
DEFAULT_EXPERIMENT = "nvflare-fdd"
DEFAULT_PAUSE = 60.0

HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",  # MLflow's default is 7, with backoff: about 4 minutes per call
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",  # seconds; MLflow's default is 120
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # no "View run at ..." lines in the server's log
}
"""MLflow client settings the plugin uses where the environment sets none."""


@dataclass(frozen=True)
class MlflowSettings:
    """The ``mlflow`` section of ``platform.yaml``.

    Attributes:
        tracking_uri: the MLflow tracking server (``http://host:5000``) or any URI MLflow's
            client accepts; ``None``: log nothing.
        experiment: the MLflow experiment that holds the runs, created on first use.
        pause_after_failure: after a metrics event could not reach the tracking server, the
            process sends no metrics for this many seconds (state changes always try);
            what it skipped is filled in from platform storage when the job ends.
        source: the file read, ``None`` if there was none.
    """

    tracking_uri: str | None = None
    experiment: str = DEFAULT_EXPERIMENT
    pause_after_failure: float = DEFAULT_PAUSE
    source: Path | None = None


def config_path() -> Path:
    """The ``platform.yaml`` the platform reads: ``$FDD_PLATFORM_CONFIG``, else the one in the platform's home."""
    return Path(os.environ.get(CONFIG_ENV) or default_home() / CONFIG_FILE)


def load_settings(path: str | Path | None = None) -> MlflowSettings:
    """The ``mlflow`` section of ``path`` (default ``config_path()``); no file or no section: no tracking URI.

    Raises:
        FddError: the file is not YAML, or a value in the section is of the wrong kind.
    """
    from omegaconf import OmegaConf

    path = Path(path) if path is not None else config_path()
    if not path.is_file():
        return MlflowSettings()
    try:
        values = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
    except Exception as exc:
        raise FddError(f"{path}: cannot be read as YAML: {exc}") from exc
    section = values.get(SECTION) if isinstance(values, dict) else None
    if section is None:
        return MlflowSettings(source=path)
    if not isinstance(section, Mapping):
        raise FddError(f"{path}: {SECTION} must be a mapping such as {{tracking_uri: http://host:5000}}")
    return MlflowSettings(
        tracking_uri=_text(section, "tracking_uri", path, None),
        experiment=_text(section, "experiment", path, DEFAULT_EXPERIMENT) or DEFAULT_EXPERIMENT,
        pause_after_failure=_seconds(section, "pause_after_failure", path),
        source=path,
    )


def apply_http_defaults(environ: dict[str, str] | None = None) -> None:
    """Set MLflow's HTTP retry, timeout and printing variables that ``environ`` (default ``os.environ``) leaves unset."""
    environ = os.environ if environ is None else environ
    for name, value in HTTP_DEFAULTS.items():
        environ.setdefault(name, value)


def _text(section: Mapping[str, Any], key: str, path: Path, default: str | None) -> str | None:
    value = section.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise FddError(f"{path}: {SECTION}.{key} must be a string, got {value!r}")
    return value.strip() or default


def _seconds(section: Mapping[str, Any], key: str, path: Path) -> float:
    value = section.get(key, DEFAULT_PAUSE)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise FddError(f"{path}: {SECTION}.{key} must be a number of seconds ≥ 0, got {value!r}")
    return float(value)
