"""Read the few KDA columns the statistics need, as integer codes and values.

One pass over ``measurements`` reads the level columns, ``data_type``, the unit, the relation and
the value. Text cells become codes into one shared vocabulary while they are read: on SQLite the
driver hands each cell's bytes straight to a dictionary (no Python string per cell), which
halves the time of a million-row read; other databases go through SQLAlchemy and a dictionary.
"""

from __future__ import annotations

import collections
import itertools
import sqlite3
from dataclasses import dataclass
from typing import cast

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from nvflare_fdd.errors import KdaError
from nvflare_fdd.kda.access import readonly_engine
from nvflare_fdd.kda.schema import Measurement

#: The text columns read, in this order; ``measurement_value`` follows them.
TEXT_COLUMNS: tuple[str, ...] = (
    "test",
    "test_type",
    "measurement_type",
    "test_subject",
    "data_type",
    "measurement_unit",
    "measurement_relation",
)
#: Rows converted to numpy at a time, which bounds the Python objects alive during the read.
READ_CHUNK_ROWS = 100_000

#: Relations of uncensored values (an empty relation means ``=``).
_EXACT_RELATIONS = frozenset({"", "="})


@dataclass(frozen=True)
class KdaColumns:
    """The statistics' view of a KDA.

    Attributes:
        codes: per text column (``TEXT_COLUMNS``), an int64 array of indexes into ``vocabulary``.
        vocabulary: every distinct text cell; ``None`` stands for an empty (NULL) cell.
        values: ``measurement_value`` as float64 (NaN where missing).
    """

    codes: dict[str, np.ndarray]
    vocabulary: list[str | None]
    values: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.values)

    def exact(self) -> np.ndarray:
        """A boolean array: the row's relation is ``=`` (or empty)."""
        is_exact = np.array(
            [label is None or label.strip() in _EXACT_RELATIONS for label in self.vocabulary], dtype=bool
        )
        return is_exact[self.codes["measurement_relation"]]


def read_kda_columns(url: str) -> KdaColumns:
    """Read the statistics' columns of every row of the KDA at ``url``.

    Args:
        url: a SQLAlchemy URL or an SQLite file path (see :func:`nvflare_fdd.kda.resolve_url`).

    Raises:
        KdaError: there is no KDA at ``url`` (``KdaNotFound``), or it cannot be read; it is never created.
    """
    try:
        with readonly_engine(url) as engine:
            if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
                return _read_sqlite(engine)
            return _read_generic(engine)
    except SQLAlchemyError as exc:
        raise KdaError(f"cannot read the KDA database: {exc}") from exc


def _statement():
    table = Measurement.__table__
    return select(*(table.c[name] for name in TEXT_COLUMNS), table.c.measurement_value)


def _read_sqlite(engine: Engine) -> KdaColumns:
    """The fast path: sqlite3 turns each text cell into its vocabulary code as it reads it."""
    vocabulary: collections.defaultdict[bytes, int] = collections.defaultdict(itertools.count().__next__)
    sql = str(_statement().compile(dialect=engine.dialect))
    connection = engine.raw_connection()
    try:
        driver = cast(sqlite3.Connection, connection.driver_connection)  # read() comes here for pysqlite only
        previous = driver.text_factory
        driver.text_factory = vocabulary.__getitem__  # C-level: bytes → code, no str per cell
        try:
            cursor = driver.execute(sql)
            chunks = []
            while rows := cursor.fetchmany(READ_CHUNK_ROWS):
                chunks.append(np.array(rows, dtype=np.float64))  # NULL → NaN
            cursor.close()
        finally:
            driver.text_factory = previous
    finally:
        connection.close()
    labels: list[str | None] = [None] * len(vocabulary)
    for raw, code in vocabulary.items():
        labels[code] = raw.decode("utf-8", errors="replace")
    table = np.concatenate(chunks) if chunks else np.zeros((0, len(TEXT_COLUMNS) + 1))
    null_code = len(labels)
    labels.append(None)
    codes = {}
    for index, name in enumerate(TEXT_COLUMNS):
        column = table[:, index]
        codes[name] = np.where(np.isnan(column), null_code, column).astype(np.int64)
    return KdaColumns(codes, labels, np.ascontiguousarray(table[:, -1]))


def _read_generic(engine: Engine) -> KdaColumns:
    """Any other database: rows through SQLAlchemy, text cells through one dictionary."""
    vocabulary: collections.defaultdict[str | None, int] = collections.defaultdict(itertools.count().__next__)
    code_chunks: dict[str, list[np.ndarray]] = {name: [] for name in TEXT_COLUMNS}
    value_chunks: list[np.ndarray] = []
    with engine.connect() as connection:
        result = connection.execute(_statement())
        for rows in result.partitions(READ_CHUNK_ROWS):
            columns = list(zip(*rows))
            for name, column in zip(TEXT_COLUMNS, columns):
                code_chunks[name].append(np.fromiter(map(vocabulary.__getitem__, column), np.int64, len(column)))
            value_chunks.append(np.array(columns[-1], dtype=np.float64))
    labels: list[str | None] = [None] * len(vocabulary)
    for label, code in vocabulary.items():
        labels[code] = label
    codes = {
        name: np.concatenate(chunks) if chunks else np.zeros(0, np.int64) for name, chunks in code_chunks.items()
    }
    values = np.concatenate(value_chunks) if value_chunks else np.zeros(0)
    return KdaColumns(codes, labels, values)

