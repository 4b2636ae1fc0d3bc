"""Serve the KDA's rows as the ``raw_datas`` that user ``data_loader`` code receives."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from nvflare_fdd.kda.access import readonly_engine
from nvflare_fdd.kda.schema import DATA_COLUMNS, Measurement, test_key

# pandas' default dtype for text: ``str`` (missing = NaN) under pandas 3, object under pandas 2.
_TEXT_DTYPE = pd.Series(["text"]).dtype
_DTYPES = {
    name: np.dtype("float64") if name == "measurement_value" else _TEXT_DTYPE
    for name in ("test_key",) + DATA_COLUMNS
}

#: Rows fetched per chunk: the rows' Python objects exist only one chunk at a time,
#: which keeps peak memory near twice the frames (a single fetch needs about five times).
READ_CHUNK_ROWS = 20_000


def load_raw_datas(url: str, tests: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Return the KDA's rows as ``{test_key: DataFrame}``, the ``raw_datas`` of DESIGN §4.

    Each frame has exactly the columns ``DATA_COLUMNS`` (the 19 standard columns, then
    ``data_type``), a fresh ``RangeIndex``, rows in import order, ``measurement_value`` as
    float64 and ``measurement_relation`` as ``"="`` where the file left it empty. Every other
    column has pandas' default text dtype, and an empty optional cell is pandas' missing
    value for it (NaN under pandas 3, None under pandas 2): test with ``pandas.isna``.

    The KDA is only read (see :func:`nvflare_fdd.kda.access.readonly_engine`): a missing
    database is an error, never created.

    Args:
        url: the database (a SQLAlchemy URL, or an SQLite file path).
        tests: test keys or test names to load (names pass through ``test_key``);
            ``None`` loads every test. Tests with no rows are absent from the result.

    Returns:
        One frame per test key, keys sorted.

    Raises:
        KdaNotFound: there is no KDA at ``url``.
    """
    with readonly_engine(url) as engine:
        return read_raw_datas(engine, tests)


def read_raw_datas(engine: Engine, tests: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """``load_raw_datas`` over an open engine."""
    table = Measurement.__table__
    statement = select(table.c.test_key, *(table.c[name] for name in DATA_COLUMNS)).order_by(
        table.c.test_key, table.c.id
    )
    if tests is not None:
        keys = sorted({test_key(name) for name in tests})
        if not keys:
            return {}
        statement = statement.where(table.c.test_key.in_(keys))
    with engine.connect() as connection:
        chunks = list(pd.read_sql(statement, connection, chunksize=READ_CHUNK_ROWS, dtype=_DTYPES))
    if not chunks:
        return {}
    # Arrow-backed text columns concatenate without copying their buffers.
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    del chunks
    return split_by_test(frame)


def split_by_test(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split rows sorted by ``test_key`` into one frame per key, without that column."""
    if frame.empty:
        return {}
    keys = frame["test_key"].to_numpy()
    frame = frame.drop(columns="test_key").reindex(columns=list(DATA_COLUMNS))
    for name in DATA_COLUMNS:
        if frame[name].dtype != _DTYPES[name]:
            frame[name] = frame[name].astype(_DTYPES[name])
    codes, uniques = pd.factorize(keys)
    bounds = [0, *(np.flatnonzero(np.diff(codes)) + 1).tolist(), len(frame)]
    if len(bounds) - 1 != len(uniques):
        raise ValueError("rows must be sorted by test_key")
    parts = {
        str(key): frame.iloc[start:stop].reset_index(drop=True)
        for key, start, stop in zip(uniques, bounds, bounds[1:])
    }
    return {key: parts[key] for key in sorted(parts)}
