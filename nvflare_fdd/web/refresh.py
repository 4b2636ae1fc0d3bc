"""Refreshing the data information from the web UI: the statistics job over every site, in the background.

What ``fdd data refresh`` does, started by an admin from the data page: on the simulator
runner the sites' KDAs are known, and the ``fdd_stats`` job runs over them in the NVFlare
simulator; the summaries land in the same store the page reads.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.records import User
from nvflare_fdd.platform.service import PermissionDenied

log = logging.getLogger(__name__)


@dataclass
class RefreshState:
    """Where the last refresh stands: ``idle``, ``running``, ``done`` or ``failed``."""

    state: str = "idle"
    started: float | None = None
    finished: float | None = None
    sites: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


class DataRefresh:
    """One refresh at a time, run in a daemon thread.

    Args:
        platform: whose runner knows the sites' KDAs.
        stats: the store the data page reads (``save(summary)``).
    """

    def __init__(self, platform, stats):
        self.platform = platform
        self.stats = stats
        self.status = RefreshState()
        self._lock = threading.Lock()

    def supported(self) -> bool:
        """Whether this platform's runner can reach the sites' KDAs (the simulator runner can)."""
        return callable(getattr(self.platform.runner, "site_urls", None))

    def start(self, user: User) -> RefreshState:
        """Start a refresh (an admin's action).

        Raises:
            FddError: ``user`` is no admin, the runner cannot do it, or a refresh runs already.
        """
        if not user.is_admin:
            raise PermissionDenied("only an admin can refresh the data information", code="admin.required")
        if not self.supported():
            raise FddError("this platform's runner cannot reach the sites' data; run `fdd data refresh` at the sites",
                           code="data.refresh_unsupported")  # fmt: skip
        with self._lock:
            if self.status.state == "running":
                raise FddError("the data information is being refreshed already", code="data.refresh_running")
            sites = self.platform.runner.site_urls()
            self.status = RefreshState("running", time.time(), sites=sorted(sites))
        threading.Thread(target=self._run, args=(sites,), name="fdd-data-refresh", daemon=True).start()
        return self.status

    def _run(self, sites: dict[str, str]) -> None:
        from nvflare_fdd.stats import run_stats_simulation

        work = Path(tempfile.mkdtemp(prefix="fdd-stats-"))
        failures: dict[str, str] = {}
        state = "done"
        try:
            run = run_stats_simulation(sites, work)
            for summary in run.summaries.values():
                self.stats.save(summary)
            failures = dict(run.failures)
        except FddError as exc:
            log.error("refreshing the data information failed: %s (kept in %s)", exc, work)
            state, failures = "failed", {"*": str(exc)}
        except Exception:  # keep the page's status truthful whatever broke
            log.exception("refreshing the data information failed (kept in %s)", work)
            state = "failed"
        else:
            shutil.rmtree(work, ignore_errors=True)
        with self._lock:
            self.status = RefreshState(state, self.status.started, time.time(), self.status.sites, failures)
