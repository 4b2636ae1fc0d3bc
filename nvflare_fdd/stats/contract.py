"""What a site's statistics summary holds, and the check the server applies to every one it receives.

A summary is plain JSON data (format ``fdd-stats/1``)::

    {"format": "fdd-stats/1", "institution": "pharma_a",
     "taken_at": "2026-11-26T04:52:00.123+00:00", "min_cell_size": 5,
     "tests": [<node>, ...]}

and a node, at each level of Test → Test Type → Measurement Type → Test Subject::

    {"level": "test", "name": "Solubility", "key": "solubility",   # "key" on test nodes only
     "data_types": ["ADMET"], "units": ["log(mol/L)"],
     "count": "100–1000", "censored": "0",
     "stats": {"mean": -2.61, "min": -11.6, "max": 1.58, "median": -2.48},   # or null
     "children": [<node of the next level>, ...]}                          # [] at test_subject

Privacy rules, all applied at the site:

- ``count`` (rows in the node) and ``censored`` (rows whose relation is ``<``, ``>``, ``<=`` or
  ``>=``) are buckets only: ``0`` → ``"0"``, 1–100 → ``"≤100"``, 101–1000 → ``"100–1000"``,
  1001 and more → ``">1000"``. The censored count is a bucket too: an exact count of a subset
  is an exact count (all rows censored would give the total away).
- ``stats`` are taken over the uncensored (``=``) values only; a censored value bounds the
  measurement rather than giving it, so it is kept out of the mean, median, min and max alike.
  They are ``null`` when fewer than ``min_cell_size`` uncensored values exist (the site's
  minimum cell size; only the buckets are shown then), and rounded to 4 significant digits, so
  a mean's last digits cannot betray its denominator (the exact count).
- An empty level value (no test type, no test subject) is a node named ``"(none)"``.

The only integer in a summary is ``min_cell_size``, the site's own setting, not a count.
``screen_summary`` enforces exactly this shape, so the server refuses, rather than edits, a
payload that carries anything else; its messages name the offending place and the kind of value
found there, never the value itself (a refused count must not reach the server's log either).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from nvflare_fdd.errors import StatsError as StatsError  # defined in errors.py, importable from here too
from nvflare_fdd.errors import StatsPayloadError

FORMAT = "fdd-stats/1"
#: The collector's record of one statistics job, ``<run dir>/fdd/stats.json``.
RUN_FORMAT = "fdd-stats-run/1"
STATS_JSON = "stats.json"

#: The level tree, top first: level ``n`` of the data information page is ``LEVELS[n - 1]``.
LEVELS: tuple[str, ...] = ("test", "test_type", "measurement_type", "test_subject")
LEVEL_TITLES: tuple[str, ...] = ("Test", "Test Type", "Measurement Type", "Test Subject")

#: The four count buckets, smallest first.
BUCKETS: tuple[str, ...] = ("0", "≤100", "100–1000", ">1000")
#: Label of a node whose level value is empty.
NONE_LABEL = "(none)"
#: Site setting used when neither ``fdd_site.json`` nor the environment sets one.
DEFAULT_MIN_CELL_SIZE = 5
SIGNIFICANT_DIGITS = 4
STAT_NAMES: tuple[str, ...] = ("mean", "min", "max", "median")

# Limits of the server-side check: generous for real data, small enough to refuse a flood.
MAX_NODES = 200_000
MAX_NAME_LENGTH = 256
MAX_LIST_ITEMS = 64

_SUMMARY_KEYS = frozenset({"format", "institution", "taken_at", "min_cell_size", "tests"})
_NODE_KEYS = frozenset({"level", "name", "data_types", "units", "count", "censored", "stats", "children"})


def count_bucket(count: int) -> str:
    """The bucket of a row count: 0, 1–100, 101–1000 or 1001 and more (see ``BUCKETS``).

    Raises:
        ValueError: ``count`` is negative.
    """
    if count < 0:
        raise ValueError(f"a count cannot be negative, got {count}")
    if count == 0:
        return BUCKETS[0]
    if count <= 100:
        return BUCKETS[1]
    if count <= 1000:
        return BUCKETS[2]
    return BUCKETS[3]


def round_stat(value: float) -> float:
    """``value`` rounded to ``SIGNIFICANT_DIGITS`` significant digits, as a float."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def screen_summary(payload: Any, institution: str | None = None) -> dict:
    """Check that ``payload`` is a summary as described above, and return it unchanged.

    Args:
        payload: what a site sent.
        institution: the site it came from; the summary must name the same one.

    Raises:
        StatsPayloadError: anything off the contract: an unknown key, a count that is not a
            bucket, an integer or non-finite statistic, a level out of order, too many nodes.
    """
    if not isinstance(payload, dict):
        raise StatsPayloadError(f"a summary must be a JSON object, got {type(payload).__name__}")
    _check_keys(payload, _SUMMARY_KEYS, "the summary")
    if payload["format"] != FORMAT:
        raise StatsPayloadError(f"unknown summary format ({_kind(payload['format'])}); expected {FORMAT!r}")
    name = _check_name(payload["institution"], "institution")
    if institution is not None and name != institution:
        raise StatsPayloadError(f"a summary from {institution} names institution {name!r}")
    _check_timestamp(payload["taken_at"])
    size = payload["min_cell_size"]
    if not _is_int(size) or size < 0:
        raise StatsPayloadError(f"min_cell_size must be a whole number ≥ 0, got {_kind(size)}")
    budget = [MAX_NODES]
    _check_nodes(payload["tests"], 0, budget, "tests")
    return payload


def _check_nodes(nodes: Any, depth: int, budget: list[int], where: str) -> None:
    if not isinstance(nodes, list):
        raise StatsPayloadError(f"{where} must be a list")
    for index, node in enumerate(nodes):
        budget[0] -= 1
        if budget[0] < 0:
            raise StatsPayloadError(f"the summary has more than {MAX_NODES} nodes")
        _check_node(node, depth, budget, f"{where}[{index}]")


def _check_node(node: Any, depth: int, budget: list[int], where: str) -> None:
    if not isinstance(node, dict):
        raise StatsPayloadError(f"{where} must be a JSON object")
    level = LEVELS[depth]
    _check_keys(node, _NODE_KEYS | ({"key"} if level == "test" else set()), where)
    if node["level"] != level:
        raise StatsPayloadError(f"{where}: level must be {level!r}, got {_kind(node['level'])}")
    _check_name(node["name"], f"{where}.name")
    if level == "test":
        _check_name(node["key"], f"{where}.key")
    for field in ("data_types", "units"):
        values = node[field]
        if not isinstance(values, list) or len(values) > MAX_LIST_ITEMS:
            raise StatsPayloadError(f"{where}.{field} must be a list of at most {MAX_LIST_ITEMS} names")
        for value in values:
            _check_name(value, f"{where}.{field}")
    for field in ("count", "censored"):
        if node[field] not in BUCKETS:
            raise StatsPayloadError(f"{where}.{field} must be one of {', '.join(BUCKETS)}, got {_kind(node[field])}")
    _check_stats(node["stats"], where)
    children = node["children"]
    if depth == len(LEVELS) - 1:
        if children != []:
            raise StatsPayloadError(f"{where}: a {level} node has no children")
        return
    _check_nodes(children, depth + 1, budget, f"{where}.children")


def _check_stats(stats: Any, where: str) -> None:
    if stats is None:
        return
    if not isinstance(stats, dict) or set(stats) != set(STAT_NAMES):
        raise StatsPayloadError(f"{where}.stats must be null or hold exactly {', '.join(STAT_NAMES)}")
    for name, value in stats.items():
        if type(value) is not float or not math.isfinite(value):
            raise StatsPayloadError(f"{where}.stats.{name} must be a finite float, got {_kind(value)}")


def _check_keys(mapping: dict, expected: frozenset | set, where: str) -> None:
    if set(mapping) != expected:
        extra = sorted(_key_name(key) for key in set(mapping) - expected)
        missing = sorted(expected - set(mapping))
        details = [f"unexpected {', '.join(extra)}"] if extra else []
        details += [f"missing {', '.join(missing)}"] if missing else []
        raise StatsPayloadError(f"{where}: {'; '.join(details)}")


def _check_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH:
        raise StatsPayloadError(
            f"{where} must be a non-empty string of at most {MAX_NAME_LENGTH} characters, got {_kind(value)}"
        )
    return value


def _check_timestamp(value: Any) -> None:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise StatsPayloadError(f"taken_at must be an ISO 8601 time with a time zone, got {_kind(value)}")


def _kind(value: Any) -> str:
    """What ``value`` is, without the value: a refused payload may hold exactly what must not be kept."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"another string ({len(value)} characters)"
    return f"a {type(value).__name__}"


def _key_name(key: Any) -> str:
    """An unexpected key as shown in a message: its name when it looks like one, else only that it is there."""
    return key if isinstance(key, str) and key.isidentifier() and len(key) <= 32 else "a key of another form"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
