"""The statistics job: its folder from the ``fdd_stats`` template, and a run in the NVFlare simulator.

``create_stats_job`` writes a folder that NVFlare's simulator, POC and a provisioned deployment
all accept (``meta.conf`` and one app for every site; no ``custom/`` code, see the template's
``info.md`` on the class allow-list). ``run_stats_simulation`` runs it with each site's KDA given
by ``$FDD_KDA_URLS`` and returns what the server collected.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvflare_fdd.errors import FddError
from nvflare_fdd.jobs import JOB_NAME, write_job_folder
from nvflare_fdd.simulate import LOG_FILE, check_sites, log_tail, simulate, simulator_env
from nvflare_fdd.stats.contract import RUN_FORMAT, STATS_JSON, StatsError, StatsPayloadError, screen_summary
from nvflare_fdd.stats.settings import MIN_CELL_SIZE_ENV

STATS_TEMPLATE = "fdd_stats"
NVFLARE_FOLDER = "nvflare"
#: The class allow-list entry a site and the server need for this job (it has no ``custom/`` code).
STATS_CLASS_PREFIX = "nvflare_fdd.stats."


@dataclass(frozen=True)
class StatsRun:
    """What a statistics job collected.

    Attributes:
        summaries: site → its summary, as the server received it.
        failures: site → why it has no summary.
        stats_json: the collector's ``stats.json``.
        seconds: how long the run took.
    """

    summaries: dict[str, dict]
    failures: dict[str, str]
    stats_json: Path
    seconds: float = 0.0


def create_stats_job(
    job_dir: str | Path,
    sites: Sequence[str] | None = None,
    name: str | None = None,
    server_vars: Mapping[str, Any] | None = None,
    client_vars: Mapping[str, Any] | None = None,
) -> Path:
    """Write an NVFlare job folder of the ``fdd_stats`` template.

    Args:
        job_dir: the folder to create (must not exist or be empty).
        sites: the sites the job needs (``min_clients``); ``None`` leaves the template's 1.
        name: job name (letters, digits, ``_``); default the folder name.
        server_vars / client_vars: top-level keys to set in the server / client config.

    Raises:
        FddError: a bad name, or ``job_dir`` is not empty.
    """
    job_dir = Path(job_dir)
    name = name or job_dir.name
    if not JOB_NAME.match(name):
        raise FddError(f"job name {name!r} may use only English letters, digits and _")
    if job_dir.exists() and any(job_dir.iterdir()):
        raise FddError(f"{job_dir} already exists and is not empty; choose another folder or remove it")
    return write_job_folder(job_dir, STATS_TEMPLATE, name, sites, server_vars, client_vars)


def run_stats_simulation(
    sites: Mapping[str, str],
    work_dir: str | Path,
    min_cell_size: int | None = None,
    timeout: float | None = 600,
    job_name: str = "fdd_stats",
) -> StatsRun:
    """Run the statistics job across ``sites`` in the NVFlare simulator.

    Args:
        sites: site name → KDA URL; each site is one simulated client.
        work_dir: the job, the simulator workspace and its log go to ``work_dir/nvflare``
            (replaced); the collected ``stats.json`` is copied to ``work_dir``.
        min_cell_size: every simulated site's minimum cell size (``$FDD_STATS_MIN_CELL_SIZE``);
            ``None`` keeps the environment's or the default.
        timeout: seconds before the run is stopped; ``None`` waits for ever.
        job_name: the NVFlare job name.

    Raises:
        FddError: no sites, or a bad site name.
        StatsError: the simulator failed, timed out, or left no ``stats.json``.
    """
    check_sites(sites)
    work_dir = Path(work_dir)
    work = work_dir / NVFLARE_FOLDER
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work_dir / STATS_JSON).unlink(missing_ok=True)
    job_dir = create_stats_job(work / job_name, sites=list(sites), name=job_name)
    workspace, log_path = work / "workspace", work / LOG_FILE
    extra = {MIN_CELL_SIZE_ENV: str(min_cell_size)} if min_cell_size is not None else {}
    started = time.monotonic()
    return_code, fatal = simulate(
        job_dir, sites, workspace, log_path, timeout=timeout, env=simulator_env(sites, **extra),
        progressed=lambda ws: _collected(ws) is not None, before_start=lambda ws: allow_stats_classes(ws / "local"),
    )  # fmt: skip
    collected = _collected(workspace)
    if fatal:
        raise StatsError(f"the NVFlare simulator broke down and was stopped: {fatal}\n{log_tail(log_path)}")
    if return_code is None:
        raise StatsError(f"the statistics job did not finish within {timeout:.0f} s and was stopped; see {log_path}")
    if collected is None:
        raise StatsError(
            f"the statistics job ended (exit code {return_code}) without collecting anything:\n{log_tail(log_path)}"
        )
    stats_json = work_dir / STATS_JSON
    shutil.copy2(collected, stats_json)
    summaries, failures = read_stats_json(stats_json)
    return StatsRun(summaries, failures, stats_json, time.monotonic() - started)


def allow_stats_classes(site_config_dir: str | Path) -> Path:
    """Add ``STATS_CLASS_PREFIX`` to the class allow-list in ``site_config_dir/resources.json``.

    What a site's or the server's operator does once so that the job, which has no ``custom/``
    code, may build its components; the simulator copies its workspace's ``local/`` folder to
    every participant. NVFlare reads ``resources.json`` *instead of* ``resources.json.default``,
    so a missing ``resources.json`` starts as a copy of the default file; a file without a
    ``class_allow_list`` starts from NVFlare's default list, as NVFlare would.

    Returns:
        The ``resources.json`` written.
    """
    folder = Path(site_config_dir)
    path = folder / "resources.json"
    source = path if path.is_file() else folder / "resources.json.default"
    resources: dict[str, Any] = json.loads(source.read_text()) if source.is_file() else {"format_version": 2}
    if "class_allow_list" not in resources:
        resources["class_allow_list"] = list(_default_class_allow_list())
    if STATS_CLASS_PREFIX not in resources["class_allow_list"]:
        resources["class_allow_list"].append(STATS_CLASS_PREFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(resources, indent=2) + "\n")
    return path


def _default_class_allow_list() -> tuple[str, ...]:
    try:  # NVFlare 2.9; 2.7 has no class allow-list
        from nvflare.app_common.default_component_policy import DEFAULT_CLASS_ALLOW_LIST
    except ImportError:
        return ()
    return tuple(DEFAULT_CLASS_ALLOW_LIST)


def read_stats_json(path: str | Path) -> tuple[dict[str, dict], dict[str, str]]:
    """The summaries and failures in a collector's ``stats.json``, each summary checked again.

    Raises:
        StatsError: the file is unreadable or not a collector's record.
    """
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StatsError(f"cannot read {path}: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != RUN_FORMAT:
        raise StatsError(f"{path} is not a statistics job's record (format {RUN_FORMAT})")
    failures = {str(site): str(reason) for site, reason in (record.get("failures") or {}).items()}
    summaries = {}
    for site, summary in (record.get("summaries") or {}).items():
        try:
            summaries[site] = screen_summary(summary, institution=site)
        except StatsPayloadError as exc:
            failures[site] = f"summary refused: {exc}"
    return summaries, failures


def _collected(workspace: Path) -> Path | None:
    """The collector's ``stats.json`` inside a simulator workspace (its depth differs across NVFlare versions)."""
    for path in workspace.glob(f"**/server/**/fdd/{STATS_JSON}"):
        if path.is_file():
            return path
    return None
