"""A real NVFlare run of the pretrained-model transfer: a job whose sites fetch models from the server's store."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from nvflare_fdd.platform.config import STORAGE_URL_ENV
from nvflare_fdd.simulate import LOG_FILE, log_tail, simulate, simulator_env

APP = Path(__file__).resolve().parent / "flare_app"
RESULTS = "fetch_results.json"


def write_fetch_job(job_dir: Path, names: Sequence[str], sites: Sequence[str], cache_root: Path,
                    server_args: Mapping | None = None, timeout: float = 120.0) -> Path:
    """A job folder: the server's ``PretrainedServer`` and ``FetchController``, each site's ``FetchExecutor``."""
    config = job_dir / "app" / "config"
    config.mkdir(parents=True)
    shutil.copytree(APP, job_dir / "app" / "custom", ignore=shutil.ignore_patterns("__pycache__"))
    (job_dir / "meta.json").write_text(json.dumps({
        "name": job_dir.name, "resource_spec": {}, "min_clients": len(sites), "deploy_map": {"app": ["@ALL"]},
    }))  # fmt: skip
    (config / "config_fed_server.json").write_text(json.dumps({
        "format_version": 2,
        "workflows": [{"id": "fetch", "path": "fetch_app.FetchController", "args": {"names": list(names), "sites": len(sites)}}],
        "components": [{"id": "fdd_pretrained", "path": "nvflare_fdd.pretrained.server.PretrainedServer",
                        "args": dict(server_args or {})}],
    }))  # fmt: skip
    (config / "config_fed_client.json").write_text(json.dumps({
        "format_version": 2,
        "executors": [{"tasks": ["fetch"], "executor": {"path": "fetch_app.FetchExecutor",
                                                       "args": {"cache_root": str(cache_root), "timeout": timeout}}}],
        "components": [],
    }))  # fmt: skip
    return job_dir


def run_fetch_job(work: Path, storage_url: str, names: Sequence[str], sites: Sequence[str] = ("site_a", "site_b"),
                  timeout: float = 300, server_args: Mapping | None = None) -> tuple[dict, float, Path]:
    """Run the fetch job in the NVFlare simulator (the server finds the store through ``$FDD_STORAGE_URL``).

    Returns:
        ``(fetch_results.json as a dict, seconds, the simulator's log)``.
    """
    cache_root = work / "caches"
    job_dir = write_fetch_job(work / "fetch_job", names, sites, cache_root, server_args)
    workspace, log_path = work / "workspace", work / LOG_FILE
    placeholder = {site: "sqlite:///unused.db" for site in sites}  # the simulator's sites need no KDA here
    env = simulator_env(placeholder, **{STORAGE_URL_ENV: storage_url})
    started = time.monotonic()
    return_code, fatal = simulate(job_dir, placeholder, workspace, log_path, timeout=timeout, env=env)
    seconds = time.monotonic() - started
    candidates = list(workspace.glob(f"**/server/**/{RESULTS}"))
    if return_code != 0 or fatal or not candidates:
        raise AssertionError(f"the fetch job failed (exit {return_code}, {fatal}):\n{log_tail(log_path, 60)}")
    return json.loads(candidates[0].read_text()), seconds, log_path
