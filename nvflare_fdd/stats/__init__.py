"""Data information: federated statistics of each site's KDA assay data (DESIGN §4).

Each site summarises its own KDA: per test, the level tree Test → Test Type → Measurement
Type → Test Subject with counts as buckets only and the mean, min, max and median of the
uncensored values (:mod:`~nvflare_fdd.stats.contract` says exactly what a summary holds).
Only the summary leaves the site, as the reply to the ``stats`` task of the ``fdd_stats`` job
(``executor.FddStatsExecutor`` on the sites, ``collector.FddStatsCollector`` on the server);
``store`` keeps the summaries per institution and time.

This package imports NVFlare only in ``executor`` and ``collector``.
"""

from __future__ import annotations

from nvflare_fdd.stats.compute import site_statistics, summarize
from nvflare_fdd.stats.contract import (
    BUCKETS,
    DEFAULT_MIN_CELL_SIZE,
    FORMAT,
    LEVELS,
    NONE_LABEL,
    StatsError,
    StatsPayloadError,
    count_bucket,
    screen_summary,
)
from nvflare_fdd.stats.job import StatsRun, create_stats_job, read_stats_json, run_stats_simulation
from nvflare_fdd.stats.reader import KdaColumns, read_kda_columns
from nvflare_fdd.stats.render import prune, render_summary
from nvflare_fdd.stats.settings import MIN_CELL_SIZE_ENV, MIN_CELL_SIZE_KEY, min_cell_size_for
from nvflare_fdd.stats.store import STATS_DIR_ENV, JsonStatsStore, PlatformStatsStore, StatsStore, default_stats_dir, stats_store

__all__ = [
    "BUCKETS",
    "DEFAULT_MIN_CELL_SIZE",
    "FORMAT",
    "LEVELS",
    "MIN_CELL_SIZE_ENV",
    "MIN_CELL_SIZE_KEY",
    "NONE_LABEL",
    "STATS_DIR_ENV",
    "JsonStatsStore",
    "KdaColumns",
    "PlatformStatsStore",
    "StatsError",
    "StatsPayloadError",
    "StatsRun",
    "StatsStore",
    "count_bucket",
    "create_stats_job",
    "default_stats_dir",
    "min_cell_size_for",
    "prune",
    "read_kda_columns",
    "read_stats_json",
    "render_summary",
    "run_stats_simulation",
    "screen_summary",
    "site_statistics",
    "stats_store",
    "summarize",
]
