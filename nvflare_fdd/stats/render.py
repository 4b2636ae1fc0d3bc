"""The data information page in a terminal: a summary's level tree as an aligned table."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from nvflare_fdd.kda.schema import test_key
from nvflare_fdd.stats.contract import BUCKETS, LEVEL_TITLES, LEVELS, STAT_NAMES

_INDENT = "  "
_HEADER = ("/".join(LEVEL_TITLES), "type", "count", "censored", *STAT_NAMES, "unit")


def prune(summary: dict, test: str | None = None, level: int = len(LEVELS)) -> dict:
    """A copy of ``summary`` with only ``test`` (a key or name; all when ``None``), cut below ``level``.

    Raises:
        ValueError: ``level`` is not 1–4.
    """
    if not 1 <= level <= len(LEVELS):
        raise ValueError(f"level must be 1 to {len(LEVELS)}, got {level}")
    chosen = copy.deepcopy(summary)
    if test is not None:
        chosen["tests"] = [node for node in chosen["tests"] if node["key"] == test_key(test)]
    _cut(chosen["tests"], level - 1)
    return chosen


def render_summary(summary: dict, test: str | None = None, level: int = 1) -> str:
    """The tree of ``summary`` as text: one heading line, then one row per node down to ``level``.

    A ``test`` the institution does not hold shows as one row with count ``0``.
    """
    chosen = prune(summary, test, level)
    rows = [_HEADER]
    for node in chosen["tests"]:
        _rows(node, 0, rows)
    if test is not None and not chosen["tests"]:
        rows.append((test_key(test), "", BUCKETS[0], BUCKETS[0], *("",) * len(STAT_NAMES), ""))
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADER))]
    lines = [_heading(summary)]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.ljust(width) for cell, width in zip(row[1:4], widths[1:4])]
        cells += [cell.rjust(width) for cell, width in zip(row[4:-1], widths[4:-1])]
        cells.append(row[-1])
        lines.append("  ".join(cells).rstrip())
    if not chosen["tests"] and test is None:
        lines.append("(no data)")
    return "\n".join(lines)


def _heading(summary: dict) -> str:
    taken = datetime.fromisoformat(summary["taken_at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    size = summary["min_cell_size"]
    return (
        f"{summary['institution']} — taken {taken}; mean/min/max/median of the uncensored (=) values,"
        f" where at least {size} exist"
    )


def _rows(node: dict, depth: int, rows: list[tuple[str, ...]]) -> None:
    stats = node["stats"] or {}
    rows.append(
        (
            _INDENT * depth + node["name"],
            "/".join(node["data_types"]),
            node["count"],
            node["censored"],
            *(f"{stats[name]:.4g}" if name in stats else "-" for name in STAT_NAMES),
            ", ".join(node["units"]),
        )
    )
    for child in node["children"]:
        _rows(child, depth + 1, rows)


def _cut(nodes: list[dict], depth: int) -> None:
    for node in nodes:
        if depth == 0:
            node["children"] = []
        else:
            _cut(node["children"], depth - 1)
