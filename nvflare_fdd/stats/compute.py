"""A site's statistics summary, computed from its KDA in one read and a few numpy group-bys.

The rows are grouped once at the finest level (test, test type, measurement type, test
subject); counts, censored counts, data types and units roll up from those few groups to the
coarser levels, and each level's mean, min, max and median come from one pandas group-by over
the uncensored values. See :mod:`nvflare_fdd.stats.contract` for what the summary holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from nvflare_fdd.kda.schema import test_key
from nvflare_fdd.stats.contract import (
    DEFAULT_MIN_CELL_SIZE,
    FORMAT,
    LEVELS,
    NONE_LABEL,
    STAT_NAMES,
    count_bucket,
    round_stat,
)
from nvflare_fdd.stats.reader import KdaColumns, read_kda_columns


def site_statistics(url: str, institution: str, min_cell_size: int = DEFAULT_MIN_CELL_SIZE) -> dict:
    """The statistics summary of the KDA at ``url``: what a site shares, nothing more.

    Args:
        url: the site's KDA (SQLAlchemy URL or SQLite file path).
        institution: the site's name, recorded in the summary.
        min_cell_size: nodes with fewer uncensored values than this show buckets only.

    Raises:
        KdaError: the KDA cannot be read.
    """
    return summarize(read_kda_columns(url), institution, min_cell_size)


def summarize(
    columns: KdaColumns, institution: str, min_cell_size: int = DEFAULT_MIN_CELL_SIZE, taken_at: str | None = None
) -> dict:
    """Build the summary (format ``fdd-stats/1``) of the rows in ``columns``.

    Args:
        columns: the KDA's rows, from :func:`nvflare_fdd.stats.reader.read_kda_columns`.
        institution: recorded in the summary.
        min_cell_size: see :func:`site_statistics`; must be ≥ 0.
        taken_at: ISO 8601 time of the snapshot; default now (UTC).

    Raises:
        ValueError: ``min_cell_size`` is negative.
    """
    if min_cell_size < 0:
        raise ValueError(f"min_cell_size must be ≥ 0, got {min_cell_size}")
    groups = _FinestGroups.of(columns)
    nodes_by_level = [_level_nodes(groups, columns, depth, min_cell_size) for depth in range(len(LEVELS))]
    for depth in range(len(LEVELS) - 1, 0, -1):
        for node, parent in nodes_by_level[depth]:
            nodes_by_level[depth - 1][parent][0]["children"].append(node)
    for level_nodes in nodes_by_level:
        for node, _ in level_nodes:
            node["children"].sort(key=_node_order)
    tests = sorted((node for node, _ in nodes_by_level[0]), key=_node_order)
    return {
        "format": FORMAT,
        "institution": institution,
        "taken_at": taken_at or datetime.now(UTC).isoformat(timespec="milliseconds"),
        "min_cell_size": int(min_cell_size),
        "tests": tests,
    }


@dataclass(frozen=True)
class _FinestGroups:
    """Rows grouped by (test key, test type, measurement type, test subject).

    Attributes:
        row_group: per row, the index of its group.
        level_codes: per level, per group, the code of its label in ``labels[level]``.
        labels: per level, the labels (test keys at the test level).
        test_names: per test key code, the test name shown for it.
        rows / censored / exact: per group, its row count, censored rows and usable uncensored values.
        data_types / units: per group, the data types and units among its rows.
        exact_mask: per row, whether its value enters the statistics (uncensored and finite).
    """

    row_group: np.ndarray
    level_codes: list[np.ndarray]
    labels: list[list[str]]
    test_names: list[str]
    rows: np.ndarray
    censored: np.ndarray
    exact: np.ndarray
    data_types: list[frozenset[str]]
    units: list[frozenset[str]]
    exact_mask: np.ndarray

    @classmethod
    def of(cls, columns: KdaColumns) -> _FinestGroups:
        test_codes, test_labels, test_names = _test_levels(columns)
        row_levels, labels = [test_codes], [test_labels]
        for name in LEVELS[1:]:
            codes, level_labels = _normalized(columns, name, lambda label: label or NONE_LABEL)
            row_levels.append(codes)
            labels.append(level_labels)
        row_group = _combine(row_levels, labels, columns.rows)
        count = int(row_group.max()) + 1 if columns.rows else 0
        member = np.zeros(count, dtype=np.int64)
        member[row_group] = np.arange(columns.rows)  # one row of each group: all share its labels
        censored_rows = ~columns.exact()
        exact_mask = ~censored_rows & np.isfinite(columns.values)
        return cls(
            row_group=row_group,
            level_codes=[codes[member] for codes in row_levels],
            labels=labels,
            test_names=test_names,
            rows=np.bincount(row_group, minlength=count),
            censored=np.bincount(row_group[censored_rows], minlength=count),
            exact=np.bincount(row_group[exact_mask], minlength=count),
            data_types=_names_per_group(columns, "data_type", row_group, count),
            units=_names_per_group(columns, "measurement_unit", row_group, count),
            exact_mask=exact_mask,
        )


def _combine(codes_per_level: list[np.ndarray], labels: list[list[str]], size: int) -> np.ndarray:
    """Group indexes (0, 1, ...) of the distinct combinations of the levels' codes.

    Folded one level at a time, so no intermediate exceeds ``size × labels``: no overflow however
    many distinct names a column holds.
    """
    combined = np.zeros(size, dtype=np.int64)
    for codes, level_labels in zip(codes_per_level, labels):
        combined = pd.factorize(combined * len(level_labels) + codes)[0].astype(np.int64)
    return combined


def _level_nodes(groups: _FinestGroups, columns: KdaColumns, depth: int, min_cell_size: int) -> list[tuple[dict, int]]:
    """The nodes of one level, each with the index of its parent among the level above's nodes."""
    group_of = _prefix_groups(groups, depth + 1)  # finest group → this level's group
    parent_of = _prefix_groups(groups, depth) if depth else np.zeros(len(group_of), dtype=np.int64)
    count = int(group_of.max()) + 1 if len(group_of) else 0
    rows = np.bincount(group_of, weights=groups.rows, minlength=count)
    censored = np.bincount(group_of, weights=groups.censored, minlength=count)
    exact = np.bincount(group_of, weights=groups.exact, minlength=count)
    stats = (
        pd.Series(columns.values[groups.exact_mask])
        .groupby(group_of[groups.row_group[groups.exact_mask]])
        .agg(list(STAT_NAMES))
        .reindex(range(count))
        .to_numpy()
    )
    data_types, units = _roll_up(groups.data_types, group_of, count), _roll_up(groups.units, group_of, count)
    member = np.zeros(count, dtype=np.int64)
    member[group_of] = np.arange(len(group_of))  # one finest group of each node: all share its labels

    nodes = []
    for index in range(count):
        code = int(groups.level_codes[depth][member[index]])
        node: dict[str, Any]
        if depth == 0:
            node = {"level": LEVELS[0], "name": groups.test_names[code], "key": groups.labels[0][code]}
        else:
            node = {"level": LEVELS[depth], "name": groups.labels[depth][code]}
        node.update(
            data_types=data_types[index],
            units=units[index],
            count=count_bucket(int(rows[index])),
            censored=count_bucket(int(censored[index])),
            stats=None,
            children=[],
        )
        if exact[index] >= max(min_cell_size, 1):
            node["stats"] = {name: round_stat(float(value)) for name, value in zip(STAT_NAMES, stats[index])}
        nodes.append((node, int(parent_of[member[index]])))
    return nodes


def _prefix_groups(groups: _FinestGroups, depth: int) -> np.ndarray:
    """Per finest group, the index of its group at ``depth`` levels (0 puts all in one group)."""
    return _combine(groups.level_codes[:depth], groups.labels[:depth], len(groups.rows))


def _roll_up(names_per_group: list[frozenset[str]], group_of: np.ndarray, count: int) -> list[list[str]]:
    """Per node, the sorted union of its finest groups' names."""
    found: list[set[str]] = [set() for _ in range(count)]
    for group, names in zip(group_of.tolist(), names_per_group):
        found[group].update(names)
    return [sorted(names) for names in found]


def _names_per_group(columns: KdaColumns, column: str, row_group: np.ndarray, count: int) -> list[frozenset[str]]:
    """Per finest group, the distinct non-empty (stripped) values of ``column`` among its rows."""
    codes, labels = _normalized(columns, column, lambda label: label)
    width = max(len(labels), 1)
    found: list[set[str]] = [set() for _ in range(count)]
    for group, code in zip(*np.divmod(np.unique(row_group * width + codes), width)):
        if labels[code]:
            found[group].add(labels[code])
    return [frozenset(names) for names in found]


def _normalized(columns: KdaColumns, column: str, relabel) -> tuple[np.ndarray, list[str]]:
    """Codes of ``column`` over the distinct stripped labels it holds, each passed through ``relabel``."""
    raw_codes = columns.codes[column]
    used = np.flatnonzero(np.bincount(raw_codes, minlength=len(columns.vocabulary)))
    mapping: dict[str, int] = {}
    remap = np.zeros(len(columns.vocabulary), dtype=np.int64)
    for code in used.tolist():
        remap[code] = mapping.setdefault(relabel((columns.vocabulary[code] or "").strip()), len(mapping))
    return remap[raw_codes], list(mapping)


def _test_levels(columns: KdaColumns) -> tuple[np.ndarray, list[str], list[str]]:
    """Rows' test key codes, the keys, and per key its most frequent test name (ties: first in order)."""
    names, name_labels = _normalized(columns, "test", lambda label: label or NONE_LABEL)
    key_of_name: dict[str, int] = {}
    remap = np.array([key_of_name.setdefault(test_key(name), len(key_of_name)) for name in name_labels], dtype=np.int64)
    keys = list(key_of_name)
    rows_per_name = np.bincount(names, minlength=len(name_labels))
    shown: dict[int, tuple[int, str]] = {}
    for index, name in enumerate(name_labels):
        key, rows = int(remap[index]), int(rows_per_name[index])
        best = shown.get(key)
        if rows and (best is None or (-rows, name) < (-best[0], best[1])):
            shown[key] = (rows, name)
    test_names = [shown.get(key, (0, keys[key]))[1] for key in range(len(keys))]
    return remap[names], keys, test_names


def _node_order(node: dict) -> tuple:
    name = node["name"]
    return (name == NONE_LABEL, name.casefold(), name)
