"""What every part of ``Platform`` shares: its settings, storage, plugins and runner."""

from __future__ import annotations

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.contracts import Storage
from nvflare_fdd.platform.records import Job
from nvflare_fdd.platform.runners import Runner
from nvflare_fdd.plugin.manager import FddPluginManager


class PlatformBase:
    """The state ``Platform``'s parts work on; ``Platform.__init__`` sets it."""

    config: PlatformConfig
    plugins: FddPluginManager
    storage: Storage
    _runner: Runner | None

    @property
    def runner(self) -> Runner:
        """Where jobs run: the one ``config.runner`` names, built on first use unless one was given."""
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

    def _check_sites(self, sites: list[str]) -> None:
        known = set(self.sites())
        unknown = [site for site in sites if site not in known]
        if unknown:
            raise FddError(f"unknown site(s) {', '.join(unknown)}; available: {', '.join(sorted(known))}", code="site.unknown",
                           params={"sites": ", ".join(unknown), "available": ", ".join(sorted(known))})

    def _moved(self, job: Job | None) -> None:
        """Tell plugins of the state change storage just recorded for ``job`` (its ``event``); nothing if none."""
        if job is not None and job.event is not None:
            self._event(job.name, job.event.from_state, job.event.to_state, job.event.reason)

    def _event(self, job: str, old: str | None, new: str, reason: str) -> None:
        self.plugins.notify("fdd_job_state_changed", job=job, old_state=old, new_state=new, reason=reason)
