"""A site's statistics settings: its minimum cell size.

``stats_min_cell_size`` in the site's ``local/fdd_site.json``, overridden by
``$FDD_STATS_MIN_CELL_SIZE``; default ``DEFAULT_MIN_CELL_SIZE`` (5). Nodes with fewer
uncensored values than this show their count buckets only (no mean, min, max or median).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nvflare_fdd.site_config import SITE_CONFIG_FILE, read_site_file
from nvflare_fdd.stats.contract import DEFAULT_MIN_CELL_SIZE, StatsError

MIN_CELL_SIZE_KEY = "stats_min_cell_size"
MIN_CELL_SIZE_ENV = "FDD_STATS_MIN_CELL_SIZE"


def min_cell_size_for(site_config_dir: str | Path | None) -> int:
    """The site's minimum cell size: ``$FDD_STATS_MIN_CELL_SIZE``, else ``fdd_site.json``, else the default.

    Raises:
        StatsError: the value set is not a whole number ≥ 0.
        FddError: ``fdd_site.json`` is not a JSON object.
    """
    if os.environ.get(MIN_CELL_SIZE_ENV, "").strip():
        return parse_min_cell_size(os.environ[MIN_CELL_SIZE_ENV].strip(), f"${MIN_CELL_SIZE_ENV}")
    settings = read_site_file(site_config_dir)
    if settings.get(MIN_CELL_SIZE_KEY) is not None:
        return parse_min_cell_size(settings[MIN_CELL_SIZE_KEY], f"{SITE_CONFIG_FILE} {MIN_CELL_SIZE_KEY!r}")
    return DEFAULT_MIN_CELL_SIZE


def parse_min_cell_size(value: Any, source: str) -> int:
    """``value`` as a minimum cell size (a whole number ≥ 0).

    Raises:
        StatsError: naming ``source`` and the bad value.
    """
    number = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise StatsError(f"{source} must be a whole number ≥ 0 (e.g. 5), got {value!r}")
    return number
