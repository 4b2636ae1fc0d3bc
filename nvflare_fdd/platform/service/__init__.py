"""``Platform``: the model registry, site groups, jobs and their queue, over a storage and a runner.

Every interface (the CLI, the web UI) goes through this class; it holds no state of
its own, so any number of platform processes can share one database. The queue
advances in ``tick()``: finished runs are settled, then queued jobs start while the
runner has capacity. ``fdd server run`` and ``fdd ui`` call it in a loop;
``fdd jobs start --wait`` does too, until its job ends.

``Platform`` is made of one part per concern, each in its own module: ``access`` (what a user
may see and change), ``models``, ``pretrained``, ``jobs``, ``results`` and ``queue``; ``checks``
holds the service's errors and the rules for names.
"""

from __future__ import annotations

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.config import PlatformConfig, load_config
from nvflare_fdd.platform.contracts import Storage
from nvflare_fdd.platform.records import User
from nvflare_fdd.platform.runners import Runner
from nvflare_fdd.platform.service.checks import (
    JOB_NAME,
    LIMITS,
    VERSION,
    BundleRejected,
    PermissionDenied,
    check_length,
    check_version,
    split_model,
)
from nvflare_fdd.platform.service.jobs import JobService
from nvflare_fdd.platform.service.models import ModelService
from nvflare_fdd.platform.service.pretrained import PretrainedService
from nvflare_fdd.platform.service.queue import RESUME_CONTROLS, RESUME_WEIGHTS, QueueService
from nvflare_fdd.platform.service.results import ResultService, import_results
from nvflare_fdd.plugin.manager import FddPluginManager, plugin_manager

__all__ = [
    "JOB_NAME", "LIMITS", "RESUME_CONTROLS", "RESUME_WEIGHTS", "VERSION", "BundleRejected", "PermissionDenied", "Platform",
    "check_length", "check_version", "import_results", "split_model",
]


class Platform(ModelService, PretrainedService, JobService, ResultService, QueueService):
    """The platform service.

    Args:
        config: settings (storage, runner, capacity); default ``load_config()``.
        storage: a storage backend; default the one ``config.storage_backend`` names.
        runner: where jobs run; default the one ``config.runner`` names (built on first use).
        plugins: the plugin manager for events; default the process-wide one.
    """

    def __init__(self, config: PlatformConfig | None = None, storage: Storage | None = None, runner: Runner | None = None,
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

    def user(self, name: str) -> User:
        """The user ``name``, created on first use (local CLI users need no sign-up)."""
        return self.storage.ensure_user(name)
