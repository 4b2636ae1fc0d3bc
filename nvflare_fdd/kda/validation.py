"""Check one sheet against the standard format and turn it into clean columns.

The checks are vectorised (a sheet may hold a million rows) and collect every problem,
so a provider fixes a file in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nvflare_fdd.kda.reader import Sheet
from nvflare_fdd.kda.schema import (
    DATA_COLUMNS,
    DATA_TYPES,
    RELATIONS,
    REQUIRED_COLUMNS,
    test_key,
)

#: ``(row number or None, message)``, as :class:`nvflare_fdd.errors.ImportRowsError` holds them.
Problem = tuple[int | None, str]

_REQUIRED_TEXT = tuple(name for name in REQUIRED_COLUMNS if name != "measurement_value")
_RANK = {name: rank for rank, name in enumerate(DATA_COLUMNS)}


@dataclass
class CleanSheet:
    """A validated sheet.

    Attributes:
        frame: one column per name in ``DATA_COLUMNS`` plus ``test_key``; text cells
            stripped ("" when empty), ``measurement_relation`` "=" when empty,
            ``measurement_value`` float64, ``data_type`` upper case. Only meaningful
            when ``problems`` is empty.
        problems: every problem found, in row order.
        ignored_columns: headers that are not standard columns, as written.
    """

    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def clean_sheet(sheet: Sheet, default_data_type: str) -> CleanSheet:
    """Validate a sheet and normalise its cells.

    Args:
        sheet: the text cells read from the file.
        default_data_type: the data type of rows with no ``data_type`` value (CSV only;
            a workbook sheet's rows take the sheet name).

    Returns:
        The clean sheet with every problem found; the caller decides what to do with them.
    """
    positions, ignored, header_problems = _map_headers(sheet.headers)
    problems: list[Problem] = [
        (None, f"missing required column {name!r}; {_columns_found(sheet.headers)}")
        for name in REQUIRED_COLUMNS
        if name not in positions
    ]
    problems.extend(header_problems)
    frame = _standard_frame(sheet.cells, positions)
    found: list[tuple[int, int, str]] = []  # (row, column rank, message)
    _check_required_text(frame, [name for name in _REQUIRED_TEXT if name in positions], found)
    frame["measurement_value"] = _parse_values(
        frame["measurement_value"], found, check="measurement_value" in positions
    )
    frame["measurement_relation"] = _parse_relations(frame["measurement_relation"], found)
    frame["data_type"] = _parse_data_types(
        frame["data_type"], sheet.name or default_data_type, sheet.name, found
    )
    frame["test_key"] = _test_keys(frame["test"])
    found.sort(key=lambda item: (item[0], item[1]))
    problems.extend((row, message) for row, _rank, message in found)
    if sheet.name is not None:
        problems = [(row, f"sheet {sheet.name}: {message}") for row, message in problems]
    return CleanSheet(frame, problems, ignored)


def _map_headers(headers: list[str]) -> tuple[dict[str, int], list[str], list[Problem]]:
    """Return ``{standard name: column position}``, the unknown headers, and header problems."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[Problem] = []
    for position, header in enumerate(headers):
        name = test_key(header)
        if not name:
            continue
        if name not in _RANK:
            ignored.append(header.strip())
        elif name in positions:
            first = headers[positions[name]].strip()
            again = header.strip()
            problems.append((1, f"column {name!r} appears twice (as {first!r} and {again!r})"))
        else:
            positions[name] = position
    return positions, ignored, problems


def _columns_found(headers: list[str]) -> str:
    names = [header.strip() for header in headers if header.strip()]
    if not names:
        return "the header row (row 1) is empty"
    return "columns found: " + ", ".join(repr(name) for name in names)


def _standard_frame(cells: pd.DataFrame, positions: dict[str, int]) -> pd.DataFrame:
    """Return the standard columns, stripped, absent ones empty, blank rows dropped."""
    present = {name: cells[position].str.strip() for name, position in positions.items()}
    blank = np.ones(len(cells), dtype=bool)
    for column in present.values():
        blank &= (column == "").to_numpy()
    index = cells.index[~blank]
    columns = {
        name: present[name][~blank] if name in present else pd.Series("", index=index, dtype=str)
        for name in DATA_COLUMNS
    }
    return pd.DataFrame(columns, index=index)


def _report(
    found: list[tuple[int, int, str]],
    frame_index: pd.Index,
    mask: np.ndarray,
    column: str,
    message_for: Callable[[int], str],
) -> None:
    """Append ``(row, rank of column, message)`` for every row where ``mask`` is true."""
    rank = _RANK[column]
    for row in frame_index[mask]:
        found.append((int(row), rank, message_for(row)))


def _same_for_every_row(message: str) -> Callable[[int], str]:
    return lambda _row: message


def _check_required_text(
    frame: pd.DataFrame, names: list[str], found: list[tuple[int, int, str]]
) -> None:
    for name in names:
        empty = (frame[name] == "").to_numpy()
        if empty.any():
            _report(found, frame.index, empty, name, _same_for_every_row(f"{name} is empty"))


def _parse_values(raw: pd.Series, found: list[tuple[int, int, str]], check: bool) -> pd.Series:
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = ~np.isfinite(values.to_numpy())
    if check and bad.any():
        def message(row: int) -> str:
            text = raw.at[row]
            if text == "":
                return "measurement_value is empty"
            return f"measurement_value {text!r} is not a finite number"

        _report(found, raw.index, bad, "measurement_value", message)
    return values


def _parse_relations(raw: pd.Series, found: list[tuple[int, int, str]]) -> pd.Series:
    bad = ~raw.isin(("",) + RELATIONS).to_numpy()
    if bad.any():
        allowed = ", ".join(RELATIONS)
        def message(row: int) -> str:
            return f"measurement_relation {raw.at[row]!r} is not one of {allowed} (empty means =)"

        _report(found, raw.index, bad, "measurement_relation", message)
    return raw.mask(raw == "", "=")


def _parse_data_types(
    raw: pd.Series, default: str, sheet_name: str | None, found: list[tuple[int, int, str]]
) -> pd.Series:
    upper = raw.str.upper()
    given = (upper != "").to_numpy()
    if sheet_name is None:
        bad = given & ~upper.isin(DATA_TYPES).to_numpy()
        describe = "is not one of " + ", ".join(DATA_TYPES)
    else:
        bad = given & (upper != sheet_name).to_numpy()
        describe = f"does not match its sheet {sheet_name!r}"
    if bad.any():
        def message(row: int) -> str:
            return f"data_type {raw.at[row]!r} {describe}"

        _report(found, raw.index, bad, "data_type", message)
    return upper.mask(~given, default)


def _test_keys(tests: pd.Series) -> pd.Series:
    keys = {name: test_key(name) for name in tests.unique()}
    return tests.map(keys)
