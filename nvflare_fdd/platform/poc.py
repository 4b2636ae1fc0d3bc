"""A local NVFlare POC deployment set up for nvflare-fdd: each site with its KDA, the server with the platform's database.

For operators trying the ``flare`` runner on one machine, and for the POC tests::

    poc = prepare_poc("/tmp/fdd-poc", {"site-1": "sqlite:////data/a.db", "site-2": "sqlite:////data/b.db"},
                      storage_url="sqlite:////srv/fdd/platform.db")
    with poc.start():
        ...  # runner: flare; flare.username: poc.username; flare.startup_kit: poc.admin_startup_kit

It runs NVFlare's own ``nvflare poc prepare`` / ``start`` / ``stop``, with three
differences from running them by hand:

- everything lives under one folder, ``root``: the POC workspace (``root/poc``), the
  project file and NVFlare's CLI settings (``root/nvflare_home``, so ``~/.nvflare`` and
  the operator's active startup kit are left alone);
- the server listens on a free port of its own (not 8002), so two deployments on one
  machine do not collide;
- each site's ``local/fdd_site.json`` names its KDA (and, optionally, its environment
  cache), the server's names the platform's database, which is where the job's
  recorder writes progress, metrics and outcome.

Every process of the deployment (server, clients, job processes, user-code processes)
carries a marker in its environment, so ``stop()`` can find and kill what a failed
shutdown leaves behind, and nothing else (Linux: it reads ``/proc``). The deployment's
settings and marker are kept in ``root/deployment.json``; ``load_poc(root)`` gets the
deployment back in another process, e.g. to stop it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nvflare_fdd.errors import PocError
from nvflare_fdd.site_config import SITE_CONFIG_FILE

PROJECT_ADMIN = "admin@nvidia.com"
SERVER = "server"
MARKER_ENV = "FDD_POC_DEPLOYMENT"
POC_WORKSPACE_ENV = "NVFLARE_POC_WORKSPACE"
DEPLOYMENT_FILE = "deployment.json"
PROC = Path("/proc")


@dataclass
class PocDeployment:
    """A prepared POC deployment; ``start()`` runs it, ``stop()`` ends it (and kills leftovers).

    Attributes:
        root: the deployment's own folder.
        sites: client site name → KDA URL.
        storage_url: the platform storage the server's recorder writes to (or ``None``).
        port: the server's port (FL and admin).
        marker: the value of ``$FDD_POC_DEPLOYMENT`` in every process of this deployment.
    """

    root: Path
    sites: dict[str, str]
    storage_url: str | None
    port: int
    project_name: str
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    username: str = PROJECT_ADMIN

    @property
    def workspace(self) -> Path:
        """The POC workspace (``$NVFLARE_POC_WORKSPACE`` of the ``nvflare poc`` commands)."""
        return self.root / "poc"

    @property
    def prod_dir(self) -> Path:
        """The provisioned startup kits, one folder per participant."""
        return self.workspace / self.project_name / "prod_00"

    @property
    def admin_startup_kit(self) -> Path:
        """The project admin's startup kit (for the FLARE API, ``nvflare job submit --startup-kit``)."""
        return self.prod_dir / self.username

    @property
    def server_dir(self) -> Path:
        return self.prod_dir / SERVER

    def site_dir(self, site: str) -> Path:
        """A client site's workspace (its ``local/``, its job run folders, its ``log.txt``)."""
        if site not in self.sites:
            raise PocError(f"no site {site!r} in this deployment; it has {', '.join(sorted(self.sites))}")
        return self.prod_dir / site

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> PocDeployment:
        """Start the server and the clients and wait until every site is connected.

        Raises:
            PocError: ``nvflare poc start`` failed or a site did not connect within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        env = self._env(cli_home=False)
        log_path = self.root / "poc_start.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "nvflare.cli", "poc", "start", "--timeout", str(int(max(timeout - 5, 10)))],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )  # fmt: skip
        try:
            returncode = process.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            self.stop()
            raise PocError(f"`nvflare poc start` did not return within {timeout:.0f} s; see {log_path}") from None
        if returncode != 0:
            self.stop()
            raise PocError(f"`nvflare poc start` failed (exit {returncode}): {_tail(log_path)}")
        try:
            self.wait_for_sites(max(deadline - time.monotonic(), 5))
        except PocError:
            self.stop()
            raise
        return self

    def wait_for_sites(self, timeout: float = 60.0) -> list[str]:
        """Wait until the server lists every site as connected; returns the connected sites."""
        deadline = time.monotonic() + timeout
        connected: list[str] = []
        last_error = ""
        while time.monotonic() < deadline:
            try:
                session = self.session(timeout=min(10.0, max(deadline - time.monotonic(), 1)))
                try:
                    connected = sorted(client.name for client in session.get_system_info().client_info)
                finally:
                    session.close()
                if set(self.sites) <= set(connected):
                    return connected
            except Exception as exc:  # the server is still coming up
                last_error = str(exc)
            time.sleep(1.0)
        raise PocError(
            f"sites {', '.join(sorted(set(self.sites) - set(connected)))} did not connect to the POC server within "
            f"{timeout:.0f} s ({last_error or 'connected: ' + (', '.join(connected) or 'none')}); "
            f"see {self.prod_dir}/*/log.txt"
        )

    def stop(self, timeout: float = 60.0) -> None:
        """Shut the deployment down (``nvflare poc stop``), then kill whatever of it is still running."""
        if self.processes() or not PROC.is_dir():
            try:
                subprocess.run(
                    [sys.executable, "-m", "nvflare.cli", "poc", "stop"], env=self._env(cli_home=True),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                pass
        self.kill_leftovers(grace=5.0)

    def kill_leftovers(self, grace: float = 5.0) -> list[int]:
        """SIGTERM, then after ``grace`` seconds SIGKILL, every process of this deployment; returns their pids."""
        pids = self.processes()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.2)
            if not self.processes():
                break
        return pids

    def processes(self, command_contains: str = "") -> list[int]:
        """Live processes of this deployment, optionally by command line: those with the marker in their environment,
        and their descendants (user code runs sandboxed, in a clean environment without the marker)."""
        needle = f"{MARKER_ENV}={self.marker}".encode()
        if not PROC.is_dir():  # not Linux: nothing to find (stop() relies on `nvflare poc stop` alone)
            return []
        parents: dict[int, int] = {}
        commands: dict[int, str] = {}
        marked: set[int] = set()
        for entry in PROC.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] == "Z":
                    continue
                parents[pid] = int(fields[1])
                commands[pid] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    marked.add(pid)
            except (OSError, IndexError, ValueError):  # gone meanwhile, or not ours to read
                continue

        def ours(pid: int) -> bool:
            seen = set()
            while pid > 1 and pid not in seen:
                if pid in marked:
                    return True
                seen.add(pid)
                pid = parents.get(pid, 0)
            return False

        return sorted(pid for pid, command in commands.items() if command_contains in command and ours(pid))

    def log_tails(self, job_id: str | None = None, chars: int = 3000) -> str:
        """The ends of the server's and each site's log, a job's own log where ``job_id`` has one."""
        parts = []
        for folder in (self.server_dir, *(self.site_dir(site) for site in self.sites)):
            for log in ([folder / job_id / "log.txt"] if job_id else []) + [folder / "log.txt"]:
                if log.is_file():
                    parts.append(f"--- {log} ---\n{_tail(log, chars)}")
                    break
        return "\n".join(parts)

    def session(self, timeout: float = 10.0):
        """A FLARE API session as the project admin; close it when done."""
        from nvflare.fuel.flare_api.flare_api import new_secure_session

        return new_secure_session(self.username, str(self.admin_startup_kit), timeout=timeout)

    def __enter__(self) -> PocDeployment:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------------

    def _env(self, cli_home: bool) -> dict[str, str]:
        env = dict(os.environ)
        env[POC_WORKSPACE_ENV] = str(self.workspace)
        env[MARKER_ENV] = self.marker
        if cli_home:  # `poc prepare` registers the admin kit in ~/.nvflare; keep that in the deployment's folder
            env["HOME"] = str(self.root / "nvflare_home")
        return env


def prepare_poc(
    root: str | Path,
    sites: Mapping[str, str],
    storage_url: str | None = None,
    port: int | None = None,
    env_cache: str | Path | None = None,
    timeout: float = 120.0,
) -> PocDeployment:
    """Provision a POC deployment in ``root`` (replacing one there) and configure it for nvflare-fdd.

    Args:
        root: a folder of the deployment's own (created).
        sites: client site name → the site's KDA URL (``local/fdd_site.json`` ``kda_url``).
        storage_url: the platform storage for the server's recorder (its ``storage_url``); ``None``:
            results stay in the server's run folders only.
        port: the server's port; default a free one.
        env_cache: the sites' job-environment cache folder (``environment.cache_dir``); default the backend's.
        timeout: seconds ``nvflare poc prepare`` may take.

    Returns:
        The deployment, not started.

    Raises:
        PocError: bad site names, or provisioning failed.
    """
    import yaml

    if not sites:
        raise PocError("a POC deployment needs at least one site")
    reserved = {SERVER, PROJECT_ADMIN}
    for name in sites:
        if not name or name in reserved or not all(ch.isalnum() or ch in "-_" for ch in name):
            raise PocError(f"site name {name!r} must be letters, digits, '-' or '_' (and not {SERVER!r})")
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    deployment = PocDeployment(root=root, sites=dict(sites), storage_url=storage_url, port=port or _free_port(),
                               project_name="fdd_poc")  # fmt: skip
    if _port_in_use(deployment.port):
        raise PocError(f"port {deployment.port} is in use; choose another port")

    project_file = root / "project.yml"
    project_file.write_text(yaml.safe_dump(_project(deployment), sort_keys=False))
    (root / "nvflare_home").mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "nvflare.cli", "poc", "prepare", "-i", str(project_file), "--force"],
        env=deployment._env(cli_home=True), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0 or not deployment.admin_startup_kit.is_dir():
        raise PocError(f"`nvflare poc prepare` failed (exit {done.returncode}): {(done.stdout + done.stderr)[-3000:]}")

    # Each participant keeps pretrained models in a cache of its own, as separate machines would.
    for site, kda_url in deployment.sites.items():
        settings: dict = {"kda_url": kda_url, "pretrained_cache": str(deployment.site_dir(site) / "pretrained_cache")}
        if env_cache:
            settings["environment"] = {"backend": "local", "cache_dir": str(env_cache)}
        _write_json(deployment.site_dir(site) / "local" / SITE_CONFIG_FILE, settings)
    server_settings: dict = {"pretrained_cache": str(deployment.server_dir / "pretrained_cache")}
    if storage_url:
        server_settings["storage_url"] = storage_url
    _write_json(deployment.server_dir / "local" / SITE_CONFIG_FILE, server_settings)
    _write_json(root / DEPLOYMENT_FILE, {
        "sites": deployment.sites, "storage_url": storage_url, "port": deployment.port,
        "project_name": deployment.project_name, "marker": deployment.marker, "username": deployment.username,
    })  # fmt: skip
    return deployment


def load_poc(root: str | Path) -> PocDeployment:
    """The deployment ``prepare_poc`` made in ``root`` (to start, inspect or stop it from another process).

    Raises:
        PocError: ``root`` holds no prepared deployment.
    """
    path = Path(root).resolve() / DEPLOYMENT_FILE
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PocError(f"{path}: no POC deployment prepared here ({exc}); run prepare_poc first") from exc
    if "platform_url" in settings:  # a deployment prepared before the key was renamed
        settings["storage_url"] = settings.pop("platform_url")
    return PocDeployment(root=path.parent, **settings)


def _project(deployment: PocDeployment) -> dict:
    """NVFlare's POC project (``nvflare/lighter/dummy_project.yml``) with our server port and sites."""
    import yaml
    from nvflare import lighter

    project = yaml.safe_load((Path(lighter.__file__).parent / "dummy_project.yml").read_text())
    project["name"] = deployment.project_name
    participants = [p for p in project["participants"] if p["type"] not in ("server", "client")]
    server = {"name": SERVER, "type": "server", "org": "nvidia", "fed_learn_port": deployment.port}
    clients = [{"name": site, "type": "client", "org": "nvidia"} for site in deployment.sites]
    project["participants"] = [server, *clients, *participants]
    return project


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _write_json(path: Path, settings: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
