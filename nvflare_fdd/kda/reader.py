"""Read a provider's CSV file or Excel workbook into string tables, one per sheet.

Every cell is read as text, so identifiers such as ``00123`` keep their leading zeros;
conversion and validation happen later (:mod:`nvflare_fdd.kda.validation`).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nvflare_fdd.errors import ImportRowsError, KdaError
from nvflare_fdd.kda.schema import DATA_TYPES

CSV_SUFFIXES = (".csv",)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")

#: Row number of the first data row: the header is row 1.
FIRST_DATA_ROW = 2


@dataclass(frozen=True)
class Sheet:
    """The text cells of one CSV file or one workbook sheet.

    Attributes:
        name: the data type the sheet stands for (``"ADMET"`` or ``"PK"``), or
            ``None`` for a CSV file.
        headers: the header row as written, one entry per column.
        cells: the data rows, string cells ("" when empty), columns numbered from 0;
            the index holds each row's number as the provider sees it.
    """

    name: str | None
    headers: list[str]
    cells: pd.DataFrame


def read_sheets(path: Path, sheet: str | None = None) -> list[Sheet]:
    """Read a ``.csv`` file or the ``ADMET``/``PK`` sheets of an ``.xlsx`` workbook.

    Args:
        path: the file.
        sheet: for a workbook, read only this sheet (``"ADMET"`` or ``"PK"``).

    Returns:
        One :class:`Sheet` for a CSV file; one per data-type sheet for a workbook.

    Raises:
        KdaError: the file is missing or of an unsupported type.
        ImportRowsError: the file cannot be parsed, or a workbook has no data sheet.
    """
    if not path.is_file():
        raise KdaError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return [_read_csv(path)]
    if suffix in WORKBOOK_SUFFIXES:
        return _read_workbook(path, sheet)
    raise KdaError(
        f"{path.name}: unsupported file type {path.suffix!r}; "
        f"use {', '.join(CSV_SUFFIXES + WORKBOOK_SUFFIXES)}"
    )


def _read_csv(path: Path) -> Sheet:
    try:
        table = pd.read_csv(
            path,
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,  # keep row numbers as the provider sees them
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        return Sheet(None, [], pd.DataFrame())
    except pd.errors.ParserError as exc:
        raise ImportRowsError(path.name, [(None, f"cannot parse the CSV file: {exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ImportRowsError(
            path.name, [(None, f"the file is not UTF-8 text ({exc.reason}); save it as CSV UTF-8")]
        ) from exc
    return _split_header(None, table)


def _split_header(name: str | None, table: pd.DataFrame) -> Sheet:
    if table.empty:
        return Sheet(name, [], pd.DataFrame())
    headers = [str(value) for value in table.iloc[0].tolist()]
    cells = table.iloc[1:]
    cells.index = pd.RangeIndex(FIRST_DATA_ROW, FIRST_DATA_ROW + len(cells))
    cells.columns = pd.RangeIndex(len(headers))
    return Sheet(name, headers, cells)


def _read_workbook(path: Path, only: str | None) -> list[Sheet]:
    import openpyxl  # imported here: only workbook imports pay for it

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportRowsError(path.name, [(None, f"cannot open the workbook: {exc}")]) from exc
    try:
        by_type = {
            title.strip().upper(): title
            for title in workbook.sheetnames
            if title.strip().upper() in DATA_TYPES
        }
        wanted = [only] if only is not None else [name for name in DATA_TYPES if name in by_type]
        missing = [name for name in wanted if name not in by_type]
        if not wanted or missing:
            expected = " or ".join(missing or DATA_TYPES)
            found = ", ".join(repr(title) for title in workbook.sheetnames)
            message = f"the workbook has no sheet named {expected}; its sheets: {found}"
            raise ImportRowsError(path.name, [(None, message)])
        return [_read_worksheet(name, workbook[by_type[name]]) for name in wanted]
    finally:
        workbook.close()


def _read_worksheet(name: str, worksheet) -> Sheet:
    rows = [[_cell_text(value) for value in row] for row in worksheet.iter_rows(values_only=True)]
    width = max((len(row) for row in rows), default=0)
    for row in rows:
        row.extend([""] * (width - len(row)))
    return _split_header(name, pd.DataFrame(rows, dtype=str))


def _cell_text(value: object) -> str:
    """Return a workbook cell as the text a provider sees (no float noise, no "None")."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)
