"""Platform settings: storage, runner, capacity, sites. Embedded defaults need no file at all.

Read from ``$FDD_PLATFORM_CONFIG`` or ``<home>/platform.yaml`` (home: ``$FDD_HOME`` or
``~/.local/share/nvflare-fdd``), then overridden by ``$FDD_STORAGE_URL`` (storage) and
``$FDD_RUNNER``. Example::

    storage_url: postgresql+psycopg://fdd@db/fdd
    runner: flare                  # or simulator (the default)
    capacity: 2                    # jobs running at once
    max_queued_per_user: 2
    flare:
      username: admin@nvidia.com
      startup_kit: /srv/fdd/admin@nvidia.com     # the admin's startup kit folder
    simulator:
      sites:                       # site → KDA URL; default: the demo institutions
        pharma_a: sqlite:////srv/kda/a.db
      environment:                 # how the simulated sites run user code (fdd_site.json's "environment")
        backend: docker            # default: local
        base_image: nvflare-fdd:latest
        gpus: ""
    pretrained_max_gb: 50          # largest pretrained model `fdd pretrained add` takes (all its files)

Any other top-level key must be a plugin's section (a mapping, such as ``mlflow``); a misspelt
setting (``capcity: 4``, ``simulator.site``) is refused by name rather than left at its default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nvflare_fdd import env_vars
from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.db import default_home
from nvflare_fdd.site_config import storage_url_from_env

CONFIG_ENV = "FDD_PLATFORM_CONFIG"
STORAGE_URL_ENV = env_vars.STORAGE_URL
RUNNER_ENV = "FDD_RUNNER"
CONFIG_FILE = "platform.yaml"
DEFAULT_PRETRAINED_MAX_GB = 50
SETTINGS = ("home", "storage_url", "storage_backend", "runner", "capacity", "max_queued_per_user", "flare", "simulator",
            "pretrained_max_gb", "ui")  # fmt: skip
"""The platform's own keys; any other top-level key must be a section (a mapping) that a plugin reads, e.g. ``mlflow``."""
SECTION_KEYS = {"simulator": ("sites", "environment"), "flare": ("username", "startup_kit", "timeout")}


@dataclass
class PlatformConfig:
    """Everything the platform service needs to know; see the module docstring for the file format."""

    home: Path
    storage_url: str
    storage_backend: str = "sql"
    runner: str = "simulator"
    capacity: int = 1
    max_queued_per_user: int = 2
    simulator_sites: dict[str, str] = field(default_factory=dict)
    simulator_environment: dict = field(default_factory=dict)
    flare: dict = field(default_factory=dict)
    source: Path | None = None
    pretrained_max_bytes: int = DEFAULT_PRETRAINED_MAX_GB << 30

    @property
    def jobs_dir(self) -> Path:
        """Per-job work folders (the bundle, the NVFlare job folder, the simulator workspace)."""
        return self.home / "jobs"


def load_config(path: str | Path | None = None) -> PlatformConfig:
    """The platform's settings (file, then environment overrides, then defaults).

    Raises:
        FddError: the file is unreadable or has a bad value.
    """
    from omegaconf import OmegaConf

    home = default_home()
    path = Path(path or os.environ.get(CONFIG_ENV) or home / CONFIG_FILE)
    values: dict = {}
    if path.is_file():
        try:
            loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
        except Exception as exc:
            raise FddError(f"{path}: cannot be read as YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise FddError(f"{path}: must be a mapping of settings (see `fdd server config --help`)")
        values = loaded
        _check_keys(values, path)
    home = Path(values.get("home") or home)
    config = PlatformConfig(
        home=home,
        storage_url=storage_url_from_env() or values.get("storage_url") or f"sqlite:///{home / 'platform.db'}",
        storage_backend=values.get("storage_backend", "sql"),
        runner=os.environ.get(RUNNER_ENV) or values.get("runner", "simulator"),
        capacity=int(values.get("capacity", 1)),
        max_queued_per_user=int(values.get("max_queued_per_user", 2)),
        simulator_sites=dict((values.get("simulator") or {}).get("sites") or {}),
        simulator_environment=dict((values.get("simulator") or {}).get("environment") or {}),
        flare=dict(values.get("flare") or {}),
        source=path if path.is_file() else None,
        pretrained_max_bytes=_gigabytes(values.get("pretrained_max_gb", DEFAULT_PRETRAINED_MAX_GB), "pretrained_max_gb"),
    )
    if config.runner not in ("simulator", "flare"):
        raise FddError(f"runner must be simulator or flare, got {config.runner!r}")
    if not isinstance(config.simulator_environment.get("backend", ""), str):
        raise FddError(f"simulator.environment.backend must be a backend name such as docker, not {config.simulator_environment['backend']!r}")
    if config.capacity < 1 or config.max_queued_per_user < 1:
        raise FddError("capacity and max_queued_per_user must be at least 1")
    return config


def _check_keys(values: dict, path: Path) -> None:
    """Refuse a misspelt setting by name, rather than run on its default without a word.

    A top-level key the platform does not know is accepted only as a mapping (a plugin's section, such as
    ``mlflow``), and not when it is one letter or two away from one of the platform's own keys.
    """
    import difflib

    for key, value in values.items():
        close = difflib.get_close_matches(str(key), SETTINGS, n=1, cutoff=0.8)
        if key in SETTINGS or (isinstance(value, dict) and not close):
            continue
        hint = f"did you mean {close[0]!r}?" if close else f"the platform's settings are {', '.join(SETTINGS)}"
        raise FddError(f"{path}: unknown setting {key!r}; {hint}", code="platform.unknown_setting",
                       params={"key": str(key), "path": str(path)})
    for section, known in SECTION_KEYS.items():
        block = values.get(section)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise FddError(f"{path}: {section} must be a mapping of {', '.join(known)}", code="platform.unknown_setting",
                           params={"key": section, "path": str(path)})
        for key in block:
            if key not in known:
                raise FddError(f"{path}: unknown setting {section}.{key}; {section} takes {', '.join(known)}",
                               code="platform.unknown_setting", params={"key": f"{section}.{key}", "path": str(path)})


def _gigabytes(value, key: str) -> int:
    try:
        gigabytes = float(value)
    except (TypeError, ValueError):
        gigabytes = -1.0
    if gigabytes <= 0:
        raise FddError(f"{key} must be a positive number of GiB, got {value!r}")
    return int(gigabytes * 2**30)
